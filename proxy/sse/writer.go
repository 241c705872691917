package sse

import (
	"fmt"
	"net/http"
)

// Writer sends bytes to a client and flushes after every write, so each SSE
// event leaves the proxy as soon as it exists.
type Writer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

// NewWriter wraps a response writer.
func NewWriter(w http.ResponseWriter) *Writer {
	return &Writer{w: w, rc: http.NewResponseController(w)}
}

// Start writes the stream's headers with the given status (once).
func (s *Writer) Start(status int) {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no") // nginx ingress: do not buffer the stream
	h.Del("Content-Length")
	s.w.WriteHeader(status)
}

// Started reports whether headers (and so possibly bytes) went out.
func (s *Writer) Started() bool { return s.started }

// Write sends p (one or more complete events) and flushes.
func (s *Writer) Write(p []byte) (int, error) {
	if !s.started {
		s.Start(http.StatusOK)
	}
	n, err := s.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("sse: write: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		return n, fmt.Errorf("sse: flush: %w", err)
	}
	return n, nil
}
