package server_test

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// Hardening tests: how failures of upstreams and clients are answered and
// accounted. `make reliability` runs them (-run Hardening).

var anthropicHeaders = map[string]string{"anthropic-version": "2023-06-01"}

const capitalQuestion = "What is the capital of France? Answer in two sentences."

func anthropicStreamBody(model string) string {
	return `{"model":"` + model + `","stream":true,"max_tokens":200,"messages":[{"role":"user","content":"` + capitalQuestion + `"}]}`
}

// outcomes are every outcome a rule's request can be recorded with.
var outcomes = []string{"accepted", "escalated", "skipped_draft", "bypassed", "draft_only", "verifier_only", "error", "canceled"}

// settled waits until rule has recorded n requests: a streamed answer is
// accounted once its last byte is written, so possibly after the client read it.
func settled(t *testing.T, h *harness, rule string, n float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, total := map[string]float64{}, 0.0
		for _, o := range outcomes {
			if v := testutil.ToFloat64(h.metrics.RouteRequests.WithLabelValues(rule, o)); v > 0 {
				got[o] = v
				total += v
			}
		}
		if total >= n || time.Now().After(deadline) {
			if total != n {
				t.Fatalf("rule %s recorded %v requests (%v), want %v", rule, total, got, n)
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// upstreamErrors returns cascadeflow_upstream_errors_total by provider and kind.
func upstreamErrors(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	mfs, err := h.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "cascadeflow_upstream_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["provider"]+"/"+labels["kind"]] += m.GetCounter().GetValue()
		}
	}
	return out
}

// noSavingsClaimed fails when rule recorded a baseline, savings or extra cost.
func noSavingsClaimed(t *testing.T, h *harness, rule string) {
	t.Helper()
	m := h.metrics
	for name, v := range map[string]float64{
		"baseline": testutil.ToFloat64(m.BaselineUSD.WithLabelValues(rule)),
		"savings":  testutil.ToFloat64(m.SavingsUSD.WithLabelValues(rule)),
		"extra":    testutil.ToFloat64(m.ExtraCostUSD.WithLabelValues(rule)),
	} {
		if v != 0 {
			t.Errorf("%s recorded for a failed answer: %v", name, v)
		}
	}
}

// An escalated verifier stream that breaks after its first byte is an error
// for the accounting, through every API that streams it: no savings claimed,
// the spend counted, an upstream error of the verifier's provider.
func TestHardeningBrokenVerifierStreamIsAnError(t *testing.T) {
	long := strings.Repeat("word ", 30)
	for _, tc := range []struct {
		name, rule, draft string
		send              func(h *harness) string
	}{
		{"anthropic", "opus", "claude-haiku-5-5", func(h *harness) string {
			_, _, body := h.post("/v1/messages", anthropicStreamBody("claude-opus-5-5"), anthropicHeaders)
			return body
		}},
		{"openai", "gpt", "gpt-4.1-mini", func(h *harness) string {
			_, _, body := h.post("/v1/chat/completions", `{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"`+capitalQuestion+`"}]}`, nil)
			return body
		}},
		{"native", "opus", "claude-haiku-5-5", func(h *harness) string {
			_, body := h.get("/api/query/stream?query="+url.QueryEscape(capitalQuestion), nil)
			return body
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cascadeRules(""), harnessOptions{})
			h.fake.SetReply(tc.draft, fakeupstream.Reply{Text: refusal})
			h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: long, ResetAfterEvents: 5})
			body := tc.send(h)
			if !strings.Contains(body, "error") || strings.Contains(body, "event: message_stop") || strings.Contains(body, "data: [DONE]") {
				t.Fatalf("the client was not told the answer broke:\n%s", body)
			}
			if got := settled(t, h, tc.rule, 1); got["error"] != 1 {
				t.Fatalf("recorded %v, want one error", got)
			}
			noSavingsClaimed(t, h, tc.rule)
			if got := testutil.ToFloat64(h.metrics.Tokens.WithLabelValues("claude-opus-5-5", "input")); got == 0 {
				t.Error("the broken verifier call's spend was not counted")
			}
			if got := upstreamErrors(t, h); got["anth/bad_gateway"] != 1 {
				t.Errorf("upstream errors %v, want anth/bad_gateway once", got)
			}
		})
	}
}

// The upstream error metric is labelled with the provider's name from the
// rules file, never a model's.
func TestHardeningUpstreamErrorProviderLabel(t *testing.T) {
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Status: 429})
	h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Status: 500})
	if status, _, body := h.post("/v1/messages", strings.Replace(anthropicStreamBody("claude-opus-5-5"), `"stream":true,`, "", 1), anthropicHeaders); status != 429 {
		t.Fatalf("verifier 429: %d %s", status, body)
	}
	if status, _, body := h.post("/v1/messages", anthropicStreamBody("claude-opus-5-5"), anthropicHeaders); status != 429 {
		t.Fatalf("streamed verifier 429: %d %s", status, body)
	}
	// gpt: the OpenAI draft fails (escalated), then the Anthropic verifier.
	if status, _, body := h.post("/v1/chat/completions", `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`, nil); status != 429 {
		t.Fatalf("gpt: %d %s", status, body)
	}
	want := map[string]float64{"anth/rate_limit": 3, "oai/api_error": 1}
	got := upstreamErrors(t, h)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("upstream errors[%s] = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected upstream error series: %v", got)
	}
}

// Every garbled or truncated upstream stream is counted as an upstream
// error, whichever path relayed it; a cascade answer it broke is an error.
func TestHardeningGarbageAndTruncatedStreamsAreCounted(t *testing.T) {
	sse := func(body string) fakeupstream.Reply {
		return fakeupstream.Reply{Status: 200, ContentType: "text/event-stream", RawBody: []byte(body)}
	}
	const start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
	faults := map[string]fakeupstream.Reply{
		"truncated":        sse(start),
		"cut mid-event":    sse(start + "event: content_block_delta\ndata: {\"type\":\"content_blo"),
		"garbage":          sse("event: message_start\ndata: {not json\n\n"),
		"in-band error":    {Text: strings.Repeat("word ", 30), StreamErrorAfterEvents: 4},
		"connection reset": {Text: strings.Repeat("word ", 30), ResetAfterEvents: 4},
	}
	kind := func(fault string) string {
		if fault == "in-band error" {
			return "anth/overloaded"
		}
		return "anth/bad_gateway"
	}
	for fault, reply := range faults {
		t.Run("verifier "+fault, func(t *testing.T) {
			h := newHarness(t, cascadeRules(""), harnessOptions{})
			h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
			h.fake.SetReply("claude-opus-5-5", reply)
			_, _, body := h.post("/v1/messages", anthropicStreamBody("claude-opus-5-5"), anthropicHeaders)
			if strings.Contains(body, "event: message_stop") {
				t.Fatalf("a broken answer claims completion:\n%s", body)
			}
			if got := settled(t, h, "opus", 1); got["error"] != 1 {
				t.Fatalf("recorded %v, want one error", got)
			}
			noSavingsClaimed(t, h, "opus")
			if got := upstreamErrors(t, h); got[kind(fault)] != 1 || len(got) != 1 {
				t.Errorf("upstream errors %v, want %s once", got, kind(fault))
			}
		})
		t.Run("draft "+fault, func(t *testing.T) {
			h := newHarness(t, cascadeRules(""), harnessOptions{})
			h.fake.SetReply("claude-haiku-5-5", reply)
			status, _, body := h.post("/v1/messages", anthropicStreamBody("claude-opus-5-5"), anthropicHeaders)
			if called := modelsCalled(h); status != 200 || !strings.Contains(body, "event: message_stop") || len(called) != 2 || called[1] != "claude-opus-5-5" {
				t.Fatalf("a broken draft was not escalated: %d\n%s", status, body)
			}
			if got := settled(t, h, "opus", 1); got["escalated"] != 1 {
				t.Fatalf("recorded %v, want one escalation", got)
			}
			if got := upstreamErrors(t, h); got[kind(fault)] != 1 || len(got) != 1 {
				t.Errorf("upstream errors %v, want %s once", got, kind(fault))
			}
		})
		for _, client := range []string{"anthropic", "openai"} {
			// anthropic: relayed bytes in, bytes out; openai: translated.
			t.Run("pass-through "+client+" "+fault, func(t *testing.T) {
				h := newHarness(t, passthroughRules("anth", ""), harnessOptions{})
				h.fake.SetReply("claude-haiku-5-5", reply)
				if client == "anthropic" {
					h.post("/v1/messages", anthropicStreamBody("claude-haiku-5-5"), anthropicHeaders)
				} else {
					h.post("/v1/chat/completions", `{"model":"claude-haiku-5-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
				}
				deadline := time.Now().Add(10 * time.Second)
				for len(upstreamErrors(t, h)) == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				want := kind(fault)
				if client == "anthropic" && fault == "in-band error" {
					// Relayed bytes in, bytes out: the client reads the upstream's own
					// error event; the proxy sees a stream that never completed.
					want = "anth/bad_gateway"
				}
				if got := upstreamErrors(t, h); got[want] != 1 || len(got) != 1 {
					t.Errorf("upstream errors %v, want %s once", got, want)
				}
			})
		}
	}
}

// A client that goes away mid-stream cancels the request: not an error of
// the upstream, no savings claimed, the spend so far counted.
func TestHardeningClientGoneMidStreamIsCanceled(t *testing.T) {
	for _, api := range []string{"anthropic", "native"} {
		t.Run(api, func(t *testing.T) {
			h := newHarness(t, cascadeRules(""), harnessOptions{})
			h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
			h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: strings.Repeat("word ", 400), ChunkDelay: 20 * time.Millisecond})
			var req *http.Request
			if api == "anthropic" {
				req, _ = http.NewRequest(http.MethodPost, h.url+"/v1/messages", strings.NewReader(anthropicStreamBody("claude-opus-5-5")))
				req.Header.Set("anthropic-version", "2023-06-01")
				req.Header.Set("content-type", "application/json")
			} else {
				req, _ = http.NewRequest(http.MethodGet, h.url+"/api/query/stream?query="+url.QueryEscape(capitalQuestion), nil)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			// Read until the answer's text is flowing, then hang up.
			sc := bufio.NewScanner(resp.Body)
			for n := 0; n < 3 && sc.Scan(); {
				if strings.Contains(sc.Text(), "word") {
					n++
				}
			}
			resp.Body.Close()
			if got := settled(t, h, "opus", 1); got["canceled"] != 1 {
				t.Fatalf("recorded %v, want one canceled", got)
			}
			noSavingsClaimed(t, h, "opus")
			if got := upstreamErrors(t, h); len(got) != 0 {
				t.Errorf("a client hanging up counted as upstream errors: %v", got)
			}
			if got := testutil.ToFloat64(h.metrics.Tokens.WithLabelValues("claude-opus-5-5", "input")); got == 0 {
				t.Error("the verifier's spend so far was not counted")
			}
		})
	}
}
