package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// anthropicEnvelope checks an Anthropic error body: {"type":"error","error":{"type","message"}}.
func anthropicEnvelope(t *testing.T, body, wantType string) string {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type != "error" || e.Error.Type != wantType || e.Error.Message == "" {
		t.Fatalf("want an Anthropic %s envelope, got %s (%v)", wantType, body, err)
	}
	return e.Error.Message
}

func openAIEnvelope(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("want an OpenAI error envelope, got %s (%v)", body, err)
	}
	return e.Error.Message
}

func TestBadInputErrors(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{maxBody: 4096})
	anth := map[string]string{"anthropic-version": "2023-06-01", "x-api-key": "k"}
	cases := []struct {
		name, path, body string
		status           int
		mention          string
	}{
		{"malformed json", "/v1/messages", `{"model": "claude-x", "max_tokens": 5,`, 400, ""},
		{"not an object", "/v1/messages", `[1,2]`, 400, ""},
		{"missing model", "/v1/messages", `{"max_tokens": 5, "messages": []}`, 400, "model"},
		{"model not a string", "/v1/messages", `{"model": 5, "max_tokens": 5, "messages": []}`, 400, "model"},
		{"stream not a bool", "/v1/messages", `{"model": "m", "stream": "yes", "max_tokens": 5, "messages": []}`, 400, "stream"},
		{"too large", "/v1/messages", `{"model":"m","pad":"` + strings.Repeat("x", 5000) + `"}`, 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := h.post(c.path, c.body, anth)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			want := "invalid_request_error"
			if c.status == 413 {
				want = "request_too_large"
			}
			msg := anthropicEnvelope(t, body, want)
			if c.mention != "" && !strings.Contains(msg, c.mention) {
				t.Fatalf("message %q does not name %q", msg, c.mention)
			}
		})
	}
	status, _, body := h.post("/v1/chat/completions", `{"model": "gpt", "messages": [`, nil)
	if status != 400 {
		t.Fatalf("openai malformed: %d", status)
	}
	openAIEnvelope(t, body)
	if len(h.fake.Requests()) != 0 {
		t.Fatalf("bad requests reached the upstream")
	}
}

// Upstream failures reach SDK clients as their own typed errors.
func TestUpstreamErrorsMapped(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{})
	c := h.anthropic()
	cases := []struct {
		reply  fakeupstream.Reply
		status int
	}{
		{fakeupstream.Reply{Status: 429, Header: http.Header{"Retry-After": {"7"}}}, 429},
		{fakeupstream.Reply{Status: 529}, 529},
		{fakeupstream.Reply{Status: 400, ErrorMessage: "max_tokens: too big"}, 400},
		{fakeupstream.Reply{Status: 503, RawBody: []byte("<html><body><h1>503 Service Unavailable</h1></body></html>"), ContentType: "text/html"}, 502},
		{fakeupstream.Reply{Status: 500, RawBody: []byte("<html>oops</html>"), ContentType: "text/html"}, 502},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			h.fake.Enqueue(tc.reply)
			var err error
			if stream {
				_, _, err = streamAnthropic(t, c, userParams("claude-haiku-5-5", "hi"))
			} else {
				_, err = c.Messages.New(context.Background(), userParams("claude-haiku-5-5", "hi"))
			}
			var ae *anthropic.Error
			if !errors.As(err, &ae) || ae.StatusCode != tc.status {
				t.Fatalf("upstream %d (stream %v): want SDK error %d, got %v", tc.reply.Status, stream, tc.status, err)
			}
			if strings.Contains(ae.RawJSON(), "<html") {
				t.Fatalf("HTML leaked to the client: %s", ae.RawJSON())
			}
		}
	}
	// The OpenAI client gets its own envelope for the same failures.
	h2 := newHarness(t, passthroughRules("oai", ""), harnessOptions{})
	h2.fake.Enqueue(fakeupstream.Reply{Status: 502, RawBody: []byte("<html>bad gateway</html>"), ContentType: "text/html"})
	oc := h2.openai()
	_, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 502 || oe.Message == "" {
		t.Fatalf("want OpenAI 502, got %v", err)
	}
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	h := newHarness(t, strings.Replace(passthroughRules("anth", ""), "apiKey: {env: VENDOR_KEY}", "apiKey: {env: VENDOR_KEY}\n    timeout: 300ms", 1), harnessOptions{})
	h.fake.Enqueue(fakeupstream.Reply{StallBeforeHeaders: 5 * time.Second})
	start := time.Now()
	status, _, body := h.post("/v1/messages", `{"model":"claude-haiku-5-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"anthropic-version": "2023-06-01"})
	if status != http.StatusGatewayTimeout {
		t.Fatalf("status %d: %s", status, body)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("timeout took %s", el)
	}
	if strings.Contains(body, vendorKey) || strings.Contains(body, "127.0.0.1") {
		t.Fatalf("error leaks details: %s", body)
	}
}

// A connection reset after the first streamed bytes becomes an in-band error event.
func TestMidStreamFailureIsInBandError(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{})
	h.fake.Enqueue(fakeupstream.Reply{Text: "one two three four five six seven", ResetAfterEvents: 4})
	_, _, err := streamAnthropic(t, h.anthropic(), userParams("claude-haiku-5-5", "hi"))
	if err == nil {
		t.Fatal("a stream cut mid-way must fail in the SDK")
	}
	status, _, body := func() (int, http.Header, string) {
		h.fake.Enqueue(fakeupstream.Reply{Text: "one two three four five six seven", ResetAfterEvents: 4})
		return h.post("/v1/messages", `{"model":"claude-haiku-5-5","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"anthropic-version": "2023-06-01"})
	}()
	if status != 200 || !strings.HasPrefix(body, "event: message_start") {
		t.Fatalf("stream did not start: %d %s", status, body)
	}
	if !strings.HasSuffix(body, "\n\n") || !strings.Contains(body, "event: error\ndata: {\"type\":\"error\"") {
		t.Fatalf("want a clean trailing error event, got:\n%s", body)
	}
	if strings.Contains(body, "message_stop") {
		t.Fatalf("cut stream claims completion:\n%s", body)
	}
}
