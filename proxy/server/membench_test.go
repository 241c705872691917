package server_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
)

// The memory a cascade request costs per byte of its body: a large request
// escalated (so both the draft and the verifier are sent the body), through
// an upstream that discards what it is sent. bytes-per-body-byte is the
// handler's allocation divided by the body's size. The floor is about 1: the
// body itself (text without escapes is decoded sharing its bytes; text with
// escapes costs one copy of itself more).
//
//	go test -run '^$' -bench BenchmarkCascadeLargeBody -benchtime 20x ./proxy/server/

// largeCascadeBody is an Anthropic request of about size bytes: a history of
// turns and a long latest question.
func largeCascadeBody(size int) []byte {
	return cascadeBodyOf(size, "The proxy forwards requests and relays answers as they arrive. ")
}

// cascadeBodyOf is largeCascadeBody with its text made of line repeated.
func cascadeBodyOf(size int, line string) []byte {
	turn := strings.Repeat(line, 64<<10/len(line)) // 64 KiB
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
	answer := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"` + refusal +
		`"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":10}}`)
	return serveLoopback(tb, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		_, _ = w.Write(answer)
	})
}

// newCascadeBenchProxy is cascadeflow with one rule for the large body's
// model, both its calls to upstream.
func newCascadeBenchProxy(tb testing.TB, upstream string) http.Handler {
	tb.Helper()
	return newBenchProxyWithRules(tb, "version: v1\nproviders:\n  - {name: anth, type: anthropic, baseURL: '"+upstream+"', apiKey: {env: KEY}}\n"+
		"rules:\n  - {name: opus, models: [claude-opus-5-5], draft: {provider: anth, model: claude-haiku-5-5}, verifier: {provider: anth, model: claude-opus-5-5}}\n")
}

// serveEscalated sends body through h and checks the cascade escalated it
// (both calls made) and answered.
func serveEscalated(tb testing.TB, h http.Handler, w *benchWriter, body []byte) {
	serveOnce(tb, h, w, "http://proxy.test", body, `"output_tokens"`)
	if o := w.h.Get(server.HeaderOutcome); o != "escalated" {
		tb.Fatalf("outcome %q, want escalated", o)
	}
}

// BenchmarkCascadeLargeBody/plain is prose without escapes, whose decoded
// text shares the body; /escaped has a line break (\n) in every line, so
// its text is decoded into a copy.
func BenchmarkCascadeLargeBody(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"plain", "The proxy forwards requests and relays answers as they arrive. "},
		{"escaped", `The proxy forwards requests and relays answers as they arrive.\n`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := cascadeBodyOf(4<<20, bc.line)
			h := newCascadeBenchProxy(b, startDiscardingUpstream(b))
			w := newBenchWriter()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			for b.Loop() {
				serveEscalated(b, h, w, body)
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(body)), "bytes-per-body-byte")
		})
	}
}

// maxBytesPerBodyByte bounds what an escalated cascade request allocates per
// byte of its body (TestHardeningCascadeMemoryPerRequest): about 1.07, the
// body itself (its text is decoded sharing the body's bytes), plus margin,
// so that one more copy of the body on the way fails. The race detector
// drops pooled buffers at random: the buffers a 2 MiB body outgrows while
// it is read (64 KiB + 256 KiB + 1 MiB) may be allocated afresh.
func maxBytesPerBodyByte() float64 {
	if server.RaceEnabled {
		return 1.5
	}
	return 1.3
}
