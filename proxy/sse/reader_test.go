package sse

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// ev is an event as the tests compare it (Data copied).
type ev struct {
	Name, Data, ID string
}

// readAll reads events until an error and returns them with that error.
func readAll(t *testing.T, r *Reader) ([]ev, error) {
	t.Helper()
	var out []ev
	for i := 0; ; i++ {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.Name, string(e.Data), e.ID})
		if i > 1e6 {
			t.Fatal("reader does not end")
		}
	}
}

func TestReaderSpecCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []ev
		wantErr error
	}{
		{name: "empty stream", in: "", wantErr: io.EOF},
		{name: "blank lines only", in: "\n\n\r\n\n", wantErr: io.EOF},
		{name: "one event", in: "data: hello\n\n", want: []ev{{"", "hello", ""}}, wantErr: io.EOF},
		{name: "multi-line data joined by LF",
			in:   "data: YHOO\ndata: +2\ndata: 10\n\n",
			want: []ev{{"", "YHOO\n+2\n10", ""}}, wantErr: io.EOF},
		{name: "comments are ignored",
			in:   ": this is a comment\ndata: a\n:another\ndata: b\n\n: trailing comment\n",
			want: []ev{{"", "a\nb", ""}}, wantErr: io.EOF},
		{name: "event names and reset after dispatch",
			in:   "event: message_start\ndata: {\"a\":1}\n\ndata: plain\n\nevent: ping\ndata: {}\n\n",
			want: []ev{{"message_start", `{"a":1}`, ""}, {"", "plain", ""}, {"ping", "{}", ""}}, wantErr: io.EOF},
		{name: "id persists across events until changed",
			in:   "id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\n",
			want: []ev{{"", "a", "1"}, {"", "b", "1"}, {"", "c", "2"}, {"", "d", ""}}, wantErr: io.EOF},
		{name: "id with NUL is ignored",
			in:   "id: 7\ndata: a\n\nid: x\x00y\ndata: b\n\n",
			want: []ev{{"", "a", "7"}, {"", "b", "7"}}, wantErr: io.EOF},
		{name: "CRLF line endings",
			in:   "event: e\r\ndata: one\r\ndata: two\r\n\r\ndata: three\r\n\r\n",
			want: []ev{{"e", "one\ntwo", ""}, {"", "three", ""}}, wantErr: io.EOF},
		{name: "mixed LF and CRLF", in: "data: a\r\ndata: b\n\r\n",
			want: []ev{{"", "a\nb", ""}}, wantErr: io.EOF},
		// The standard's own examples (WHATWG HTML, "Interpreting an event stream").
		{name: "data with no colon is an empty data line",
			in:   "data\n\ndata\ndata\n\ndata:\n",
			want: []ev{{"", "", ""}, {"", "\n", ""}}, wantErr: io.ErrUnexpectedEOF},
		{name: "leading single space stripped once",
			in:   "data:test\n\ndata: test\n\ndata:  two spaces\n\ndata:\ttab\n\n",
			want: []ev{{"", "test", ""}, {"", "test", ""}, {"", " two spaces", ""}, {"", "\ttab", ""}}, wantErr: io.EOF},
		{name: "colon inside the value is kept", in: "data: a: b:c\n\n",
			want: []ev{{"", "a: b:c", ""}}, wantErr: io.EOF},
		{name: "unknown fields and retry are ignored",
			in:   "retry: 10000\nfoo: bar\ndata: x\nDATA: y\n\n",
			want: []ev{{"", "x", ""}}, wantErr: io.EOF},
		{name: "block without data is not dispatched, and its name does not leak",
			in:   "event: ping\n\ndata: after\n\n",
			want: []ev{{"", "after", ""}}, wantErr: io.EOF},
		{name: "id-only block updates the id",
			in:   "id: 42\n\ndata: x\n\n",
			want: []ev{{"", "x", "42"}}, wantErr: io.EOF},
		{name: "final event without blank line",
			in:   "data: a\n\ndata: b\n",
			want: []ev{{"", "a", ""}}, wantErr: io.ErrUnexpectedEOF},
		{name: "final line without terminator",
			in:   "data: a\n\ndata: b",
			want: []ev{{"", "a", ""}}, wantErr: io.ErrUnexpectedEOF},
		{name: "final event name without blank line",
			in:   "data: a\n\nevent: x\n",
			want: []ev{{"", "a", ""}}, wantErr: io.ErrUnexpectedEOF},
		{name: "lone CR is kept as data (documented deviation)",
			in:   "data: a\rb\n\n",
			want: []ev{{"", "a\rb", ""}}, wantErr: io.EOF},
		{name: "OpenAI shape",
			in:   "data: {\"choices\":[]}\n\ndata: [DONE]\n\n",
			want: []ev{{"", `{"choices":[]}`, ""}, {"", "[DONE]", ""}}, wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, one byte per Read, and with the data and EOF returned together.
			readers := map[string]io.Reader{
				"whole":    strings.NewReader(tt.in),
				"one-byte": iotest.OneByteReader(strings.NewReader(tt.in)),
				"data-err": iotest.DataErrReader(strings.NewReader(tt.in)),
			}
			for kind, src := range readers {
				got, err := readAll(t, NewReader(src, 0))
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s: events\n got %q\nwant %q", kind, got, tt.want)
				}
				if err != tt.wantErr {
					t.Errorf("%s: final error = %v, want %v", kind, err, tt.wantErr)
				}
			}
		})
	}
}

func TestReaderEventTooLargeMultiLine(t *testing.T) {
	const limit = 1000
	line := "data: " + strings.Repeat("x", 99) + "\n" // 100 bytes of data with the joining LF
	var in strings.Builder
	in.WriteString("data: small\n\n")
	for i := 0; i < 20; i++ {
		in.WriteString(line)
	}
	in.WriteString("\ndata: never\n\n")
	r := NewReader(strings.NewReader(in.String()), limit)
	got, err := readAll(t, r)
	if len(got) != 1 || got[0].Data != "small" {
		t.Errorf("events before the large one = %q", got)
	}
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
	// The error is final; the reader does not resync into the rest of the stream.
	if _, err := r.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("Next after the error = %v, want ErrEventTooLarge again", err)
	}
}

func TestReaderEventAtLimitIsAccepted(t *testing.T) {
	const limit = 1000
	data := strings.Repeat("y", limit)
	got, err := readAll(t, NewReader(strings.NewReader("data: "+data+"\n\n"), limit))
	if err != io.EOF || len(got) != 1 || got[0].Data != data {
		t.Fatalf("got %d events, err %v; want the %d-byte event", len(got), err, limit)
	}
	_, err = readAll(t, NewReader(strings.NewReader("data: "+data+"z\n\n"), limit))
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("limit+1 bytes: err = %v, want ErrEventTooLarge", err)
	}
}

// endlessLine yields "data: " then n bytes of 'a' with no newline, generating
// them on the fly so the test itself stores nothing.
type endlessLine struct {
	n, read int64
	prefix  bool
}

func (e *endlessLine) Read(p []byte) (int, error) {
	if !e.prefix {
		e.prefix = true
		return copy(p, "data: "), nil
	}
	if e.read >= e.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if rest := e.n - e.read; k > rest {
		k = rest
	}
	for i := range p[:k] {
		p[i] = 'a'
	}
	e.read += k
	return int(k), nil
}

func TestReaderHugeLineIsBounded(t *testing.T) {
	const limit = 1 << 20
	src := &endlessLine{n: 100 << 20} // 100 MB on one line
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := NewReader(src, limit).Next()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
	// It stops reading soon after the limit instead of consuming the stream...
	if src.read > 2*limit {
		t.Errorf("read %d bytes of a line before giving up; limit %d", src.read, limit)
	}
	// ...and allocates on the order of the limit, not of the line.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*limit {
		t.Errorf("allocated %d bytes for a %d-byte limit", alloc, limit)
	}
}

func TestReaderDefaultLimit(t *testing.T) {
	src := &endlessLine{n: 3 * DefaultMaxEventSize}
	if _, err := NewReader(src, 0).Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
	if src.read > DefaultMaxEventSize+(1<<20) {
		t.Errorf("read %d bytes with the default limit %d", src.read, DefaultMaxEventSize)
	}
}

func TestReaderPropagatesReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)), 0)
	got, err := readAll(t, r)
	if len(got) != 1 || got[0].Data != "a" {
		t.Errorf("events = %q", got)
	}
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want %v", err, boom)
	}
}

// Event.Data is documented as valid until the next call to Next: the reader
// reuses one buffer (no allocation per event), so a caller that keeps data
// must copy it. This pins that contract.
func TestReaderDataValidUntilNextCall(t *testing.T) {
	r := NewReader(strings.NewReader("data: first\n\ndata: other\n\n"), 0)
	e1, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	kept := bytes.Clone(e1.Data)
	if string(e1.Data) != "first" {
		t.Fatalf("Data = %q", e1.Data)
	}
	e2, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(kept) != "first" || string(e2.Data) != "other" {
		t.Errorf("copy = %q, second = %q", kept, e2.Data)
	}
	if string(e1.Data) != "other" {
		t.Errorf("first event's Data after Next = %q: the buffer is no longer reused; update the Event.Data doc", e1.Data)
	}
}

func TestReaderSteadyStateAllocations(t *testing.T) {
	const n = 200
	stream := strings.Repeat("data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\n\n", n)
	src := strings.NewReader(stream)
	r := NewReader(src, 0)
	_, _ = r.Next() // warm up the buffers
	allocs := testing.AllocsPerRun(n-10, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per unnamed event; want 0 (buffers are reused)", allocs)
	}
}
