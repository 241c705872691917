// Command operator-bench measures the operator at scale against a real API
// server: it starts etcd + kube-apiserver (envtest, from KUBEBUILDER_ASSETS),
// runs the manager binary as its own process, creates N CascadeRoutes, and
// waits until every one is reconciled. With no kubelet and no Deployment
// controller, "reconciled" is judged by what the operator wrote: status
// Accepted=True for the route's current generation with a rules hash — the
// operator writes that status only after all six owned objects were applied —
// and, at the end, a count of every owned kind. It then edits every route's
// rules once and waits for the new hashes, checking no Deployment was written.
//
//	make bench-operator            # or:
//	go build -o bin/manager ./cmd/manager && \
//	KUBEBUILDER_ASSETS=$(hack/build-envtest-assets.sh bin/k8s) go run ./bench/operator -routes 1000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

type result struct {
	Routes              int     `json:"routes"`
	Namespaces          int     `json:"namespaces"`
	Workers             int     `json:"managerWorkers"`
	CreateSeconds       float64 `json:"createSeconds"`
	ReconciledSeconds   float64 `json:"allReconciledSeconds"`
	EditWaveSeconds     float64 `json:"editWaveSeconds"`
	DeploymentsWritten  int     `json:"deploymentsWrittenByEdit"`
	ManagerPeakRSSMiB   float64 `json:"managerPeakRSSMiB"`
	ManagerRSSMiB       float64 `json:"managerRSSMiB"`
	ManagerCPUSeconds   float64 `json:"managerCPUSeconds"`
	Reconciles          float64 `json:"reconciles"`
	ReconcileErrors     float64 `json:"reconcileErrors"`
	OwnedObjectsCounted int     `json:"ownedObjectsCounted"`
}

func main() {
	routes := flag.Int("routes", 1000, "CascadeRoutes to create")
	namespaces := flag.Int("namespaces", 10, "namespaces to spread them over")
	workers := flag.Int("workers", 4, "manager --max-concurrent-reconciles")
	manager := flag.String("manager", "bin/manager", "manager binary")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	out := flag.String("out", "", "also write the result as JSON to this file")
	flag.Parse()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is unset: export KUBEBUILDER_ASSETS=\"$(hack/build-envtest-assets.sh bin/k8s)\"")
		os.Exit(2)
	}
	res, err := run(*routes, *namespaces, *workers, *manager, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "operator-bench:", err)
		os.Exit(1)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(b))
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
			_ = os.WriteFile(*out, append(b, '\n'), 0o644)
		}
	}
}

func run(n, nsCount, workers int, managerBin string, timeout time.Duration) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res := &result{Routes: n, Namespaces: nsCount, Workers: workers}

	env := &envtest.Environment{CRDDirectoryPaths: []string{"config/crd/bases"}, ErrorIfCRDPathMissing: true}
	// envtest's default Service range is a /24: too small for 1,000 proxy Services.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest (run from the repository root): %w", err)
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = -1, 0 // the bench client must not be the bottleneck

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}

	// The manager runs as its own process, so its memory is its own.
	admin, err := env.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "operator-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600); err != nil {
		return nil, err
	}
	metricsAddr := freeAddr()
	mgr := exec.CommandContext(ctx, managerBin,
		"--kubeconfig="+filepath.Join(dir, "kubeconfig"),
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+freeAddr(),
		"--max-concurrent-reconciles="+strconv.Itoa(workers), "--log-level=error")
	mgr.Stderr = os.Stderr
	if err := mgr.Start(); err != nil {
		return nil, fmt.Errorf("start %s (build it with: go build -o bin/manager ./cmd/manager): %w", managerBin, err)
	}
	defer func() { _ = mgr.Process.Kill(); _ = mgr.Wait() }()

	for i := 0; i < nsCount; i++ {
		ns := fmt.Sprintf("bench-%d", i)
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
		if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vendor-keys"},
			StringData: map[string]string{"anthropic": "sk-bench"}}); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	if err := parallel(ctx, n, 32, func(i int) error {
		return k8s.Create(ctx, route(fmt.Sprintf("bench-%d", i%nsCount), fmt.Sprintf("route-%d", i)))
	}); err != nil {
		return nil, fmt.Errorf("create routes: %w", err)
	}
	res.CreateSeconds = time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "created %d CascadeRoutes in %.1fs\n", n, res.CreateSeconds)

	hashes, err := waitAll(ctx, k8s, n, nil)
	if err != nil {
		return nil, err
	}
	res.ReconciledSeconds = time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "all %d reconciled %.1fs after the first create\n", n, res.ReconciledSeconds)

	counted, err := countOwned(ctx, k8s, n)
	if err != nil {
		return nil, err
	}
	res.OwnedObjectsCounted = counted

	// One rule edit per route: only the ConfigMaps may change.
	deployVersions, err := deploymentVersions(ctx, k8s)
	if err != nil {
		return nil, err
	}
	editStart := time.Now()
	if err := parallel(ctx, n, 32, func(i int) error {
		key := client.ObjectKey{Namespace: fmt.Sprintf("bench-%d", i%nsCount), Name: fmt.Sprintf("route-%d", i)}
		var cr v1alpha1.CascadeRoute
		if err := k8s.Get(ctx, key, &cr); err != nil {
			return err
		}
		cr.Spec.Rules[0].Threshold = ptr.To(0.8)
		return k8s.Update(ctx, &cr)
	}); err != nil {
		return nil, fmt.Errorf("edit routes: %w", err)
	}
	if _, err := waitAll(ctx, k8s, n, hashes); err != nil {
		return nil, err
	}
	res.EditWaveSeconds = time.Since(editStart).Seconds()
	after, err := deploymentVersions(ctx, k8s)
	if err != nil {
		return nil, err
	}
	for k, v := range after {
		if deployVersions[k] != v {
			res.DeploymentsWritten++
		}
	}
	fmt.Fprintf(os.Stderr, "edit wave converged in %.1fs; Deployments written: %d\n", res.EditWaveSeconds, res.DeploymentsWritten)

	res.ManagerPeakRSSMiB, res.ManagerRSSMiB = procMemory(mgr.Process.Pid)
	res.ManagerCPUSeconds = procCPU(mgr.Process.Pid)
	m, err := scrape("http://" + metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	res.Reconciles = m[`controller_runtime_reconcile_total{controller="cascaderoute",result="success"}`]
	res.ReconcileErrors = m[`controller_runtime_reconcile_total{controller="cascaderoute",result="error"}`]
	return res, nil
}

func route(ns, name string) *v1alpha1.CascadeRoute {
	return &v1alpha1.CascadeRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.CascadeRouteSpec{
			Providers: []v1alpha1.Provider{{
				Name: "anthropic", Type: v1alpha1.ProviderAnthropic, BaseURL: "https://api.anthropic.com",
				APIKeySecretRef: &v1alpha1.SecretKeyRef{Name: "vendor-keys", Key: "anthropic"},
			}},
			Rules: []v1alpha1.Rule{{
				Name: "opus", Models: []string{"claude-opus-5-5"},
				Draft:     v1alpha1.Target{Provider: "anthropic", Model: "claude-haiku-5-5"},
				Verifier:  v1alpha1.Target{Provider: "anthropic", Model: "claude-opus-5-5"},
				Threshold: ptr.To(0.7),
			}},
			DefaultRoute: &v1alpha1.Route{Provider: "anthropic"},
		},
	}
}

// waitAll polls until every route's status is Accepted for its current
// generation with a rules hash (different from before[key] when given).
func waitAll(ctx context.Context, k8s client.Client, n int, before map[string]string) (map[string]string, error) {
	last := -1
	for {
		var list v1alpha1.CascadeRouteList
		if err := k8s.List(ctx, &list); err != nil {
			return nil, err
		}
		hashes := make(map[string]string, len(list.Items))
		done := 0
		for _, cr := range list.Items {
			c := meta.FindStatusCondition(cr.Status.Conditions, v1alpha1.ConditionAccepted)
			key := cr.Namespace + "/" + cr.Name
			if c != nil && c.Status == metav1.ConditionTrue && cr.Status.ObservedGeneration == cr.Generation &&
				cr.Status.RulesHash != "" && (before == nil || before[key] != cr.Status.RulesHash) {
				done++
				hashes[key] = cr.Status.RulesHash
			}
		}
		if done != last {
			fmt.Fprintf(os.Stderr, "  %d/%d reconciled\n", done, n)
			last = done
		}
		if done == n {
			return hashes, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("only %d of %d reconciled: %w", done, n, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func countOwned(ctx context.Context, k8s client.Client, n int) (int, error) {
	sel := client.MatchingLabels{"app.kubernetes.io/managed-by": "cascadeflow-operator"}
	total := 0
	for _, l := range []client.ObjectList{&corev1.ConfigMapList{}, &appsv1.DeploymentList{}, &corev1.ServiceList{},
		&corev1.ServiceAccountList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{}} {
		if err := k8s.List(ctx, l, sel); err != nil {
			return 0, err
		}
		got := meta.LenList(l)
		if got != n {
			return 0, fmt.Errorf("%T: %d objects, want %d", l, got, n)
		}
		total += got
	}
	return total, nil
}

func deploymentVersions(ctx context.Context, k8s client.Client) (map[string]string, error) {
	var list appsv1.DeploymentList
	if err := k8s.List(ctx, &list); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list.Items))
	for _, d := range list.Items {
		out[d.Namespace+"/"+d.Name] = d.ResourceVersion
	}
	return out, nil
}

func parallel(ctx context.Context, n, width int, f func(int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, width)
	for w := 0; w < width; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// procMemory reads peak (VmHWM) and current (VmRSS) resident memory in MiB.
func procMemory(pid int) (peak, cur float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmHWM:":
			peak = kb / 1024
		case "VmRSS:":
			cur = kb / 1024
		}
	}
	return peak, cur
}

// procCPU reads user + system CPU seconds from /proc/<pid>/stat.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}
