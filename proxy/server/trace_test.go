package server_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// The client's trace: the proxy's server span must continue it.
const (
	clientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID      = "00f067aa0ba902b7"
	clientTraceparent = "00-" + clientTraceID + "-" + clientSpanID + "-01"
	tracedPrompt      = "What is the capital of France? Answer in two sentences."
)

func newTracedHarness(t *testing.T, extra string) (*harness, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return newHarness(t, cascadeRules(extra), harnessOptions{tracer: tp}), sr
}

// tracedPost sends an Anthropic request with the client's traceparent and
// returns the spans of its trace once the server span has ended.
func tracedPost(t *testing.T, h *harness, sr *tracetest.SpanRecorder, model string) (server sdktrace.ReadOnlySpan, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	before := len(sr.Ended())
	status, _, body := h.post("/v1/messages", `{"model":"`+model+`","max_tokens":256,"messages":[{"role":"user","content":"`+tracedPrompt+`"}]}`,
		map[string]string{"x-api-key": "client-key", "anthropic-version": "2023-06-01", "traceparent": clientTraceparent, "tracestate": "vendor=opaque"})
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans = sr.Ended()[before:]
		for _, s := range spans {
			if s.SpanKind() == trace.SpanKindServer {
				return s, spans
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span ended; spans: %v", spanNames(spans))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// only returns the one span named name that is a child of parent.
func only(t *testing.T, spans []sdktrace.ReadOnlySpan, name string, parent sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1; spans: %v", len(found), name, spanNames(spans))
	}
	s := found[0]
	if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Fatalf("span %q: parent %s, want %q (%s)", name, s.Parent().SpanID(), parent.Name(), parent.SpanContext().SpanID())
	}
	return s
}

func wantAttr(t *testing.T, s sdktrace.ReadOnlySpan, key string, want any) {
	t.Helper()
	v, ok := attrs(s)[attribute.Key(key)]
	if !ok {
		t.Fatalf("span %q has no %s; attributes %v", s.Name(), key, s.Attributes())
	}
	if want != nil && v.AsInterface() != want {
		t.Fatalf("span %q: %s = %v, want %v", s.Name(), key, v.AsInterface(), want)
	}
}

func noText(t *testing.T, spans []sdktrace.ReadOnlySpan, texts ...string) {
	t.Helper()
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			for _, text := range texts {
				if strings.Contains(kv.Value.String(), text) {
					t.Fatalf("span %q attribute %s carries request or answer text", s.Name(), kv.Key)
				}
			}
		}
	}
}

// checkServer checks the server span continues the client's trace.
func checkServer(t *testing.T, s sdktrace.ReadOnlySpan) {
	t.Helper()
	if s.Name() != "POST /v1/messages" || s.SpanContext().TraceID().String() != clientTraceID || s.Parent().SpanID().String() != clientSpanID || !s.Parent().IsRemote() {
		t.Fatalf("server span %q trace %s parent %s: does not continue the client's trace", s.Name(), s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	if s.SpanContext().TraceState().Get("vendor") != "opaque" {
		t.Fatalf("tracestate not kept: %q", s.SpanContext().TraceState().String())
	}
	wantAttr(t, s, tracing.HTTPStatusCode, int64(200))
	wantAttr(t, s, tracing.HTTPRoute, "/v1/messages")
	wantAttr(t, s, tracing.GenAIOperationName, "chat")
	wantAttr(t, s, tracing.GenAIInputTokens, nil)
	wantAttr(t, s, tracing.GenAIOutputTokens, nil)
}

// checkUpstream checks the upstream call carried the attempt span's context.
func checkUpstream(t *testing.T, rec fakeupstream.Received, attempt sdktrace.ReadOnlySpan) {
	t.Helper()
	want := "00-" + clientTraceID + "-" + attempt.SpanContext().SpanID().String() + "-01"
	if got := rec.Header.Get("Traceparent"); got != want {
		t.Fatalf("upstream %s got traceparent %q, want %q", rec.Model, got, want)
	}
	if got := rec.Header.Get("Tracestate"); got != "vendor=opaque" {
		t.Fatalf("upstream tracestate %q", got)
	}
}

func TestTracingAcceptedCascade(t *testing.T) {
	h, sr := newTracedHarness(t, "")
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer})
	server, spans := tracedPost(t, h, sr, "claude-opus-5-5")
	checkServer(t, server)
	wantAttr(t, server, tracing.CascadeRule, "opus")
	wantAttr(t, server, tracing.CascadeOutcome, "accepted")
	wantAttr(t, server, tracing.CascadeScore, nil)
	wantAttr(t, server, tracing.CascadeCostUSD, nil)
	wantAttr(t, server, tracing.GenAIRequestModel, "claude-opus-5-5")
	wantAttr(t, server, tracing.GenAIResponseModel, "claude-haiku-5-5")

	draft := only(t, spans, tracing.SpanDraft, server)
	wantAttr(t, draft, tracing.GenAIRequestModel, "claude-haiku-5-5")
	wantAttr(t, draft, tracing.GenAIProviderName, "anthropic")
	wantAttr(t, draft, tracing.GenAIInputTokens, nil)
	attempt := only(t, spans, "chat claude-haiku-5-5", draft)
	if attempt.SpanKind() != trace.SpanKindClient {
		t.Fatalf("attempt span kind %v", attempt.SpanKind())
	}
	wantAttr(t, attempt, tracing.HTTPStatusCode, int64(200))
	wantAttr(t, attempt, tracing.GenAIRequestModel, "claude-haiku-5-5")
	gate := only(t, spans, tracing.SpanGate, server)
	wantAttr(t, gate, tracing.CascadeAccepted, true)
	for _, s := range spans {
		if s.Name() == tracing.SpanVerifier {
			t.Fatalf("an accepted draft has no verifier span")
		}
	}
	reqs := h.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream calls", len(reqs))
	}
	checkUpstream(t, reqs[0], attempt)
	noText(t, spans, tracedPrompt, goodAnswer, "capital")
}

func TestTracingEscalatedCascade(t *testing.T) {
	h, sr := newTracedHarness(t, "")
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
	server, spans := tracedPost(t, h, sr, "opus")
	checkServer(t, server)
	wantAttr(t, server, tracing.CascadeOutcome, "escalated")
	wantAttr(t, server, tracing.GenAIResponseModel, "claude-opus-5-5")

	draft := only(t, spans, tracing.SpanDraft, server)
	draftAttempt := only(t, spans, "chat claude-haiku-5-5", draft)
	gate := only(t, spans, tracing.SpanGate, server)
	wantAttr(t, gate, tracing.CascadeAccepted, false)
	verifier := only(t, spans, tracing.SpanVerifier, server)
	wantAttr(t, verifier, tracing.GenAIRequestModel, "claude-opus-5-5")
	wantAttr(t, verifier, tracing.GenAIResponseModel, "claude-opus-5-5")
	wantAttr(t, verifier, tracing.GenAIOutputTokens, nil)
	verifierAttempt := only(t, spans, "chat claude-opus-5-5", verifier)
	if !verifier.StartTime().After(gate.StartTime()) {
		t.Fatalf("the verifier started before the gate")
	}
	reqs := h.fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d upstream calls", len(reqs))
	}
	checkUpstream(t, reqs[0], draftAttempt)
	checkUpstream(t, reqs[1], verifierAttempt)
	noText(t, spans, tracedPrompt, refusal, "capital")
}

func TestTracingPassthrough(t *testing.T) {
	h, sr := newTracedHarness(t, "defaultRoute: {provider: anth}\n")
	server, spans := tracedPost(t, h, sr, "claude-sonnet-5")
	checkServer(t, server)
	wantAttr(t, server, tracing.CascadeOutcome, "passthrough")
	wantAttr(t, server, tracing.GenAIRequestModel, "claude-sonnet-5")
	if _, ok := attrs(server)[tracing.CascadeRule]; ok {
		t.Fatalf("a pass-through has no rule")
	}
	attempt := only(t, spans, "chat claude-sonnet-5", server)
	wantAttr(t, attempt, tracing.GenAIProviderName, "anthropic")
	if len(spans) != 2 {
		t.Fatalf("spans %v, want the server span and one attempt", spanNames(spans))
	}
	checkUpstream(t, h.fake.Requests()[0], attempt)
	noText(t, spans, tracedPrompt, "capital")
}

// With tracing off a client's trace headers pass on to the upstream as they came.
func TestTracingOffForwardsClientTraceparent(t *testing.T) {
	h := newHarness(t, cascadeRules("defaultRoute: {provider: anth}\n"), harnessOptions{})
	status, _, body := h.post("/v1/messages", `{"model":"claude-sonnet-5","max_tokens":256,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"x-api-key": "client-key", "anthropic-version": "2023-06-01", "traceparent": clientTraceparent})
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	if got := h.fake.Requests()[0].Header.Get("Traceparent"); got != clientTraceparent {
		t.Fatalf("upstream traceparent %q, want the client's", got)
	}
}

// otlpReceiver is an OTLP/HTTP trace endpoint: it decodes every export
// request and keeps the span names and the service names they came with.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []string
	services []string
	errs     []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		o.errs = append(o.errs, r.URL.Path+" "+r.Header.Get("Content-Type")+" "+errString(err))
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				o.services = append(o.services, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				o.spans = append(o.spans, s.GetName())
			}
		}
	}
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestTracingExportsOverOTLPFromEnv(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SERVICE_NAME", "proxy-under-test")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	tp, shutdown, err := tracing.Setup(context.Background(), os.Getenv, "test")
	if err != nil || tp == nil {
		t.Fatalf("setup: %v, provider %v", err, tp)
	}
	h := newHarness(t, cascadeRules("defaultRoute: {provider: anth}\n"), harnessOptions{tracer: tp})
	status, _, body := h.post("/v1/messages", `{"model":"claude-sonnet-5","max_tokens":256,"messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"x-api-key": "client-key", "anthropic-version": "2023-06-01"})
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	// The server span ends just after the answer went out.
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatalf("shutdown (flush): %v", err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.errs) > 0 {
		t.Fatalf("bad exports: %v", recv.errs)
	}
	got := strings.Join(recv.spans, ",")
	if !strings.Contains(got, "POST /v1/messages") || !strings.Contains(got, "chat claude-sonnet-5") {
		t.Fatalf("exported spans %q", got)
	}
	for _, s := range recv.services {
		if s != "proxy-under-test" {
			t.Fatalf("service.name %q, want OTEL_SERVICE_NAME's", s)
		}
	}
	if len(recv.services) == 0 {
		t.Fatalf("no resource with a service.name")
	}
}
