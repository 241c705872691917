package fakeupstream

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTokenizeRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Hello, world.", []string{"Hello", ",", " world", "."}},
		{"  lead and trail  ", []string{"  lead", " and", " trail  "}},
		{"naïve 日本語 x2", []string{"naïve", " 日本語", " x2"}},
		{"   ", []string{"   "}},
		{"", nil},
	} {
		got := tokenize(tc.in)
		if strings.Join(got, "") != tc.in || len(got) != len(tc.want) {
			t.Fatalf("tokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("tokenize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}

func TestSplitJSONFragments(t *testing.T) {
	for _, in := range []string{`{}`, `{"a":"ü€ü€ü€ü€ü€ü€ü€ü€ü€"}`, `{"query":"a long enough argument value"}`} {
		parts := splitJSONFragments(in, 16)
		if strings.Join(parts, "") != in || len(parts) < 2 {
			t.Fatalf("%q split into %q", in, parts)
		}
		for _, p := range parts {
			if !strings.ContainsRune(p, '\uFFFD') && len(p) > 0 && !isValidUTF8(p) {
				t.Fatalf("fragment %q splits a UTF-8 sequence", p)
			}
		}
	}
	if parts := splitJSONFragments("x", 16); len(parts) != 1 {
		t.Fatalf("one rune split into %q", parts)
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "?") == s }

func TestSignatureFormatAndFamilies(t *testing.T) {
	// Computed independently:
	// printf '%s' 'fakeupstream-thinking-key|claude-sonnet-4-5|I should add the numbers.' | openssl dgst -sha256 -binary | base64
	const golden = "3bHmG3nOatzE4JCUwue8/nW9QDrqIGC3cTU/hJeUBTA="
	if got := Signature("claude-sonnet-4-5-20250929", "I should add the numbers."); got != golden {
		t.Fatalf("Signature = %s, want %s", got, golden)
	}
	if Signature("claude-sonnet-4-5", "x") != Signature("claude-sonnet-4-5-20250929", "x") {
		t.Fatal("dated and undated ids of one family sign differently")
	}
	if Signature("claude-haiku-5-5", "x") == Signature("claude-opus-5-5", "x") {
		t.Fatal("different families share a signature")
	}
	for in, want := range map[string]string{
		"claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
		"claude-opus-5-5":            "claude-opus-5-5",
		"gpt-5-2025":                 "gpt-5-2025",
		"model-2025092x":             "model-2025092x",
	} {
		if got := ModelFamily(in); got != want {
			t.Fatalf("ModelFamily(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"claude-sonnet-4-5-20250929": "Claude Sonnet 4.5",
		"claude-opus-5-5":            "Claude Opus 5.5",
		"gpt-4o-mini":                "Gpt 4o Mini",
	} {
		if got := displayName(in); got != want {
			t.Fatalf("displayName(%q) = %q, want %q", in, got, want)
		}
	}
}

func (s *Server) running() int {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.inflight
}

func TestStallEndsWhenClientGivesUp(t *testing.T) {
	s := New(Options{})
	url := s.Start()
	defer s.Close()
	s.Enqueue(Reply{StallBeforeHeaders: time.Minute})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/messages",
		strings.NewReader(`{"model":"m","max_tokens":5,"messages":[]}`))
	begin := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("stalled request answered %d", res.StatusCode)
	}
	if time.Since(begin) > 2*time.Second {
		t.Fatalf("client timeout took %v", time.Since(begin))
	}
	// The handler notices the client is gone and returns, long before the minute.
	deadline := time.Now().Add(2 * time.Second)
	for s.running() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("stalled handler still running after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseEndsStallsAndRefusesLaterRequests(t *testing.T) {
	s := New(Options{})
	url := s.Start()
	s.SetReply("m", Reply{StallBeforeHeaders: time.Minute})
	done := make(chan error, 1)
	go func() {
		res, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[]}`))
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	for s.running() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	begin := time.Now()
	s.Close()
	if time.Since(begin) > 2*time.Second || s.running() != 0 {
		t.Fatalf("Close took %v with %d running", time.Since(begin), s.running())
	}
	<-done
	if _, err := s.Listen("127.0.0.1:0"); err == nil {
		t.Fatal("Listen after Close succeeded")
	}
}

func TestTextDeltaFastPathMatchesStruct(t *testing.T) {
	fast := textDeltaEvent(3, "a \"quoted\"\ntext")
	slow, _ := json.Marshal(anthropicBlockDelta{Type: "content_block_delta", Index: 3, Delta: anthropicTextDelta{Type: "text_delta", Text: "a \"quoted\"\ntext"}})
	var a, b any
	if json.Unmarshal(fast, &a) != nil || json.Unmarshal(slow, &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("fast %s != struct %s", fast, slow)
	}
}
