// Package sse reads and writes Server-Sent Events: a bounded reader for
// upstream streams and a writer that flushes every event to the client.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEventSize bounds one event; a larger one is an error, not an OOM.
const DefaultMaxEventSize = 8 << 20

// ErrEventTooLarge is returned when an event exceeds the reader's limit.
var ErrEventTooLarge = errors.New("sse: event exceeds size limit")

// Event is one dispatched SSE event.
type Event struct {
	Name string // the "event:" field; empty means "message"
	Data []byte // "data:" lines joined with "\n"; valid until the next call to Next
	ID   string
}

// Reader parses an SSE stream as specified by the WHATWG HTML standard
// (§9.2 "Server-sent events"): lines end in \n or \r\n (a lone \r, which
// no vendor sends, is kept as data); lines starting with ':' are comments;
// an empty line dispatches the event.
type Reader struct {
	r       *bufio.Reader
	max     int
	data    []byte
	name    []byte
	id      string
	hasData bool
	line    []byte
	err     error // sticky error
}

// NewReader returns a reader with the given event size limit (0: default).
func NewReader(r io.Reader, maxEventSize int) *Reader {
	if maxEventSize <= 0 {
		maxEventSize = DefaultMaxEventSize
	}
	return &Reader{r: bufio.NewReaderSize(r, 16<<10), max: maxEventSize}
}

// Next returns the next event, io.EOF at a clean end of stream, or
// io.ErrUnexpectedEOF when the stream ends inside an event (buffered data or
// an event name not yet dispatched by a blank line, or a last line without
// its terminator). As the standard says, a block without data lines is not
// dispatched (its id still updates ID). Any other error, ErrEventTooLarge
// included, is final: later calls return it again.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	ev, err := r.next()
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return ev, err
}

func (r *Reader) next() (Event, error) {
	r.data = r.data[:0]
	r.name = r.name[:0]
	r.hasData = false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(line) == 0 {
					if r.hasData || len(r.name) > 0 {
						// The standard discards an event not ended by a blank line.
						return Event{}, io.ErrUnexpectedEOF
					}
					return Event{}, io.EOF
				}
				// A final line without its terminator: the stream was cut.
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !r.hasData {
				r.name = r.name[:0] // nothing to dispatch
				continue
			}
			return Event{Name: string(r.name), Data: r.data, ID: r.id}, nil
		}
		r.field(line)
		if len(r.data) > r.max {
			return Event{}, fmt.Errorf("%w (%d bytes)", ErrEventTooLarge, r.max)
		}
	}
}

func (r *Reader) field(line []byte) {
	if line[0] == ':' {
		return // comment
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if r.hasData {
			r.data = append(r.data, '\n')
		}
		r.data = append(r.data, value...)
		r.hasData = true
	case "event":
		r.name = append(r.name[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			r.id = string(value)
		}
	}
}

// readLine returns one line without its terminator. It bounds line length by
// the event limit.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.r.ReadSlice('\n')
		r.line = append(r.line, chunk...)
		if len(r.line) > r.max+64 {
			return nil, fmt.Errorf("%w (%d bytes)", ErrEventTooLarge, r.max)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return r.line, err
		}
		break
	}
	line := r.line[:len(r.line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
