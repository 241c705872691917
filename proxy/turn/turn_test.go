package turn

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"unicode/utf8"
)

// The testdata bodies are requests Claude Code 2.1.332 sent (recorded by
// the e2e run): claudecode-start.json is a first prompt, claudecode-continue.json
// the request carrying the tool result of a Bash call.

func load(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func messages(m map[string]any) []any { return m["messages"].([]any) }

func TestRecordedBodies(t *testing.T) {
	for name, want := range map[string]Kind{"claudecode-start.json": Start, "claudecode-continue.json": Continue} {
		raw, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		info := Classify(raw)
		if info.Kind != want || info.Conversation.IsZero() || info.Turn.IsZero() || info.StartIndex != 0 {
			t.Errorf("%s: %+v, want kind %v with keys and start index 0", name, info, want)
		}
	}
}

// session rebuilds, from the recorded continuation, the requests of its
// session as the CLI sends them: the first prompt (cache breakpoint on the
// last message, another billing line), the tool result, a second tool
// result with a system reminder next to it, and a new prompt.
func session(t *testing.T) (first, cont, cont2, next []byte) {
	t.Helper()
	base := load(t, "claudecode-continue.json")
	sys := base["system"].([]any)

	m := load(t, "claudecode-continue.json")
	msgs := messages(m)
	envText := msgs[1].(map[string]any)["content"].(string)
	m["messages"] = []any{msgs[0], map[string]any{"role": "system", "content": []any{
		map[string]any{"type": "text", "text": envText, "cache_control": map[string]any{"type": "ephemeral"}}}}}
	m["system"] = append([]any{map[string]any{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.0aa; cc_entrypoint=sdk-cli;"}}, sys[1:]...)
	first = encode(t, m)

	raw, err := os.ReadFile("testdata/claudecode-continue.json")
	if err != nil {
		t.Fatal(err)
	}
	cont = raw

	m = load(t, "claudecode-continue.json")
	msgs = messages(m)
	// The breakpoint moves to the newest message, as the CLI does.
	delete(msgs[3].(map[string]any)["content"].([]any)[0].(map[string]any), "cache_control")
	msgs = append(msgs,
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": map[string]any{"command": "ls"}}}},
		map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "tool_result", "tool_use_id": "toolu_2", "content": "a b", "cache_control": map[string]any{"type": "ephemeral"}},
			map[string]any{"type": "text", "text": "<system-reminder>\nThe task tools haven't been used recently.\n</system-reminder>"}}})
	m["messages"] = msgs
	cont2 = encode(t, m)

	m = load(t, "claudecode-continue.json")
	msgs = messages(m)
	msgs = append(msgs,
		map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": "It printed cascade-bash-ok."}}},
		map[string]any{"role": "user", "content": "now list the files"})
	m["messages"] = msgs
	next = encode(t, m)
	return first, cont, cont2, next
}

func TestSessionKeys(t *testing.T) {
	first, cont, cont2, next := session(t)
	a, b, c, d := Classify(first), Classify(cont), Classify(cont2), Classify(next)
	if a.Kind != Start || b.Kind != Continue || c.Kind != Continue || d.Kind != Start {
		t.Fatalf("kinds %v %v %v %v, want start continue continue start", a.Kind, b.Kind, c.Kind, d.Kind)
	}
	if a.Conversation != b.Conversation || b.Conversation != c.Conversation || c.Conversation != d.Conversation {
		t.Errorf("conversation keys differ: %s %s %s %s", a.Conversation, b.Conversation, c.Conversation, d.Conversation)
	}
	if a.Turn != b.Turn || b.Turn != c.Turn {
		t.Errorf("the first turn's requests have turn keys %s %s %s", a.Turn, b.Turn, c.Turn)
	}
	if d.Turn == a.Turn || d.StartIndex != 5 {
		t.Errorf("the new prompt: turn %s (first turn %s), start index %d, want a new turn at 5", d.Turn, a.Turn, d.StartIndex)
	}
}

// Another session (another metadata.user_id), or another first prompt, is
// another conversation.
func TestConversationsDiffer(t *testing.T) {
	base := Classify(encode(t, load(t, "claudecode-continue.json")))
	m := load(t, "claudecode-continue.json")
	m["metadata"] = map[string]any{"user_id": `{"session_id":"other"}`}
	if got := Classify(encode(t, m)); got.Conversation == base.Conversation || got.Turn == base.Turn {
		t.Error("another session has the same keys")
	}
	m = load(t, "claudecode-continue.json")
	msgs := messages(m)
	blocks := msgs[0].(map[string]any)["content"].([]any)
	blocks[len(blocks)-1].(map[string]any)["text"] = "[cc:bash] Run `echo something-else`."
	if got := Classify(encode(t, m)); got.Conversation == base.Conversation {
		t.Error("another first prompt has the same conversation key")
	}
	m = load(t, "claudecode-continue.json")
	sys := m["system"].([]any)
	sys[2].(map[string]any)["text"] = "another system prompt"
	if got := Classify(encode(t, m)); got.Conversation == base.Conversation {
		t.Error("another system prompt has the same conversation key")
	}
}

func TestClassifyRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		kind Kind
	}{
		{"string prompt", `{"messages":[{"role":"user","content":"hi"}]}`, Start},
		{"tool result", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"x","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t"}]}]}`, Continue},
		{"tool result and typed text", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"x","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t"},{"type":"text","text":"stop, do y instead"}]}]}`, Start},
		{"tool result and image", `{"messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t"},{"type":"image","source":{}}]}]}`, Start},
		{"reminder only", `{"messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"}]}]}`, Start},
		{"assistant last", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure"}]}`, Unknown},
		{"tool results only", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t"}]}]}`, Unknown},
		{"no messages", `{"model":"x"}`, Unknown},
		{"not json", `{"messages":[`, Unknown},
		{"messages not an array", `{"messages":{}}`, Unknown},
		{"system entry last", `{"messages":[{"role":"user","content":"hi"},{"role":"system","content":"env"}]}`, Start},
	} {
		got := Classify([]byte(tc.body))
		if got.Kind != tc.kind {
			t.Errorf("%s: kind %v, want %v", tc.name, got.Kind, tc.kind)
		}
		if (got.Kind == Unknown) != got.Turn.IsZero() {
			t.Errorf("%s: turn key %s with kind %v", tc.name, got.Turn, got.Kind)
		}
	}
}

func TestReminder(t *testing.T) {
	for text, want := range map[string]bool{
		"":                                     true,
		"  \n":                                 true,
		"<system-reminder>a</system-reminder>": true,
		"<system-reminder>a</system-reminder>\n<system-reminder>b</system-reminder>": true,
		"<system-reminder>a</system-reminder> and more":                              false,
		"<system-reminder>unclosed":                                                  false,
		"hello":                                                                      false,
	} {
		if got := reminder(text); got != want {
			t.Errorf("reminder(%q) = %v, want %v", text, got, want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, name := range []string{"claudecode-start.json", "claudecode-continue.json"} {
		raw, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"tool_result"}]}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"\u0000"}]}],"system":"s"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a := Classify(body)
		if b := Classify(body); a != b {
			t.Fatalf("not deterministic: %+v then %+v", a, b)
		}
		if (a.Kind == Unknown) != a.Turn.IsZero() || (a.Kind == Unknown) != (a.StartIndex < 0) {
			t.Fatalf("inconsistent: %+v", a)
		}
		if a.Kind != Unknown && a.Conversation.IsZero() {
			t.Fatalf("a turn without a conversation: %+v", a)
		}
	})
}

// A text hashes the same however its JSON escapes it.
func FuzzDigestIgnoresEscaping(f *testing.F) {
	for _, s := range []string{"", "plain", "<system-reminder>\n\tx</system-reminder>", "emoji 😀 and \u2028", `quote " and \ backslash`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		want := sha256.Sum256([]byte(s))
		html, _ := json.Marshal(s) // escapes <, >, & and U+2028 as \uXXXX
		var plain bytes.Buffer
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		ascii := []byte(strconv.QuoteToASCII(s)) // \u escapes with surrogate pairs; valid JSON for these inputs only when no \x escapes
		for name, raw := range map[string][]byte{"html": html, "plain": bytes.TrimSpace(plain.Bytes()), "ascii": ascii} {
			if name == "ascii" && (bytes.Contains(ascii, []byte(`\x`)) || bytes.Contains(ascii, []byte(`\a`)) || bytes.Contains(ascii, []byte(`\v`)) || bytes.Contains(ascii, []byte(`\U`))) {
				continue // Go escapes JSON does not have
			}
			if got := digest(raw); !bytes.Equal(got, want[:]) {
				t.Fatalf("%s %s: digest differs from the text's", name, raw)
			}
		}
	})
}
