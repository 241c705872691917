package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// startProxy serves rules (with FAKE in base URLs replaced by a fresh fake
// upstream's URL) on loopback and returns the proxy's URL and the fake.
func startProxy(t *testing.T, rulesYAML string, env map[string]string, log *slog.Logger) (string, *fakeupstream.Server) {
	t.Helper()
	fake := fakeupstream.New(fakeupstream.Options{})
	t.Cleanup(fake.Close)
	fakeURL := fake.Start()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := app.New(app.Options{Log: log, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load([]byte(strings.ReplaceAll(rulesYAML, "FAKE", fakeURL)), "test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	url, wait, err := p.Serve(ctx, "127.0.0.1:0", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = wait() })
	return url, fake
}

// call posts body to the proxy with headers and returns status and body,
// bounded in time.
func call(t *testing.T, method, url, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the proxy's answer: %v (so far %q)", err, b)
	}
	return resp.StatusCode, resp.Header, string(b)
}

var anthropicHeaders = map[string]string{"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "client-key"}

const idleRules = `version: v1
providers:
  - {name: anthropic, type: anthropic, baseURL: FAKE, apiKey: {env: ANTHROPIC_API_KEY}, idleTimeout: 200ms}
  - {name: openai, type: openai, baseURL: FAKE/v1, apiKey: {env: OPENAI_API_KEY}, idleTimeout: 200ms}
rules:
  - {name: opus, models: [claude-opus-5-5], mode: verifier-only, draft: {provider: anthropic, model: claude-haiku-5-5}, verifier: {provider: anthropic, model: claude-opus-5-5}}
  - {name: gpt, models: [gpt-5], mode: verifier-only, draft: {provider: openai, model: gpt-5-mini}, verifier: {provider: openai, model: gpt-5}}
defaultRoute: {provider: anthropic}
`

var bothKeys = map[string]string{"ANTHROPIC_API_KEY": "sk-ant-operator", "OPENAI_API_KEY": "sk-oai-operator"}

// An upstream that stalls after its answer has begun costs the client the
// provider's idle timeout, not its whole patience: a non-streamed answer is a
// 504 in the client's envelope, a stream ends with an in-band timeout event
// in the client's dialect (relayed or translated).
func TestHardeningIdleTimeoutThroughProxy(t *testing.T) {
	url, fake := startProxy(t, idleRules, bothKeys, nil)
	cases := []struct {
		name, path, body string
		header           map[string]string
		status           int
		want             string
	}{
		{"rule, json", "/v1/messages", `{"model":"claude-opus-5-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`,
			anthropicHeaders, 504, `"type":"timeout_error"`},
		{"rule, stream", "/v1/messages", `{"model":"claude-opus-5-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			anthropicHeaders, 200, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"timeout_error\""},
		{"pass-through, stream", "/v1/messages", `{"model":"claude-sonnet-5-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			anthropicHeaders, 200, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"timeout_error\""},
		{"openai rule, json", "/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"content-type": "application/json"}, 504, `"type":"server_error"`},
		{"openai rule, stream", "/v1/chat/completions", `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"content-type": "application/json"}, 200, `data: {"error":{"message":"upstream openai sent nothing for 200ms"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake.Enqueue(fakeupstream.Reply{Text: strings.Repeat("an answer that will never finish ", 20), StallAfterBytes: 900})
			status, _, body := call(t, http.MethodPost, url+tc.path, tc.body, tc.header)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d, body:\n%s\nwant status %d and %q", status, body, tc.status, tc.want)
			}
		})
	}
}

// Through the proxy, with the operator's key: the client's organization,
// project, forwarding headers and query string never reach the vendor.
func TestHardeningClientCannotSteerOperatorAccount(t *testing.T) {
	url, fake := startProxy(t, idleRules, bothKeys, nil)
	steer := map[string]string{"content-type": "application/json", "openai-organization": "org-x", "openai-project": "proj-x",
		"forwarded": "for=1.2.3.4", "x-real-ip": "1.2.3.4", "via": "1.1 x", "x-http-method-override": "DELETE"}
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions?api-version=x", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/messages?beta=true", `{"model":"claude-sonnet-5-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		fake.Reset()
		h := map[string]string{}
		for k, v := range steer {
			h[k] = v
		}
		if strings.HasPrefix(tc.path, "/v1/messages") {
			h["anthropic-version"] = "2023-06-01"
		}
		if status, _, body := call(t, http.MethodPost, url+tc.path, tc.body, h); status != 200 {
			t.Fatalf("%s: %d %s", tc.path, status, body)
		}
		reqs := fake.Requests()
		if len(reqs) != 1 {
			t.Fatalf("%s: %d upstream requests", tc.path, len(reqs))
		}
		for k := range steer {
			if k != "content-type" && reqs[0].Header.Get(k) != "" {
				t.Errorf("%s: upstream saw %s: %q", tc.path, k, reqs[0].Header.Get(k))
			}
		}
		if len(reqs[0].Query) != 0 {
			t.Errorf("%s: upstream saw query %v", tc.path, reqs[0].Query)
		}
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An upstream error that quotes the operator's key reaches neither the
// client nor the log: not as a JSON error message, not inside an HTML page,
// not in an in-band stream error (translated path).
func TestHardeningUpstreamErrorsRedactKey(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	url, fake := startProxy(t, idleRules, bothKeys, log)
	key := bothKeys["ANTHROPIC_API_KEY"]
	cases := []struct {
		name, body string
		reply      fakeupstream.Reply
	}{
		{"json error, pass-through", `{"model":"claude-sonnet-5-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`,
			fakeupstream.Reply{Status: 401, ErrorMessage: "invalid x-api-key: " + key}},
		{"json error, rule", `{"model":"claude-opus-5-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`,
			fakeupstream.Reply{Status: 400, ErrorMessage: "key " + key + " may not use this model"}},
		{"html error", `{"model":"claude-sonnet-5-5","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`,
			fakeupstream.Reply{Status: 500, ContentType: "text/html", RawBody: []byte("<html>bad gateway for key " + key + "</html>")}},
		{"in-band stream error, rule", `{"model":"claude-opus-5-5","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			fakeupstream.Reply{Text: strings.Repeat("word ", 20), StreamErrorAfterEvents: 3, StreamErrorStatus: 529, ErrorMessage: "overloaded for key " + key}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake.Enqueue(tc.reply)
			status, _, body := call(t, http.MethodPost, url+"/v1/messages", tc.body, anthropicHeaders)
			if strings.Contains(body, key) {
				t.Fatalf("status %d: the client saw the key:\n%s", status, body)
			}
			if status == 200 && !strings.Contains(body, "event: error") {
				t.Fatalf("the upstream error was lost:\n%s", body)
			}
		})
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("the log holds the key:\n%s", logs.String())
	}
}
