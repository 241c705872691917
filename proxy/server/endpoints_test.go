package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

func TestModelsListsRulesAndUpstream(t *testing.T) {
	h := newHarness(t, cascadeRules("defaultRoute: {provider: anth}\n"), harnessOptions{})
	c := h.anthropic()
	start := time.Now()
	page, err := c.Models.List(context.Background(), anthropic.ModelListParams{Limit: anthropic.Int(1000)})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("models list too slow")
	}
	ids := map[string]bool{}
	for _, m := range page.Data {
		ids[m.ID] = true
	}
	for _, want := range []string{"claude-opus-5-5", "opus", "gpt-4.1", "claude-sonnet-4-5-20250929"} {
		if !ids[want] {
			t.Fatalf("models list lacks %s: %v", want, ids)
		}
	}
	page, err = c.Models.List(context.Background(), anthropic.ModelListParams{Limit: anthropic.Int(2)})
	if err != nil || len(page.Data) != 2 || !page.HasMore {
		t.Fatalf("limit=2: %v %+v", err, page)
	}
	m, err := c.Models.Get(context.Background(), "opus", anthropic.ModelGetParams{})
	if err != nil || m.ID != "opus" {
		t.Fatalf("get: %v %+v", err, m)
	}
	oc := h.openai()
	op, err := oc.Models.List(context.Background())
	if err != nil || len(op.Data) < 4 {
		t.Fatalf("openai list: %v", err)
	}
	// A slow upstream catalogue does not hold the answer past the deadline.
	h.fake.Enqueue(fakeupstream.Reply{StallBeforeHeaders: 10 * time.Second})
	start = time.Now()
	page, err = c.Models.List(context.Background(), anthropic.ModelListParams{})
	if err != nil || time.Since(start) > 3*time.Second || len(page.Data) == 0 {
		t.Fatalf("stalled upstream: %v after %s", err, time.Since(start))
	}
}

func TestCountTokens(t *testing.T) {
	h := newHarness(t, cascadeRules(`  - name: local
    models: [claude-on-vllm]
    draft: {provider: oai, model: small}
    verifier: {provider: oai, model: big}
defaultRoute: {provider: anth}
`), harnessOptions{})
	c := h.anthropic()
	params := anthropic.MessageCountTokensParams{Model: "claude-opus-5-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there, how are you today?"))}}
	res, err := c.Messages.CountTokens(context.Background(), params)
	if err != nil || res.InputTokens == 0 {
		t.Fatalf("%v %+v", err, res)
	}
	last := h.fake.Requests()[len(h.fake.Requests())-1]
	if last.Endpoint != fakeupstream.EndpointCountTokens || last.Model != "claude-opus-5-5" {
		t.Fatalf("forwarded to %s for %s", last.Endpoint, last.Model)
	}
	// Served by an OpenAI-compatible upstream: estimated locally, not forwarded.
	n := len(h.fake.Requests())
	params.Model = "claude-on-vllm"
	res, err = c.Messages.CountTokens(context.Background(), params)
	if err != nil || res.InputTokens < 8 {
		t.Fatalf("local estimate: %v %+v", err, res)
	}
	if len(h.fake.Requests()) != n {
		t.Fatal("estimate must not call the upstream")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	if code, _ := h.get("/healthz", nil); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := h.get("/readyz", nil); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer})
	if _, err := h.anthropic().Messages.New(context.Background(), capitalParams("claude-opus-5-5")); err != nil {
		t.Fatal(err)
	}
	code, body := h.get("/metrics", nil)
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	for _, want := range []string{
		`cascadeflow_requests_total{outcome="accepted",rule="opus"} 1`,
		`cascadeflow_rules_info{hash="` + h.loader.Store.Load().Hash + `"} 1`,
		`cascadeflow_http_requests_total{code="200",endpoint="/v1/messages"} 1`,
		`cascadeflow_tokens_total{kind="output",model="claude-haiku-5-5"}`,
		`cascadeflow_cost_usd_total{model="claude-haiku-5-5",rule="opus"}`,
		`cascadeflow_savings_usd_total{rule="opus"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestCORS(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{cors: []string{"https://app.example"}})
	req, _ := http.NewRequest(http.MethodOptions, h.url+"/v1/messages", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "x-api-key, anthropic-version, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "x-api-key") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("disallowed origin got CORS headers")
	}
}

// Shutdown waits for a stream in flight to finish.
func TestGracefulShutdownFinishesStreams(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{})
	h.fake.Enqueue(fakeupstream.Reply{Text: "one two three four five six seven eight", ChunkDelay: 60 * time.Millisecond})
	done := make(chan struct {
		text string
		err  error
	}, 1)
	go func() {
		msg, _, err := streamAnthropic(t, h.anthropic(), userParams("claude-haiku-5-5", "count"))
		text := ""
		if len(msg.Content) > 0 {
			text = msg.Content[0].Text
		}
		done <- struct {
			text string
			err  error
		}{text, err}
	}()
	time.Sleep(150 * time.Millisecond)
	h.cancel()
	time.Sleep(50 * time.Millisecond)
	if code, _ := h.getNoFail("/readyz"); code == 200 {
		t.Error("readyz still 200 while draining")
	}
	r := <-done
	if r.err != nil || r.text != "one two three four five six seven eight" {
		t.Fatalf("stream cut by shutdown: %v %q", r.err, r.text)
	}
	if err := <-h.done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	h.done <- nil // for cleanup
}

func (h *harness) getNoFail(path string) (int, string) {
	resp, err := http.Get(h.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var v json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, string(v)
}

// With a separate admin listener, the API port does not serve metrics or the
// loaded rules (an Ingress exposes it); the admin handler does.
func TestAdminEndpointsApart(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{adminApart: true})
	for _, p := range []string{"/metrics", "/debug/rules"} {
		if code, _ := h.get(p, nil); code != http.StatusNotFound {
			t.Fatalf("%s on the API port: %d", p, code)
		}
	}
	if code, _ := h.get("/readyz", nil); code != 200 {
		t.Fatalf("readyz on the API port: %d", code)
	}
	admin := httptest.NewServer(h.srv.Admin())
	defer admin.Close()
	for _, p := range []string{"/metrics", "/debug/rules", "/healthz", "/readyz"} {
		resp, err := http.Get(admin.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("admin %s: %d", p, resp.StatusCode)
		}
	}
}
