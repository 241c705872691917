// Command proxy is cascadeflow's data plane: it serves the Anthropic and
// OpenAI APIs, runs cascade rules, and hot-reloads its rules file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cascadeflow/cascadeflow-operator/internal/version"
	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	"github.com/cascadeflow/cascadeflow-operator/proxy/asynclog"
	"github.com/cascadeflow/cascadeflow-operator/proxy/clientauth"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/qualitysync"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource/configmap"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
	"github.com/cascadeflow/cascadeflow-operator/proxy/status"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

type options struct {
	listen          string
	rulesFile       string
	demo            string
	maxBody         int64
	cors            string
	logLevel        string
	logFormat       string
	drainDelay      time.Duration
	shutdownTimeout time.Duration
	pollInterval    time.Duration
	configMap       string
	configMapKey    string
	kubeconfig      string
	clientKeysDir   string
	adminListen     string
	bodyReadTimeout time.Duration
	statusInterval  time.Duration
	version         bool

	limits limitsOptions

	qualityState           string
	qualityStateInterval   time.Duration
	qualityPublish         bool
	qualityRoute           string
	qualityPublishInterval time.Duration
}

// newFlagSet declares the proxy's flags into o.
func newFlagSet(o *options, usage io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&o.listen, "listen", envOr("CASCADEFLOW_LISTEN", "127.0.0.1:8080"), "address to serve on")
	fs.StringVar(&o.rulesFile, "rules", envOr("CASCADEFLOW_RULES", ""), "rules file (YAML or JSON); watched and hot-reloaded")
	fs.StringVar(&o.demo, "demo", "auto", "demo mode: serve from a built-in fake upstream (auto: when no provider key is available; on; off)")
	fs.Int64Var(&o.maxBody, "max-body-bytes", server.DefaultMaxBodyBytes, "largest request body accepted (413 above)")
	fs.StringVar(&o.cors, "cors-origins", "", "comma-separated browser origins allowed by CORS (\"*\" for any); empty disables CORS")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "json", "json or text")
	fs.DurationVar(&o.drainDelay, "drain-delay", 0, "on shutdown, how long to keep serving while readiness fails (use ~5s behind a load balancer)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 60*time.Second, "on shutdown, how long in-flight requests (streams included) may take to finish")
	fs.DurationVar(&o.pollInterval, "poll-interval", 10*time.Second, "how often the rules file is re-read in case a change event was missed")
	fs.StringVar(&o.configMap, "rules-configmap", envOr("CASCADEFLOW_RULES_CONFIGMAP", ""), "namespace/name of a ConfigMap to watch through the Kubernetes API for sub-second rule reloads")
	fs.StringVar(&o.configMapKey, "rules-configmap-key", "rules.yaml", "the ConfigMap key holding the rules")
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig for --rules-configmap and --quality-publish (default: in-cluster credentials)")
	fs.StringVar(&o.clientKeysDir, "client-keys-dir", "", "directory of client API keys (a mounted Secret; one key per file or line); when set, only these keys may call the API; reloaded on change")
	fs.StringVar(&o.adminListen, "admin-listen", "", "serve /metrics, /debug/rules, the probes and the status page (/status) on this separate address (keeps them off an exposed API port); empty serves all but the status page on --listen")
	fs.DurationVar(&o.statusInterval, "status-interval", status.DefaultEvery, "how often the status page's charts of savings and quality are sampled")
	fs.DurationVar(&o.bodyReadTimeout, "body-read-timeout", server.DefaultBodyReadTimeout, "how long a client may take to send a request body once its headers are in (408 after)")
	fs.StringVar(&o.qualityState, "quality-state", "", "file the rules' quality loops (samples, spend, calibrations) persist in across restarts; read after the first rules load")
	fs.DurationVar(&o.qualityStateInterval, "quality-state-interval", qualitysync.DefaultInterval, "how often --quality-state is saved (and once more at shutdown)")
	fs.BoolVar(&o.qualityPublish, "quality-publish", false, "publish this pod's quality samples, request counters and budget state to the ConfigMap <quality-route>-quality-<POD_NAME> in POD_NAMESPACE, for the operator to calibrate from and sum into the route's status")
	fs.StringVar(&o.qualityRoute, "quality-route", "", "the CascadeRoute this proxy serves (names and labels the --quality-publish ConfigMap)")
	fs.DurationVar(&o.qualityPublishInterval, "quality-publish-interval", qualitysync.DefaultInterval, "how often --quality-publish writes the samples (and once more at shutdown)")
	o.limits.declare(fs)
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	return fs
}

// parseArgs reads the command line; done means the process ends here with
// code (after -help, -version or a bad flag, which the flag set explains).
func parseArgs(args []string, stdout, stderr io.Writer) (o options, code int, done bool) {
	switch err := newFlagSet(&o, stderr).Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return o, 0, true
	case err != nil:
		return o, 2, true
	}
	if o.version {
		fmt.Fprintln(stdout, "proxy", version.String())
		return o, 0, true
	}
	return o, 0, false
}

func main() {
	o, code, done := parseArgs(os.Args[1:], os.Stdout, os.Stderr)
	if done {
		os.Exit(code)
	}

	// Log lines (an access log line per request) are written by a goroutine
	// of their own, so a slow stderr never holds a request.
	sink := asynclog.New(os.Stderr, asynclog.DefaultMaxBuffered)
	log := newLogger(o.logLevel, o.logFormat, sink)
	log.Info("cascadeflow proxy", "version", version.String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, log, sink)
	stop()
	if err != nil {
		log.Error("proxy stopped", "error", err.Error())
	}
	_ = sink.Close() // the lines still buffered
	if err != nil {
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger, sink *asynclog.Writer) error {
	if o.rulesFile == "" && o.configMap == "" {
		return errors.New("one of --rules and --rules-configmap is required")
	}
	var initial []byte
	if o.rulesFile != "" {
		data, err := os.ReadFile(o.rulesFile)
		switch {
		case err == nil:
			initial = data
		case o.configMap != "" && errors.Is(err, os.ErrNotExist):
			// The API watch will deliver the rules.
		default:
			return fmt.Errorf("read rules: %w", err)
		}
	}
	opts := app.Options{Log: log, Server: server.Config{
		MaxBodyBytes: o.maxBody, CORSOrigins: splitList(o.cors), AdminSeparate: o.adminListen != "",
		BodyReadTimeout: o.bodyReadTimeout},
		QualityState: o.qualityState, QualityStateInterval: o.qualityStateInterval,
		QualityPublishInterval: o.qualityPublishInterval, StatusEvery: o.statusInterval}
	if o.qualityStateInterval < 0 || o.qualityPublishInterval < 0 || o.statusInterval < 0 {
		return errors.New("--quality-state-interval, --quality-publish-interval and --status-interval must be positive (0: the default)")
	}
	if o.qualityPublish {
		pub, err := newPublisher(o, os.Getenv)
		if err != nil {
			return err
		}
		opts.QualityPublish = pub
		log.Info("publishing quality samples", "configmap", pub.Namespace+"/"+qualitysync.ConfigMapName(pub.Route, pub.Pod),
			"every", o.qualityPublishInterval.String())
	}
	if initial != nil {
		set, err := rules.Decode(initial)
		if err != nil {
			return err
		}
		if demoWanted(o.demo, set) {
			stopDemo := startDemo(&opts, log)
			defer stopDemo()
		}
	}
	tp, stopTracing, err := tracing.Setup(ctx, os.Getenv, version.String())
	if err != nil {
		return err
	}
	if tp != nil {
		opts.Server.Tracer = tp
		log.Info("tracing on: exporting spans over OTLP/HTTP", "endpoint", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
		defer func() {
			// After the server drained: flush the spans still buffered.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := stopTracing(sctx); err != nil {
				log.Warn("tracing: spans not flushed at shutdown", "error", err.Error())
			}
		}()
	}
	if o.clientKeysDir != "" {
		keys := &clientauth.Keys{}
		if err := keys.LoadDir(o.clientKeysDir); err != nil {
			return err
		}
		go func() {
			if err := keys.WatchDir(ctx, o.clientKeysDir, o.pollInterval, log); err != nil {
				log.Warn("client keys watch stopped", "error", err.Error())
			}
		}()
		log.Info("client authentication on", "keys", keys.Len())
		opts.Server.ClientKeys = keys
		limiter, closeLimits, err := o.limits.limiter(ctx, log)
		if err != nil {
			return err
		}
		defer closeLimits()
		opts.Server.Limiter = limiter
	}
	proxy, err := app.New(opts)
	if err != nil {
		return err
	}
	if sink != nil {
		proxy.Metrics.CountDroppedLogLines(sink.Dropped)
	}
	loader := proxy.Loader
	if initial != nil {
		if err := proxy.Load(initial, o.rulesFile); err != nil {
			return err
		}
	}
	// With the API watch on, the mounted file serves only the first load: the
	// kubelet refreshes it late, and a stale copy must not roll back newer
	// rules that came through the API.
	if o.rulesFile != "" && o.configMap == "" {
		go func() {
			apply := func(b []byte) { _ = proxy.Load(b, o.rulesFile) }
			if err := rulesource.WatchFile(ctx, o.rulesFile, initial, o.pollInterval, apply, log); err != nil {
				log.Warn("rules file watch stopped", "error", err.Error())
			}
		}()
	}
	go func() {
		// Keys read from files (a mounted Secret) rotate without a restart.
		t := time.NewTicker(o.pollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				loader.Refresh()
			}
		}
	}()
	if o.configMap != "" {
		if err := watchConfigMap(ctx, o, proxy, log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if o.adminListen != "" {
		aln, err := net.Listen("tcp", o.adminListen)
		if err != nil {
			return fmt.Errorf("admin listen: %w", err)
		}
		admin := &http.Server{Handler: proxy.Server.Admin(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = admin.Serve(aln) }()
		defer admin.Close() // after the API listener has drained
		log.Info("admin endpoints listening", "addr", aln.Addr().String(), "status_page", "http://"+aln.Addr().String()+"/status")
	} else {
		log.Info("no status page: it is served on the admin listener only (--admin-listen)")
	}
	hash := ""
	if snap := loader.Store.Load(); snap != nil {
		hash = snap.Hash
	}
	log.Info("proxy listening", "addr", ln.Addr().String(), "rules_file", o.rulesFile, "rules_configmap", o.configMap, "rules_hash", hash)
	return proxy.Run(ctx, ln, o.drainDelay, o.shutdownTimeout)
}

// newPublisher prepares --quality-publish: the pod's name and namespace come
// from the downward API (env POD_NAME, POD_NAMESPACE).
func newPublisher(o options, getenv func(string) string) (*qualitysync.Publisher, error) {
	pub := &qualitysync.Publisher{Route: o.qualityRoute, Pod: getenv("POD_NAME"), Namespace: getenv("POD_NAMESPACE")}
	var errs []string
	if pub.Route == "" {
		errs = append(errs, "--quality-route is required")
	} else if bad := append(validation.IsDNS1123Subdomain(pub.Route), validation.IsValidLabelValue(pub.Route)...); len(bad) > 0 {
		errs = append(errs, fmt.Sprintf("--quality-route %q: %s", pub.Route, strings.Join(bad, ", ")))
	}
	if pub.Pod == "" || pub.Namespace == "" {
		errs = append(errs, "env POD_NAME and POD_NAMESPACE must name the pod (downward API)")
	} else if bad := append(validation.IsDNS1123Subdomain(pub.Pod), validation.IsDNS1123Label(pub.Namespace)...); len(bad) > 0 {
		errs = append(errs, fmt.Sprintf("POD_NAME %q, POD_NAMESPACE %q: %s", pub.Pod, pub.Namespace, strings.Join(bad, ", ")))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("--quality-publish: %s", strings.Join(errs, "; "))
	}
	cfg, err := configmap.Config(o.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--quality-publish: %w", err)
	}
	if err := pub.Connect(cfg); err != nil {
		return nil, fmt.Errorf("--quality-publish: %w", err)
	}
	return pub, nil
}

// watchConfigMap follows the rules ConfigMap through the API server: its
// rules and the operator's calibrations, in one watch.
func watchConfigMap(ctx context.Context, o options, proxy *app.Proxy, log *slog.Logger) error {
	ns, name, err := configmap.ParseRef(o.configMap)
	if err != nil {
		return err
	}
	cfg, err := configmap.Config(o.kubeconfig)
	if err != nil {
		return err
	}
	w := &configmap.Watcher{Namespace: ns, Name: name, Key: o.configMapKey, Log: log,
		Apply: func(b []byte) { _ = proxy.Load(b, "configmap "+o.configMap) },
		Also:  map[string]func([]byte){routequality.CalibrationKey: func(b []byte) { _ = proxy.Calibrations.Apply(b) }}}
	if err := w.Connect(cfg); err != nil {
		return err
	}
	go func() { _ = w.Run(ctx) }()
	return nil
}

// startDemo serves every provider from an in-process fake upstream.
func startDemo(opts *app.Options, log *slog.Logger) func() {
	fake := fakeupstream.New(fakeupstream.Options{ChunkDelay: 20 * time.Millisecond})
	fake.SetResponder(demoAnswer)
	url := fake.Start()
	opts.LookupEnv = func(string) (string, bool) { return "demo-key", true }
	opts.ReadFile = func(string) ([]byte, error) { return []byte("demo-key"), nil }
	opts.BaseURLOverride = func(p rules.Provider) string {
		if p.Type == rules.OpenAI {
			return url + "/v1"
		}
		return url
	}
	log.Warn("DEMO MODE: no provider API key is available, so every provider is served by a built-in fake upstream; "+
		"answers are canned. Set the keys named in the rules file (e.g. ANTHROPIC_API_KEY) to use real providers.", "fake_upstream", url)
	return fake.Close
}

// demoWanted decides demo mode: on, off, or auto (no provider has a usable
// key and none forwards client credentials).
func demoWanted(mode string, set *rules.Set) bool {
	switch mode {
	case "on":
		return true
	case "off":
		return false
	}
	for _, p := range set.Providers {
		if p.PassthroughAuth {
			return false
		}
		if _, err := snapshot.ResolveKey(p, os.LookupEnv, os.ReadFile); err == nil {
			return false
		}
	}
	return true
}

func newLogger(level, format string, out io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" {
		return slog.New(slog.NewTextHandler(out, opts))
	}
	return slog.New(slog.NewJSONHandler(out, opts))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
