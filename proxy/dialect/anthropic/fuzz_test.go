package anthropic

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Seeds live in testdata/fuzz/<Target>/ (plain `go test` runs them); more
// inputs: go test -fuzz FuzzDecodeRequest ./proxy/dialect/anthropic/

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Codec{}.DecodeRequest(body)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.ErrInvalidRequest || e.Message == "" {
				t.Fatalf("error %T %v is not a 400 *llm.Error with a message", err, err)
			}
			if r != nil {
				t.Fatal("request returned with an error")
			}
			return
		}
		out, err := Codec{}.EncodeRequest(r)
		if err != nil {
			t.Fatalf("a decoded request does not encode: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("EncodeRequest wrote invalid JSON: %s", out)
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	f.Add([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	f.Fuzz(func(t *testing.T, transcript []byte) {
		d := Codec{}.NewStreamDecoder()
		enc := Codec{}.NewStreamEncoder(nil)
		var out []byte
		for _, e := range parseSSE(t, transcript) {
			evs, err := d.Decode(e.name, e.data)
			if err != nil {
				var le *llm.Error
				if !errors.As(err, &le) {
					t.Fatalf("decode error %T %v is not *llm.Error", err, err)
				}
				return
			}
			for _, ev := range evs {
				// The encoder may refuse an order the decoder let through, but
				// must not panic, and must not write on refusal.
				before := len(out)
				if out, err = enc.Encode(out, ev); err != nil && len(out) != before {
					t.Fatalf("a refused event wrote %q", out[before:])
				}
			}
		}
		if _, err := d.Finish(); err != nil {
			var le *llm.Error
			if !errors.As(err, &le) || le.Kind != llm.ErrBadGateway {
				t.Fatalf("finish error %v", err)
			}
		}
		_ = enc.Finish(out)
	})
}

// BenchmarkDecodeRequest decodes a ~20 KB request shaped like Claude Code's
// (3 system blocks, 12 tools, thinking in history, a tool round trip).
func BenchmarkDecodeRequest(b *testing.B) {
	body := readFile(b, "testdata/claude_code_request.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	r, err := Codec{}.DecodeRequest(readFile(b, "testdata/claude_code_request.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).EncodeRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamRelay(b *testing.B) {
	events := parseSSE(b, readFile(b, "testdata/docs_tool_use.sse"))
	b.ReportAllocs()
	for b.Loop() {
		d := Codec{}.NewStreamDecoder()
		enc := Codec{}.NewStreamEncoder(nil)
		out := make([]byte, 0, 4096)
		for _, e := range events {
			evs, err := d.Decode(e.name, e.data)
			if err != nil {
				b.Fatal(err)
			}
			for _, ev := range evs {
				if out, err = enc.Encode(out[:0], ev); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
