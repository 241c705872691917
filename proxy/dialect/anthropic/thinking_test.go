package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// decisions is a decide function from a table: a signature it names is sent
// as the entry says or removed (an empty entry); any other is kept as it is.
func decisions(table map[string]string) func(string) (string, bool) {
	return func(sig string) (string, bool) {
		send, named := table[sig]
		if !named {
			return sig, true
		}
		return send, send != ""
	}
}

// history is a Claude Code-like body: a user turn, an assistant turn with a
// thinking block and a tool call, the tool result, an assistant turn with a
// thinking and a redacted_thinking block, and the next user turn.
const history = `{"model":"claude-opus-5-5","max_tokens":128000,"thinking":{"type":"adaptive","display":"omitted"},"messages":[` +
	`{"role":"user","content":[{"type":"text","text":"run echo"}]},` +
	`{"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"SIG-A"},` +
	`{"type":"text","text":"Running it."},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"echo hi"}}]},` +
	`{"role":"user","content":[{"tool_use_id":"toolu_1","type":"tool_result","content":"hi","is_error":false}]},` +
	`{"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"SIG-B"},{"type":"redacted_thinking","data":"RED-B"},{"type":"text","text":"It printed hi."}]},` +
	`{"role":"user","content":"thanks"}],"stream":true}`

func TestFilterHistoryEditsOnlySignatures(t *testing.T) {
	got := FilterHistory([]byte(history), decisions(map[string]string{"SIG-A": "ORIG-A", "SIG-B": "", "RED-B": ""}))
	want := strings.NewReplacer(
		`"signature":"SIG-A"`, `"signature":"ORIG-A"`,
		`{"type":"thinking","thinking":"","signature":"SIG-B"},{"type":"redacted_thinking","data":"RED-B"},`, ``,
	).Replace(history)
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestFilterHistoryRewritesRedactedData(t *testing.T) {
	got := FilterHistory([]byte(history), decisions(map[string]string{"RED-B": `RED "B"`}))
	want := strings.Replace(history, `"data":"RED-B"`, `"data":"RED \"B\""`, 1)
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestFilterHistoryUnchangedBodyIsReturnedAsIs(t *testing.T) {
	body := []byte(history)
	got := FilterHistory(body, decisions(nil))
	if &got[0] != &body[0] {
		t.Error("a body with nothing to change was copied")
	}
	plain := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	drop := func(string) (string, bool) { return "", false }
	if got := FilterHistory(plain, drop); &got[0] != &plain[0] {
		t.Errorf("a body without thinking blocks changed: %s", got)
	}
}

func TestFilterHistoryRemovesEmptiedAssistantMessage(t *testing.T) {
	body := []byte(`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"V"}]},{"role":"user","content":"b"}]}`)
	got := FilterHistory(body, decisions(map[string]string{"V": ""}))
	want := `{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestFilterHistoryLeavesOtherMessagesAlone(t *testing.T) {
	drop := func(string) (string, bool) { return "", false }
	for _, body := range []string{
		// A user message that quotes a thinking-like block is not the model's output.
		`{"messages":[{"role":"user","content":[{"type":"thinking","thinking":"","signature":"S"}]}]}`,
		// An assistant message with string content has no blocks.
		`{"messages":[{"role":"assistant","content":"\"signature\""}]}`,
		// No messages member at all.
		`{"signature":"S","redacted_thinking":1}`,
	} {
		if got := FilterHistory([]byte(body), drop); string(got) != body {
			t.Errorf("changed %s\n     to %s", body, got)
		}
	}
}

func TestSetThinkingSignature(t *testing.T) {
	b := llm.Block{Type: llm.BlockThinking, Thinking: "t", Signature: "S1",
		Raw: json.RawMessage(`{"type":"thinking","thinking":"t","signature":"S1","x":1}`), RawDialect: llm.Anthropic}
	orig := b.Raw
	SetThinkingSignature(&b, "S2")
	if b.Signature != "S2" || string(b.Raw) != `{"type":"thinking","thinking":"t","signature":"S2","x":1}` {
		t.Errorf("thinking: %q %s", b.Signature, b.Raw)
	}
	if string(orig) != `{"type":"thinking","thinking":"t","signature":"S1","x":1}` {
		t.Errorf("the old Raw was written to: %s", orig)
	}

	r := llm.Block{Type: llm.BlockRedactedThinking, Data: "D1", Raw: json.RawMessage(`{"type":"redacted_thinking","data":"D1"}`)}
	SetThinkingSignature(&r, "D2")
	if r.Data != "D2" || string(r.Raw) != `{"type":"redacted_thinking","data":"D2"}` {
		t.Errorf("redacted: %q %s", r.Data, r.Raw)
	}

	noMember := llm.Block{Type: llm.BlockThinking, Signature: "S", Raw: json.RawMessage(`{"type":"thinking"}`)}
	SetThinkingSignature(&noMember, "T")
	if noMember.Signature != "T" || noMember.Raw != nil {
		t.Errorf("Raw without the member: %q %s", noMember.Signature, noMember.Raw)
	}

	text := llm.Block{Type: llm.BlockText, Text: "hi", Signature: "S"}
	SetThinkingSignature(&text, "T")
	if text.Signature != "S" {
		t.Error("a text block was changed")
	}
	if _, ok := ThinkingSignature(text); ok {
		t.Error("ThinkingSignature reported a text block")
	}
	if sig, ok := ThinkingSignature(r); !ok || sig != "D2" {
		t.Errorf("ThinkingSignature(redacted) = %q, %v", sig, ok)
	}
}

// FilterHistory never panics, makes a valid body from a valid one, and is
// idempotent.
func FuzzFilterHistory(f *testing.F) {
	f.Add([]byte(history), "SIG-A", "X")
	f.Add([]byte(history), "RED-B", "")
	f.Add([]byte(`{"messages":[{"role":"assistant","content":[{"type":"thinking","signature":"S"}]}]}`), "S", "")
	f.Add([]byte(`{"messages":[{"role":"assistant","content":[{"type":"redacted_thinking","data":"S"} ,{"type":"text","text":"x"}]}]}`), "S", "\u2028")
	f.Add([]byte(`{"messages":[{"role":"assistant","content":[{"type":"thinking","signature":"S"}`), "S", "")
	f.Fuzz(func(t *testing.T, body []byte, target, send string) {
		decide := decisions(map[string]string{target: send})
		got := FilterHistory(body, decide)
		if !json.Valid(body) {
			return // anything but a panic
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON from %q:\n%q", body, got)
		}
		if bytes.Equal(got, body) {
			return
		}
		// Applied once more, the same decision finds nothing left to do: the
		// blocks it named are gone or carry a signature it does not name.
		if again := FilterHistory(got, decide); !bytes.Equal(again, got) {
			t.Fatalf("not idempotent:\n%q\n%q", got, again)
		}
	})
}
