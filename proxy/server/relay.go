package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// relayHeaders are upstream response headers not copied to the client.
// X-Request-Id stays the proxy's own (the upstream's is kept as
// X-Upstream-Request-Id); organization headers would reveal the operator's
// vendor account.
var relayHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Set-Cookie": true, "Alt-Svc": true,
	"X-Request-Id": true, "Openai-Organization": true, "Openai-Project": true, "Anthropic-Organization-Id": true,
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// maxRelayedBody bounds a non-streaming answer, which is read whole before
// the client gets a byte of it (the provider's bound on its own answers).
const maxRelayedBody = 64 << 20

// relay forwards body (already in the provider's dialect) and copies the
// answer back byte for byte. A non-streaming answer is read whole first, so
// an upstream cut becomes a clean 502; an event stream is passed on as it
// arrives, whole events at a time, and a cut ends it with an in-band error
// event. Upstream errors are re-enveloped for the client (an HTML error page
// becomes a clean 502).
//
// onUsage, when set, receives the answer's token usage read on the way
// through (see usageSniffer); it is not called when none was found.
//
// hideUsageChunk drops an OpenAI stream's final usage chunk, which the proxy
// asked for itself (to meter the stream) when the client did not.
func (s *Server) relay(c *gin.Context, codec dialect.Codec, p *provider.Client, kind string, body llm.Body, onUsage func(llm.Usage), hideUsageChunk bool) {
	if err := s.relayAnswer(c, codec, p, kind, body, onUsage, hideUsageChunk); err != nil {
		writeError(c.Writer, codec, err)
	}
}

// relayAnswer is relay, but a call that fails before its answer began is
// returned, not written: the caller may try a fallback.
func (s *Server) relayAnswer(c *gin.Context, codec dialect.Codec, p *provider.Client, kind string, body llm.Body, onUsage func(llm.Usage), hideUsageChunk bool) error {
	w, r := c.Writer, c.Request
	url := p.ClientURL(kind, r.URL.RawQuery)
	resp, stop, err := p.Send(tracing.WithModel(r.Context(), route(c).Served), http.MethodPost, url, body, r.Header)
	if err != nil {
		s.upstreamFailed(p, err)
		return err
	}
	defer stop()
	defer resp.Body.Close()
	route(c).UpstreamRequestID = provider.RequestID(resp.Header)
	if resp.StatusCode >= 400 {
		e := p.UpstreamError(resp)
		s.upstreamFailed(p, e)
		return e
	}
	sniff := usageSniffer{dialect: p.Dialect(), kind: kind}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		copyRelayHeaders(w.Header(), resp.Header)
		w.Header().Del("Content-Length")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(resp.StatusCode)
		s.relayStream(c, codec, p, resp.Body, &sniff, onUsage != nil, hideUsageChunk)
	} else if !s.relayBody(c, codec, p, resp, &sniff, onUsage != nil) {
		return nil
	}
	if onUsage != nil && sniff.seen {
		clock(c).outputTokens = sniff.usage.OutputTokens
		onUsage(sniff.usage)
	}
	return nil
}

// relayBody reads a non-streaming answer whole, then sends it with the
// upstream's status and headers. A cut or oversized answer is a 502 instead.
// It reports whether the upstream answered whole (its usage counts even if
// the client has gone).
func (s *Server) relayBody(c *gin.Context, codec dialect.Codec, p *provider.Client, resp *http.Response, sniff *usageSniffer, wantUsage bool) bool {
	w, r := c.Writer, c.Request
	whole, err := readAnnounced(resp.Body, resp.ContentLength, maxRelayedBody+1)
	if err == nil && len(whole) > maxRelayedBody {
		err = fmt.Errorf("answer larger than %d bytes", maxRelayedBody)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return false // the client went away
		}
		e := &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream " + p.Name() + " answer was interrupted", Err: err}
		s.upstreamFailed(p, e)
		writeError(w, codec, e)
		return false
	}
	if wantUsage {
		sniff.Body(whole)
	}
	copyRelayHeaders(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	if _, err := w.Write(whole); err == nil {
		clock(c).body(time.Now())
	}
	return true
}

// relayStream passes an event stream on whole events at a time (a stream
// cut inside an event then ends with a clean in-band error event instead of
// half an event), flushing after each read. It reads usage on the way
// (wantUsage), drops the proxy's own usage chunk (hideUsageChunk) and hides
// the provider keys in the upstream's error events.
func (s *Server) relayStream(c *gin.Context, codec dialect.Codec, p *provider.Client, body io.Reader, sniff *usageSniffer, wantUsage, hideUsageChunk bool) {
	w, r := c.Writer, c.Request
	rc := http.NewResponseController(w)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	held := 0
	clk := clock(c)
	timed := clk.model != "" // a model answer: stamp its content tokens
	for {
		n, err := body.Read(buf[held:])
		held += n
		if cut := lastEventEnd(buf[:held]); cut > 0 || held == len(buf) {
			if cut == 0 {
				cut = held // an event larger than the buffer: pass it through in pieces
			}
			out := buf[:cut]
			if wantUsage {
				sniff.Events(out)
			}
			if hideUsageChunk {
				out = openai.WithoutUsageChunks(out)
			}
			out = p.RedactEvents(out)
			if _, werr := w.Write(out); werr != nil {
				return // client went away; the deferred close cancels the upstream call
			}
			_ = rc.Flush()
			if timed && hasContent(p.Dialect(), sniff.kind, out) {
				clk.token(time.Now())
			}
			held = copy(buf, buf[cut:held])
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			if held > 0 {
				if wantUsage {
					sniff.Events(buf[:held])
				}
				if _, werr := w.Write(p.RedactEvents(buf[:held])); werr == nil && timed && hasContent(p.Dialect(), sniff.kind, buf[:held]) {
					clk.token(time.Now())
				}
				_ = rc.Flush()
			}
			if wantUsage && !sniff.ended {
				s.upstreamFailed(p, &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream " + p.Name() + " stream ended before its last event"})
			}
		case r.Context().Err() == nil:
			e := p.BodyError(r.Context(), err)
			s.upstreamFailed(p, e)
			_, _ = w.Write(codec.ErrorEvent(e))
			_ = rc.Flush()
		}
		return
	}
}

// copyRelayHeaders copies an upstream answer's headers for the client, less
// hop-by-hop and account headers; the upstream's request id becomes
// X-Upstream-Request-Id.
func copyRelayHeaders(dst, src http.Header) {
	for k, vs := range src {
		if !relayHeaders[k] {
			dst[k] = vs
		}
	}
	for _, f := range strings.Split(src.Get("Connection"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			dst.Del(f)
		}
	}
	if id := src.Get("X-Request-Id"); id != "" {
		dst.Set("X-Upstream-Request-Id", id)
	}
}

// readAnnounced is io.ReadAll(io.LimitReader(r, limit)) with the buffer
// sized from the announced length (-1: unknown), so a typical answer is
// read into one allocation instead of a growing series.
func readAnnounced(r io.Reader, announced, limit int64) ([]byte, error) {
	if announced < 0 || announced >= limit {
		return io.ReadAll(io.LimitReader(r, limit))
	}
	b := bytes.NewBuffer(make([]byte, 0, announced+bytes.MinRead))
	_, err := b.ReadFrom(io.LimitReader(r, limit))
	return b.Bytes(), err
}

// lastEventEnd returns the index just past the last blank line (the end of
// an SSE event) in b, or 0.
func lastEventEnd(b []byte) int {
	// Most reads end exactly at an event's end: answer without searching.
	if bytes.HasSuffix(b, []byte("\n\n")) || bytes.HasSuffix(b, []byte("\n\r\n")) {
		return len(b)
	}
	i := bytes.LastIndex(b, []byte("\n\n"))
	if j := bytes.LastIndex(b, []byte("\n\r\n")); j >= 0 && j+3 > i+2 {
		return j + 3
	}
	if i < 0 {
		return 0
	}
	return i + 2
}
