package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
)

// requestedModel is the model the eval's client asks for; the rule maps it
// to the cascade.
const requestedModel = verifierModel

// evalRuleName names the one rule of the eval's rules file.
const evalRuleName = "eval"

// replayKeyEnv names the (fake) API key the proxy holds for the replay upstream.
const (
	replayKeyEnv = "CASCADE_EVAL_REPLAY_KEY"
	replayKey    = "replay-key"
)

// ruleOptions are what a pass changes in the eval's rule.
type ruleOptions struct {
	Mode rules.Mode
	// Threshold nil leaves the proxy's default (rules.DefaultThreshold).
	Threshold     *float64
	Quality       *rules.Quality
	SecondOpinion *rules.SecondOpinion
}

// evalRules is the rules file of one pass: one rule for requestedModel with
// draft and verifier (and second opinions, judge) on the replay upstream,
// every model priced in the rule so the eval does not depend on the proxy's
// built-in table.
func evalRules(f *fileSetup, upstreamURL string, o ruleOptions) *rules.Set {
	prices := make(map[string]rules.Price, len(f.Prices))
	for m, p := range f.Prices {
		prices[m] = p
	}
	return &rules.Set{
		Version: rules.Version,
		Providers: []rules.Provider{{
			Name: "replay", Type: rules.OpenAI, BaseURL: upstreamURL + "/v1",
			APIKey: &rules.KeySource{Env: replayKeyEnv},
		}},
		Rules: []rules.Rule{{
			Name:          evalRuleName,
			Models:        []string{requestedModel},
			Mode:          o.Mode,
			Draft:         rules.Target{Provider: "replay", Model: draftModel},
			Verifier:      rules.Target{Provider: "replay", Model: verifierModel},
			Threshold:     o.Threshold,
			Quality:       o.Quality,
			SecondOpinion: o.SecondOpinion,
			Prices:        prices,
		}},
	}
}

// proxyUnderTest is the real proxy, assembled as cmd/proxy assembles it,
// serving on a loopback port.
type proxyUnderTest struct {
	URL     string
	loader  *rulesource.Loader
	quality *routequality.Registry
	cancel  context.CancelFunc
	done    chan error
}

// startProxy starts the proxy with set loaded; log receives its logs.
func startProxy(ctx context.Context, set *rules.Set, log *slog.Logger) (*proxyUnderTest, error) {
	proxy, err := app.New(app.Options{Log: log, LookupEnv: func(k string) (string, bool) {
		if k == replayKeyEnv {
			return replayKey, true
		}
		return "", false
	}})
	if err != nil {
		return nil, fmt.Errorf("build proxy: %w", err)
	}
	p := &proxyUnderTest{loader: proxy.Loader, quality: proxy.Quality, done: make(chan error, 1)}
	if err := p.Load(set); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p.URL = "http://" + ln.Addr().String()
	sctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	go func() { p.done <- proxy.Server.Run(sctx, ln, 0, 10*time.Second) }()
	return p, nil
}

// Load swaps in new rules, as a rules-file change does in cmd/proxy.
func (p *proxyUnderTest) Load(set *rules.Set) error {
	data, err := rules.EncodeYAML(set)
	if err != nil {
		return fmt.Errorf("encode eval rules: %w", err)
	}
	if _, err := p.loader.Apply(data, "eval"); err != nil {
		return fmt.Errorf("load eval rules: %w", err)
	}
	return nil
}

// route is the eval rule's quality loop, nil when the proxy keeps none.
func (p *proxyUnderTest) route() *routequality.Route {
	if p.quality == nil {
		return nil
	}
	return p.quality.Routes()[evalRuleName]
}

// Close stops the proxy and waits for it.
func (p *proxyUnderTest) Close() error {
	p.cancel()
	return <-p.done
}

// startUpstream serves h on a loopback port.
func startUpstream(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("replay upstream listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// quietLogger keeps the proxy's per-request logs out of the report.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
