package provider_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func TestRedactor(t *testing.T) {
	r := provider.NewRedactor("sk-ant-secret-1", "sk-oai-secret-2", "short", "")
	e := r.Error(&llm.Error{Kind: llm.ErrAuthentication, Message: "bad key sk-ant-secret-1 (and sk-oai-secret-2)",
		Err: errors.New("body begins \"sk-oai-secret-2\"")})
	if strings.Contains(e.Message, "secret") || strings.Contains(e.Err.Error(), "secret") {
		t.Errorf("not redacted: %q / %v", e.Message, e.Err)
	}
	if e.Message != "bad key [REDACTED] (and [REDACTED])" {
		t.Errorf("message %q", e.Message)
	}
	if got := r.String("a short word"); got != "a short word" {
		t.Errorf("a value under 8 bytes was redacted: %q", got)
	}
	var none *provider.Redactor
	if none.String("x sk-ant-secret-1") != "x sk-ant-secret-1" || none.Error(nil) != nil {
		t.Error("a nil Redactor changed something")
	}
	if provider.NewRedactor("", "tiny") != nil {
		t.Error("a Redactor with nothing to hide is not nil")
	}
}

func TestRedactEvents(t *testing.T) {
	const key = "sk-ant-secret-1"
	c, err := provider.New(rules.Provider{Name: "p", BaseURL: "http://127.0.0.1:1"}, anthropic.Codec{}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetRedactor(provider.NewRedactor(key))
	for _, tc := range []struct {
		name, in string
		redact   bool
	}{
		{"anthropic error event", "event: ping\ndata: {}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"bad key " + key + "\"}}\n\n", true},
		{"openai error chunk", "data: {\"error\":{\"message\":\"bad key " + key + "\",\"type\":\"invalid_request_error\"}}\n\n", true},
		{"event name only", "event:error\ndata: bad key " + key + "\n\n", true},
		// The key in an answer's text is not an error event's: the fast path leaves it.
		{"text about an error", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"an \\\"error\\\" with " + key + "\"}}\n\n", false},
		{"no secret", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", false},
	} {
		in := []byte(tc.in)
		out := c.RedactEvents(in)
		switch {
		case tc.redact && (strings.Contains(string(out), key) || !strings.Contains(string(out), "[REDACTED]")):
			t.Errorf("%s: not redacted: %s", tc.name, out)
		case tc.redact && string(out) != strings.ReplaceAll(tc.in, key, "[REDACTED]"):
			t.Errorf("%s: more than the key changed: %s", tc.name, out)
		case !tc.redact && &out[0] != &in[0]:
			t.Errorf("%s: copied, want the events passed on as they are", tc.name)
		}
	}
}

// Whatever the upstream sends, RedactEvents changes nothing but the key, and
// an event named error never carries it on.
func FuzzRedactEvents(f *testing.F) {
	const key = "sk-ant-secret-1"
	c, err := provider.New(rules.Provider{Name: "p", BaseURL: "http://127.0.0.1:1"}, anthropic.Codec{}, key, nil)
	if err != nil {
		f.Fatal(err)
	}
	c.SetRedactor(provider.NewRedactor(key))
	for _, seed := range []string{"event: error\ndata: " + key + "\n\n", `data: {"error":"` + key + `"}`, `"error\"` + key, "error", `\"error"`, ""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := string(b)
		out := string(c.RedactEvents(b))
		if out != in && out != strings.ReplaceAll(in, key, "[REDACTED]") {
			t.Fatalf("RedactEvents(%q) = %q", in, out)
		}
		if strings.Contains(in, "event: error") && strings.Contains(out, key) {
			t.Fatalf("an error event kept the key: %q", out)
		}
	})
}

// BenchmarkRedactEvents is the relay's added cost per run of stream events
// without an error: one scan. A run of 20 text deltas (about 3 KB), plain
// and with the word "error" in every delta (each occurrence is looked at):
//
//	go test -run '^$' -bench BenchmarkRedactEvents ./proxy/provider/
func BenchmarkRedactEvents(b *testing.B) {
	c, err := provider.New(rules.Provider{Name: "p", BaseURL: "http://127.0.0.1:1"}, anthropic.Codec{}, "sk-ant-secret-1", nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetRedactor(provider.NewRedactor("sk-ant-secret-1"))
	for _, word := range []string{"plain", "error"} {
		run := []byte(strings.Repeat("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" the proxy relays every "+word+"-free event\"}}\n\n", 20))
		b.Run(word, func(b *testing.B) {
			b.SetBytes(int64(len(run)))
			b.ReportAllocs()
			for b.Loop() {
				if out := c.RedactEvents(run); len(out) != len(run) {
					b.Fatal("changed")
				}
			}
		})
	}
}
