package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

type sseEvent struct {
	event string
	data  string
}

// parseSSE splits an SSE transcript into events the way a client does:
// blank lines end an event, "data:" lines are joined, ":" lines are comments.
func parseSSE(t *testing.T, b []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	var data []string
	flush := func() {
		if len(data) > 0 {
			cur.data = strings.Join(data, "\n")
			out = append(out, cur)
		}
		cur, data = sseEvent{}, nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			cur.event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	flush()
	return out
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertStrictFraming checks the encoder's byte framing: only
// "data: <payload>\n\n" records, nothing else.
func assertStrictFraming(t *testing.T, b []byte) {
	t.Helper()
	for len(b) > 0 {
		if !bytes.HasPrefix(b, []byte("data: ")) {
			t.Fatalf("record does not start with %q: %q", "data: ", firstLine(b))
		}
		end := bytes.Index(b, []byte("\n\n"))
		if end < 0 {
			t.Fatalf("record not terminated by a blank line: %q", b)
		}
		if bytes.IndexByte(b[:end], '\n') >= 0 {
			t.Fatalf("record spans lines: %q", b[:end])
		}
		b = b[end+2:]
	}
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// assertSameSSE compares two transcripts event by event, each data payload
// as JSON (key order and spacing do not matter), "[DONE]" literally.
func assertSameSSE(t *testing.T, got, want []byte) {
	t.Helper()
	g, w := parseSSE(t, got), parseSSE(t, want)
	if len(g) != len(w) {
		t.Fatalf("got %d events, want %d\ngot:\n%s\nwant:\n%s", len(g), len(w), got, want)
	}
	for i := range g {
		if w[i].data == "[DONE]" || g[i].data == "[DONE]" {
			if g[i].data != w[i].data {
				t.Fatalf("event %d: got %q, want %q", i, g[i].data, w[i].data)
			}
			continue
		}
		assertJSONEqual(t, []byte(g[i].data), []byte(w[i].data))
	}
}

func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs\ngot:  %s\nwant: %s", got, want)
	}
}

func asLLMError(t *testing.T, err error) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	return e
}

func ptr[T any](v T) *T { return &v }

// decodeTranscript feeds an SSE transcript to a fresh stream decoder and
// returns all events, stopping at the first error.
func decodeTranscript(t *testing.T, transcript []byte) ([]llm.Event, error) {
	t.Helper()
	d := Codec{}.NewStreamDecoder()
	var all []llm.Event
	for _, ev := range parseSSE(t, transcript) {
		evs, err := d.Decode(ev.event, []byte(ev.data))
		all = append(all, evs...)
		if err != nil {
			return all, err
		}
	}
	evs, err := d.Finish()
	return append(all, evs...), err
}
