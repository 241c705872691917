package anthropic

import (
	"bytes"
	"os"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	name string
	data []byte
}

// parseSSE splits a transcript into events the way the SSE spec (and the
// official SDKs) do: fields up to a blank line, "data:" lines joined by "\n",
// comment lines ignored. It is deliberately independent of this package.
func parseSSE(t testing.TB, b []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	var data [][]byte
	has := false
	flush := func() {
		if has {
			cur.data = bytes.Join(data, []byte{'\n'})
			out = append(out, cur)
		}
		cur, data, has = sseEvent{}, nil, false
	}
	for _, line := range bytes.Split(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte{'\n'}) {
		if len(line) == 0 {
			flush()
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "event":
			cur.name, has = string(value), true
		case "data":
			data, has = append(data, value), true
		}
	}
	flush()
	return out
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeTranscript runs a whole transcript through the stream decoder.
func decodeTranscript(t testing.TB, transcript []byte) ([]llm.Event, error) {
	t.Helper()
	d := Codec{}.NewStreamDecoder()
	var evs []llm.Event
	for _, e := range parseSSE(t, transcript) {
		got, err := d.Decode(e.name, e.data)
		if err != nil {
			return evs, err
		}
		evs = append(evs, got...)
	}
	tail, err := d.Finish()
	return append(evs, tail...), err
}

// encodeEvents runs canonical events through a fresh stream encoder.
func encodeEvents(t testing.TB, evs []llm.Event) []byte {
	t.Helper()
	enc := Codec{}.NewStreamEncoder(nil)
	var out []byte
	for i, ev := range evs {
		var err error
		if out, err = enc.Encode(out, ev); err != nil {
			t.Fatalf("event %d (%s): %v", i, ev.Type, err)
		}
	}
	return enc.Finish(out)
}
