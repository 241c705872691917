package sse

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// fuzzLimit keeps the fuzzer's events small enough to hit the size limit.
const fuzzLimit = 4096

// eventsFromBytes turns arbitrary bytes into events the test's serializer can
// write: events are separated by 0x00; within one, 0x01 separates
// flags|name|id|data. Characters a field cannot carry are dropped.
func eventsFromBytes(raw []byte) (evs []ev, flags []byte) {
	for _, chunk := range bytes.Split(raw, []byte{0}) {
		if len(chunk) == 0 {
			continue
		}
		f := chunk[0]
		parts := bytes.SplitN(chunk[1:], []byte{1}, 3)
		for len(parts) < 3 {
			parts = append(parts, nil)
		}
		e := ev{
			Name: strings.Map(dropLineBreaks, string(parts[0])),
			ID:   strings.Map(dropLineBreaks, string(parts[1])),
			// Data may hold LF (it becomes several data lines) but not CR,
			// which a CRLF-terminated line could not carry unambiguously.
			Data: strings.ReplaceAll(string(parts[2]), "\r", ""),
		}
		if f&1 == 0 {
			e.Name = ""
		}
		if f&2 == 0 {
			e.ID = "" // "no id line" is resolved into the running ID below
		}
		evs = append(evs, e)
		flags = append(flags, f)
	}
	return evs, flags
}

func dropLineBreaks(r rune) rune {
	if r == '\n' || r == '\r' || r == 0 {
		return -1
	}
	return r
}

// serialize writes events as an SSE stream, the independent encoder the
// reader is checked against. It returns the events a reader must report
// (IDs carried over as the standard says).
func serialize(evs []ev, flags []byte) (stream []byte, want []ev) {
	var b bytes.Buffer
	id := ""
	for i, e := range evs {
		f := flags[i]
		eol := "\n"
		if f&4 != 0 {
			eol = "\r\n"
		}
		if f&8 != 0 {
			b.WriteString(": keep-alive comment" + eol)
		}
		field := func(name, value string) {
			// Without a space after the colon only when the value does not
			// itself start with one (it would be stripped).
			if f&16 != 0 && !strings.HasPrefix(value, " ") {
				b.WriteString(name + ":" + value + eol)
			} else {
				b.WriteString(name + ": " + value + eol)
			}
		}
		if e.Name != "" {
			field("event", e.Name)
		}
		if f&2 != 0 {
			field("id", e.ID)
			id = e.ID
		}
		for _, line := range strings.Split(e.Data, "\n") {
			field("data", line)
		}
		if f&32 != 0 {
			b.WriteString("retry: 1000" + eol)
		}
		b.WriteString(eol)
		want = append(want, ev{Name: e.Name, Data: e.Data, ID: id})
	}
	return b.Bytes(), want
}

func FuzzReader(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzReader.
	f.Add([]byte("event: message_start\ndata: {}\n\n"))
	f.Add([]byte("\x03ping\x017\x01{\"type\":\"ping\"}\x00\x1fcontent_block_delta\x01\x01a\nb\nc"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		// 1. Raw bytes as a stream: no panic, events bounded, a final error.
		r := NewReader(bytes.NewReader(raw), fuzzLimit)
		for i := 0; ; i++ {
			e, err := r.Next()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrEventTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(e.Data) > fuzzLimit {
				t.Fatalf("event of %d bytes passed the %d limit", len(e.Data), fuzzLimit)
			}
			if i > len(raw) {
				t.Fatalf("more events (%d) than input bytes", i)
			}
		}

		// 2. Bytes as a description of events: serialize, read back, compare.
		evs, flags := eventsFromBytes(raw)
		stream, want := serialize(evs, flags)
		for _, src := range []io.Reader{bytes.NewReader(stream), iotest.HalfReader(bytes.NewReader(stream))} {
			got, err := readAll(t, NewReader(src, 0))
			if err != io.EOF {
				t.Fatalf("stream %q: final error %v, want io.EOF", stream, err)
			}
			if len(got) == 0 && len(want) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("stream %q\n got %q\nwant %q", stream, got, want)
			}
		}
	})
}
