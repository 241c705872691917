// Command manager runs the cascadeflow operator: it reconciles CascadeRoutes
// into a rules ConfigMap, a proxy Deployment and Service, and the RBAC the
// proxy needs to watch its ConfigMap. Run one or more replicas with
// --leader-elect; only the leader reconciles.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/internal/version"
)

// defaultProxyImage is used when neither --proxy-image nor CASCADEFLOW_PROXY_IMAGE is set.
const defaultProxyImage = "cascadeflow/proxy:latest"

type config struct {
	metricsAddr     string
	probeAddr       string
	leaderElect     bool
	leaderElectNS   string
	leaseDuration   time.Duration
	renewDeadline   time.Duration
	retryPeriod     time.Duration
	proxyImage      string
	proxyEnv        []corev1.EnvVar
	workers         int
	logLevel        string
	kubeQPS         float64
	kubeBurst       int
	gracefulTimeout time.Duration
	version         bool
	limitsRedis     limitsRedisFlags
	// skipNameValidation lets tests run two managers in one process.
	skipNameValidation bool
}

func parseFlags(args []string, usage io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint (plain HTTP); \"0\" disables it")
	fs.StringVar(&c.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&c.leaderElect, "leader-elect", false, "elect a leader through a Lease so that only one replica reconciles")
	fs.StringVar(&c.leaderElectNS, "leader-election-namespace", "", "namespace of the leader Lease (default: the pod's namespace)")
	fs.DurationVar(&c.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long followers wait before taking over an unrenewed lease")
	fs.DurationVar(&c.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader retries renewing before giving up leadership")
	fs.DurationVar(&c.retryPeriod, "leader-elect-retry-period", 2*time.Second, "how often candidates try to acquire or renew the lease")
	imageDefault := os.Getenv("CASCADEFLOW_PROXY_IMAGE")
	if imageDefault == "" {
		imageDefault = defaultProxyImage
	}
	fs.StringVar(&c.proxyImage, "proxy-image", imageDefault, "proxy image for CascadeRoutes that set no spec.proxy.image (env CASCADEFLOW_PROXY_IMAGE)")
	fs.Func("proxy-env", "NAME=VALUE set in every proxy container (repeatable; OTEL_* names only, e.g. OTEL_EXPORTER_OTLP_ENDPOINT to trace every route; a route's spec.proxy.env wins)", func(v string) error {
		name, value, ok := strings.Cut(v, "=")
		if !ok || !strings.HasPrefix(name, "OTEL_") || strings.ContainsAny(name, " \t") {
			return fmt.Errorf("want OTEL_NAME=value, got %q", v)
		}
		c.proxyEnv = append(c.proxyEnv, corev1.EnvVar{Name: name, Value: value})
		return nil
	})
	fs.IntVar(&c.workers, "max-concurrent-reconciles", 4, "CascadeRoutes reconciled in parallel")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info or error")
	fs.Float64Var(&c.kubeQPS, "kube-api-qps", -1, "client-side rate limit towards the API server; negative disables it and leaves fairness to the server's priority and fairness")
	fs.IntVar(&c.kubeBurst, "kube-api-burst", 0, "client-side burst towards the API server (with a positive --kube-api-qps)")
	fs.DurationVar(&c.gracefulTimeout, "graceful-shutdown-timeout", 30*time.Second, "time given to running reconciles on shutdown")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	c.limitsRedis.declare(fs)
	// --kubeconfig, read by ctrl.GetConfig (else $KUBECONFIG, in-cluster, ~/.kube/config).
	ctrlconfig.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.version {
		return c, nil
	}
	if c.proxyImage == "" {
		return nil, fmt.Errorf("--proxy-image must not be empty")
	}
	if c.workers < 1 {
		return nil, fmt.Errorf("--max-concurrent-reconciles must be at least 1")
	}
	if err := c.limitsRedis.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func logLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level must be debug, info or error, got %q", s)
}

func main() {
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if c.version {
		fmt.Println("manager", version.String())
		return
	}
	level, err := logLevel(c.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(logger)
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		logger.Error(err, "no kubeconfig")
		os.Exit(1)
	}
	if err := run(ctrl.SetupSignalHandler(), c, restConfig, logger); err != nil {
		logger.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, c *config, restConfig *rest.Config, logger logr.Logger) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))

	restConfig = rest.CopyConfig(restConfig)
	restConfig.QPS = float32(c.kubeQPS)
	restConfig.Burst = c.kubeBurst
	restConfig.UserAgent = "cascadeflow-operator"

	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controllers.CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: c.metricsAddr},
		HealthProbeBindAddress:  c.probeAddr,
		LeaderElection:          c.leaderElect,
		LeaderElectionID:        "cascadeflow-operator.routing.cascadeflow.io",
		LeaderElectionNamespace: c.leaderElectNS,
		LeaseDuration:           &c.leaseDuration,
		RenewDeadline:           &c.renewDeadline,
		RetryPeriod:             &c.retryPeriod,
		// The process exits right after the manager stops, so handing the
		// lease over at once is safe and makes failover fast.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &c.gracefulTimeout,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	r := &controllers.CascadeRouteReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Render:    render.Options{ProxyImage: c.proxyImage, ProxyEnv: c.proxyEnv, LimitsRedis: c.limitsRedis.spec()},
		Recorder:  mgr.GetEventRecorder("cascadeflow-operator"),
	}
	if err := r.SetupWithManager(ctx, mgr, controller.Options{
		MaxConcurrentReconciles: c.workers,
		SkipNameValidation:      &c.skipNameValidation,
	}); err != nil {
		return fmt.Errorf("set up CascadeRoute controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	// Ready once the informers have synced: before that, reconciles would act on an empty cache.
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return fmt.Errorf("informer caches not synced")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	logger.Info("starting manager", "proxyImage", c.proxyImage, "leaderElect", c.leaderElect, "workers", c.workers)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}
