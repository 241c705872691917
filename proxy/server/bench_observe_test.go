package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	anthropicdialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	openaidialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// The observability benchmarks measure what the access log and tracing
// add to a pass-through request, against the bare proxy in the same run:
//
//	go test -run '^$' -bench BenchmarkObserved -benchmem ./proxy/server/
//
// log-off is the proxy at --log-level warn; log-info writes the access
// log as cmd/proxy does by default (JSON, info, through the asynchronous
// sink) to /dev/null, a real file so a write is a system call as on
// stderr; log-info-sync writes each line to it directly; traced adds tracing with
// every request sampled (traced-10pct: one in ten, as
// OTEL_TRACES_SAMPLER=parentbased_traceidratio with argument 0.1) and exported over OTLP/HTTP to a loopback
// collector that discards what it receives. cpu-ns/op is the process's CPU
// time per request (see processCPU): the figure to compare.

func newObservedProxy(tb testing.TB, upstream string, log *slog.Logger, tp trace.TracerProvider) http.Handler {
	tb.Helper()
	m := metrics.New()
	builder := &snapshot.Builder{
		Codecs:    map[rules.ProviderType]dialect.Codec{rules.Anthropic: anthropicdialect.Codec{}, rules.OpenAI: openaidialect.Codec{}},
		Transport: provider.NewTransport(),
		LookupEnv: func(string) (string, bool) { return "sk-bench-upstream", true },
		Prices:    pricing.Default(),
	}
	loader := &rulesource.Loader{Builder: builder, Store: &snapshot.Store{}, Metrics: m, Log: log}
	set := "version: v1\nproviders:\n  - {name: anthropic, type: anthropic, baseURL: '" + upstream + "', apiKey: {env: KEY}}\n" +
		"defaultRoute: {provider: anthropic}\n"
	if _, err := loader.Apply([]byte(set), "bench"); err != nil {
		tb.Fatalf("rules: %v", err)
	}
	srv, err := server.New(server.Config{
		Store: loader.Store, Metrics: m, Log: log, Tracer: tp,
		Engine: &cascade.Engine{Log: log, Recorder: &cascade.Recorder{Metrics: m}},
		Codecs: map[llm.Dialect]dialect.Codec{llm.Anthropic: anthropicdialect.Codec{}, llm.OpenAI: openaidialect.Codec{}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// devNull is a file, so writes to it are system calls, as to stderr.
func devNull(tb testing.TB) *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	return f
}

// otlpDiscard is a collector that reads and drops every export.
func otlpDiscard(tb testing.TB, sampler sdktrace.Sampler) trace.TracerProvider {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	tb.Cleanup(collector.Close)
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(collector.URL+"/v1/traces"))
	if err != nil {
		tb.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sampler))
	tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

// processCPU is the CPU time (user and system) the process has used, in
// nanoseconds: every goroutine's, the upstream's, the log flusher's and
// the span exporter's included. Per request, it moves far less with other
// load on the machine than the wall-clock ns/op does.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkObserved(b *testing.B) {
	canned := recordBenchCanned(b)
	upstream := startBenchUpstream(b, canned)
	warn := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"bare", newBenchBareProxy(b, upstream)},
		{"log-off", newObservedProxy(b, upstream, warn, nil)},
		{"log-info-sync", newObservedProxy(b, upstream, syncLogger(b), nil)},
		{"log-info", newObservedProxy(b, upstream, observedLogger(b), nil)},
		{"traced", newObservedProxy(b, upstream, warn, otlpDiscard(b, sdktrace.AlwaysSample()))},
		{"traced-10pct", newObservedProxy(b, upstream, warn, otlpDiscard(b, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))))},
		{"log-info+traced", newObservedProxy(b, upstream, observedLogger(b), otlpDiscard(b, sdktrace.AlwaysSample()))},
	}
	for _, mode := range []struct {
		name     string
		body     []byte
		wantTail string
	}{
		{"nonstream", benchBody, `"output_tokens"`},
		{"stream", benchStreamBody, `"message_stop"`},
	} {
		for _, h := range handlers {
			b.Run(mode.name+"/"+h.name, func(b *testing.B) {
				start := processCPU()
				benchServe(b, h.h, "http://proxy.test", mode.body, mode.wantTail)
				b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
