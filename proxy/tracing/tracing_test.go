package tracing_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		enabled bool
		err     string
	}{
		{"unset", nil, false, ""},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, ""},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true, ""},
		{"exporter otlp, default endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		{"exporter none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, ""},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, ""},
		{"http/protobuf", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, ""},
		{"grpc refused", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "only http/protobuf"},
		{"console refused", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, false, "only otlp and none"},
		{"protocol ignored when off", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tracing.FromEnv(env(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || cfg.Enabled != tc.enabled {
				t.Fatalf("enabled %v err %v, want enabled %v", cfg.Enabled, err, tc.enabled)
			}
		})
	}
}

func TestSetupOffReturnsNoProvider(t *testing.T) {
	tp, shutdown, err := tracing.Setup(context.Background(), env(nil), "v")
	if err != nil || tp != nil {
		t.Fatalf("tracing off: provider %v err %v", tp, err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With no sampled span in the context, starting, annotating and ending a
// span and injecting its context cost nothing: no allocation, no header.
func TestOffCostsNothing(t *testing.T) {
	ctx := context.Background()
	h := http.Header{}
	allocs := testing.AllocsPerRun(100, func() {
		c, span := tracing.Start(tracing.WithModel(ctx, "claude"), tracing.SpanDraft, trace.SpanKindInternal)
		tracing.Model(span, "anth", "anthropic", "claude")
		tracing.Usage(span, 10, 20, 0, 0)
		tracing.Fail(span, "timeout")
		tracing.Inject(c, h)
		span.End()
	})
	if allocs != 0 || len(h) != 0 {
		t.Fatalf("tracing off: %v allocations, headers %v", allocs, h)
	}
}

func TestStartIsAChildOfTheContextSpan(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	cctx, child := tracing.Start(ctx, tracing.SpanGate, trace.SpanKindInternal)
	h := http.Header{}
	tracing.Inject(cctx, h)
	child.End()
	parent.End()
	spans := sr.Ended()
	if len(spans) != 2 || spans[0].Name() != tracing.SpanGate || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans %v", spans)
	}
	want := "00-" + parent.SpanContext().TraceID().String() + "-" + child.SpanContext().SpanID().String() + "-01"
	if got := h.Get("Traceparent"); got != want {
		t.Fatalf("traceparent %q, want %q", got, want)
	}

	// An unsampled trace gets no child spans.
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.NeverSample()))
	uctx, _ := unsampled.Tracer("test").Start(context.Background(), "parent")
	if _, s := tracing.Start(uctx, "child", trace.SpanKindInternal); s != tracing.Noop {
		t.Fatalf("a child of an unsampled span was started")
	}
}

// Name builds a span name once and hands out the same string afterwards.
func TestNameIsBuiltOnce(t *testing.T) {
	if got := tracing.Name("POST", "/v1/messages"); got != "POST /v1/messages" {
		t.Fatalf("Name = %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = tracing.Name("POST", "/v1/messages") }); n != 0 {
		t.Errorf("a known name: %v allocations, want 0", n)
	}
}

// Set hands the span every attribute gathered, and a list taken afterwards
// starts empty.
func TestAttrsSet(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, span := tp.Tracer("t").Start(context.Background(), "s")
	l := tracing.Attrs()
	*l = append(*l, attribute.String("a", "1"), attribute.Int("b", 2))
	tracing.Set(span, l)
	span.End()
	if got := rec.Ended()[0].Attributes(); len(got) != 2 || got[0].Value.AsString() != "1" || got[1].Value.AsInt64() != 2 {
		t.Fatalf("attributes %v", got)
	}
	if l := tracing.Attrs(); len(*l) != 0 {
		t.Fatalf("a list from the pool holds %v", *l)
	}
}
