package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// stepClock advances only when slept on: retries take no time.
type stepClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *stepClock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

const resilientRules = `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}, retry: {attempts: 1}}
  - {name: oai, type: openai, baseURL: "{{URL}}/v1", apiKey: {env: VENDOR_KEY}}
rules:
  - name: opus
    models: [claude-opus-5-5]
    mode: verifier-only
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5, fallbacks: [{provider: oai, model: gpt-5}, {provider: anth, model: claude-sonnet-5-5}]}
  - name: drafty
    models: [drafty]
    mode: draft-only
    draft: {provider: anth, model: claude-haiku-5-5, fallbacks: [{provider: oai, model: gpt-4.1-mini}]}
    verifier: {provider: anth, model: claude-opus-5-5}
defaultRoute:
  provider: anth
  fallbacks: [{provider: oai, model: gpt-4.1-mini}]
`

// body is a minimal request in the client's dialect.
func body(anthropicClient bool, model string, stream bool) (path, b string, h map[string]string) {
	s := "false"
	if stream {
		s = "true"
	}
	if anthropicClient {
		return "/v1/messages", `{"model":"` + model + `","max_tokens":50,"stream":` + s + `,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"anthropic-version": "2023-06-01", "x-api-key": "client-key"}
	}
	return "/v1/chat/completions", `{"model":"` + model + `","stream":` + s + `,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"authorization": "Bearer client-key"}
}

type clientCase struct {
	name      string
	anthropic bool
	stream    bool
}

var clientCases = []clientCase{{"anthropic", true, false}, {"anthropic/stream", true, true}, {"openai", false, false}, {"openai/stream", false, true}}

// The verifier is retried, then its fallbacks are tried in order; the
// answer says which model answered, and the metrics count it all.
func TestVerifierFallsBackAfterRetries(t *testing.T) {
	for _, cc := range clientCases {
		t.Run(cc.name, func(t *testing.T) {
			h := newHarness(t, resilientRules, harnessOptions{clock: &stepClock{now: time.Now()}})
			h.fake.Fail("claude-opus-5-5", 2, fakeupstream.Reply{Status: 529}) // the first call and its one retry
			h.fake.SetReply("gpt-5", fakeupstream.Reply{Text: "answered_by_the_fallback", TokensPerDelta: 100})
			path, b, hdr := body(cc.anthropic, "claude-opus-5-5", cc.stream)
			status, head, out := h.post(path, b, hdr)
			if status != 200 || !strings.Contains(out, "answered_by_the_fallback") {
				t.Fatalf("status %d body %s", status, out)
			}
			if got := head.Get("X-Cascade-Model"); got != "gpt-5" {
				t.Errorf("X-Cascade-Model %q, want gpt-5", got)
			}
			if got := strings.Join(modelsCalled(h), ","); got != "claude-opus-5-5,claude-opus-5-5,gpt-5" {
				t.Errorf("upstream calls %s", got)
			}
			if v := testutil.ToFloat64(h.metrics.Fallbacks.WithLabelValues("opus", "verifier", "gpt-5")); v != 1 {
				t.Errorf("fallbacks metric %v", v)
			}
			if v := testutil.ToFloat64(h.metrics.Retries.WithLabelValues("anth", "529")); v != 1 {
				t.Errorf("retries metric %v", v)
			}
			if v := testutil.ToFloat64(h.metrics.CostUSD.WithLabelValues("opus", "gpt-5")); v <= 0 {
				t.Errorf("the fallback's cost was not counted under its model (%v)", v)
			}
		})
	}
}

// A fallback of another family than the verifier answers with thinking
// blocks the verifier cannot read: they come back marked, as a draft's do.
func TestFallbackThinkingMarked(t *testing.T) {
	for _, stream := range []bool{false, true} {
		h := newHarness(t, resilientRules, harnessOptions{clock: &stepClock{now: time.Now()}})
		h.fake.Fail("claude-opus-5-5", 2, fakeupstream.Reply{Status: 503})
		h.fake.Fail("gpt-5", 1, fakeupstream.Reply{Status: 500})
		h.fake.SetReply("claude-sonnet-5-5", fakeupstream.Reply{Text: "sonnet", Thinking: "let me think"})
		path, b, hdr := body(true, "claude-opus-5-5", stream)
		status, head, out := h.post(path, b, hdr)
		if status != 200 || head.Get("X-Cascade-Model") != "claude-sonnet-5-5" {
			t.Fatalf("stream %v: status %d, model %q: %s", stream, status, head.Get("X-Cascade-Model"), out)
		}
		if !strings.Contains(out, "cfdraft1.") {
			t.Errorf("stream %v: the fallback's thinking signature is not marked: %s", stream, out)
		}
	}
}

// The draft falls back too (draft-only mode: the fallback's draft is the answer).
func TestDraftFallsBack(t *testing.T) {
	h := newHarness(t, resilientRules, harnessOptions{clock: &stepClock{now: time.Now()}})
	h.fake.Fail("claude-haiku-5-5", 2, fakeupstream.Reply{Status: 500})
	h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Text: "mini_draft", TokensPerDelta: 100})
	path, b, hdr := body(true, "drafty", false)
	status, head, out := h.post(path, b, hdr)
	if status != 200 || head.Get("X-Cascade-Model") != "gpt-4.1-mini" || !strings.Contains(out, "mini_draft") {
		t.Fatalf("status %d model %q: %s", status, head.Get("X-Cascade-Model"), out)
	}
	if v := testutil.ToFloat64(h.metrics.Fallbacks.WithLabelValues("drafty", "draft", "gpt-4.1-mini")); v != 1 {
		t.Errorf("fallbacks metric %v", v)
	}
}

// The default route falls back in both dialects, streamed or not.
func TestDefaultRouteFallsBack(t *testing.T) {
	for _, cc := range clientCases {
		t.Run(cc.name, func(t *testing.T) {
			h := newHarness(t, resilientRules, harnessOptions{clock: &stepClock{now: time.Now()}})
			h.fake.Fail("claude-other", 2, fakeupstream.Reply{Status: 502})
			h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Text: "routed_to_mini", TokensPerDelta: 100})
			path, b, hdr := body(cc.anthropic, "claude-other", cc.stream)
			status, head, out := h.post(path, b, hdr)
			if status != 200 || !strings.Contains(out, "routed_to_mini") || head.Get("X-Cascade-Model") != "gpt-4.1-mini" {
				t.Fatalf("status %d model %q: %s", status, head.Get("X-Cascade-Model"), out)
			}
			if got := strings.Join(modelsCalled(h), ","); got != "claude-other,claude-other,gpt-4.1-mini" {
				t.Errorf("upstream calls %s", got)
			}
			if v := testutil.ToFloat64(h.metrics.Fallbacks.WithLabelValues("", "default", "gpt-4.1-mini")); v != 1 {
				t.Errorf("fallbacks metric %v", v)
			}
		})
	}
}

// A request error is the client's: no fallback, the upstream's 400 as is.
func TestNoFallbackOnClientError(t *testing.T) {
	h := newHarness(t, resilientRules, harnessOptions{clock: &stepClock{now: time.Now()}})
	h.fake.Fail("claude-other", 1, fakeupstream.Reply{Status: 400, ErrorMessage: "bad request"})
	path, b, hdr := body(true, "claude-other", false)
	if status, head, _ := h.post(path, b, hdr); status != 400 || head.Get("X-Cascade-Model") != "" {
		t.Fatalf("status %d, model %q", status, head.Get("X-Cascade-Model"))
	}
	if n := len(h.fake.Requests()); n != 1 {
		t.Errorf("%d upstream calls, want 1", n)
	}
}

// A verifier stream that fails after its first event is not retried nor
// replaced: the client already has part of the answer and gets an in-band error.
func TestNoFallbackAfterFirstByte(t *testing.T) {
	for _, anth := range []bool{true, false} {
		h := newHarness(t, resilientRules, harnessOptions{clock: &stepClock{now: time.Now()}})
		h.fake.Fail("claude-opus-5-5", 1, fakeupstream.Reply{Text: "a long answer with many tokens in it", StreamErrorAfterEvents: 3})
		path, b, hdr := body(anth, "claude-opus-5-5", true)
		status, _, out := h.post(path, b, hdr)
		if status != 200 || !strings.Contains(out, "error") {
			t.Fatalf("status %d: %s", status, out)
		}
		if got := strings.Join(modelsCalled(h), ","); got != "claude-opus-5-5" {
			t.Errorf("upstream calls %s after a failure mid-stream", got)
		}
	}
}

const breakerRules = `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}, circuitBreaker: {failures: 2, cooldown: 20s}}
  - {name: oai, type: openai, baseURL: "{{URL}}/v1", apiKey: {env: VENDOR_KEY}}
rules:
  - name: opus
    models: [claude-opus-5-5]
    mode: verifier-only
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5, fallbacks: [{provider: oai, model: gpt-5}]}
defaultRoute: {provider: anth}
`

// The breaker opens after consecutive failures: the provider is skipped
// (straight to the fallback, or a 503 with Retry-After in the client's
// dialect), then a probe after the cool-down closes it again.
func TestBreakerOpensSkipsAndCloses(t *testing.T) {
	clk := &stepClock{now: time.Now()}
	h := newHarness(t, breakerRules, harnessOptions{clock: clk})
	h.fake.Fail("claude-other", 2, fakeupstream.Reply{Status: 529})
	for range 2 {
		path, b, hdr := body(true, "claude-other", false)
		if status, _, _ := h.post(path, b, hdr); status != 529 {
			t.Fatalf("status %d, want the upstream's 529", status)
		}
	}
	if v := testutil.ToFloat64(h.metrics.BreakerState.WithLabelValues("anth")); v != 2 {
		t.Fatalf("breaker state %v, want 2 (open)", v)
	}
	calls := len(h.fake.Requests())
	for _, anth := range []bool{true, false} {
		path, b, hdr := body(anth, "claude-other", false)
		status, head, out := h.post(path, b, hdr)
		if status != 503 || head.Get("Retry-After") != "20" || !strings.Contains(out, "unavailable") {
			t.Errorf("open breaker (anthropic client %v): status %d, Retry-After %q: %s", anth, status, head.Get("Retry-After"), out)
		}
	}
	// A rule's verifier goes straight to its fallback.
	path, b, hdr := body(true, "claude-opus-5-5", false)
	if status, head, _ := h.post(path, b, hdr); status != 200 || head.Get("X-Cascade-Model") != "gpt-5" {
		t.Errorf("open breaker: status %d, model %q; want the fallback", status, head.Get("X-Cascade-Model"))
	}
	if got := modelsCalled(h)[calls:]; len(got) != 1 || got[0] != "gpt-5" {
		t.Errorf("calls while open: %v; want only the fallback", got)
	}
	clk.advance(20 * time.Second)
	path, b, hdr = body(true, "claude-other", false)
	if status, _, _ := h.post(path, b, hdr); status != 200 {
		t.Fatalf("probe after the cool-down: status %d", status)
	}
	if v := testutil.ToFloat64(h.metrics.BreakerState.WithLabelValues("anth")); v != 0 {
		t.Errorf("breaker state %v after a good probe, want 0 (closed)", v)
	}
	for state, want := range map[string]float64{"open": 1, "half-open": 1, "closed": 1} {
		if v := testutil.ToFloat64(h.metrics.BreakerTransitions.WithLabelValues("anth", state)); v != want {
			t.Errorf("transitions to %s: %v, want %v", state, v, want)
		}
	}
	_, metricsText := h.get("/metrics", nil)
	if !strings.Contains(metricsText, `cascadeflow_circuit_breaker_state{provider="anth"} 0`) {
		t.Error("/metrics lacks the breaker state")
	}
}
