package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"--leader-elect", "--proxy-image=img:1", "--max-concurrent-reconciles=8"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.leaderElect || c.proxyImage != "img:1" || c.workers != 8 || c.probeAddr != ":8081" {
		t.Errorf("config = %+v", c)
	}
	c, err = parseFlags([]string{"--proxy-env=OTEL_EXPORTER_OTLP_ENDPOINT=http://otel:4318", "--proxy-env=OTEL_TRACES_SAMPLER_ARG=0.1"}, io.Discard)
	if err != nil || len(c.proxyEnv) != 2 || c.proxyEnv[0].Name != "OTEL_EXPORTER_OTLP_ENDPOINT" || c.proxyEnv[0].Value != "http://otel:4318" {
		t.Errorf("--proxy-env: %v %+v", err, c.proxyEnv)
	}
	for _, bad := range [][]string{{"--proxy-image="}, {"--max-concurrent-reconciles=0"}, {"--no-such-flag"},
		{"--proxy-env=CASCADEFLOW_KEY_X=sk"}, {"--proxy-env=OTEL_X"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	t.Setenv("CASCADEFLOW_PROXY_IMAGE", "from-env:2")
	if c, _ := parseFlags(nil, io.Discard); c.proxyImage != "from-env:2" {
		t.Errorf("image from env = %q", c.proxyImage)
	}
	if _, err := logLevel("loud"); err == nil {
		t.Error("unknown log level accepted")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Two managers with leader election against a real API server: the first
// leads and reconciles, serves probes and metrics; when it stops it releases
// the lease and the second takes over.
func TestManagerLeaderElectionAndProbes(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is unset: run `make test`, which builds etcd and kube-apiserver into bin/k8s and sets it")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	logger := logr.FromSlogHandler(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	start := func(name string) (probe, metrics string, stop func()) {
		probe, metrics = freeAddr(t), freeAddr(t)
		c, err := parseFlags([]string{
			"--leader-elect", "--leader-election-namespace=default",
			"--health-probe-bind-address=" + probe, "--metrics-bind-address=" + metrics,
			"--proxy-image=cascadeflow/proxy:" + name,
			"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms",
		}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c.skipNameValidation = true
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(mctx, c, cfg, logger) }()
		return probe, metrics, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager %s: %v", name, err)
			}
		}
	}
	holder := func() string {
		var l coordinationv1.Lease
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "cascadeflow-operator.routing.cascadeflow.io"}, &l); err != nil {
			return ""
		}
		if l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}

	probeA, metricsA, stopA := start("a")
	eventually(t, "manager a probes", func() error {
		for _, p := range []string{"/healthz", "/readyz"} {
			code, body, err := get("http://" + probeA + p)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("%s: %d %s %v", p, code, body, err)
			}
		}
		return nil
	})
	var leaderA string
	eventually(t, "manager a leads", func() error {
		if leaderA = holder(); leaderA == "" {
			return fmt.Errorf("no lease holder")
		}
		return nil
	})

	// The leader reconciles.
	cr := &v1alpha1.CascadeRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "first"},
		Spec: v1alpha1.CascadeRouteSpec{
			Providers:    []v1alpha1.Provider{{Name: "a", Type: v1alpha1.ProviderOpenAI, BaseURL: "http://vllm:8000/v1", PassthroughAuth: true}},
			DefaultRoute: &v1alpha1.Route{Provider: "a"},
		},
	}
	if err := k8s.Create(ctx, cr); err != nil {
		t.Fatal(err)
	}
	eventually(t, "manager a reconciles", func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "first-rules"}, &corev1.ConfigMap{})
	})
	code, body, err := get("http://" + metricsA + "/metrics")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `controller_runtime_reconcile_total{controller="cascaderoute"`) {
		t.Errorf("metrics: %d %v\n%.500s", code, err, body)
	}

	// A second replica waits; when the leader stops it hands over the lease.
	_, _, stopB := start("b")
	defer stopB()
	time.Sleep(time.Second)
	if h := holder(); h != leaderA {
		t.Fatalf("lease holder changed to %q while %q was running", h, leaderA)
	}
	stopA()
	eventually(t, "manager b takes over", func() error {
		if h := holder(); h == "" || h == leaderA {
			return fmt.Errorf("holder %q", h)
		}
		return nil
	})
	second := cr.DeepCopy()
	second.ObjectMeta = metav1.ObjectMeta{Namespace: "default", Name: "second"}
	if err := k8s.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "manager b reconciles", func() error {
		var d appsv1.Deployment
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: "second-proxy"}, &d); err != nil {
			return err
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "cascadeflow/proxy:b" {
			return fmt.Errorf("image %q, want manager b's", img)
		}
		return nil
	})
}

// manager --version is accepted on its own (no other flag is checked) and
// main prints the version for it.
func TestHardeningVersionFlag(t *testing.T) {
	t.Setenv("CASCADEFLOW_PROXY_IMAGE", "")
	c, err := parseFlags([]string{"--version", "--proxy-image="}, io.Discard)
	if err != nil || !c.version {
		t.Fatalf("parseFlags(--version) = %+v, %v", c, err)
	}
}

// The built manager prints the version stamped with -ldflags -X and exits 0,
// without a cluster.
func TestHardeningVersionStampedAtBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.CommandContext(ctx, "go", "build", "-ldflags",
		"-X github.com/cascadeflow/cascadeflow-operator/internal/version.Version=v7.7.7-test", "-o", bin, ".")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	cmd := exec.CommandContext(ctx, bin, "--version")
	cmd.Env = []string{"KUBECONFIG=/nonexistent"}
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "manager v7.7.7-test" {
		t.Fatalf("manager --version = %q, %v", out, err)
	}
}
