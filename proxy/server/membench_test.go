package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	anthropicdialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	openaidialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// The memory a cascade request costs per byte of its body: a large request
// escalated (so both the draft and the verifier are sent the body), through
// an upstream that discards what it is sent. bytes-per-body-byte is the
// handler's allocation divided by the body's size.
//
//	go test -run '^$' -bench BenchmarkCascadeLargeBody -benchtime 20x ./proxy/server/

// largeCascadeBody is an Anthropic request of about size bytes: a history of
// turns and a long latest question.
func largeCascadeBody(size int) []byte {
	turn := strings.Repeat("The proxy forwards requests and relays answers as they arrive. ", 1024) // 64 KiB
	var b bytes.Buffer
	b.WriteString(`{"model":"claude-opus-5-5","max_tokens":1024,"messages":[`)
	for b.Len() < size/2 {
		b.WriteString(`{"role":"user","content":"` + turn + `"},{"role":"assistant","content":"` + turn + `"},`)
	}
	b.WriteString(`{"role":"user","content":"`)
	for b.Len() < size {
		b.WriteString(turn)
	}
	b.WriteString(`"}]}`)
	return b.Bytes()
}

// startDiscardingUpstream answers every request with a refusal (the gate
// escalates it), after reading and discarding the request body.
func startDiscardingUpstream(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	answer := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"` + refusal +
		`"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":10}}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		_, _ = w.Write(answer)
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func newCascadeBenchProxy(tb testing.TB, upstream string) http.Handler {
	tb.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := metrics.New()
	builder := &snapshot.Builder{
		Codecs:    map[rules.ProviderType]dialect.Codec{rules.Anthropic: anthropicdialect.Codec{}, rules.OpenAI: openaidialect.Codec{}},
		Transport: provider.NewTransport(),
		LookupEnv: func(string) (string, bool) { return "sk-bench-upstream", true },
	}
	loader := &rulesource.Loader{Builder: builder, Store: &snapshot.Store{}, Metrics: m, Log: log}
	set := "version: v1\nproviders:\n  - {name: anth, type: anthropic, baseURL: '" + upstream + "', apiKey: {env: KEY}}\n" +
		"rules:\n  - {name: opus, models: [claude-opus-5-5], draft: {provider: anth, model: claude-haiku-5-5}, verifier: {provider: anth, model: claude-opus-5-5}}\n"
	if _, err := loader.Apply([]byte(set), "bench"); err != nil {
		tb.Fatalf("rules: %v", err)
	}
	srv, err := server.New(server.Config{
		Store: loader.Store, Metrics: m, Log: log,
		Engine: &cascade.Engine{Log: log, Recorder: &cascade.Recorder{Metrics: m}},
		Codecs: map[llm.Dialect]dialect.Codec{llm.Anthropic: anthropicdialect.Codec{}, llm.OpenAI: openaidialect.Codec{}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

func BenchmarkCascadeLargeBody(b *testing.B) {
	body := largeCascadeBody(4 << 20)
	h := newCascadeBenchProxy(b, startDiscardingUpstream(b))
	w := &benchWriter{h: http.Header{}, tail: make([]byte, 0, 64)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		req, _ := http.NewRequest(http.MethodPost, "http://proxy.test/v1/messages", bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Set("Anthropic-Version", "2023-06-01")
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.h.Get(server.HeaderOutcome) != "" && w.h.Get(server.HeaderOutcome) != "escalated" {
			b.Fatalf("status %d, outcome %q", w.status, w.h.Get(server.HeaderOutcome))
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(body)), "bytes-per-body-byte")
}
