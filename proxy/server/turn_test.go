package server_test

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// claudeCodeTurn returns a request Claude Code 2.1.332 sent (the tool
// result of a Bash call, recorded by the e2e run) and the request that
// started its turn (the same body cut before the tool call, its breakpoint
// on the last message as the CLI puts it).
func claudeCodeTurn(t *testing.T) (start, cont string) {
	t.Helper()
	raw, err := os.ReadFile("../turn/testdata/claudecode-continue.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	msgs := m["messages"].([]any)
	env := msgs[1].(map[string]any)["content"].(string)
	m["messages"] = []any{msgs[0], map[string]any{"role": "system", "content": []any{
		map[string]any{"type": "text", "text": env, "cache_control": map[string]any{"type": "ephemeral"}}}}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), string(raw)
}

const turnRules = `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}}
rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
    threshold: 0.5
    granularity: turn
`

// A Claude Code turn through the proxy: the start is cascaded, the tool
// result stays on the draft; the headers, the log line and /api/stats
// report each request's money and cache and the session's totals.
func TestClaudeCodeTurnAccounting(t *testing.T) {
	h := newHarness(t, turnRules, harnessOptions{})
	start, cont := claudeCodeTurn(t)
	hdr := map[string]string{"anthropic-version": "2023-06-01", "x-api-key": "client-key"}

	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer,
		Usage: &fakeupstream.Usage{InputTokens: 40, CacheCreationInputTokens: 20000, OutputTokens: 100}})
	status, h1, body := h.post("/v1/messages?beta=true", start, hdr)
	if status != 200 || h1.Get("X-Cascade-Outcome") != "accepted" || h1.Get("X-Cascade-Turn") != "start" {
		t.Fatalf("start: %d %v %s", status, h1, body)
	}
	if got := h1.Get("X-Cascade-Cache-Hit-Ratio"); got != "0.000" {
		t.Errorf("start cache hit ratio %q, want 0.000 (a cold write)", got)
	}
	// Opus 5.5 on the draft's prompt, cold: 40 × $4 + 20000 × $5 + 100 × $20.
	wantBase := (40*4 + 20000*5 + 100*20) / 1e6
	if got, _ := strconv.ParseFloat(h1.Get("X-Cascade-Baseline-Usd"), 64); math.Abs(got-wantBase) > 1e-8 {
		t.Errorf("start baseline %v, want %v", got, wantBase)
	}

	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer,
		Usage: &fakeupstream.Usage{InputTokens: 40, CacheReadInputTokens: 20000, CacheCreationInputTokens: 500, OutputTokens: 60}})
	status, h2, body := h.post("/v1/messages?beta=true", cont, hdr)
	if status != 200 || h2.Get("X-Cascade-Outcome") != "turn_draft" || h2.Get("X-Cascade-Turn") != "continue" {
		t.Fatalf("continuation: %d %v %s", status, h2, body)
	}
	if got, want := h2.Get("X-Cascade-Cache-Hit-Ratio"), strconv.FormatFloat(20000.0/20540, 'f', 3, 64); got != want {
		t.Errorf("continuation cache hit ratio %q, want %q", got, want)
	}
	// The requested model, warm since the start: it reads the 20000 it wrote.
	wantBase2 := (40*4 + 20000*0.20 + 500*5 + 60*20) / 1e6
	if got, _ := strconv.ParseFloat(h2.Get("X-Cascade-Baseline-Usd"), 64); math.Abs(got-wantBase2) > 1e-8 {
		t.Errorf("continuation baseline %v, want %v", got, wantBase2)
	}
	if calls := modelsCalled(h); strings.Count(strings.Join(calls, " "), "claude-opus-5-5") != 0 {
		t.Errorf("the verifier was called: %v", calls)
	}

	if logs := h.logs.String(); !strings.Contains(logs, `"turn":"continue"`) || !strings.Contains(logs, `"baseline_usd":`) ||
		!strings.Contains(logs, `"cache_hit_ratio":`) || !strings.Contains(logs, `"conversation":"`) {
		t.Errorf("request log lines lack the turn, baseline or cache figures:\n%s", logs)
	}

	_, stats := h.get("/api/stats", nil)
	var st struct {
		Rules []struct {
			Cache map[string]struct {
				CacheReadTokens int64   `json:"cacheReadTokens"`
				HitRatio        float64 `json:"hitRatio"`
			} `json:"cache"`
		} `json:"rules"`
		Sessions []struct {
			Conversation string         `json:"conversation"`
			Rule         string         `json:"rule"`
			Requests     int            `json:"requests"`
			Turns        int            `json:"turns"`
			Outcomes     map[string]int `json:"outcomes"`
			BaselineUSD  float64        `json:"baselineUSD"`
			SavingsUSD   float64        `json:"savingsUSD"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(stats), &st); err != nil || len(st.Sessions) != 1 || len(st.Rules) != 1 {
		t.Fatalf("stats: %v\n%s", err, stats)
	}
	s := st.Sessions[0]
	if s.Rule != "opus" || s.Requests != 2 || s.Turns != 1 || s.Outcomes["turn_draft"] != 1 || len(s.Conversation) != 16 ||
		math.Abs(s.BaselineUSD-(wantBase+wantBase2)) > 1e-8 {
		t.Errorf("session %+v, want baseline %v", s, wantBase+wantBase2)
	}
	if c := st.Rules[0].Cache["claude-haiku-5-5"]; c.CacheReadTokens != 20000 {
		t.Errorf("rule cache %+v", c)
	}
}

// breakpointCount counts the cache_control breakpoints of a Messages body
// (tools, system, message blocks and tool results' blocks).
func breakpointCount(t *testing.T, body []byte) int {
	t.Helper()
	var m struct {
		Tools    []map[string]json.RawMessage `json:"tools"`
		System   json.RawMessage              `json:"system"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	n := 0
	var blocks func(raw json.RawMessage)
	blocks = func(raw json.RawMessage) {
		var bs []map[string]json.RawMessage
		if json.Unmarshal(raw, &bs) != nil {
			return
		}
		for _, b := range bs {
			if c, ok := b["content"]; ok {
				blocks(c)
			}
			if cc, ok := b["cache_control"]; ok && string(cc) != "null" {
				n++
			}
		}
	}
	for _, tool := range m.Tools {
		if _, ok := tool["cache_control"]; ok {
			n++
		}
	}
	blocks(m.System)
	for _, msg := range m.Messages {
		blocks(msg.Content)
	}
	return n
}

// Claude Code's body with two more breakpoints (five): the draft and the
// verifier each get the four latest, the tool result's among them; an
// OpenAI-compatible draft gets none and no billing line.
func TestCacheBreakpointsReachEveryModel(t *testing.T) {
	_, cont := claudeCodeTurn(t)
	var m map[string]any
	if err := json.Unmarshal([]byte(cont), &m); err != nil {
		t.Fatal(err)
	}
	for _, b := range m["messages"].([]any)[0].(map[string]any)["content"].([]any) {
		b.(map[string]any)["cache_control"] = map[string]any{"type": "ephemeral"}
	}
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	hdr := map[string]string{"anthropic-version": "2023-06-01", "x-api-key": "client-key"}
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
	h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Text: refusal})
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: goodAnswer})
	for _, model := range []string{"claude-opus-5-5", "gpt-4.1"} {
		m["model"] = model
		body, _ := json.Marshal(m)
		if n := breakpointCount(t, body); n != 5 {
			t.Fatalf("fixture has %d breakpoints", n)
		}
		h.fake.Reset()
		status, hd, out := h.post("/v1/messages?beta=true", string(body), hdr)
		if status != 200 || hd.Get("X-Cascade-Outcome") != "escalated" {
			t.Fatalf("%s: %d %s %s", model, status, hd.Get("X-Cascade-Outcome"), out)
		}
		reqs := h.fake.Requests()
		if len(reqs) != 2 {
			t.Fatalf("%s: %d upstream calls", model, len(reqs))
		}
		for _, r := range reqs {
			switch r.Model {
			case "gpt-4.1-mini":
				if strings.Contains(string(r.Body), "cache_control") || strings.Contains(string(r.Body), "x-anthropic-billing-header") {
					t.Errorf("the OpenAI draft got breakpoints or the billing line: %s", r.Body)
				}
			default:
				if n := breakpointCount(t, r.Body); n != 4 {
					t.Errorf("%s got %d breakpoints, want 4", r.Model, n)
				}
				var got struct {
					Messages []struct {
						Content json.RawMessage `json:"content"`
					} `json:"messages"`
				}
				var content []map[string]json.RawMessage
				if err := json.Unmarshal(r.Body, &got); err != nil || len(got.Messages) == 0 {
					t.Fatalf("%s: %v", r.Model, err)
				}
				if err := json.Unmarshal(got.Messages[len(got.Messages)-1].Content, &content); err != nil || len(content) == 0 {
					t.Fatalf("%s: last message: %v", r.Model, err)
				}
				last := content[0]
				if string(last["type"]) != `"tool_result"` || last["cache_control"] == nil {
					t.Errorf("%s: the tool result's breakpoint is gone: %v", r.Model, last)
				}
			}
		}
	}
}
