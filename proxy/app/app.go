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
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/qualitysync"
	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
	"github.com/cascadeflow/cascadeflow-operator/proxy/status"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
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
	// QualityState is a file the quality loops' state persists in across
	// restarts (qualitysync.File): read after the first rules load, saved
	// every QualityStateInterval (default 30s) and after the server stopped.
	QualityState         string
	QualityStateInterval time.Duration
	// QualityPublish, when set, publishes the pod's quality samples every
	// QualityPublishInterval (default 30s) and after the server stopped, and
	// reads back what the pod published before after the first rules load
	// (qualitysync.Publisher.Restore). It must be connected; New sets its
	// Registry.
	QualityPublish         *qualitysync.Publisher
	QualityPublishInterval time.Duration
	// Clock is what retries wait on and circuit breakers time their
	// cool-downs with (default: the system clock).
	Clock resilience.Clock
	// StatusEvery is how often the status page's charts are sampled (0:
	// status.DefaultEvery).
	StatusEvery time.Duration
}

// publishTimeout bounds one publish of the quality samples.
const publishTimeout = 10 * time.Second

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
	// Calibrations applies the operator's calibrations (the rules
	// ConfigMap's calibration.json) to Quality's routes.
	Calibrations *qualitysync.Calibrations
	// Status is the status page the admin listener serves.
	Status *status.Page

	log          *slog.Logger
	state        *qualitysync.File
	stateEvery   time.Duration
	publish      *qualitysync.Publisher
	publishEvery time.Duration
	restoreOnce  sync.Once
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
		Resilience:      &resilience.Registry{Observer: m, Clock: o.Clock},
	}
	p := &Proxy{
		Metrics: m,
		Quality: builder.Quality,
		Loader:  &rulesource.Loader{Builder: builder, Store: &snapshot.Store{}, Metrics: m, Log: log},
		Engine:  &cascade.Engine{Log: log, Recorder: &cascade.Recorder{Metrics: m}},
		Auditor: &cascade.Auditor{Log: log, Metrics: m},

		Calibrations: &qualitysync.Calibrations{Registry: builder.Quality, Log: log},
		log:          log,
		stateEvery:   o.QualityStateInterval,
		publish:      o.QualityPublish,
		publishEvery: o.QualityPublishInterval,
	}
	if o.QualityState != "" {
		p.state = &qualitysync.File{Path: o.QualityState, Registry: builder.Quality}
	}
	if p.publish != nil {
		p.publish.Registry = builder.Quality
		p.Auditor.Pod = p.publish.Pod
		if p.publish.Usage == nil {
			p.publish.Usage = p.usageSources(o.Server.Limiter)
		}
	}
	p.Status = status.New(status.Sources{Store: p.Loader.Store, Recorder: p.Engine.Recorder, Auditor: p.Auditor,
		Reloads: p.Loader.History}, o.StatusEvery, 0)
	cfg := o.Server
	cfg.Store, cfg.Metrics, cfg.Log, cfg.Engine, cfg.Auditor = p.Loader.Store, m, log, p.Engine, p.Auditor
	if cfg.Limiter != nil {
		cfg.Limiter.Register(m.Registry)
	}
	cfg.StatusPage = p.Status
	cfg.Codecs = map[llm.Dialect]dialect.Codec{llm.Anthropic: anthropic.Codec{}, llm.OpenAI: openai.Codec{}}
	srv, err := server.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("assemble proxy: %w", err)
	}
	p.Server = srv
	return p, nil
}

// Load applies a rules document, as a rules-file change does. Once rules
// are served for the first time, their routes get the quality state saved
// before (the state file, the samples this pod published).
func (p *Proxy) Load(data []byte, source string) error {
	_, err := p.Loader.Apply(data, source)
	if p.Loader.Store.Load() != nil {
		p.restoreOnce.Do(p.restoreQuality)
	}
	return err
}

// usageSources are what the pod publishes for the route's status: every
// rule's counters (the status page's) with its audit spend, and the budget
// state of the loaded rules' named keys and teams (limiter nil: none).
func (p *Proxy) usageSources(limiter *teams.Limiter) *qualitysync.UsageSources {
	u := &qualitysync.UsageSources{Counters: func() map[string]qualitysync.RuleCounters {
		out := map[string]qualitysync.RuleCounters{}
		for _, s := range p.Engine.Recorder.Stats() {
			c := qualitysync.RuleCounters{Requests: s.Requests, Outcomes: make(map[string]int64, len(s.Outcomes)),
				CostUSD: s.CostUSD, BaselineUSD: s.BaselineUSD, SavingsUSD: s.SavingsUSD}
			for o, n := range s.Outcomes {
				c.Outcomes[string(o)] = n
			}
			out[s.Rule] = c
		}
		for rule, a := range p.Auditor.Stats() {
			c := out[rule]
			c.AuditCostUSD = a.AuditCostUSD
			out[rule] = c
		}
		return out
	}}
	if limiter != nil {
		u.Budgets = func(ctx context.Context) (*qualitysync.Budgets, error) {
			snap := p.Loader.Store.Load()
			if snap == nil || snap.Rules == nil {
				return nil, nil
			}
			bs, err := limiter.Snapshot(ctx, snap.Rules)
			if err != nil {
				return nil, err
			}
			if len(bs.Budgets) == 0 {
				return nil, nil
			}
			out := &qualitysync.Budgets{Shared: bs.Shared, States: make([]qualitysync.BudgetFigures, 0, len(bs.Budgets))}
			for _, b := range bs.Budgets {
				out.States = append(out.States, qualitysync.BudgetFigures{Scope: b.Scope, Name: b.Name, Team: b.Team,
					Period: string(b.Period), Enforcement: b.Enforcement, BudgetUSD: b.BudgetUSD, SpentUSD: b.SpentUSD,
					PeriodEnd: b.PeriodEnd.UTC()})
			}
			return out, nil
		}
	}
	return u
}

func (p *Proxy) restoreQuality() {
	if p.state != nil {
		switch restored, err := p.state.Load(); {
		case err != nil:
			p.log.Error("quality state not restored; the routes start afresh", "error", err.Error())
		case restored:
			p.log.Info("quality state restored", "path", p.state.Path)
		}
	}
	if p.publish != nil {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		switch restored, err := p.publish.Restore(ctx); {
		case err != nil:
			p.log.Warn("published quality samples not read back; the routes start afresh", "error", err.Error())
		case restored:
			p.log.Info("quality samples this pod published before restored")
		}
	}
}

// Serve runs the proxy (Run) on a new listener at addr (e.g.
// "127.0.0.1:0") until ctx ends. It returns the base URL and a wait
// function that returns once the server has drained and stopped.
func (p *Proxy) Serve(ctx context.Context, addr string, shutdownTimeout time.Duration) (url string, wait func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, ln, 0, shutdownTimeout) }()
	return "http://" + ln.Addr().String(), func() error { return <-done }, nil
}

// Run serves on ln until ctx ends (server.Server.Run), saving and
// publishing the quality state meanwhile, and once more when the server has
// drained (the last requests' samples included). It also keeps the status
// page's chart history.
func (p *Proxy) Run(ctx context.Context, ln net.Listener, drainDelay, shutdownTimeout time.Duration) error {
	qctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.Status.Run(qctx) })
	if p.state != nil {
		wg.Go(func() { qualitysync.Every(qctx, p.stateEvery, func(context.Context) { p.saveQuality() }) })
	}
	if p.publish != nil {
		wg.Go(func() { qualitysync.Every(qctx, p.publishEvery, p.publishQuality) })
	}
	err := p.Server.Run(ctx, ln, drainDelay, shutdownTimeout)
	stop()
	wg.Wait()
	p.FlushQuality(context.WithoutCancel(ctx))
	return err
}

// FlushQuality saves and publishes the quality state now.
func (p *Proxy) FlushQuality(ctx context.Context) {
	if p.state != nil {
		p.saveQuality()
	}
	if p.publish != nil {
		p.publishQuality(ctx)
	}
}

func (p *Proxy) saveQuality() {
	if err := p.state.Save(); err != nil {
		p.log.Error("quality state not saved; retrying at the next save", "error", err.Error())
	}
}

func (p *Proxy) publishQuality(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := p.publish.Publish(ctx); err != nil {
		p.log.Warn("quality samples not published; kept for the next publish", "error", err.Error())
	}
}
