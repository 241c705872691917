package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	anthropicdialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	openaidialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// The pass-through benchmarks drive each handler in process (ServeHTTP on
// a flushable writer that discards the body), so allocs/op is the
// handler's own work plus its upstream round trip over loopback. The
// upstream replays canned answers recorded from the fake upstream (a
// 1.0 KB message, a 119-event stream), so it costs the same under every
// handler, and "upstream-only" measures that leg alone: what a handler
// allocates itself is roughly its figure minus upstream-only. The
// process-level comparison (CPU, latency, RSS) is bench/passthrough/run.sh.
//
//	go test -run '^$' -bench BenchmarkPassthrough -benchmem ./proxy/server/

var benchBody = []byte(`{"model":"claude-sonnet-4-5-20250929","max_tokens":1024,` +
	`"system":"` + strings.Repeat("You are a helpful assistant that answers questions about software design concisely. ", 4) + `",` +
	`"messages":[{"role":"user","content":"` + strings.Repeat("Summarise the attached design document in three bullet points. ", 8) + `"},` +
	`{"role":"assistant","content":"` + strings.Repeat("Here is a summary of the design: the proxy forwards requests and relays answers as they arrive. ", 3) + `"},` +
	`{"role":"user","content":"Now list the risks you see in the rollout plan, one line each."}]}`)

var benchStreamBody = append([]byte(`{"stream":true,`), benchBody[1:]...)

// benchCanned is the fake upstream's answer to benchBody, recorded once.
type benchCanned struct {
	json   []byte
	events [][]byte // each a whole SSE event, blank line included
}

func recordBenchCanned(tb testing.TB) *benchCanned {
	tb.Helper()
	fake := fakeupstream.New(fakeupstream.Options{FillerWords: 100, RecordLimit: -1})
	defer fake.Close()
	get := func(body []byte) []byte {
		req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(body))
		req.Header.Set("Anthropic-Version", "2023-06-01")
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			tb.Fatalf("fake upstream: status %d: %s", rec.Code, rec.Body)
		}
		return rec.Body.Bytes()
	}
	c := &benchCanned{json: get(benchBody)}
	for ev := range bytes.SplitAfterSeq(get(benchStreamBody), []byte("\n\n")) {
		if len(ev) > 0 {
			c.events = append(c.events, ev)
		}
	}
	if len(c.events) < 50 || !bytes.Contains(c.events[len(c.events)-1], []byte("message_stop")) {
		tb.Fatalf("recorded stream has %d events, want a whole stream of dozens", len(c.events))
	}
	return c
}

// startBenchUpstream serves the canned answers on loopback: one write and
// flush per SSE event, as the vendors do.
func startBenchUpstream(tb testing.TB, c *benchCanned) string {
	tb.Helper()
	return serveLoopback(tb, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !bytes.HasPrefix(body, []byte(`{"stream":true`)) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(c.json)))
			_, _ = w.Write(c.json)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for _, ev := range c.events {
			if _, err := w.Write(ev); err != nil {
				return
			}
			_ = rc.Flush()
		}
	})
}

// serveLoopback serves h on a loopback port until the test ends and returns
// its base URL.
func serveLoopback(tb testing.TB, h http.HandlerFunc) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// newBenchProxy is cascadeflow with no rules: every model passes through to
// the Anthropic provider at upstream. Logging is at warn, as in production.
func newBenchProxy(tb testing.TB, upstream string) http.Handler {
	tb.Helper()
	return newBenchProxyWithRules(tb, "version: v1\nproviders:\n  - {name: anthropic, type: anthropic, baseURL: '"+upstream+"', apiKey: {env: KEY}}\n"+
		"defaultRoute: {provider: anthropic}\n")
}

// newBenchProxyWithRules is cascadeflow serving the rule set in YAML, every
// provider key resolved to a fixed one.
func newBenchProxyWithRules(tb testing.TB, set string) http.Handler {
	tb.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := metrics.New()
	builder := &snapshot.Builder{
		Codecs:    map[rules.ProviderType]dialect.Codec{rules.Anthropic: anthropicdialect.Codec{}, rules.OpenAI: openaidialect.Codec{}},
		Transport: provider.NewTransport(),
		LookupEnv: func(string) (string, bool) { return "sk-bench-upstream", true },
		Prices:    pricing.Default(),
	}
	loader := &rulesource.Loader{Builder: builder, Store: &snapshot.Store{}, Metrics: m, Log: log}
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

// newBenchBareProxy is the baseline, configured as bench/bareproxy is.
func newBenchBareProxy(tb testing.TB, upstream string) http.Handler {
	tb.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			r.Out.Header.Del("Authorization")
			r.Out.Header.Set("X-Api-Key", "sk-bench-upstream")
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
		},
		FlushInterval: -1,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}

// benchWriter is a flushable ResponseWriter that keeps only the status, the
// byte count and the tail of the body.
type benchWriter struct {
	h       http.Header
	status  int
	n       int
	flushes int
	tail    []byte
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *benchWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	w.tail = append(w.tail[:0], b[max(0, len(b)-64):]...)
	return len(b), nil
}
func (w *benchWriter) Flush() { w.flushes++ }

func (w *benchWriter) reset() {
	clear(w.h)
	w.status, w.n, w.flushes = 0, 0, 0
}

// benchServe sends body through h b.N times and checks every answer ended
// as the upstream's did.
func benchServe(b *testing.B, h http.Handler, target string, body []byte, wantTail string) {
	w := newBenchWriter()
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(b, h, w, target, body, wantTail)
	}
}

func newBenchWriter() *benchWriter { return &benchWriter{h: http.Header{}, tail: make([]byte, 0, 64)} }

// serveOnce sends body through h as an Anthropic Messages request and checks
// the answer ended as the upstream's did.
func serveOnce(tb testing.TB, h http.Handler, w *benchWriter, target string, body []byte, wantTail string) {
	w.reset()
	req, err := http.NewRequest(http.MethodPost, target+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-Api-Key", "sk-client")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, req)
	if w.status != http.StatusOK || !bytes.Contains(w.tail, []byte(wantTail)) {
		tb.Fatalf("status %d, %d bytes, tail %q", w.status, w.n, w.tail)
	}
}

// upstreamOnly is a handler that just makes the upstream call, so its
// figures are the cost of the leg both proxies share.
func upstreamOnly(upstream string) http.Handler {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, upstream+"/v1/messages", r.Body)
		resp, err := client.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

func BenchmarkPassthrough(b *testing.B) {
	canned := recordBenchCanned(b)
	upstream := startBenchUpstream(b, canned)
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"upstream-only", upstreamOnly(upstream)},
		{"bare", newBenchBareProxy(b, upstream)},
		{"cascadeflow", newBenchProxy(b, upstream)},
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
				benchServe(b, h.h, "http://proxy.test", mode.body, mode.wantTail)
			})
		}
	}
}
