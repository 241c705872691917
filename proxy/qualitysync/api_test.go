package qualitysync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/qualitysync"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource/configmap"
)

// apiEnv and apiConfig are the shared API server (envtest: etcd +
// kube-apiserver, RBAC on), started by TestMain when KUBEBUILDER_ASSETS is
// set, and its administrator's config.
var (
	apiEnv    *envtest.Environment
	apiConfig *rest.Config
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		os.Exit(m.Run())
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the API server:", err)
		os.Exit(1)
	}
	apiEnv, apiConfig = env, cfg
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func needAPI(t *testing.T) *rest.Config {
	t.Helper()
	if apiConfig == nil {
		t.Skip("KUBEBUILDER_ASSETS is not set: run through `make test`, which builds etcd and kube-apiserver")
	}
	return apiConfig
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func labelled(r *routequality.Route, n int, good bool) {
	for range n {
		r.Add(routequality.Sample{Sample: calibrate.Sample{Score: 0.7, Labelled: true, Good: good, LabelProb: 1}, Outcome: "accepted"})
	}
}

// published reads a pod's ConfigMap and decodes its samples.
func published(t *testing.T, cs kubernetes.Interface, ns, name string) (*corev1.ConfigMap, routequality.State) {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var st routequality.State
	if err := json.Unmarshal([]byte(cm.Data[routequality.SamplesKey]), &st); err != nil {
		t.Fatalf("%s: %v", routequality.SamplesKey, err)
	}
	return cm, st
}

// Two pods publish to ConfigMaps of their own, labelled for the operator,
// each with its own samples (marked with the pod's name) and spend; a later
// publish adds the new samples to those already published.
func TestPublishersWriteTheirOwnConfigMaps(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	createNamespace(t, cs, "team-a")
	pods := map[string]int{"proxy-6f7d-aaaaa": 3, "proxy-6f7d-bbbbb": 5}
	pubs := map[string]*qualitysync.Publisher{}
	for pod, n := range pods {
		g := registry("opus", "sonnet")
		labelled(g.Routes()["opus"], n, true)
		g.Routes()["opus"].Spend(float64(n), false)
		g.Routes()["opus"].Spend(0.5, true)
		p := &qualitysync.Publisher{Registry: g, Route: "my-route", Namespace: "team-a", Pod: pod}
		if err := p.Connect(cfg); err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(ctx); err != nil {
			t.Fatal(err)
		}
		pubs[pod] = p
	}
	list, err := cs.CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{
		LabelSelector: routequality.LabelRole + "=" + routequality.RoleSamples + "," + routequality.LabelRoute + "=my-route"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("%d labelled configmaps, want 2", len(list.Items))
	}
	for pod, n := range pods {
		_, st := published(t, cs, "team-a", "my-route-quality-"+pod)
		if st.Version != routequality.StateVersion {
			t.Errorf("%s: version %d", pod, st.Version)
		}
		opus := st.Routes["opus"]
		if len(opus.Samples) != n || opus.Spend != float64(n) || opus.AuditSpend != 0.5 {
			t.Errorf("%s: %d samples, spend %v/%v; want %d, %d/0.5", pod, len(opus.Samples), opus.Spend, opus.AuditSpend, n, n)
		}
		for i, s := range opus.Samples {
			if s.Pod != pod || (i > 0 && s.Seq <= opus.Samples[i-1].Seq) || s.Rule != "opus" || !s.Labelled {
				t.Errorf("%s: sample %d is %+v", pod, i, s)
			}
		}
		if _, ok := st.Routes["sonnet"]; !ok {
			t.Errorf("%s: sonnet is not published", pod)
		}
	}

	// More traffic on one pod: its next publish holds old and new samples,
	// and the spend totals.
	p := pubs["proxy-6f7d-aaaaa"]
	labelled(p.Registry.Routes()["opus"], 2, false)
	p.Registry.Routes()["opus"].Spend(1, false)
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	_, st := published(t, cs, "team-a", "my-route-quality-proxy-6f7d-aaaaa")
	opus := st.Routes["opus"]
	if len(opus.Samples) != 5 || opus.Samples[4].Seq <= opus.Samples[3].Seq || opus.Samples[4].Good || opus.Spend != 4 {
		t.Errorf("after the second publish: %d samples, last %+v, spend %v", len(opus.Samples), opus.Samples[len(opus.Samples)-1], opus.Spend)
	}
}

// gate forwards TCP connections to the API server until it is put down:
// then it cuts every connection and refuses new ones.
type gate struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); g.setDown(true) })
	go g.serve()
	return g
}

func (g *gate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		down := g.down
		g.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", g.target)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns[c], g.conns[up] = true, true
		g.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (g *gate) setDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
	if down {
		for c := range g.conns {
			c.Close()
		}
		clear(g.conns)
	}
}

// A publish while the API server is unreachable fails without losing the
// samples: the first publish after it is back carries them all.
func TestPublishCatchesUpAfterTheAPIWasDown(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Host == "" {
		t.Fatalf("API server address %q: %v", cfg.Host, err)
	}
	g := newGate(t, u.Host)
	through := rest.CopyConfig(cfg)
	through.Host = "https://" + g.ln.Addr().String()

	reg := registry("opus")
	opus := reg.Routes()["opus"]
	p := &qualitysync.Publisher{Registry: reg, Route: "outage", Namespace: "default", Pod: "proxy-1"}
	if err := p.Connect(through); err != nil {
		t.Fatal(err)
	}
	labelled(opus, 2, true)
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	g.setDown(true)
	for range 3 {
		labelled(opus, 2, false)
		opus.Spend(1, false)
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.Publish(tctx)
		cancel()
		if err == nil {
			t.Fatal("published while the API server was down")
		}
		if !strings.Contains(err.Error(), "configmap default/outage-quality-proxy-1") {
			t.Errorf("the error does not say what failed: %v", err)
		}
		if through.BearerToken != "" && strings.Contains(err.Error(), through.BearerToken) {
			t.Errorf("the error carries the credentials: %v", err)
		}
	}
	_, st := published(t, cs, "default", "outage-quality-proxy-1")
	if n := len(st.Routes["opus"].Samples); n != 2 {
		t.Fatalf("while down the configmap holds %d samples, want the 2 published before", n)
	}
	g.setDown(false)
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	_, st = published(t, cs, "default", "outage-quality-proxy-1")
	got := st.Routes["opus"]
	if len(got.Samples) != 8 || got.Samples[7].Seq <= got.Samples[6].Seq || got.Spend != 3 {
		t.Fatalf("after the outage: %d samples (want 8), spend %v (want 3)", len(got.Samples), got.Spend)
	}
	for i, s := range got.Samples {
		if i > 0 && s.Seq <= got.Samples[i-1].Seq {
			t.Errorf("sample %d has sequence %d", i, s.Seq)
		}
	}
}

const calRules = `version: v1
providers:
  - {name: anthropic, type: anthropic, baseURL: http://127.0.0.1:1, apiKey: {env: ANTHROPIC_API_KEY}}
rules:
  - {name: opus, models: [claude-opus-5-5], draft: {provider: anthropic, model: claude-haiku-5-5}, verifier: {provider: anthropic, model: claude-opus-5-5}, quality: {target: 0.9}}
`

// The operator's calibrations, written into the rules ConfigMap, reach the
// routes of a watching proxy within a second, also a rule added in the same
// change.
func TestCalibrationFromTheRulesConfigMapReachesTheRoutes(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	proxy, err := app.New(app.Options{Log: slog.New(slog.DiscardHandler), LookupEnv: func(string) (string, bool) { return "key", true }})
	if err != nil {
		t.Fatal(err)
	}
	loaded := make(chan struct{}, 16)
	w := &configmap.Watcher{Namespace: "default", Name: "cal-rules", Key: "rules.yaml", Log: slog.New(slog.DiscardHandler),
		Apply: func(b []byte) { _ = proxy.Load(b, "configmap"); loaded <- struct{}{} },
		Also:  map[string]func([]byte){routequality.CalibrationKey: func(b []byte) { _ = proxy.Calibrations.Apply(b) }}}
	if err := w.Connect(cfg); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cal-rules", Namespace: "default"}, Data: map[string]string{"rules.yaml": calRules}}
	if cm, err = cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-loaded:
	case <-time.After(15 * time.Second):
		t.Fatal("rules not loaded")
	}
	if c := proxy.Quality.Routes()["opus"].Calibration(); c.Threshold == 0.42 {
		t.Fatal("calibrated before any calibration was written")
	}

	cm.Data["rules.yaml"] = calRules + `  - {name: sonnet, models: [claude-sonnet-5-5], draft: {provider: anthropic, model: claude-haiku-5-5}, verifier: {provider: anthropic, model: claude-sonnet-5-5}}
`
	cm.Data[routequality.CalibrationKey] = `{"opus": {"threshold": 0.42, "reason": "calibrated", "target": 0.9, "labels": 300, "samples": 1200, "met": true},
	  "sonnet": {"threshold": 1.01, "reason": "escalate-all"}}`
	start := time.Now()
	if _, err := cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		routes := proxy.Quality.Routes()
		opus, sonnet := routes["opus"], routes["sonnet"]
		if opus != nil && sonnet != nil && opus.Calibration().Threshold == 0.42 && sonnet.Calibration().Threshold == calibrate.Never {
			if c := opus.Calibration(); c.Labels != 300 || c.Reason != "calibrated" {
				t.Errorf("opus runs with %+v", c)
			}
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("calibrations not in effect within a second")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The route keeps the operator's calibration through its own samples.
	labelled(proxy.Quality.Routes()["opus"], 2*routequality.RefitEvery, false)
	if c := proxy.Quality.Routes()["opus"].Calibration(); c.Threshold != 0.42 {
		t.Errorf("the route recalibrated itself: %+v", c)
	}
}

// A pod allowed only to get, create and patch ConfigMaps in its namespace
// can publish (the first publish creates, the next ones update) and read
// back; without create it cannot start its ConfigMap, and a refusal says so
// without credentials.
func TestPublishNeedsGetCreateAndPatch(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	createNamespace(t, cs, "team-rbac")
	user, err := apiEnv.AddUser(envtest.User{Name: "proxy-pod"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	grant := func(verbs ...string) {
		t.Helper()
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "publish", Namespace: "team-rbac"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: verbs}}}
		_ = cs.RbacV1().Roles("team-rbac").Delete(ctx, "publish", metav1.DeleteOptions{})
		if _, err := cs.RbacV1().Roles("team-rbac").Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "publish", Namespace: "team-rbac"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "publish"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "proxy-pod", APIGroup: "rbac.authorization.k8s.io"}}}
	if _, err := cs.RbacV1().RoleBindings("team-rbac").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reg := registry("opus")
	p := &qualitysync.Publisher{Registry: reg, Route: "rbac", Namespace: "team-rbac", Pod: "proxy-1"}
	if err := p.Connect(user.Config()); err != nil {
		t.Fatal(err)
	}
	labelled(reg.Routes()["opus"], 1, true)
	// RBAC changes take effect at once in the API server's authorizer, but
	// give it a moment's retry to be safe.
	publish := func(wantOK bool) error {
		t.Helper()
		var err error
		for range 50 {
			if err = p.Publish(ctx); (err == nil) == wantOK {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return err
	}
	grant("patch")
	err = publish(false)
	if err == nil || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "cannot create") {
		t.Fatalf("patch alone: %v", err)
	}
	if strings.Contains(err.Error(), "BEGIN") || strings.Contains(err.Error(), string(user.Config().KeyData)) {
		t.Errorf("the error carries credentials: %v", err)
	}
	grant("get", "create", "patch")
	if err := publish(true); err != nil {
		t.Fatalf("create and patch: %v", err)
	}
	if restored, err := p.Restore(ctx); !restored || err != nil {
		t.Fatalf("read back with get: %v, %v", restored, err)
	}
	labelled(reg.Routes()["opus"], 1, false)
	if err := p.Publish(ctx); err != nil {
		t.Fatalf("update: %v", err)
	}
	_, st := published(t, cs, "team-rbac", "rbac-quality-proxy-1")
	if n := len(st.Routes["opus"].Samples); n != 2 {
		t.Errorf("%d samples published, want 2", n)
	}
}

// A restarted container keeps its pod's name: it reads back what it
// published, continues the sequence numbers and the spend totals, and its
// next publish still carries the earlier samples.
func TestRestartedPodContinuesWhatItPublished(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	first := registry("opus")
	p := &qualitysync.Publisher{Registry: first, Route: "restart", Namespace: "default", Pod: "proxy-9"}
	if err := p.Connect(cfg); err != nil {
		t.Fatal(err)
	}
	if restored, err := p.Restore(ctx); restored || err != nil {
		t.Fatalf("nothing published yet: restored %v, %v", restored, err)
	}
	labelled(first.Routes()["opus"], 3, true)
	first.Routes()["opus"].Spend(2, false)
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}

	again := registry("opus", "sonnet")
	q := &qualitysync.Publisher{Registry: again, Route: "restart", Namespace: "default", Pod: "proxy-9"}
	if err := q.Connect(cfg); err != nil {
		t.Fatal(err)
	}
	if restored, err := q.Restore(ctx); !restored || err != nil {
		t.Fatalf("restored %v, %v", restored, err)
	}
	opus := again.Routes()["opus"]
	if n := len(opus.Samples()); n != 3 {
		t.Errorf("%d samples restored, want 3", n)
	}
	labelled(opus, 1, false)
	opus.Spend(1, false)
	if err := q.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	_, st := published(t, cs, "default", "restart-quality-proxy-9")
	got := st.Routes["opus"]
	if len(got.Samples) != 4 || got.Spend != 3 {
		t.Fatalf("%d samples (want 4), spend %v (want 3)", len(got.Samples), got.Spend)
	}
	for i, s := range got.Samples {
		if (i > 0 && s.Seq <= got.Samples[i-1].Seq) || s.Pod != "proxy-9" {
			t.Errorf("sample %d: pod %q sequence %d", i, s.Pod, s.Seq)
		}
	}
}
