package cascade_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// agent builds the requests of an agent's conversation, as a client that
// resends the whole history each time: say starts a user turn, result
// returns a tool result, and each answer is appended as the client would.
type agent struct {
	t    *testing.T
	user string // metadata.user_id: tells conversations apart
	msgs []string
	n    int
}

func (a *agent) say(text string) []byte {
	a.msgs = append(a.msgs, fmt.Sprintf(`{"role":"user","content":[{"type":"text","text":%q}]}`, text))
	return a.body()
}

func (a *agent) result(text string) []byte {
	a.n++
	id := fmt.Sprintf("toolu_%d", a.n)
	a.msgs = append(a.msgs,
		fmt.Sprintf(`{"role":"assistant","content":[{"type":"tool_use","id":%q,"name":"Bash","input":{"command":"ls"}}]}`, id),
		fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":%q,"content":%q,"cache_control":{"type":"ephemeral"}}]}`, id, text))
	return a.body()
}

func (a *agent) body() []byte {
	return []byte(`{"model":"big","max_tokens":300,"metadata":{"user_id":"` + a.user + `"},` +
		`"system":[{"type":"text","text":"You are a coding agent.","cache_control":{"type":"ephemeral"}}],` +
		`"tools":[{"name":"Bash","description":"Run a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}],` +
		`"messages":[` + strings.Join(a.msgs, ",") + `]}`)
}

// runBody runs the rig's rule on an Anthropic body, settles it and returns the result.
func (r *rig) runBody(raw []byte, stream bool) *cascade.Result {
	r.t.Helper()
	res, _ := r.runBodyAccount(raw, stream)
	return res
}

// runBodyAccount is runBody with the request's accounting.
func (r *rig) runBodyAccount(raw []byte, stream bool) (*cascade.Result, cascade.Accounting) {
	r.t.Helper()
	if stream {
		raw = append(raw[:len(raw)-1:len(raw)-1], `,"stream":true}`...)
	}
	req, err := anthropic.Codec{}.DecodeRequest(raw)
	if err != nil {
		r.t.Fatal(err)
	}
	rt, err := jsonfield.ReadRouting(raw)
	if err != nil {
		r.t.Fatal(err)
	}
	res, err := r.eng.Run(context.Background(), r.rule, cascade.Request{Req: req, Raw: raw, RawDialect: llm.Anthropic, ModelSpan: rt.ModelSpan, Header: http.Header{}})
	if err != nil {
		r.t.Fatal(err)
	}
	return res, r.finish(res)
}

// script makes the draft answer with each reply in turn (the last one repeats).
func script(replies ...func(model string) *llm.Response) func(context.Context, *llm.Request) (*llm.Response, error) {
	var mu sync.Mutex
	i := 0
	return func(_ context.Context, req *llm.Request) (*llm.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		f := replies[min(i, len(replies)-1)]
		i++
		return f(req.Model), nil
	}
}

func callsTool(name string) func(string) *llm.Response {
	return func(model string) *llm.Response {
		return &llm.Response{ID: "msg_t", Model: model, StopReason: llm.StopToolUse, Usage: fixedUsage,
			Content: []llm.Block{{Type: llm.BlockText, Text: "Let me look."}, {Type: llm.BlockToolUse, ID: "toolu_x", Name: name, Input: json.RawMessage(`{"command":"ls"}`)}}}
	}
}

func says(text string) func(string) *llm.Response {
	return func(model string) *llm.Response { return answer(model, text, fixedUsage) }
}

func truncated(model string) *llm.Response {
	return &llm.Response{ID: "msg_t", Model: model, StopReason: llm.StopMaxTokens, Usage: fixedUsage,
		Content: []llm.Block{{Type: llm.BlockText, Text: "The files are"}}}
}

func turnRig(t *testing.T, granularity rules.Granularity) *rig {
	return newRig(t, func(s *rules.Rule) { s.Granularity = granularity })
}

func outcomes(rs ...*cascade.Result) string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Outcome))
	}
	return strings.Join(out, " ")
}

func TestTurnStaysOnTheDraftThatAnsweredIt(t *testing.T) {
	both(t, func(t *testing.T, stream bool) {
		r := turnRig(t, rules.GranularityTurn)
		r.draft.reply = script(callsTool("Bash"), callsTool("Bash"), says(goodAnswer))
		a := &agent{t: t, user: "u1"}
		got := outcomes(r.runBody(a.say("List the files."), stream), r.runBody(a.result("a.go b.go"), stream), r.runBody(a.result("ok"), stream))
		if got != "accepted turn_draft turn_draft" {
			t.Fatalf("outcomes %s", got)
		}
		if n := len(r.verifier.calls()); n != 0 {
			t.Errorf("verifier asked %d times", n)
		}
	})
}

func TestTurnStaysOnTheVerifierWithoutNewDrafts(t *testing.T) {
	both(t, func(t *testing.T, stream bool) {
		r := turnRig(t, rules.GranularityTurn)
		r.draft.reply = answers(refusal, fixedUsage)
		a := &agent{t: t, user: "u1"}
		first := r.runBody(a.say("List the files."), stream)
		second := r.runBody(a.result("a.go b.go"), stream)
		third := r.runBody(a.result("ok"), stream)
		if got := outcomes(first, second, third); got != "escalated turn_verifier turn_verifier" {
			t.Fatalf("outcomes %s", got)
		}
		if n := len(r.draft.calls()); n != 1 {
			t.Errorf("draft asked %d times, want once (the turn's start)", n)
		}
		if second.Draft != nil || second.Served != verifierModel || r.requests(cascade.TurnVerifier) != 2 {
			t.Errorf("continuation: draft %v, served %q, turn_verifier count %v", second.Draft, second.Served, r.requests(cascade.TurnVerifier))
		}
		// A new user turn is cascaded again.
		r.draft.reply = answers(goodAnswer, fixedUsage)
		if res := r.runBody(a.say("Thanks. Now summarise."), stream); res.Outcome != cascade.Accepted {
			t.Errorf("new turn: %s, want accepted", res.Outcome)
		}
	})
}

// A step on the draft that the gate vetoes goes to the verifier, and so
// does the rest of its turn.
func TestVetoedStepMovesTheTurnToTheVerifier(t *testing.T) {
	for name, bad := range map[string]func(string) *llm.Response{"unknown tool": callsTool("Nope"), "truncated": truncated} {
		t.Run(name, func(t *testing.T) {
			r := turnRig(t, rules.GranularityTurn)
			r.draft.reply = script(callsTool("Bash"), bad, says(goodAnswer))
			a := &agent{t: t, user: "u1"}
			got := outcomes(r.runBody(a.say("List the files."), false), r.runBody(a.result("a.go"), false), r.runBody(a.result("b.go"), false))
			if got != "accepted escalated turn_verifier" {
				t.Fatalf("outcomes %s", got)
			}
			if n := len(r.draft.calls()); n != 2 {
				t.Errorf("draft asked %d times, want 2 (none after the veto)", n)
			}
		})
	}
}

// A step on the draft is checked for vetoes only: a draft scoring below
// the threshold stays on the draft within its turn (the turn's start was
// judged good), while per request the same step escalates. The stricter
// threshold comes with a reload; the turn memory outlives it.
func TestGranularityDecidesContinuations(t *testing.T) {
	for g, want := range map[rules.Granularity]string{
		rules.GranularityTurn:    "accepted turn_draft",
		rules.GranularityRequest: "accepted escalated",
	} {
		r := turnRig(t, g)
		r.draft.reply = script(callsTool("Bash"), says(goodAnswer))
		a := &agent{t: t, user: "u1"}
		first := r.runBody(a.say("List the files."), false)
		spec := *r.rule.Rule
		strict := 0.999
		spec.Threshold = &strict
		byName := map[string]cascade.Provider{"cheap": r.draft, "strong": r.verifier}
		rule, err := cascade.CompileRule(&spec, testPrices, func(n string) cascade.Provider { return byName[n] })
		if err != nil {
			t.Fatal(err)
		}
		r.rule = rule
		if got := outcomes(first, r.runBody(a.result("a.go"), false)); got != want {
			t.Errorf("granularity %s: outcomes %s, want %s", g, got, want)
		}
	}
}

// A continuation whose turn is not remembered (another replica served its
// start, or it was forgotten) is decided on its own; what answered it is
// remembered for the rest of the turn.
func TestForgottenTurnFallsBackToPerRequest(t *testing.T) {
	r := turnRig(t, rules.GranularityTurn)
	r.eng.Turns = cascade.NewTurnMemory(1, time.Hour)
	r.draft.reply = script(callsTool("Bash"), callsTool("Bash"), says(refusal), says(goodAnswer))
	a, b := &agent{t: t, user: "u1"}, &agent{t: t, user: "u2"}
	first := r.runBody(a.say("List the files."), false)
	other := r.runBody(b.say("List the files."), false) // evicts a's turn
	step := r.runBody(a.result("a.go"), false)          // a refusal, judged per request
	next := r.runBody(a.result("b.go"), false)
	if got := outcomes(first, other, step, next); got != "accepted accepted escalated turn_verifier" {
		t.Fatalf("outcomes %s", got)
	}
	if first.Turn.Conversation == other.Turn.Conversation {
		t.Error("two users share a conversation key")
	}
}

// Requests of other dialects, and modes other than cascade, ignore turns.
func TestTurnsOnlyForAnthropicCascades(t *testing.T) {
	r := newRig(t, func(s *rules.Rule) { s.Granularity = rules.GranularityTurn; s.Mode = rules.ModeVerifierOnly })
	a := &agent{t: t, user: "u1"}
	if got := outcomes(r.runBody(a.say("List the files."), false), r.runBody(a.result("a.go"), false)); got != "verifier_only verifier_only" {
		t.Errorf("verifier-only: %s", got)
	}
	r = turnRig(t, rules.GranularityTurn)
	r.draft.reply = answers(refusal, fixedUsage)
	for range 2 {
		res, err := r.run(context.Background(), false) // a canonical request, no raw body
		if err != nil || res.Outcome != cascade.Escalated || res.Turn.Kind != 0 {
			t.Fatalf("canonical request: %v, %s, turn %+v", err, res.Outcome, res.Turn)
		}
	}
}
