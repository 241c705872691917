package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// A simulation of agent sessions through the proxy, to compare decisions
// per request and per turn on what they cost. The upstream caches prompts
// per model as Anthropic does (the longest cached prefix up to the last
// cache_control breakpoint is read, the rest up to it written; 4 bytes a
// token); the client resends the whole conversation with its breakpoint
// on the newest message, as Claude Code does; each turn runs toolSteps tool
// calls, then a final answer, whichever model answers. Where the script
// says so the draft refuses (a veto); elsewhere it answers like the
// verifier.

const toolSteps = 3

// promptCache is the upstream's cache: the prefixes each model has cached.
type promptCache struct {
	mu       sync.Mutex
	prefixes map[string][][]byte
}

func (c *promptCache) usage(model string, body []byte, out int) *fakeupstream.Usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := len(body) / 4
	i := bytes.LastIndex(body, []byte(`"cache_control"`))
	if i < 0 {
		return &fakeupstream.Usage{InputTokens: total, OutputTokens: out}
	}
	// The cached prefix ends where the breakpoint's block ends; its
	// cache_control member (written last) is not part of what later
	// requests resend.
	prefix := bytes.TrimRight(body[:i], ", ")
	read := 0
	for _, p := range c.prefixes[model] {
		if len(p) > read && bytes.HasPrefix(prefix, p) {
			read = len(p)
		}
	}
	c.prefixes[model] = append(c.prefixes[model], bytes.Clone(prefix))
	return &fakeupstream.Usage{InputTokens: total - len(prefix)/4, CacheReadInputTokens: read / 4,
		CacheCreationInputTokens: len(prefix)/4 - read/4, OutputTokens: out}
}

// simClient is one agent session: a large system prompt, one tool, the
// history resent each time.
type simClient struct {
	user string
	msgs []string
}

var simSystem = strings.Repeat("You are a careful coding agent. Follow the repository conventions. ", 600) // ~10k tokens

func (c *simClient) body() string {
	msgs := append([]string(nil), c.msgs...)
	// The breakpoint sits on the newest message only.
	last := msgs[len(msgs)-1]
	msgs[len(msgs)-1] = strings.TrimSuffix(last, "}]}") + `,"cache_control":{"type":"ephemeral"}}]}`
	return `{"model":"claude-opus-5-5","max_tokens":4096,"metadata":{"user_id":"` + c.user + `"},` +
		`"system":[{"type":"text","text":"` + simSystem + `","cache_control":{"type":"ephemeral"}}],` +
		`"tools":[{"name":"Bash","description":"Run a shell command","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}],` +
		`"messages":[` + strings.Join(msgs, ",") + `]}`
}

func (c *simClient) say(text string) {
	c.msgs = append(c.msgs, fmt.Sprintf(`{"role":"user","content":[{"type":"text","text":%q}]}`, text))
}

func (c *simClient) toolRound(n int) {
	id := fmt.Sprintf("toolu_%d", n)
	out := strings.Repeat(fmt.Sprintf("line %d of the command's output\n", n), 60) // ~500 tokens
	c.msgs = append(c.msgs,
		fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":%q,"name":"Bash","input":{"command":"ls"}}]}`, id),
		fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":%q,"content":%q}]}`, id, out))
}

func (c *simClient) answered(text string) {
	c.msgs = append(c.msgs, fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":%q}]}`, text))
}

// simReply answers like an agent: a tool call until the turn has made
// toolSteps of them, then the final answer; a bad turn's draft refuses.
func simReply(cache *promptCache, bad func(turn, step int) bool) func(*fakeupstream.Received) fakeupstream.Reply {
	return func(r *fakeupstream.Received) fakeupstream.Reply {
		var b struct {
			Messages []struct {
				Role    string `json:"role"`
				Content []struct {
					Type string `json:"type"`
				} `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil {
			return fakeupstream.Reply{Status: 400}
		}
		turn, steps := -1, 0
		for _, m := range b.Messages {
			if m.Role != "user" {
				continue
			}
			if len(m.Content) > 0 && m.Content[0].Type == "tool_result" {
				steps++
			} else {
				turn, steps = turn+1, 0
			}
		}
		if r.Model == "claude-haiku-5-5" && bad(turn, steps) {
			return fakeupstream.Reply{Text: refusal, Usage: cache.usage(r.Model, r.Body, 12)}
		}
		if steps < toolSteps {
			return fakeupstream.Reply{Text: "Let me check.", ToolCalls: []fakeupstream.ToolCall{{Name: "Bash", Input: json.RawMessage(`{"command":"ls"}`)}},
				Usage: cache.usage(r.Model, r.Body, 40)}
		}
		return fakeupstream.Reply{Text: goodAnswer, Usage: cache.usage(r.Model, r.Body, 60)}
	}
}

type simResult struct {
	cost, savings float64 // what the upstream calls cost; the savings the proxy reported (net)
	requests      int
}

// simulate runs sessions × turns through a proxy with the rule's given
// extra lines, and returns the rule's cost and reported net savings.
func simulate(t *testing.T, ruleLines string, bad func(turn, step int) bool) simResult {
	t.Helper()
	rulesYAML := `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}}
rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
    threshold: 0.5
` + ruleLines
	h := newHarness(t, rulesYAML, harnessOptions{})
	cache := &promptCache{prefixes: map[string][][]byte{}}
	h.fake.SetResponder(simReply(cache, bad))
	hdr := map[string]string{"anthropic-version": "2023-06-01", "x-api-key": "client-key"}
	n := 0
	for s := range 2 {
		c := &simClient{user: fmt.Sprintf("session-%d", s)}
		for turn := range 4 {
			c.say(fmt.Sprintf("Task %d: look around the repository and report.", turn))
			for step := 0; ; step++ {
				status, hd, out := h.post("/v1/messages", c.body(), hdr)
				n++
				if status != 200 {
					t.Fatalf("session %d turn %d step %d: %d %s", s, turn, step, status, out)
				}
				if !strings.Contains(out, `"tool_use"`) {
					c.answered("done")
					break
				}
				if step > toolSteps {
					t.Fatalf("turn %d never ends (%s)", turn, hd.Get("X-Cascade-Outcome"))
				}
				c.toolRound(n)
			}
		}
	}
	m := h.metrics
	res := simResult{requests: n}
	for _, model := range []string{"claude-haiku-5-5", "claude-opus-5-5"} {
		res.cost += testutil.ToFloat64(m.CostUSD.WithLabelValues("opus", model))
	}
	res.savings = testutil.ToFloat64(m.SavingsUSD.WithLabelValues("opus")) - testutil.ToFloat64(m.ExtraCostUSD.WithLabelValues("opus"))
	return res
}

// The figures are in docs/claude-code.md. Per turn is never dearer than per
// request here but when a good turn has one bad step (per request that step
// alone escalates; per turn the rest of the turn does), and the savings the
// proxy reports are the measured difference with pass-through.
func TestSimulatedSessionsCost(t *testing.T) {
	for _, sc := range []struct {
		name string
		bad  func(turn, step int) bool
	}{
		{"half the turns' drafts good", func(turn, _ int) bool { return turn%2 == 1 }},
		{"every draft bad", func(int, int) bool { return true }},
		{"every draft good", func(int, int) bool { return false }},
		{"one bad step a turn", func(_, step int) bool { return step == 1 }},
	} {
		t.Run(sc.name, func(t *testing.T) {
			pass := simulate(t, "    mode: verifier-only\n", sc.bad)
			perRequest := simulate(t, "", sc.bad)
			perTurn := simulate(t, "    granularity: turn\n", sc.bad)
			for _, r := range []struct {
				name string
				simResult
			}{{"per request", perRequest}, {"per turn", perTurn}} {
				measured := pass.cost - r.cost
				t.Logf("%-11s cost $%.4f, pass-through $%.4f: measured savings $%.4f, reported $%.4f (%d requests)",
					r.name, r.cost, pass.cost, measured, r.savings, r.requests)
				if math.Abs(r.savings-measured) > 0.05*math.Abs(measured)+1e-6 {
					t.Errorf("%s: reported savings $%.4f, measured $%.4f", r.name, r.savings, measured)
				}
			}
			switch sc.name {
			case "half the turns' drafts good":
				if !(perTurn.cost < pass.cost && perTurn.cost <= perRequest.cost) {
					t.Errorf("per turn $%.4f, per request $%.4f, pass-through $%.4f", perTurn.cost, perRequest.cost, pass.cost)
				}
			case "every draft bad":
				if perTurn.cost > 1.05*pass.cost || perTurn.cost > perRequest.cost {
					t.Errorf("per turn $%.4f, per request $%.4f, pass-through $%.4f", perTurn.cost, perRequest.cost, pass.cost)
				}
			}
		})
	}
}
