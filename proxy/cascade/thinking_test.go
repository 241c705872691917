package cascade

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

const (
	draftModel    = "claude-haiku-5-5"
	verifierModel = "claude-opus-5-5"
)

func TestMarkRoundTrip(t *testing.T) {
	for _, sig := range []string{"EqQBCkYIBRgCKkC+/=", "x", "a.b.c"} {
		m := markSignature("claude-haiku-4-5-20251001", sig)
		if !strings.HasPrefix(m, draftMark) {
			t.Fatalf("mark %q lacks the prefix", m)
		}
		model, orig, ok := parseMark(m)
		if !ok || model != "claude-haiku-4-5-20251001" || orig != sig {
			t.Errorf("parseMark(%q) = %q, %q, %v", m, model, orig, ok)
		}
	}
	for _, s := range []string{"", "EqQBCkYIBRgC", draftMark, draftMark + "!!!.sig", draftMark + "bm9kb3Q"} {
		if _, _, ok := parseMark(s); ok {
			t.Errorf("parseMark(%q) reported a mark", s)
		}
	}
}

func TestSameFamily(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"claude-sonnet-4-5", "claude-sonnet-4-5-20250929", true},
		{"Claude-Opus-5-5", "claude-opus-5-5", true},
		{"claude-haiku-5-5", "claude-opus-5-5", false},
		{"claude-sonnet-4-5-2025092", "claude-sonnet-4-5", false}, // 7 digits: not a date
		{"gpt-5", "gpt-5-mini", false},
	}
	for _, c := range cases {
		if got := sameFamily(c.a, c.b); got != c.want {
			t.Errorf("sameFamily(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestThinkingPolicy(t *testing.T) {
	marked := markSignature(draftModel, "D")
	cases := []struct {
		target, sig string
		send        string
		keep        bool
	}{
		{draftModel, marked, "D", true},                               // the draft's own block, restored
		{draftModel + "-20260101", marked, "D", true},                 // a snapshot of the draft's family
		{verifierModel, marked, "D", false},                           // the draft's block is removed for the verifier
		{verifierModel, "V", "V", true},                               // unmarked blocks are the verifier's
		{draftModel, "V", "V", false},                                 // and removed for the draft
		{"claude-sonnet-5-5", marked + "x", "Dx", false},              // marked for another family
		{verifierModel, draftMark + "!!.V", draftMark + "!!.V", true}, // a broken mark is no mark
	}
	for _, c := range cases {
		send, keep := thinkingPolicy(c.target, verifierModel)(c.sig)
		if send != c.send || keep != c.keep {
			t.Errorf("thinkingPolicy(%q)(%q) = %q, %v; want %q, %v", c.target, c.sig, send, keep, c.send, c.keep)
		}
	}
}

// conversation is a Claude Code-like body: a user turn, an assistant turn
// with a draft-marked thinking block, a tool result, an assistant turn with
// a verifier (unmarked) block and a redacted block, and the next user turn.
func conversation() string {
	return `{"model":"claude-opus-5-5","max_tokens":128000,"thinking":{"type":"adaptive","display":"omitted"},"messages":[` +
		`{"role":"user","content":[{"type":"text","text":"run echo"}]},` +
		`{"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"` + markSignature(draftModel, "SIG-HAIKU") + `"},` +
		`{"type":"text","text":"Running it."},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"echo hi"}}]},` +
		`{"role":"user","content":[{"tool_use_id":"toolu_1","type":"tool_result","content":"hi","is_error":false}]},` +
		`{"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"SIG-OPUS"},{"type":"redacted_thinking","data":"RED-OPUS"},{"type":"text","text":"It printed hi."}]},` +
		`{"role":"user","content":"thanks"}],"stream":true}`
}

type wireBlock struct {
	Type      string `json:"type"`
	Signature string `json:"signature"`
	Data      string `json:"data"`
	Text      string `json:"text"`
}

func assistantBlocks(t *testing.T, body []byte) [][]wireBlock {
	t.Helper()
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("rewritten body is not JSON: %v\n%s", err, body)
	}
	var out [][]wireBlock
	for _, m := range req.Messages {
		if m.Role != "assistant" {
			continue
		}
		var bs []wireBlock
		if err := json.Unmarshal(m.Content, &bs); err != nil {
			t.Fatal(err)
		}
		out = append(out, bs)
	}
	return out
}

func TestPolicyForDraftRestoresOwnAndRemovesVerifierBlocks(t *testing.T) {
	body := []byte(conversation())
	got := anthropic.FilterHistory(body, thinkingPolicy(draftModel, verifierModel))
	a := assistantBlocks(t, got)
	if len(a) != 2 {
		t.Fatalf("%d assistant messages, want 2", len(a))
	}
	if a[0][0].Type != "thinking" || a[0][0].Signature != "SIG-HAIKU" {
		t.Errorf("draft's own block not restored: %+v", a[0][0])
	}
	if len(a[0]) != 3 {
		t.Errorf("first assistant turn has %d blocks, want 3", len(a[0]))
	}
	if len(a[1]) != 1 || a[1][0].Type != "text" {
		t.Errorf("verifier blocks not removed for the draft: %+v", a[1])
	}
	// Nothing but the thinking blocks changed.
	if !strings.Contains(string(got), `{"type":"text","text":"Running it."},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"echo hi"}}`) ||
		!strings.HasSuffix(string(got), `{"role":"user","content":"thanks"}],"stream":true}`) ||
		!strings.HasPrefix(string(got), `{"model":"claude-opus-5-5","max_tokens":128000,"thinking":{"type":"adaptive","display":"omitted"},"messages":[{"role":"user","content":[{"type":"text","text":"run echo"}]},`) {
		t.Errorf("other bytes changed:\n%s", got)
	}
}

func TestPolicyForVerifierRemovesDraftBlocksAndKeepsItsOwn(t *testing.T) {
	got := anthropic.FilterHistory([]byte(conversation()), thinkingPolicy(verifierModel, verifierModel))
	a := assistantBlocks(t, got)
	if len(a[0]) != 2 || a[0][0].Type != "text" || a[0][1].Type != "tool_use" {
		t.Errorf("draft block not removed for the verifier: %+v", a[0])
	}
	if len(a[1]) != 3 || a[1][0].Signature != "SIG-OPUS" || a[1][1].Data != "RED-OPUS" {
		t.Errorf("verifier's own blocks changed: %+v", a[1])
	}
	if strings.Contains(string(got), draftMark) {
		t.Error("a marked signature reached the verifier")
	}
}

func TestPolicyForSameFamilyDraftKeepsEverything(t *testing.T) {
	body := []byte(conversation())
	got := anthropic.FilterHistory(body, thinkingPolicy("claude-opus-5-5-20260101", verifierModel))
	a := assistantBlocks(t, got)
	if len(a[1]) != 3 {
		t.Errorf("same-family draft lost the verifier's blocks: %+v", a[1])
	}
	if len(a[0]) != 2 {
		t.Errorf("a block marked for another family was kept: %+v", a[0])
	}
}

func TestThinkingForModel(t *testing.T) {
	body := []byte(conversation())
	got := ThinkingForModel(body, draftModel+"-20260101")
	a := assistantBlocks(t, got)
	if a[0][0].Signature != "SIG-HAIKU" || len(a[1]) != 3 {
		t.Errorf("pass-through to the draft's family: %+v", a)
	}
	got = ThinkingForModel(body, "claude-sonnet-5-5")
	a = assistantBlocks(t, got)
	if len(a[0]) != 2 || len(a[1]) != 3 {
		t.Errorf("pass-through to another model: %+v", a)
	}
	plain := []byte(`{"messages":[]}`)
	if got := ThinkingForModel(plain, "x"); string(got) != string(plain) {
		t.Error("unmarked body changed")
	}
}

func TestMarkDraftThinking(t *testing.T) {
	resp := &llm.Response{Content: []llm.Block{
		{Type: llm.BlockThinking, Thinking: "t", Signature: "S1",
			Raw: json.RawMessage(`{"type":"thinking","thinking":"t","signature":"S1"}`), RawDialect: llm.Anthropic},
		{Type: llm.BlockRedactedThinking, Data: "D1", Raw: json.RawMessage(`{"type":"redacted_thinking","data":"D1"}`), RawDialect: llm.Anthropic},
		{Type: llm.BlockText, Text: "hi"},
	}}
	markDraftThinking(resp, draftModel, verifierModel)
	if m, orig, ok := parseMark(resp.Content[0].Signature); !ok || m != draftModel || orig != "S1" {
		t.Errorf("thinking signature %q", resp.Content[0].Signature)
	}
	if !strings.Contains(string(resp.Content[0].Raw), `"signature":"`+draftMark) || !strings.HasPrefix(string(resp.Content[0].Raw), `{"type":"thinking","thinking":"t",`) {
		t.Errorf("thinking Raw %s", resp.Content[0].Raw)
	}
	if m, orig, ok := parseMark(resp.Content[1].Data); !ok || m != draftModel || orig != "D1" {
		t.Errorf("redacted data %q", resp.Content[1].Data)
	}
	// Marking twice is a no-op.
	before := resp.Content[0].Signature
	markDraftThinking(resp, draftModel, verifierModel)
	if resp.Content[0].Signature != before {
		t.Error("a marked signature was marked again")
	}
	same := &llm.Response{Content: []llm.Block{{Type: llm.BlockThinking, Signature: "S"}}}
	markDraftThinking(same, "claude-opus-5-5-20260101", verifierModel)
	if same.Content[0].Signature != "S" {
		t.Error("a same-family draft's block was marked")
	}
}

func TestFilterThinkingCanonical(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "q"}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{
			{Type: llm.BlockThinking, Signature: markSignature(draftModel, "S"), Raw: json.RawMessage(`{"type":"thinking","thinking":"","signature":"` + markSignature(draftModel, "S") + `"}`), RawDialect: llm.Anthropic},
			{Type: llm.BlockText, Text: "a"},
		}},
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockThinking, Signature: "V"}}},
	}}
	orig := req.Messages
	draftReq := *req
	filterThinking(&draftReq, thinkingPolicy(draftModel, verifierModel))
	if len(draftReq.Messages) != 2 || draftReq.Messages[1].Content[0].Signature != "S" ||
		string(draftReq.Messages[1].Content[0].Raw) != `{"type":"thinking","thinking":"","signature":"S"}` {
		t.Errorf("draft request: %+v", draftReq.Messages)
	}
	verReq := *req
	filterThinking(&verReq, thinkingPolicy(verifierModel, verifierModel))
	if len(verReq.Messages) != 3 || len(verReq.Messages[1].Content) != 1 || verReq.Messages[1].Content[0].Type != llm.BlockText {
		t.Errorf("verifier request: %+v", verReq.Messages)
	}
	if orig[1].Content[0].Signature != markSignature(draftModel, "S") || len(orig) != 3 {
		t.Error("the client's canonical request was modified")
	}
}
