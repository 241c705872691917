package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// DefaultBodyReadTimeout bounds the reading of a request body.
const DefaultBodyReadTimeout = 60 * time.Second

// readBody reads the whole request body under the size limit and within the
// body read timeout. Reading it fully before answering also avoids net/http
// closing it under a streaming response (no full-duplex needed).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, tooLarge(s.cfg.MaxBodyBytes)
	}
	// A connection deadline, lifted as soon as the body is in: left in place it
	// would end net/http's background read and with it the request's context.
	// After a failed read it stays, so net/http does not wait for the rest of
	// the body before sending the error (it tries to drain a short remainder).
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyReadTimeout)) == nil
	body, err := readAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, tooLarge(s.cfg.MaxBodyBytes)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, &llm.Error{Kind: llm.ErrTimeout, Status: http.StatusRequestTimeout, Err: err,
				Message: fmt.Sprintf("the request body did not arrive within %s", s.cfg.BodyReadTimeout)}
		}
		return nil, &llm.Error{Kind: llm.ErrInvalidRequest, Message: "could not read the request body", Err: err}
	}
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, nil
}

// bodyFirstBuffer is the most allocated for a body before any of it has
// arrived: a client announcing a large Content-Length and sending nothing
// costs this, not what it announced.
const bodyFirstBuffer = 64 << 10

// bodyGrowth is how much the buffer grows each time it fills up; once that
// would reach half the announced length it grows to the whole of it. Memory
// held for a body stays within 2*bodyGrowth times what has arrived. The
// buffers given up on the way (64 KiB, 256 KiB, 1 MiB, 4 MiB, then the
// announced size) go back to stagePools for the next large body, so a body
// costs about its own size in allocations.
const bodyGrowth = 4

// stagePools hold the intermediate buffers by size: stagePools[i] those of
// stageSize(i) bytes. Only readAll uses them, and it
// never hands one out (the buffer it returns is made for the body), so
// their contents never outlive the read.
var stagePools [8]sync.Pool

// stageSize is the size of stage i's buffers.
func stageSize(i int) int {
	n := bodyFirstBuffer
	for range i {
		n *= bodyGrowth
	}
	return n
}

// stage returns an empty buffer of stageSize(i) bytes.
func stage(i int) []byte {
	if b, ok := stagePools[i].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, stageSize(i))
}

// unstage gives a buffer from stage back.
func unstage(i int, b []byte) {
	if i >= 0 {
		stagePools[i].Put(&b)
	}
}

// readAll reads r whole. With an announced length the buffer grows towards
// it as bytes arrive (never beyond it plus one byte, which proves the end);
// without one, io.ReadAll's growth applies.
//
// The body it returns is made for it, never taken from or given back to a
// pool, and nothing writes to it afterwards: the decoded request's text
// shares its bytes (jsonenc.DecodeStringShared), so reusing this memory
// would change a prompt under the cascade's feet.
func readAll(r io.Reader, announced int64) (body []byte, err error) {
	if announced <= 0 {
		return io.ReadAll(r)
	}
	want := int(announced) + 1 // one more byte must read as EOF
	var buf []byte
	tier := -1 // buf's stage, or -1: buf is the body's own
	if want <= bodyFirstBuffer {
		buf = make([]byte, 0, want)
	} else {
		buf, tier = stage(0), 0
	}
	defer func() { unstage(tier, buf) }()
	for {
		if len(buf) == cap(buf) {
			if len(buf) == want {
				return nil, errors.New("body longer than its Content-Length")
			}
			var grown []byte
			next := tier + 1
			if next == len(stagePools) || stageSize(next) >= want/2 {
				grown, next = make([]byte, 0, want), -1
			} else {
				grown = stage(next)
			}
			grown = append(grown, buf...)
			unstage(tier, buf)
			buf, tier = grown, next
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			if int64(len(buf)) < announced {
				return nil, fmt.Errorf("body shorter than its Content-Length: %w", io.ErrUnexpectedEOF)
			}
			return buf, nil // never a stage buffer: those are smaller than half the body
		case err != nil:
			return nil, err
		case len(buf) == want:
			return nil, errors.New("body longer than its Content-Length")
		}
	}
}

func tooLarge(limit int64) *llm.Error {
	return llm.Errorf(llm.ErrRequestTooLarge, "request body exceeds the %d byte limit", limit)
}
