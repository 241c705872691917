// Package app assembles a proxy from its parts — the two wire-format codecs,
// the snapshot builder with the price table, the rules loader, the cascade
// engine, and the HTTP server — so cmd/proxy, the evaluation and the tests
// all build exactly the same thing.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// Options shape a proxy. The zero value is a proxy that reads provider keys
// from the environment and files, logs to slog's default logger and serves
// with the server's defaults.
type Options struct {
	Log *slog.Logger
	// LookupEnv and ReadFile resolve provider keys (defaults: os.LookupEnv, os.ReadFile).
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
	// BaseURLOverride, when set, replaces every provider's base URL (demo mode).
	BaseURLOverride func(rules.Provider) string
	// Server tunes the HTTP server (body limit, CORS, client keys, admin
	// listener); its Store, Codecs, Metrics, Log, Engine and Auditor are filled in.
	Server server.Config
}

// Proxy is an assembled proxy: load rules through Loader, serve Server.
type Proxy struct {
	Metrics *metrics.Metrics
	// Quality holds the rules' quality loops across reloads.
	Quality *routequality.Registry
	Loader  *rulesource.Loader
	Engine  *cascade.Engine
	// Auditor feeds the quality loops once clients have their answers.
	Auditor *cascade.Auditor
	Server  *server.Server
}

// New assembles a proxy. It serves nothing until rules are loaded
// (Loader.Apply) and Server is run.
func New(o Options) (*Proxy, error) {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	m := metrics.New()
	builder := &snapshot.Builder{
		Codecs:          map[rules.ProviderType]dialect.Codec{rules.Anthropic: anthropic.Codec{}, rules.OpenAI: openai.Codec{}},
		Transport:       provider.NewTransport(),
		LookupEnv:       o.LookupEnv,
		ReadFile:        o.ReadFile,
		BaseURLOverride: o.BaseURLOverride,
		Prices:          pricing.Default(),
		Quality:         &routequality.Registry{},
	}
	p := &Proxy{
		Metrics: m,
		Quality: builder.Quality,
		Loader:  &rulesource.Loader{Builder: builder, Store: &snapshot.Store{}, Metrics: m, Log: log},
		Engine:  &cascade.Engine{Log: log, Recorder: &cascade.Recorder{Metrics: m}},
		Auditor: &cascade.Auditor{Log: log, Metrics: m},
	}
	cfg := o.Server
	cfg.Store, cfg.Metrics, cfg.Log, cfg.Engine, cfg.Auditor = p.Loader.Store, m, log, p.Engine, p.Auditor
	cfg.Codecs = map[llm.Dialect]dialect.Codec{llm.Anthropic: anthropic.Codec{}, llm.OpenAI: openai.Codec{}}
	srv, err := server.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("assemble proxy: %w", err)
	}
	p.Server = srv
	return p, nil
}

// Load applies a rules document, as a rules-file change does.
func (p *Proxy) Load(data []byte, source string) error {
	_, err := p.Loader.Apply(data, source)
	return err
}

// Serve runs the server on a new listener at addr (e.g. "127.0.0.1:0")
// until ctx ends. It returns the base URL and a wait function that returns
// once the server has drained and stopped.
func (p *Proxy) Serve(ctx context.Context, addr string, shutdownTimeout time.Duration) (url string, wait func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Server.Run(ctx, ln, 0, shutdownTimeout) }()
	return "http://" + ln.Addr().String(), func() error { return <-done }, nil
}
