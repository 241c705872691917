package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// errShuttingDown is the cause given to the requests still open when the
// shutdown timeout has passed.
var errShuttingDown = errors.New("the proxy is shutting down")

// endable lets a shutdown end an API request. Run cancels every request's
// context with errShuttingDown (through the server's base context) when the
// shutdown timeout has passed; from then on whatever the handler writes is
// dropped (a cancelled handler would answer 499 or nothing), and once it has
// returned the client gets an overloaded error in its own dialect: an error
// response if nothing was sent yet, an in-band error event ending a stream
// that had begun.
func (s *Server) endable() gin.HandlerFunc {
	return func(c *gin.Context) {
		s.open.Add(1)
		defer s.open.Add(-1)
		w := &endableWriter{ResponseWriter: c.Writer, ctx: c.Request.Context()}
		c.Writer = w
		c.Next()
		c.Writer = w.ResponseWriter
		if w.ended() {
			s.endForShutdown(c, w.sent && w.stream)
		}
	}
}

// endForShutdown tells the client of an ended request to retry elsewhere.
// stream says an event stream has begun.
func (s *Server) endForShutdown(c *gin.Context, stream bool) {
	w := c.Writer
	e := &llm.Error{Kind: llm.ErrOverloaded, Message: "the proxy is shutting down; retry the request", Retryable: true,
		Header: &http.Header{"X-Should-Retry": {"true"}}}
	if w.Written() && !stream {
		return // a whole JSON answer went out, or part of one: nothing can be added
	}
	if native := strings.HasPrefix(c.Request.URL.Path, "/api/"); native {
		if !stream {
			nativeError(c, http.StatusServiceUnavailable, e.Message)
			return
		}
		b, _ := json.Marshal(gin.H{"type": "error", "content": e.Message})
		_, _ = w.Write(append(append([]byte("data: "), b...), '\n', '\n'))
	} else {
		codec := s.codec(requestDialect(c.Request))
		if !stream {
			writeError(w, codec, e)
			return
		}
		_, _ = w.Write(codec.ErrorEvent(e))
	}
	w.Flush()
}

// requestDialect is the dialect of a request: its path's, or its headers'
// on a path both dialects share.
func requestDialect(r *http.Request) llm.Dialect {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/v1/messages"):
		return llm.Anthropic
	case strings.HasSuffix(p, "/chat/completions"):
		return llm.OpenAI
	}
	return clientDialect(r.Header)
}

// endableWriter drops what a handler writes once its request was ended by
// a shutdown: the handler only sees a client that went away.
type endableWriter struct {
	gin.ResponseWriter
	ctx context.Context
	// stream records whether the headers that went out were an event
	// stream's (a cancelled handler may still change the header map).
	sent, stream bool
}

func (w *endableWriter) ended() bool { return errors.Is(context.Cause(w.ctx), errShuttingDown) }

// sending notes what kind of answer is going out, before its headers do.
func (w *endableWriter) sending() {
	if !w.sent {
		w.sent = true
		w.stream = strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream")
	}
}

func (w *endableWriter) Write(b []byte) (int, error) {
	if w.ended() {
		return 0, errShuttingDown
	}
	w.sending()
	return w.ResponseWriter.Write(b)
}

func (w *endableWriter) WriteString(s string) (int, error) {
	if w.ended() {
		return 0, errShuttingDown
	}
	w.sending()
	return w.ResponseWriter.WriteString(s)
}

func (w *endableWriter) WriteHeader(code int) {
	if !w.ended() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *endableWriter) WriteHeaderNow() {
	if !w.ended() {
		w.sending()
		w.ResponseWriter.WriteHeaderNow()
	}
}

func (w *endableWriter) Flush() {
	if !w.ended() {
		w.sending()
		w.ResponseWriter.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (w *endableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
