package fakeupstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// errStreamEnded tells an encoder to stop: the client went away, the
// connection was reset on purpose, or an in-band error event ended the stream.
var errStreamEnded = errors.New("stream ended")

// eventStream writes Server-Sent Events (the text/event-stream format of the
// WHATWG HTML standard, as both vendors use it): optional "event: NAME" line,
// one "data: JSON" line, blank line; flushed per event. It also injects the
// scripted stream faults.
type eventStream struct {
	ctx   context.Context
	done  <-chan struct{} // server closing
	w     http.ResponseWriter
	rc    *http.ResponseController
	delay time.Duration

	resetAfter int
	errorAfter int
	// errorName/errorData is the dialect's in-band error event.
	errorName string
	errorData []byte

	written int
	buf     []byte
}

// send writes one event; name "" omits the event: line (OpenAI's format).
func (s *eventStream) send(name string, data []byte) error {
	if s.written > 0 && s.delay > 0 {
		if !sleep(s.ctx, s.done, s.delay) {
			return errStreamEnded
		}
	}
	if s.resetAfter > 0 && s.written == s.resetAfter {
		s.reset()
		return errStreamEnded
	}
	if s.errorAfter > 0 && s.written == s.errorAfter {
		_ = s.write(s.errorName, s.errorData)
		return errStreamEnded
	}
	return s.write(name, data)
}

func (s *eventStream) write(name string, data []byte) error {
	buf := s.buf[:0]
	if name != "" {
		buf = append(buf, "event: "...)
		buf = append(buf, name...)
		buf = append(buf, '\n')
	}
	buf = append(buf, "data: "...)
	buf = append(buf, data...)
	buf = append(buf, '\n', '\n')
	s.buf = buf
	if _, err := s.w.Write(buf); err != nil {
		return errStreamEnded
	}
	if err := s.rc.Flush(); err != nil {
		return errStreamEnded
	}
	s.written++
	return nil
}

// reset closes the connection under the response with an RST, so the client
// sees a connection reset mid-body rather than a clean end of stream.
func (s *eventStream) reset() { resetConn(s.rc) }

// resetConn closes the connection under a response with an RST.
func resetConn(rc *http.ResponseController) {
	conn, _, err := rc.Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the handler, which also breaks the stream.
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// sleep waits d and reports true, or reports false as soon as ctx ends or
// done closes.
func sleep(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-done:
		return false
	}
}
