package server

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
)

const (
	ctxRequestID = "cascadeflow.request_id"
	ctxRoute     = "cascadeflow.route"
)

// recoverer turns a panic into a 500 in the client's envelope (when nothing
// was written yet) and a log line with the stack; the process keeps serving.
func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec) // the client went away mid-response; let net/http handle it
			}
			s.log.Error("panic serving request", "request_id", c.GetString(ctxRequestID), "panic", slog.AnyValue(rec).String(), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				writeError(c.Writer, s.codec(clientDialect(c.Request.Header)), llm.Errorf(llm.ErrAPI, "internal error"))
			}
			c.Abort()
		}()
		c.Next()
	}
}

// requestID gives every request an id, returned in x-request-id.
func (s *Server) requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		var b [12]byte
		u1, u2 := rand.Uint64(), rand.Uint32()
		for i := 0; i < 8; i++ {
			b[i] = byte(u1 >> (8 * i))
		}
		for i := 0; i < 4; i++ {
			b[8+i] = byte(u2 >> (8 * i))
		}
		var out [len("req_") + 2*len(b)]byte // the id in one allocation
		copy(out[:], "req_")
		hex.Encode(out[len("req_"):], b[:])
		id := string(out[:])
		c.Set(ctxRequestID, id)
		c.Writer.Header().Set("X-Request-Id", id)
		c.Next()
	}
}

// accessLog writes one structured line per request and the HTTP metrics.
// It never logs bodies, prompts, query strings or credentials.
func (s *Server) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		route := &RouteRecorder{}
		c.Set(ctxRoute, route)
		s.m.InFlight.Inc()
		defer s.m.InFlight.Dec() // also when a handler panics
		c.Next()
		d := time.Since(start)
		endpoint := c.FullPath()
		if endpoint == "" {
			endpoint = "unmatched"
		}
		status := c.Writer.Status()
		s.m.Requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
		s.m.RequestDuration.WithLabelValues(endpoint).Observe(d.Seconds())
		if !s.log.Enabled(c.Request.Context(), slog.LevelInfo) {
			return
		}
		// Room for every attribute on the stack: the line costs no slice growth.
		var room [28]slog.Attr
		attrs := append(room[:0],
			slog.String("request_id", c.GetString(ctxRequestID)),
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", d),
			slog.Int("bytes_out", c.Writer.Size()))
		if route.Model != "" {
			attrs = append(attrs, slog.String("model", route.Model))
		}
		if route.Served != "" {
			attrs = append(attrs, slog.String("served_model", route.Served))
		}
		if u := route.Usage; u != (llm.Usage{}) {
			attrs = append(attrs, slog.Int("input_tokens", u.InputTokens), slog.Int("output_tokens", u.OutputTokens))
			if u.CacheReadInputTokens+u.CacheCreationInputTokens > 0 {
				attrs = append(attrs, slog.Int("cache_read_tokens", u.CacheReadInputTokens), slog.Int("cache_write_tokens", u.CacheCreationInputTokens))
			}
		}
		if route.CostKnown {
			attrs = append(attrs, slog.Float64("cost_usd", route.CostUSD))
			if route.Rule != "" && route.Outcome != "error" && route.Outcome != "canceled" {
				attrs = append(attrs, slog.Float64("baseline_usd", route.BaselineUSD), slog.Float64("savings_usd", route.SavingsUSD))
			}
		}
		if route.Cached {
			attrs = append(attrs, slog.Float64("cache_hit_ratio", route.CacheHitRatio))
		}
		if route.Conversation != "" {
			attrs = append(attrs, slog.String("conversation", route.Conversation), slog.String("turn", route.Turn))
		}
		ids := route.UpstreamIDs.List()
		if route.UpstreamRequestID != "" {
			ids = append(ids, route.UpstreamRequestID)
		}
		if len(ids) == 0 {
			if id := c.Writer.Header().Get("X-Upstream-Request-Id"); id != "" { // an upstream error's (see writeError)
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			attrs = append(attrs, slog.String("upstream_request_id", ids[len(ids)-1]))
		}
		if len(ids) > 1 {
			attrs = append(attrs, slog.Any("upstream_request_ids", ids))
		}
		if cred := provider.ClientCredential(c.Request.Header); cred != "" {
			attrs = append(attrs, slog.String("client_key", keyFingerprint(cred)))
		}
		if route.KeyName != "" {
			attrs = append(attrs, slog.String("key_name", route.KeyName))
		}
		if route.Team != "" {
			attrs = append(attrs, slog.String("team", route.Team))
		}
		if route.Rule != "" {
			attrs = append(attrs, slog.String("rule", route.Rule))
		}
		if route.Outcome != "" {
			attrs = append(attrs, slog.String("outcome", route.Outcome))
		}
		if sc := trace.SpanContextFromContext(c.Request.Context()); sc.IsValid() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
		s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "request", attrs...)
	}
}

// keyFingerprint names a client key in logs without revealing it: the first
// 8 hex digits of its SHA-256.
func keyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	var out [len("sha256:") + 8]byte // the fingerprint in one allocation
	copy(out[:], "sha256:")
	hex.Encode(out[len("sha256:"):], sum[:4])
	return string(out[:])
}

// cors lets browser clients of the SDKs call the proxy from allowed origins.
// Off unless origins are configured.
func (s *Server) cors() gin.HandlerFunc {
	origins := s.cfg.CORSOrigins
	if len(origins) == 0 {
		return func(c *gin.Context) { c.Next() }
	}
	any := slices.Contains(origins, "*")
	return func(c *gin.Context) {
		origin := c.Request.Header.Get("Origin")
		if origin == "" || !(any || slices.Contains(origins, origin)) {
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "request-id, x-request-id, x-cascade-outcome, x-cascade-model, x-cascade-score, x-cascade-cost-usd, x-cascade-savings-usd, x-cascade-baseline-usd, x-cascade-cache-hit-ratio, x-cascade-turn, x-cascade-agreement")
		if c.Request.Method == http.MethodOptions && c.Request.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			if req := c.Request.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

func route(c *gin.Context) *RouteRecorder {
	if r, ok := c.Get(ctxRoute); ok {
		return r.(*RouteRecorder)
	}
	return &RouteRecorder{}
}

// authenticate admits only clients presenting a configured key (when keys
// are configured), answering others with their own dialect's 401.
func (s *Server) authenticate() gin.HandlerFunc {
	keys := s.cfg.ClientKeys
	if keys == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		if source, ok := keys.Lookup(provider.ClientCredential(c.Request.Header)); ok {
			c.Set(ctxKeySource, source)
			c.Next()
			return
		}
		msg := "invalid or missing API key: send a key issued for this proxy in x-api-key or Authorization: Bearer"
		p := c.Request.URL.Path
		switch {
		case strings.HasPrefix(p, "/api/"):
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"detail": msg})
			return
		case strings.HasPrefix(p, "/v1/messages"):
			writeError(c.Writer, s.codec(llm.Anthropic), llm.Errorf(llm.ErrAuthentication, "%s", msg))
		case strings.HasSuffix(p, "/chat/completions") || strings.HasSuffix(p, "/responses") || strings.HasSuffix(p, "/embeddings"):
			writeError(c.Writer, s.codec(llm.OpenAI), llm.Errorf(llm.ErrAuthentication, "%s", msg))
		default:
			writeError(c.Writer, s.codec(clientDialect(c.Request.Header)), llm.Errorf(llm.ErrAuthentication, "%s", msg))
		}
		c.Abort()
	}
}
