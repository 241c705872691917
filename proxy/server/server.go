// Package server is the proxy's HTTP shell: Gin routes and middleware,
// request reading and routing, pass-through relay, health, metrics and
// graceful shutdown. Translation lives in the dialects, upstream calls in
// provider, the cascade in cascade.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/clientauth"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

// DefaultMaxBodyBytes bounds a request body (32 MiB, as Anthropic's API).
const DefaultMaxBodyBytes = 32 << 20

// RouteRecorder carries routing facts from handlers to the access log.
type RouteRecorder struct {
	Rule    string
	Outcome string
	Model   string
	// Served is the model that answered (or was asked last).
	Served string
	// Usage is the tokens of every upstream call the request made.
	Usage llm.Usage
	// CostUSD is their price; CostKnown is false when a price is missing.
	CostUSD   float64
	CostKnown bool
	// UpstreamRequestID is the vendor's id of a relayed call, when known.
	UpstreamRequestID string
	// UpstreamIDs collects the vendor's ids of the calls made through the
	// provider's Complete and Stream (a cascade's, a translated request's).
	UpstreamIDs provider.RequestIDs
	// SavingsUSD is what a cascade saved against the requested model.
	SavingsUSD float64
	// KeyName and Team name the client key (rules' clientKeys), when limits are on.
	KeyName, Team string
	// Score is the gate's score of the draft; Scored is false when none was scored.
	Score  float64
	Scored bool
	// BaselineUSD is what the requested model would have cost (CostKnown says
	// whether it is known).
	BaselineUSD float64
	// Conversation and Turn say where an Anthropic Messages request stands
	// (turn.Info): the conversation key's short form and start or continue.
	Conversation, Turn string
	// CacheHitRatio is the answering call's share of prompt tokens read from
	// its prompt cache; Cached says whether it used the cache at all.
	CacheHitRatio float64
	Cached        bool
}

// Cascaded records what a rule's cascade spent and who answered.
func (r *RouteRecorder) Cascaded(res *cascade.Result, a cascade.Accounting) {
	r.Outcome = string(res.Outcome)
	r.Served = res.Served
	r.Usage = llm.Usage{}
	for _, c := range res.Calls() {
		if c != nil {
			r.Usage = r.Usage.Add(c.Usage)
		}
	}
	r.CostUSD, r.CostKnown = a.ActualUSD, a.Known
	r.SavingsUSD, r.BaselineUSD = a.SavingsUSD, a.BaselineUSD
	if t := res.Turn; !t.Conversation.IsZero() {
		r.Conversation, r.Turn = t.Conversation.Short(), t.Kind.String()
	}
	if u, ok := res.AnswerUsage(); ok && u.CacheCreationInputTokens+u.CacheReadInputTokens > 0 {
		r.CacheHitRatio, r.Cached = u.CacheHitRatio(), true
	}
	if res.Decision != nil {
		r.Score, r.Scored = res.Decision.Score, true
	}
}

// Config configures a Server.
type Config struct {
	Store        *snapshot.Store
	Codecs       map[llm.Dialect]dialect.Codec
	Metrics      *metrics.Metrics
	Log          *slog.Logger
	Engine       *cascade.Engine // runs rules; required
	MaxBodyBytes int64           // 0: DefaultMaxBodyBytes
	CORSOrigins  []string        // allowed browser origins; empty: CORS off; "*" any
	// AdminSeparate moves /metrics and /debug/rules off the API listener to
	// Admin(), so exposing the API (an Ingress) does not expose them.
	AdminSeparate bool
	// ClientKeys, when set, are the only keys clients may call the API with.
	ClientKeys *clientauth.Keys
	// ModelsTimeout bounds the upstream model list fetch in GET /v1/models.
	ModelsTimeout time.Duration
	// BodyReadTimeout bounds the reading of a request body once its headers
	// have arrived (0: DefaultBodyReadTimeout), so a client dribbling its
	// body cannot hold a connection forever.
	BodyReadTimeout time.Duration
	// Auditor feeds the rules' quality loops once a client has its answer
	// (nil: no quality loop runs).
	Auditor *cascade.Auditor
	// Limiter enforces the limits of the rules' clientKeys and attributes
	// spend per key and team (nil: neither).
	Limiter *teams.Limiter
	// StatusPage, when set, is served at /status on the admin listener
	// (never on the API port); / redirects to it.
	StatusPage http.Handler
	// Tracer, when set, traces every request (see package tracing); nil:
	// tracing is off and costs nothing.
	Tracer trace.TracerProvider
}

// Server is the proxy's HTTP handler.
type Server struct {
	cfg      Config
	engine   *gin.Engine
	draining atomic.Bool
	log      *slog.Logger
	m        *metrics.Metrics
	names    meteredNameCache
	open     atomic.Int64 // API requests being served
	ids      atomic.Pointer[identities]
}

// New builds the handler and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Engine == nil || cfg.Codecs[llm.Anthropic] == nil || cfg.Codecs[llm.OpenAI] == nil {
		return nil, errors.New("server: a store, an engine and both codecs are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ModelsTimeout <= 0 {
		cfg.ModelsTimeout = 2 * time.Second
	}
	if cfg.BodyReadTimeout <= 0 {
		cfg.BodyReadTimeout = DefaultBodyReadTimeout
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, engine: gin.New(), log: cfg.Log, m: cfg.Metrics}
	s.engine.HandleMethodNotAllowed = true
	s.engine.ContextWithFallback = true
	s.engine.Use(s.recoverer(), s.requestID())
	if cfg.Tracer != nil {
		s.engine.Use(s.traced())
	}
	s.engine.Use(s.accessLog(), s.cors())

	api := s.engine.Group("/", s.clientLatency(), s.authenticate(), s.endable())
	api.POST("/v1/messages", s.handleChat(llm.Anthropic))
	api.POST("/v1/messages/count_tokens", s.handleCountTokens)
	api.POST("/v1/chat/completions", s.handleChat(llm.OpenAI))
	api.POST("/chat/completions", s.handleChat(llm.OpenAI))
	api.POST("/v1/responses", s.handleOpenAIRelay(provider.PathResponses))
	api.POST("/responses", s.handleOpenAIRelay(provider.PathResponses))
	api.POST("/v1/embeddings", s.handleOpenAIRelay(provider.PathEmbeddings))
	api.POST("/embeddings", s.handleOpenAIRelay(provider.PathEmbeddings))
	api.GET("/v1/models", s.handleModels)
	api.GET("/v1/models/:id", s.handleModel)
	s.engine.GET("/healthz", s.handleHealth)
	s.engine.GET("/readyz", s.handleReady)
	if !cfg.AdminSeparate {
		s.engine.GET("/metrics", s.handleMetrics())
		s.engine.GET("/debug/rules", s.handleDebugRules)
	}
	api.POST("/api/query", s.handleNativeQuery)
	api.GET("/api/query/stream", s.handleNativeStream)
	api.GET("/api/stats", s.handleStats)
	api.DELETE("/api/stats", s.handleStatsReset)
	s.engine.NoRoute(s.handleNoRoute)
	s.engine.NoMethod(s.handleNoMethod)
	return s, nil
}

func (s *Server) handleMetrics() gin.HandlerFunc {
	return gin.WrapH(promhttp.HandlerFor(s.cfg.Metrics.Gatherer(s.refreshQuality), promhttp.HandlerOpts{}))
}

// Admin is the handler for the admin listener: probes, /metrics,
// /debug/rules, the quality samples export (served here only: samples may
// hold prompts and answers) and the status page. Use it with AdminSeparate.
func (s *Server) Admin() http.Handler {
	e := gin.New()
	e.Use(gin.Recovery())
	if s.cfg.StatusPage != nil {
		e.GET("/status", gin.WrapH(s.cfg.StatusPage))
		e.HEAD("/status", gin.WrapH(s.cfg.StatusPage))
		e.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/status") })
	}
	e.GET("/healthz", s.handleHealth)
	e.GET("/readyz", s.handleReady)
	e.GET("/metrics", s.handleMetrics())
	e.GET("/debug/rules", s.handleDebugRules)
	e.GET("/api/quality/samples", s.handleQualitySamples)
	return e
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// SetDraining makes /readyz fail so load balancers stop sending new requests.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Run serves on ln until ctx ends, then drains: readiness fails, new
// connections are refused after drainDelay, and in-flight requests (streams
// included) get up to shutdownTimeout to finish. Those still open then are
// ended with an overloaded error in their client's dialect (an in-band error
// event for a stream) and Run returns nil: a shutdown is not a failure.
func (s *Server) Run(ctx context.Context, ln net.Listener, drainDelay, shutdownTimeout time.Duration) error {
	// Every request's context derives from base, so ending base ends them all.
	base, endAll := context.WithCancelCause(context.Background())
	defer endAll(nil)
	hs := &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.SetDraining()
	s.log.Info("shutting down: draining in-flight requests", "drain_delay", drainDelay.String(), "timeout", shutdownTimeout.String())
	if drainDelay > 0 {
		time.Sleep(drainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err == nil {
		// Audits of answers already given get what is left of the timeout.
		s.shutdownAudits(sctx)
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Time is up: end what is still open with an error in its client's
	// dialect (an in-band event for a stream), then close what remains.
	s.log.Warn("shutdown timeout passed: ending open requests", "requests", s.open.Load(), "timeout", shutdownTimeout.String())
	endAll(errShuttingDown)
	s.shutdownAudits(base) // base is ended: the audits are canceled
	gctx, gcancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer gcancel()
	if err := hs.Shutdown(gctx); errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("closing connections still open after the shutdown grace", "grace", shutdownGrace.String())
		_ = hs.Close()
	}
	return nil
}

// shutdownGrace is how long requests ended by a shutdown have to send their
// closing error before their connections are closed.
const shutdownGrace = 2 * time.Second

func (s *Server) codec(d llm.Dialect) dialect.Codec { return s.cfg.Codecs[d] }

func (s *Server) handleHealth(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", []byte(`{"status":"ok"}`))
}

func (s *Server) handleReady(c *gin.Context) {
	switch {
	case s.draining.Load():
		c.Data(http.StatusServiceUnavailable, "application/json", []byte(`{"status":"draining"}`))
	case s.cfg.Store.Load() == nil:
		c.Data(http.StatusServiceUnavailable, "application/json", []byte(`{"status":"no rules loaded"}`))
	default:
		c.Data(http.StatusOK, "application/json", []byte(`{"status":"ready"}`))
	}
}

func (s *Server) handleDebugRules(c *gin.Context) {
	snap := s.cfg.Store.Load()
	if snap == nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "no rules loaded"})
		return
	}
	// The set holds key sources (env names, file paths), never keys.
	c.JSON(http.StatusOK, gin.H{"hash": snap.Hash, "loadedAt": snap.LoadedAt.UTC().Format(time.RFC3339Nano), "rules": snap.Rules,
		"quality": s.debugQuality(snap)})
}

// clientDialect guesses the dialect of a request on a shared path.
func clientDialect(h http.Header) llm.Dialect {
	if h.Get("Anthropic-Version") != "" || h.Get("X-Api-Key") != "" {
		return llm.Anthropic
	}
	return llm.OpenAI
}

func (s *Server) handleNoRoute(c *gin.Context) {
	writeError(c.Writer, s.codec(clientDialect(c.Request.Header)),
		llm.Errorf(llm.ErrNotFound, "no endpoint %s %s", c.Request.Method, c.Request.URL.Path))
}

func (s *Server) handleNoMethod(c *gin.Context) {
	e := llm.Errorf(llm.ErrInvalidRequest, "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path)
	e.Status = http.StatusMethodNotAllowed
	writeError(c.Writer, s.codec(clientDialect(c.Request.Header)), e)
}
