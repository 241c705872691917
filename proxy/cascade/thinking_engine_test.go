package cascade_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

const (
	haiku = "claude-haiku-5-5"
	opus  = "claude-opus-5-5"
	key   = "sk-fake-upstream"
)

// bashTool is Claude Code's Bash tool, trimmed to what the gate checks.
const bashTool = `{"name":"Bash","description":"Executes a bash command.","input_schema":{"type":"object",` +
	`"properties":{"command":{"type":"string"},"description":{"type":"string"}},"required":["command"],"additionalProperties":false}}`

// cascadeRig runs the engine against a fake upstream that rejects thinking
// blocks signed for another model family, as the real API may.
type cascadeRig struct {
	t      *testing.T
	fake   *fakeupstream.Server
	client *provider.Client
	set    *rules.Set
	eng    *cascade.Engine
}

func newCascadeRig(t *testing.T) *cascadeRig {
	t.Helper()
	fake := fakeupstream.New(fakeupstream.Options{RequireKey: key, ValidateSignatures: true})
	url := fake.Start()
	t.Cleanup(fake.Close)
	c, err := provider.New(rules.Provider{Name: "fake", Type: rules.Anthropic, BaseURL: url}, anthropic.Codec{}, key, provider.NewTransport())
	if err != nil {
		t.Fatal(err)
	}
	th := 0.5
	set := &rules.Set{Version: rules.Version, Rules: []rules.Rule{{Name: "opus", Models: []string{opus},
		Draft: rules.Target{Provider: "fake", Model: haiku}, Verifier: rules.Target{Provider: "fake", Model: opus}, Threshold: &th}}}
	return &cascadeRig{t: t, fake: fake, client: c, set: set, eng: &cascade.Engine{}}
}

// run sends one client body through the rule and returns the result and the
// answer as the client's Anthropic content array.
func (r *cascadeRig) run(body string) (*cascade.Result, json.RawMessage) {
	r.t.Helper()
	raw := []byte(body)
	req, err := anthropic.Codec{}.DecodeRequest(raw)
	if err != nil {
		r.t.Fatal(err)
	}
	rt, err := jsonfield.ReadRouting(raw)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx := context.Background()
	rule, err := cascade.CompileRule(&r.set.Rules[0], pricing.Default(), func(string) cascade.Provider { return r.client })
	if err != nil {
		r.t.Fatal(err)
	}
	res, err := r.eng.Run(ctx, rule,
		cascade.Request{Req: req, Raw: raw, RawDialect: llm.Anthropic, ModelSpan: rt.ModelSpan, Header: http.Header{"Anthropic-Version": {"2023-06-01"}}})
	if err != nil {
		r.t.Fatalf("cascade failed: %v", err)
	}
	resp := res.Response
	if res.Stream != nil {
		defer res.Stream.Close()
		var acc llm.Accumulator
		for {
			ev, err := res.Stream.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.t.Fatalf("verifier stream: %v", err)
			}
			if err := acc.Add(ev); err != nil {
				r.t.Fatal(err)
			}
		}
		resp = acc.Response()
	}
	out, err := anthropic.Codec{}.EncodeResponse(resp)
	if err != nil {
		r.t.Fatal(err)
	}
	var msg struct {
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(out, &msg); err != nil {
		r.t.Fatal(err)
	}
	return res, msg.Content
}

// lastRequest is the last request the fake received for model.
func (r *cascadeRig) lastRequest(model string) string {
	r.t.Helper()
	reqs := r.fake.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Model == model {
			return string(reqs[i].Body)
		}
	}
	r.t.Fatalf("no request for %s", model)
	return ""
}

func body(messages ...string) string {
	return `{"model":"` + opus + `","max_tokens":128000,"stream":true,"thinking":{"type":"adaptive","display":"omitted"},` +
		`"tools":[` + bashTool + `],"messages":[` + strings.Join(messages, ",") + `]}`
}

func assistant(content json.RawMessage) string {
	return `{"role":"assistant","content":` + string(content) + `}`
}

func hasToolResult(b []byte) bool { return strings.Contains(string(b), `"tool_result"`) }

// TestThinkingAcrossModelsInACascade plays a Claude Code session: the draft
// answers turn 1 (thinking + Bash call, accepted), its continuation after
// the tool result is refused and escalated to the verifier, and a later turn
// is accepted from the draft again. Every call reaches a fake that rejects
// foreign thinking signatures, so each one must carry only blocks signed for
// its own model.
func TestThinkingAcrossModelsInACascade(t *testing.T) {
	r := newCascadeRig(t)
	turn := 1
	r.fake.SetResponder(func(rec *fakeupstream.Received) fakeupstream.Reply {
		switch {
		case turn == 1 && rec.Model == haiku:
			return fakeupstream.Reply{Thinking: "I should run echo.", Text: "Running it.",
				ToolCalls: []fakeupstream.ToolCall{{Name: "Bash", Input: json.RawMessage(`{"command":"echo hi","description":"print hi"}`)}}}
		case turn == 2 && rec.Model == haiku && hasToolResult(rec.Body):
			return fakeupstream.Reply{Thinking: "hmm", Text: "I'm sorry, but I can't help with that."}
		case turn == 2 && rec.Model == opus:
			return fakeupstream.Reply{Thinking: "The tool printed hi.", Text: "The command printed hi, as expected."}
		case turn == 3 && rec.Model == haiku:
			return fakeupstream.Reply{Thinking: "Say goodbye.", Text: "You are welcome. The echo command worked and printed hi."}
		}
		return fakeupstream.Reply{Status: http.StatusTeapot, ErrorMessage: "unexpected call to " + rec.Model}
	})

	user1 := `{"role":"user","content":[{"type":"text","text":"Run echo hi and tell me what it printed."}]}`
	res, a1 := r.run(body(user1))
	if res.Outcome != cascade.Accepted {
		t.Fatalf("turn 1: outcome %s (%+v), want accepted", res.Outcome, res.Decision)
	}
	var blocks []struct{ Type, Signature string }
	if err := json.Unmarshal(a1, &blocks); err != nil || len(blocks) != 3 || blocks[0].Type != "thinking" {
		t.Fatalf("turn 1 answer: %s", a1)
	}
	genuine := fakeupstream.Signature(haiku, "I should run echo.")
	if blocks[0].Signature == genuine || !strings.Contains(blocks[0].Signature, genuine) {
		t.Fatalf("the accepted draft's signature %q is not marked around the genuine %q", blocks[0].Signature, genuine)
	}

	turn = 2
	toolResult := `{"role":"user","content":[{"tool_use_id":"` + toolUseID(t, a1) + `","type":"tool_result","content":"hi","is_error":false}]}`
	res, a2 := r.run(body(user1, assistant(a1), toolResult))
	if res.Outcome != cascade.Escalated || res.Served != opus {
		t.Fatalf("turn 2: outcome %s served %s, want escalated to %s", res.Outcome, res.Served, opus)
	}
	draftCall := r.lastRequest(haiku)
	if !strings.Contains(draftCall, `"signature":"`+genuine+`"`) || strings.Contains(draftCall, "cfdraft1.") {
		t.Errorf("turn 2: the draft did not get its own block back byte for byte:\n%s", draftCall)
	}
	verifierCall := r.lastRequest(opus)
	if strings.Contains(verifierCall, genuine) || strings.Contains(verifierCall, `"type":"thinking"`) {
		t.Errorf("turn 2: the verifier got the draft's thinking block:\n%s", verifierCall)
	}
	if !strings.Contains(verifierCall, `{"type":"text","text":"Running it."},{"type":"tool_use"`) {
		t.Errorf("turn 2: the rest of the draft's turn did not reach the verifier:\n%s", verifierCall)
	}
	opusSig := fakeupstream.Signature(opus, "The tool printed hi.")
	if !strings.Contains(string(a2), `"signature":"`+opusSig+`"`) {
		t.Errorf("turn 2: the verifier's block did not reach the client unchanged: %s", a2)
	}

	turn = 3
	user3 := `{"role":"user","content":[{"type":"text","text":"Thanks!"}]}`
	res, _ = r.run(body(user1, assistant(a1), toolResult, assistant(a2), user3))
	if res.Outcome != cascade.Accepted {
		t.Fatalf("turn 3: outcome %s (%+v), want accepted", res.Outcome, res.Decision)
	}
	draftCall = r.lastRequest(haiku)
	if strings.Contains(draftCall, opusSig) {
		t.Errorf("turn 3: the draft got the verifier's thinking block:\n%s", draftCall)
	}
	if !strings.Contains(draftCall, `"signature":"`+genuine+`"`) {
		t.Errorf("turn 3: the draft lost its own turn-1 block:\n%s", draftCall)
	}
}

// TestFakeRejectsForeignSignatures shows the check above can fail: the same
// history sent unchanged to the verifier is refused.
func TestFakeRejectsForeignSignatures(t *testing.T) {
	r := newCascadeRig(t)
	b := body(`{"role":"user","content":"hi"}`,
		`{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"`+fakeupstream.Signature(haiku, "x")+`"},{"type":"text","text":"hello"}]}`,
		`{"role":"user","content":"again"}`)
	b = strings.Replace(b, `"stream":true`, `"stream":false`, 1)
	_, err := r.client.Complete(context.Background(), &llm.Request{Model: opus}, llm.BodyOf([]byte(b)), http.Header{})
	if llm.AsError(err).Kind != llm.ErrInvalidRequest || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("a haiku-signed block sent to opus: err = %v, want a 400 about the signature", err)
	}
}

// TestAcceptedDraftMarkedForNonStreamingClients checks the JSON answer path.
func TestAcceptedDraftMarkedForNonStreamingClients(t *testing.T) {
	r := newCascadeRig(t)
	r.fake.SetResponder(func(rec *fakeupstream.Received) fakeupstream.Reply {
		return fakeupstream.Reply{Thinking: "easy", Text: "Paris is the capital of France."}
	})
	b := strings.Replace(body(`{"role":"user","content":"What is the capital of France?"}`), `"stream":true`, `"stream":false`, 1)
	res, content := r.run(b)
	if res.Outcome != cascade.Accepted {
		t.Fatalf("outcome %s", res.Outcome)
	}
	if !strings.Contains(string(content), `"signature":"cfdraft1.`) || !strings.Contains(string(content), fakeupstream.Signature(haiku, "easy")) {
		t.Errorf("answer %s", content)
	}
}

func toolUseID(t *testing.T, content json.RawMessage) string {
	t.Helper()
	var blocks []struct{ Type, ID string }
	_ = json.Unmarshal(content, &blocks)
	for _, b := range blocks {
		if b.Type == "tool_use" {
			return b.ID
		}
	}
	t.Fatalf("no tool_use in %s", content)
	return ""
}
