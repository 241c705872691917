package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
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

// relay forwards body (already in the provider's dialect) and copies the
// answer back as it arrives: bytes in, bytes out, a flush after every read
// of an event stream. Upstream errors are re-enveloped for the client (an
// HTML error page becomes a clean 502).
//
// onUsage, when set, receives the answer's token usage read on the way
// through (see usageSniffer); it is not called when none was found.
//
// hideUsageChunk drops an OpenAI stream's final usage chunk, which the proxy
// asked for itself (to meter the stream) when the client did not.
func (s *Server) relay(c *gin.Context, codec dialect.Codec, p *provider.Client, kind string, body []byte, onUsage func(llm.Usage), hideUsageChunk bool) {
	w, r := c.Writer, c.Request
	url := p.ClientURL(kind, r.URL.RawQuery)
	resp, stop, err := p.Send(r.Context(), http.MethodPost, url, body, r.Header)
	if err != nil {
		s.upstreamFailed(p, err)
		writeError(w, codec, err)
		return
	}
	defer stop()
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		e := p.UpstreamError(resp)
		s.upstreamFailed(p, e)
		copyRateLimitHeaders(w.Header(), resp.Header)
		writeError(w, codec, e)
		return
	}
	h := w.Header()
	for k, vs := range resp.Header {
		if !relayHeaders[k] {
			h[k] = vs
		}
	}
	for _, f := range strings.Split(resp.Header.Get("Connection"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			h.Del(f)
		}
	}
	if id := resp.Header.Get("X-Request-Id"); id != "" {
		h.Set("X-Upstream-Request-Id", id)
	}
	stream := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	if stream {
		h.Del("Content-Length")
		h.Set("X-Accel-Buffering", "no")
	}
	w.WriteHeader(resp.StatusCode)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	sniff := usageSniffer{dialect: p.Dialect()}
	if onUsage != nil {
		defer func() {
			if sniff.seen {
				onUsage(sniff.usage)
			}
		}()
	}
	if !stream {
		if onUsage == nil || resp.ContentLength > maxSniffedBody {
			if _, err := io.CopyBuffer(w, resp.Body, buf); err != nil && r.Context().Err() == nil {
				s.upstreamFailed(p, &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream body interrupted", Err: err})
			}
			return
		}
		whole, err := readAnnounced(resp.Body, resp.ContentLength, maxSniffedBody)
		if _, werr := w.Write(whole); werr != nil {
			return
		}
		if err == nil && len(whole) == maxSniffedBody {
			_, err = io.CopyBuffer(w, resp.Body, buf) // larger than announced: pass the rest through
		} else if err == nil {
			sniff.Body(whole)
		}
		if err != nil && r.Context().Err() == nil {
			s.upstreamFailed(p, &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream body interrupted", Err: err})
		}
		return
	}
	// Forward whole events only: a stream cut inside an event then ends
	// with a clean in-band error event instead of half an event.
	rc := http.NewResponseController(w)
	held := 0
	for {
		n, err := resp.Body.Read(buf[held:])
		held += n
		if cut := lastEventEnd(buf[:held]); cut > 0 || held == len(buf) {
			if cut == 0 {
				cut = held // an event larger than the buffer: pass it through in pieces
			}
			out := buf[:cut]
			if onUsage != nil {
				sniff.Events(out)
			}
			if hideUsageChunk {
				out = openai.WithoutUsageChunks(out)
			}
			if _, werr := w.Write(out); werr != nil {
				return // client went away; the deferred close cancels the upstream call
			}
			_ = rc.Flush()
			held = copy(buf, buf[cut:held])
		}
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			if held > 0 {
				if onUsage != nil {
					sniff.Events(buf[:held])
				}
				_, _ = w.Write(buf[:held])
				_ = rc.Flush()
			}
			if onUsage != nil && !sniff.ended {
				s.upstreamFailed(p, &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream " + p.Name() + " stream ended before its last event"})
			}
			return
		}
		if r.Context().Err() != nil {
			return
		}
		e := p.BodyError(r.Context(), err)
		s.upstreamFailed(p, e)
		_, _ = w.Write(codec.ErrorEvent(e))
		_ = rc.Flush()
		return
	}
}

// maxSniffedBody bounds a non-streaming answer held to read its usage.
const maxSniffedBody = 4 << 20

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

// copyRateLimitHeaders keeps the headers clients use to back off.
func copyRateLimitHeaders(dst, src http.Header) {
	for k, vs := range src {
		lk := strings.ToLower(k)
		if lk == "retry-after" || strings.HasPrefix(lk, "anthropic-ratelimit-") || strings.HasPrefix(lk, "x-ratelimit-") ||
			lk == "request-id" || lk == "x-should-retry" {
			dst[k] = vs
		}
	}
}
