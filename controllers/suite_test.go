package controllers

// These suites run against a real API server (etcd + kube-apiserver started
// by envtest from KUBEBUILDER_ASSETS; `make test` builds both into bin/k8s and
// sets it). There is no kube-controller-manager: no Deployment controller
// (Deployments never get pods or status unless a test writes the status, the
// way the Deployment controller would) and no garbage collector (deleting a
// CascadeRoute leaves its owned objects, whose owner references are what a
// real cluster's garbage collector acts on).

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

var (
	// apiServer is the envtest API server's config; nil when the suite is skipped.
	apiServer *rest.Config
	// k8s reads and writes straight through the API server (no cache), so
	// tests see what is stored, not what the operator's cache holds.
	k8s       client.Client
	scheme    = runtime.NewScheme()
	testImage = "cascadeflow/proxy:envtest"
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
}

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		// Only this case skips: with the assets set, a failure to start is a failure.
		os.Exit(m.Run())
	}
	os.Exit(runWithAPIServer(m))
}

func runWithAPIServer(m *testing.M) int {
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start envtest API server from KUBEBUILDER_ASSETS=%s: %v\n", os.Getenv("KUBEBUILDER_ASSETS"), err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "envtest API server up in %v\n", time.Since(start).Round(time.Millisecond))

	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The shared manager leaves alone the namespace of tests that run managers of their own.
	mgr, _, err := newManager(ctx, cfg, func(o *cache.Options) {
		o.DefaultFieldSelector = fields.OneTermNotEqualSelector("metadata.namespace", ownManagerNamespace)
	}, QualityOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	apiServer = cfg

	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		code = 1
	}
	return code
}

// ownManagerNamespace is left to tests that start and stop managers of
// their own: the suite's shared manager does not reconcile in it.
const ownManagerNamespace = "cfr-own-manager"

// newManager sets up a manager with the CascadeRoute controller, its caches
// (the main one and the quality samples one) narrowed by scope.
func newManager(ctx context.Context, cfg *rest.Config, scope func(*cache.Options), q QualityOptions) (ctrl.Manager, *CascadeRouteReconciler, error) {
	opts := CacheOptions()
	scope(&opts)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  opts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, nil, err
	}
	samplesOpts := SamplesCacheOptions()
	scope(&samplesOpts)
	samplesOpts.Scheme, samplesOpts.Mapper, samplesOpts.HTTPClient = mgr.GetScheme(), mgr.GetRESTMapper(), mgr.GetHTTPClient()
	if q.SamplesCache, err = cache.New(cfg, samplesOpts); err != nil {
		return nil, nil, err
	}
	r := &CascadeRouteReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Render: render.Options{ProxyImage: testImage},
		Recorder: mgr.GetEventRecorder("cascadeflow-operator"), Quality: q}
	// Several managers run in one process: the controller name repeats.
	if err := r.SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: 4, SkipNameValidation: ptr.To(true)}); err != nil {
		return nil, nil, fmt.Errorf("setup: %w", err)
	}
	return mgr, r, nil
}

func logLevel() slog.Level {
	if os.Getenv("ENVTEST_VERBOSE") != "" {
		return slog.LevelDebug
	}
	return slog.LevelError // the suite's own failures say what went wrong
}

// needAPIServer skips a test only when KUBEBUILDER_ASSETS is unset.
func needAPIServer(t *testing.T) {
	t.Helper()
	if apiServer == nil {
		t.Skip("KUBEBUILDER_ASSETS is unset, so there is no API server to test against: " +
			"run `make test` (it builds etcd and kube-apiserver into bin/k8s and sets KUBEBUILDER_ASSETS), " +
			"or export KUBEBUILDER_ASSETS=\"$(hack/build-envtest-assets.sh bin/k8s)\"")
	}
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cfr-test-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// eventually retries check until it returns nil or the timeout passes, then fails with its last error.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
