package fakeupstream_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// discardWriter is a flushable ResponseWriter that drops the body, so the
// benchmarks measure the fake's own cost.
type discardWriter struct {
	h      http.Header
	n      int
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Flush()                      {}

func benchmarkServe(b *testing.B, opts fakeupstream.Options, path, body string) {
	s := fakeupstream.New(opts)
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "http://fake"+path, strings.NewReader(body))
		w := &discardWriter{h: http.Header{}}
		s.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n == 0 {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
}

const benchMessages = `[{"role":"user","content":"Summarise the attached design document in three bullet points, please."}]`

func BenchmarkAnthropicNonStream(b *testing.B) {
	benchmarkServe(b, fakeupstream.Options{RecordLimit: -1}, "/v1/messages",
		`{"model":"claude-haiku-5-5","max_tokens":1024,"messages":`+benchMessages+`}`)
}

func BenchmarkAnthropicNonStreamRecorded(b *testing.B) {
	benchmarkServe(b, fakeupstream.Options{}, "/v1/messages",
		`{"model":"claude-haiku-5-5","max_tokens":1024,"messages":`+benchMessages+`}`)
}

func BenchmarkOpenAINonStream(b *testing.B) {
	benchmarkServe(b, fakeupstream.Options{RecordLimit: -1}, "/v1/chat/completions",
		`{"model":"gpt-5-mini","messages":`+benchMessages+`}`)
}

func BenchmarkAnthropicStream100Words(b *testing.B) {
	benchmarkServe(b, fakeupstream.Options{RecordLimit: -1, FillerWords: 100}, "/v1/messages",
		`{"model":"claude-haiku-5-5","max_tokens":1024,"stream":true,"messages":`+benchMessages+`}`)
}

func BenchmarkOpenAIStream100Words(b *testing.B) {
	benchmarkServe(b, fakeupstream.Options{RecordLimit: -1, FillerWords: 100}, "/v1/chat/completions",
		`{"model":"gpt-5-mini","stream":true,"stream_options":{"include_usage":true},"messages":`+benchMessages+`}`)
}
