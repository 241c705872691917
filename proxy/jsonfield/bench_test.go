package jsonfield

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchRequest is a Messages request of the shape clients send: a system
// prompt and a few turns (about 1.4 KB), or with escape-heavy code content
// as coding agents send (newlines and quotes every few characters).
func benchRequest(tb testing.TB, turns int, content string) []byte {
	msgs := []map[string]string{}
	for i := range turns {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		msgs = append(msgs, map[string]string{"role": role, "content": content})
	}
	b, err := json.Marshal(map[string]any{
		"max_tokens": 1024,
		"system":     strings.Repeat("You are a helpful assistant that answers questions about software design concisely. ", 4),
		"messages":   msgs,
		"model":      "claude-sonnet-4-5-20250929",
		"stream":     true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func benchmarkReadRouting(b *testing.B, body []byte) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := ReadRouting(body)
		if err != nil || r.Model != "claude-sonnet-4-5-20250929" || !r.Stream {
			b.Fatalf("%+v, %v", r, err)
		}
	}
}

func BenchmarkReadRoutingChat(b *testing.B) {
	benchmarkReadRouting(b, benchRequest(b, 3, strings.Repeat("Summarise the attached design document in three bullet points. ", 8)))
}

func BenchmarkReadRoutingCode(b *testing.B) {
	code := strings.Repeat("\tif err != nil {\n\t\treturn fmt.Errorf(\"read %q: %w\", name, err)\n\t}\n", 400)
	benchmarkReadRouting(b, benchRequest(b, 6, code))
}
