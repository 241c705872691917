// Package tracing sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables and names the spans and attributes the proxy emits.
//
// Tracing is off unless configured: with it off no span is ever started, and
// the helpers here cost one context lookup and no allocation. With it on,
// the server starts one span per request (continuing a W3C traceparent the
// client sent) and the cascade and provider packages start their child
// spans from the tracer provider of the span in their context (Start), so
// nothing but the server needs to hold a tracer. No prompt or answer text
// is ever put in a span.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every span the proxy starts.
const ScopeName = "github.com/cascadeflow/cascadeflow-operator/proxy"

// DefaultServiceName is service.name when OTEL_SERVICE_NAME (or
// OTEL_RESOURCE_ATTRIBUTES) names none.
const DefaultServiceName = "cascadeflow-proxy"

// Propagator reads and writes W3C traceparent and tracestate.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Config is what Setup read from the environment.
type Config struct {
	// Enabled is false when tracing is off.
	Enabled  bool
	Endpoint string // as configured (the exporter's default when empty)
	Protocol string
}

// FromEnv decides from the OTEL_* variables whether tracing is on. It is on
// when OTEL_TRACES_EXPORTER is "otlp", or when it is unset and an OTLP
// endpoint is configured; "none", OTEL_SDK_DISABLED=true or nothing at all
// leave it off. Only OTLP over HTTP (protobuf) is supported.
func FromEnv(getenv func(string) string) (Config, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return Config{}, nil
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	cfg := Config{Endpoint: endpoint}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "":
		cfg.Enabled = endpoint != ""
	case "none":
		return Config{}, nil
	case "otlp":
		cfg.Enabled = true
	default:
		return Config{}, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", exp)
	}
	if !cfg.Enabled {
		return cfg, nil
	}
	cfg.Protocol = getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if cfg.Protocol == "" {
		cfg.Protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch cfg.Protocol {
	case "", "http/protobuf":
		cfg.Protocol = "http/protobuf"
	default:
		return Config{}, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: only http/protobuf is supported (point the endpoint at the collector's OTLP/HTTP port, usually 4318)", cfg.Protocol)
	}
	return cfg, nil
}

// Setup builds the tracer provider the environment asks for: nil (and a
// shutdown that does nothing) when tracing is off. The exporter, the batch
// processor and the sampler read their own OTEL_* variables (endpoint,
// headers, timeout, compression, OTEL_BSP_*, OTEL_TRACES_SAMPLER and its
// argument); the resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
// shutdown flushes the spans still buffered.
func Setup(ctx context.Context, getenv func(string) string, version string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	cfg, err := FromEnv(getenv)
	if err != nil || !cfg.Enabled {
		return nil, noop, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, noop, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", DefaultServiceName), attribute.String("service.version", version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, noop, fmt.Errorf("tracing: resource: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return sdk, sdk.Shutdown, nil
}

// Noop is a span that records nothing; ending it does nothing.
var Noop = trace.SpanFromContext(context.Background())

// Start starts a child span of the span in ctx, from that span's own tracer
// provider. Without a sampled span in ctx (tracing off, or this trace not
// sampled) it starts nothing and returns ctx and Noop, without allocating.
func Start(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsSampled() {
		return ctx, Noop
	}
	return tracerOf(parent.TracerProvider()).Start(ctx, name, trace.WithSpanKind(kind))
}

// lastTracer is the proxy's tracer of the provider asked last: a process
// has one provider, and asking it for the tracer on every span takes a lock.
var lastTracer atomic.Pointer[providerTracer]

type providerTracer struct {
	tp trace.TracerProvider
	t  trace.Tracer
}

// tracerOf is tp's tracer of ScopeName.
func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if !reflect.TypeOf(tp).Comparable() { // == would panic
		return tp.Tracer(ScopeName)
	}
	if c := lastTracer.Load(); c != nil && c.tp == tp {
		return c.t
	}
	t := tp.Tracer(ScopeName)
	lastTracer.Store(&providerTracer{tp: tp, t: t})
	return t
}

// Inject writes the trace context of ctx into h (traceparent, tracestate),
// replacing any the client sent; it does nothing when ctx carries no span,
// so with tracing off a client's own headers pass on untouched.
func Inject(ctx context.Context, h http.Header) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		Propagator.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// Fail marks span as failed with an error type (a short, bounded label such
// as an error kind, never a message that could quote the client).
func Fail(span trace.Span, errorType string) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String(ErrorType, errorType))
	span.SetStatus(codes.Error, errorType)
}

type modelKey struct{}

// WithModel notes the model an upstream call asks for, to name its attempt
// span ("chat {model}"). It returns ctx itself when ctx's trace is not
// sampled, so it costs nothing with tracing off.
func WithModel(ctx context.Context, model string) context.Context {
	if model == "" || !trace.SpanContextFromContext(ctx).IsSampled() {
		return ctx
	}
	return context.WithValue(ctx, modelKey{}, model)
}

// ModelFrom is the model WithModel noted, or "".
func ModelFrom(ctx context.Context) string {
	m, _ := ctx.Value(modelKey{}).(string)
	return m
}
