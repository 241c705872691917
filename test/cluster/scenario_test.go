// Package cluster holds the end-to-end scenario run against a real single-node
// cluster (hack/cluster, `make cluster-e2e`): the chart installed from local
// images, a CascadeRoute with keys in Secrets and client keys on, traffic
// through an Ingress with the official SDK, a rule edit, a key rotation under
// load, a scale-out, a helm upgrade and uninstall. Without
// CASCADEFLOW_CLUSTER_KUBECONFIG it skips.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	release      = "cascadeflow"
	operatorNS   = "cascadeflow-system"
	routeNS      = "team-a"
	routeName    = "claude-code"
	ingressHost  = "llm.cluster.test"
	clientKey    = "cf-client-key-alice-0001"
	oldVendorKey = "sk-vendor-old-0001"
	newVendorKey = "sk-vendor-new-0002"
	vendorURL    = "http://10.96.0.50:8080" // the fake vendor's fixed ClusterIP
	acceptModel  = "claude-opus-5-5"        // rule "accept": threshold 0, the draft always answers
	strictModel  = "claude-sonnet-5-5"      // rule "strict": threshold 1, escalated until edited
	plainModel   = "claude-haiku-5-5"       // no rule: the default route passes it through
)

// env is what the scenario needs from the cluster's scripts.
type env struct {
	kubeconfig, kubectl, helm, chart, ingressAddr, imageTag string
	cs                                                      *kubernetes.Clientset
}

func setup(t *testing.T) *env {
	kubeconfig := os.Getenv("CASCADEFLOW_CLUSTER_KUBECONFIG")
	if kubeconfig == "" {
		t.Skip("no cluster: run make cluster-e2e")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	e := &env{
		kubeconfig: kubeconfig, kubectl: os.Getenv("KUBECTL"), helm: os.Getenv("HELM"),
		chart: filepath.Join(root, "charts", "cascadeflow-operator"), ingressAddr: "127.0.0.1:18080",
		imageTag: os.Getenv("IMAGE_TAG"), cs: kubernetes.NewForConfigOrDie(cfg),
	}
	if e.kubectl == "" || e.helm == "" || e.imageTag == "" {
		t.Fatal("KUBECTL, HELM and IMAGE_TAG must be set")
	}
	return e
}

func (e *env) run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig, "HELM_CONFIG_HOME="+filepath.Join(os.TempDir(), "cf-helm-config"),
		"HELM_CACHE_HOME="+filepath.Join(os.TempDir(), "cf-helm-cache"), "HELM_DATA_HOME="+filepath.Join(os.TempDir(), "cf-helm-data"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (e *env) kc(t *testing.T, args ...string) string {
	t.Helper()
	return e.run(t, "", e.kubectl, args...)
}
func (e *env) apply(t *testing.T, yaml string) {
	t.Helper()
	e.run(t, yaml, e.kubectl, "apply", "-f", "-")
}

// step records one line of the results table.
type step struct {
	name           string
	took           time.Duration
	sent, failures int64
	note           string
}

type report struct {
	mu    sync.Mutex
	steps []step
}

func (r *report) add(s step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, s)
}

func (r *report) write(t *testing.T) {
	var b strings.Builder
	b.WriteString("| step | time | requests | failed | note |\n|---|---:|---:|---:|---|\n")
	var sent, failed int64
	for _, s := range r.steps {
		fmt.Fprintf(&b, "| %s | %.1f s | %d | %d | %s |\n", s.name, s.took.Seconds(), s.sent, s.failures, s.note)
		sent += s.sent
		failed += s.failures
	}
	fmt.Fprintf(&b, "| **total** | | %d | %d | |\n", sent, failed)
	t.Log("\n" + b.String())
	if path := os.Getenv("CLUSTER_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// client is the official Anthropic SDK pointed at the Ingress by host name;
// the name resolves to the Ingress controller's loopback address.
func (e *env) client(key string) anthropic.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasPrefix(addr, ingressHost+":") {
				addr = e.ingressAddr
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 16,
	}
	_, port, _ := net.SplitHostPort(e.ingressAddr)
	return anthropic.NewClient(
		option.WithBaseURL("http://"+ingressHost+":"+port),
		option.WithAPIKey(key),
		option.WithHTTPClient(&http.Client{Transport: transport}),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second),
	)
}

func params(model string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: 128,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the capital of France?"))},
	}
}

// ask sends one message and returns the answer's text and cascade outcome header.
func ask(ctx context.Context, c anthropic.Client, model string) (text, outcome string, err error) {
	var res *http.Response
	msg, err := c.Messages.New(ctx, params(model), option.WithResponseInto(&res))
	if err != nil {
		return "", "", err
	}
	for _, block := range msg.Content {
		text += block.Text
	}
	return text, res.Header.Get("x-cascade-outcome"), nil
}

// load sends requests from a few workers until stopped, counting failures.
type load struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	errs         []string
	stop         context.CancelFunc
	done         sync.WaitGroup
}

func startLoad(c anthropic.Client, workers int, pause time.Duration) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stop: cancel}
	for w := range workers {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			models := []string{acceptModel, strictModel, plainModel}
			for i := w; ctx.Err() == nil; i++ {
				reqCtx, cancelReq := context.WithTimeout(context.Background(), 30*time.Second)
				text, _, err := ask(reqCtx, c, models[i%len(models)])
				cancelReq()
				l.sent.Add(1)
				if err == nil && text == "" {
					err = errors.New("empty answer")
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, err.Error())
					}
					l.mu.Unlock()
				}
				time.Sleep(pause)
			}
		}()
	}
	return l
}

func (l *load) finish() (sent, failed int64, errs []string) {
	l.stop()
	l.done.Wait()
	return l.sent.Load(), l.failed.Load(), l.errs
}

// proxyPods are the route's proxy pods: name -> (uid, restarts), running ones only.
func (e *env) proxyPods(t *testing.T) map[string]string {
	t.Helper()
	pods, err := e.cs.CoreV1().Pods(routeNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=cascadeflow-proxy"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		restarts := int32(0)
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
		out[p.Name] = fmt.Sprintf("%s/%d", p.UID, restarts)
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// vendorKeyCounts are the fake vendor's requests per key suffix.
func vendorKeyCounts(t *testing.T) map[string]int {
	t.Helper()
	res, err := http.Get(vendorURL + "/_keys")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var counts map[string]int
	if err := json.NewDecoder(res.Body).Decode(&counts); err != nil {
		t.Fatal(err)
	}
	return counts
}

func routeYAML(strictThreshold string, replicas int) string {
	return fmt.Sprintf(`apiVersion: routing.cascadeflow.io/v1alpha1
kind: CascadeRoute
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  providers:
  - name: anthropic
    type: anthropic
    baseURL: %[3]s
    apiKeySecretRef: {name: anthropic-api-key, key: api-key}
  rules:
  - name: accept
    models: [%[4]s]
    draft: {provider: anthropic, model: claude-haiku-5-5}
    verifier: {provider: anthropic, model: %[4]s}
    threshold: 0
  - name: strict
    models: [%[5]s]
    draft: {provider: anthropic, model: claude-haiku-5-5}
    verifier: {provider: anthropic, model: %[5]s}
    threshold: %[6]s
  defaultRoute: {provider: anthropic}
  proxy:
    replicas: %[7]d
    clientKeysSecretRef: {name: client-keys}
    ingress: {className: cascadeflow-test, host: %[8]s}
`, routeName, routeNS, vendorURL, acceptModel, strictModel, strictThreshold, replicas, ingressHost)
}

func TestClusterScenario(t *testing.T) {
	e := setup(t)
	rep := &report{}
	defer rep.write(t)
	ctx := context.Background()
	alice := e.client(clientKey)

	// The chart, from the local images.
	began := time.Now()
	e.run(t, "", e.helm, "install", release, e.chart, "--namespace", operatorNS, "--create-namespace",
		"--set", "image.repository=docker.io/cascadeflow/operator", "--set", "image.tag="+e.imageTag,
		"--set", "proxyImage.repository=docker.io/cascadeflow/proxy", "--set", "proxyImage.tag="+e.imageTag,
		"--wait", "--timeout", "3m")
	e.kc(t, "-n", operatorNS, "rollout", "status", "deployment/"+release+"-cascadeflow-operator", "--timeout=2m")
	rep.add(step{name: "helm install (2 operator replicas Ready)", took: time.Since(began)})

	// The route: vendor key and client keys in Secrets, an Ingress.
	began = time.Now()
	e.kc(t, "create", "namespace", routeNS)
	e.kc(t, "-n", routeNS, "create", "secret", "generic", "anthropic-api-key", "--from-literal=api-key="+oldVendorKey)
	e.kc(t, "-n", routeNS, "create", "secret", "generic", "client-keys", "--from-literal=alice="+clientKey)
	e.apply(t, routeYAML("1", 2))
	e.kc(t, "-n", routeNS, "wait", "--for=condition=Ready", "cascaderoute/"+routeName, "--timeout=3m")
	e.kc(t, "-n", routeNS, "rollout", "status", "deployment/"+routeName+"-proxy", "--timeout=2m")
	rep.add(step{name: "CascadeRoute Ready (2 proxy pods)", took: time.Since(began)})

	// Through the Ingress with the official SDK.
	began = time.Now()
	var sent int64
	waitServed := func() {
		deadline := time.Now().Add(60 * time.Second)
		for {
			sent++
			_, _, err := ask(ctx, alice, plainModel)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Ingress does not serve the route: %v", err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	waitServed()
	checks := []struct{ model, outcome, text string }{
		{acceptModel, "accepted", "Hello from claude-haiku-5-5."},
		{strictModel, "escalated", "Hello from " + strictModel + "."},
		{plainModel, "", "Hello from " + plainModel + "."},
	}
	for _, c := range checks {
		sent++
		text, outcome, err := ask(ctx, alice, c.model)
		if err != nil {
			t.Fatalf("%s: %v", c.model, err)
		}
		if outcome != c.outcome || text != c.text {
			t.Errorf("%s: outcome %q text %q, want %q %q", c.model, outcome, text, c.outcome, c.text)
		}
	}
	sent++
	stream := alice.Messages.NewStreaming(ctx, params(acceptModel))
	var msg anthropic.Message
	events := 0
	for stream.Next() {
		events++
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil || events < 4 || len(msg.Content) == 0 || msg.Content[0].Text == "" {
		t.Errorf("stream: %d events, message %+v, err %v", events, msg, err)
	}
	stream.Close()
	sent++
	if _, _, err := ask(ctx, e.client("not-a-client-key"), plainModel); err == nil {
		t.Error("a request with an unknown client key was served")
	} else if apiErr := (*anthropic.Error)(nil); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown client key: %v, want a 401", err)
	}
	rep.add(step{name: "SDK through the Ingress: accepted, escalated, stream, pass-through, bad key", took: time.Since(began), sent: sent})

	// A rule edit is served within a second, without a pod restart.
	podsBefore := e.proxyPods(t)
	began = time.Now()
	e.apply(t, routeYAML("0", 2))
	applied := time.Now()
	applyTook := applied.Sub(began)
	sent = 0
	consecutive := 0
	for consecutive < len(podsBefore)*2 { // every pod, round robin, twice
		sent++
		_, outcome, err := ask(ctx, alice, strictModel)
		if err != nil {
			t.Fatal(err)
		}
		if outcome == "accepted" {
			consecutive++
		} else {
			consecutive = 0
		}
		if time.Since(applied) > 10*time.Second {
			t.Fatalf("the edited rule is not served 10 s after kubectl apply (outcome %q)", outcome)
		}
	}
	served := time.Since(applied)
	if served > time.Second {
		t.Errorf("the edited rule took %s to be served by every pod, want under a second", served)
	}
	if after := e.proxyPods(t); fmt.Sprint(after) != fmt.Sprint(podsBefore) {
		t.Errorf("pods changed on a rule edit: %v -> %v", podsBefore, after)
	}
	rep.add(step{name: "rule edit served by every pod, no restart", took: time.Since(began), sent: sent, note: fmt.Sprintf("served by every pod %.2f s after kubectl apply returned (the apply itself: %.1f s)", served.Seconds(), applyTook.Seconds())})

	// Vendor key rotation under steady load: the pods roll, nothing fails.
	began = time.Now()
	countsBefore := vendorKeyCounts(t)
	l := startLoad(alice, 4, 20*time.Millisecond)
	time.Sleep(2 * time.Second)
	e.run(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: anthropic-api-key, namespace: %s}\nstringData: {api-key: %s}\n", routeNS, newVendorKey),
		e.kubectl, "apply", "-f", "-")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		now := e.proxyPods(t)
		overlap := false
		for name := range now {
			if _, ok := podsBefore[name]; ok {
				overlap = true
			}
		}
		if !overlap && len(now) == len(podsBefore) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy pods did not roll after the key rotation: %v", keys(now))
		}
		time.Sleep(500 * time.Millisecond)
	}
	e.kc(t, "-n", routeNS, "rollout", "status", "deployment/"+routeName+"-proxy", "--timeout=2m")
	time.Sleep(2 * time.Second)
	newBefore := vendorKeyCounts(t)["…"+newVendorKey[len(newVendorKey)-4:]]
	time.Sleep(time.Second)
	sentRot, failedRot, errs := l.finish()
	countsAfter := vendorKeyCounts(t)
	oldSuffix, newSuffix := "…"+oldVendorKey[len(oldVendorKey)-4:], "…"+newVendorKey[len(newVendorKey)-4:]
	if countsAfter[newSuffix] <= newBefore || countsAfter[newSuffix] == 0 {
		t.Errorf("the new vendor key is not used after the rollout: %v", countsAfter)
	}
	if countsBefore[oldSuffix] == 0 {
		t.Errorf("the old vendor key was never used: %v", countsBefore)
	}
	if failedRot > 0 {
		t.Errorf("%d of %d requests failed during the key rotation: %v", failedRot, sentRot, errs)
	}
	rep.add(step{name: "vendor key rotation under load (pods rolled)", took: time.Since(began), sent: sentRot, failures: failedRot,
		note: fmt.Sprintf("vendor saw new key %d times after", countsAfter[newSuffix])})

	// Scale to 3 replicas under load.
	began = time.Now()
	l = startLoad(alice, 2, 20*time.Millisecond)
	e.apply(t, routeYAML("0", 3))
	deadline = time.Now().Add(2 * time.Minute)
	for len(e.proxyPods(t)) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("not 3 proxy pods: %v", keys(e.proxyPods(t)))
		}
		time.Sleep(500 * time.Millisecond)
	}
	e.kc(t, "-n", routeNS, "rollout", "status", "deployment/"+routeName+"-proxy", "--timeout=2m")
	e.kc(t, "-n", routeNS, "wait", "--for=jsonpath={.status.replicas}=3", "cascaderoute/"+routeName, "--timeout=1m")
	time.Sleep(2 * time.Second)
	sentScale, failedScale, errs := l.finish()
	if failedScale > 0 {
		t.Errorf("%d of %d requests failed during the scale-out: %v", failedScale, sentScale, errs)
	}
	rep.add(step{name: "scale to 3 replicas under load", took: time.Since(began), sent: sentScale, failures: failedScale})

	// helm upgrade under load: the operator rolls, the proxies keep serving.
	began = time.Now()
	l = startLoad(alice, 2, 20*time.Millisecond)
	e.run(t, "", e.helm, "upgrade", release, e.chart, "--namespace", operatorNS, "--reuse-values",
		"--set", "manager.logLevel=debug", "--wait", "--timeout", "3m")
	e.kc(t, "-n", operatorNS, "rollout", "status", "deployment/"+release+"-cascadeflow-operator", "--timeout=2m")
	e.kc(t, "-n", routeNS, "wait", "--for=condition=Ready", "cascaderoute/"+routeName, "--timeout=1m")
	time.Sleep(2 * time.Second)
	sentUp, failedUp, errs := l.finish()
	if failedUp > 0 {
		t.Errorf("%d of %d requests failed during helm upgrade: %v", failedUp, sentUp, errs)
	}
	rep.add(step{name: "helm upgrade under load", took: time.Since(began), sent: sentUp, failures: failedUp})

	// Delete the route, uninstall: only the CRD stays.
	began = time.Now()
	e.kc(t, "-n", routeNS, "delete", "cascaderoute", routeName, "--wait", "--timeout=1m")
	deadline = time.Now().Add(time.Minute)
	for {
		left := strings.TrimSpace(e.kc(t, "-n", routeNS, "get", "deployments,services,configmaps,ingresses,serviceaccounts,roles,rolebindings,poddisruptionbudgets",
			"-l", "app.kubernetes.io/managed-by=cascadeflow-operator", "-o", "name"))
		if left == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the route's objects outlive it:\n%s", left)
		}
		time.Sleep(time.Second)
	}
	e.run(t, "", e.helm, "uninstall", release, "--namespace", operatorNS, "--wait", "--timeout", "2m")
	// The operator's pods finish stopping after helm returns.
	deadline = time.Now().Add(time.Minute)
	for strings.TrimSpace(e.kc(t, "-n", operatorNS, "get", "pods", "-o", "name")) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("operator pods outlive helm uninstall: %s", e.kc(t, "-n", operatorNS, "get", "pods"))
		}
		time.Sleep(time.Second)
	}
	// What may stay, as the install guide says: the namespace's defaults, and the
	// leader-election Lease the manager made (not a chart object). Helm deletes
	// the manager's RBAC with its Deployment, so the stopping manager may no
	// longer be allowed to release the Lease: who holds it is not checked.
	left := e.kc(t, "get", "all,configmaps,secrets,serviceaccounts,roles,rolebindings,leases,ingresses", "-n", operatorNS, "-o", "name")
	var leftover []string
	for _, name := range strings.Fields(left) {
		switch name {
		case "configmap/kube-root-ca.crt", "serviceaccount/default":
		case "lease.coordination.k8s.io/cascadeflow-operator.routing.cascadeflow.io":
		default:
			leftover = append(leftover, name)
		}
	}
	cluster := e.kc(t, "get", "clusterroles,clusterrolebindings", "-l", "app.kubernetes.io/instance="+release, "-o", "name")
	if strings.TrimSpace(cluster) != "" {
		leftover = append(leftover, strings.Fields(cluster)...)
	}
	if len(leftover) > 0 {
		t.Errorf("helm uninstall left: %v", leftover)
	}
	e.kc(t, "get", "crd", "cascaderoutes.routing.cascadeflow.io")
	rep.add(step{name: "route deleted, helm uninstall: only the CRD left", took: time.Since(began)})
}
