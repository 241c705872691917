package anthropic

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func breakpoints(body []byte) int {
	n := 0
	walkBreakpoints(body, func(b []byte) []byte { n++; return b })
	return n
}

// A body Claude Code sent (three breakpoints) is left as it is.
func TestLimitCacheBreakpointsKeepsClaudeCode(t *testing.T) {
	raw, err := os.ReadFile("../../turn/testdata/claudecode-continue.json")
	if err != nil {
		t.Fatal(err)
	}
	if n := breakpoints(raw); n != 3 {
		t.Fatalf("%d breakpoints, want 3", n)
	}
	if out := LimitCacheBreakpoints(raw, MaxCacheBreakpoints); &out[0] != &raw[0] || len(out) != len(raw) {
		t.Error("a body within the limit was copied or changed")
	}
}

const sixBreakpoints = `{"messages":[
  {"role":"user","content":[{"type":"text","text":"ask","cache_control":{"type":"ephemeral"}}]},
  {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"sig=="},{"type":"tool_use","id":"t1","name":"Bash","input":{}}]},
  {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"out","cache_control":{"type":"ephemeral"}}],"cache_control":{"type":"ephemeral","ttl":"5m"}}]}],
 "model":"m","max_tokens":10,
 "system":[{"type":"text","text":"s1","cache_control":{"type":"ephemeral","ttl":"1h"}},{"type":"text","text":"s2","cache_control":{"type":"ephemeral"}}],
 "tools":[{"name":"Bash","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}]}`

// Past the limit the earliest breakpoints in prompt order go (the tool's,
// then the first system block's), whatever the order of the members; the
// rest of the body keeps its bytes.
func TestLimitCacheBreakpointsDropsTheEarliest(t *testing.T) {
	body := []byte(sixBreakpoints)
	if n := breakpoints(body); n != 6 {
		t.Fatalf("%d breakpoints in the fixture", n)
	}
	out := LimitCacheBreakpoints(body, MaxCacheBreakpoints)
	if !json.Valid(out) || breakpoints(out) != 4 {
		t.Fatalf("%d breakpoints, valid %v:\n%s", breakpoints(out), json.Valid(out), out)
	}
	r, err := Codec{}.DecodeRequest(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.System[0].CacheControl != nil || r.System[1].CacheControl == nil {
		t.Errorf("system breakpoints: %s, %s; want only the second", r.System[0].CacheControl, r.System[1].CacheControl)
	}
	var w struct {
		Tools []map[string]any `json:"tools"`
	}
	if err := json.Unmarshal(out, &w); err != nil || w.Tools[0]["cache_control"] != nil || w.Tools[0]["name"] != "Bash" {
		t.Errorf("tool: %v %v", w.Tools, err)
	}
	tr := r.Messages[2].Content[0]
	if tr.CacheControl == nil || tr.Content[0].CacheControl == nil || r.Messages[0].Content[0].CacheControl == nil {
		t.Error("a message breakpoint was dropped")
	}
	for _, keep := range []string{`{"type":"thinking","thinking":"t","signature":"sig=="}`, `"cache_control":{"type":"ephemeral","ttl":"5m"}`} {
		if !bytes.Contains(out, []byte(keep)) {
			t.Errorf("lost %s", keep)
		}
	}
	// Down to one: only the last, the tool result's own.
	one := LimitCacheBreakpoints(body, 1)
	r, err = Codec{}.DecodeRequest(one)
	if err != nil || breakpoints(one) != 1 || r.Messages[2].Content[0].CacheControl == nil {
		t.Fatalf("limit 1: %v\n%s", err, one)
	}
}

func FuzzLimitCacheBreakpoints(f *testing.F) {
	f.Add([]byte(sixBreakpoints), 4)
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"cache_control cache_control"}]}`), 0)
	f.Add([]byte(`{"model":"m","max_tokens":1,"system":"s","messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":null},{"type":"text","text":"b","cache\u005fcontrol":{}}]}]}`), 0)
	f.Fuzz(func(t *testing.T, body []byte, limit int) {
		if _, err := (Codec{}).DecodeRequest(body); err != nil {
			return // only requests the codec accepted reach the limiter
		}
		limit = limit % 8
		out := LimitCacheBreakpoints(body, limit)
		if _, err := (Codec{}).DecodeRequest(out); err != nil {
			t.Fatalf("the limited body no longer decodes: %v\n%s", err, out)
		}
		if n := breakpoints(out); n > max(limit, 0) {
			t.Fatalf("%d breakpoints left of %d, limit %d", n, breakpoints(body), limit)
		}
		if breakpoints(body) <= max(limit, 0) && !bytes.Equal(out, body) {
			t.Fatal("a body within the limit changed")
		}
	})
}

// The TTL split of cache writes (usage.cache_creation) is read: one-hour
// writes are billed at a higher rate.
func TestDecodeUsageCacheCreationTTL(t *testing.T) {
	body := `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn",
"usage":{"input_tokens":10,"cache_creation_input_tokens":3000,"cache_read_input_tokens":500,"output_tokens":5,
"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000}}}`
	r, err := Codec{}.DecodeResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: 10, CacheCreationInputTokens: 3000, CacheReadInputTokens: 500, OutputTokens: 5, CacheCreation1hInputTokens: 2000}
	if r.Usage != want {
		t.Errorf("usage %+v, want %+v", r.Usage, want)
	}
	if got := r.Usage.CacheHitRatio(); got != 500.0/3510 {
		t.Errorf("hit ratio %v", got)
	}
}
