package configmap_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource/configmap"
)

// received collects what the watcher delivers.
type received struct {
	mu  sync.Mutex
	got []string
	ch  chan string
}

func (r *received) apply(b []byte) {
	r.mu.Lock()
	r.got = append(r.got, string(b))
	r.mu.Unlock()
	r.ch <- string(b)
}

func (r *received) next(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(within):
		t.Fatalf("nothing delivered within %s", within)
		return ""
	}
}

// apiConfig is the shared API server's config (envtest: etcd +
// kube-apiserver), started by TestMain when KUBEBUILDER_ASSETS is set.
var apiConfig *rest.Config

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
	apiConfig = cfg
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

// The watcher runs against a real API server.
func TestWatcherFollowsConfigMap(t *testing.T) {
	cfg := needAPI(t)
	var err error
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	rec := &received{ch: make(chan string, 16)}
	w := &configmap.Watcher{Namespace: "default", Name: "rules", Key: "rules.yaml", Apply: rec.apply, Log: slog.Default()}
	if err := w.Connect(cfg); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()

	// Created after the watcher started: it keeps retrying until the ConfigMap exists.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rules", Namespace: "default"}, Data: map[string]string{"rules.yaml": "v1"}}
	if cm, err = cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t, 15*time.Second); got != "v1" {
		t.Fatalf("first delivery %q", got)
	}
	// Each edit arrives well within a second.
	for _, v := range []string{"v2", "v3"} {
		cm.Data["rules.yaml"] = v
		start := time.Now()
		if cm, err = cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := rec.next(t, 5*time.Second); got != v {
			t.Fatalf("delivered %q, want %q", got, v)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("edit took %s to arrive", el)
		}
	}
	// A ConfigMap of another name is not delivered; a deletion delivers nothing.
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"}, Data: map[string]string{"rules.yaml": "nope"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, "rules", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-rec.ch:
		t.Fatalf("unexpected delivery %q", s)
	case <-time.After(500 * time.Millisecond):
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// One watch delivers the rules key and the further keys asked for, rules
// first, each change within a second; a further key the ConfigMap lacks is
// delivered as nil, and the rules key missing does not hold the others back.
func TestWatcherDeliversFurtherKeys(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "both", Namespace: "default"},
		Data: map[string]string{"rules.yaml": "r1", "calibration.json": "c1"}}
	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	w := &configmap.Watcher{Namespace: "default", Name: "both", Key: "rules.yaml", Log: slog.Default(),
		Apply: func(b []byte) { got <- "rules=" + string(b) },
		Also: map[string]func([]byte){"calibration.json": func(b []byte) {
			if b == nil {
				got <- "calibration absent"
				return
			}
			got <- "calibration=" + string(b)
		}}}
	if err := w.Connect(cfg); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	expect := func(want ...string) {
		t.Helper()
		for _, s := range want {
			select {
			case g := <-got:
				if g != s {
					t.Fatalf("delivered %q, want %q", g, s)
				}
			case <-time.After(time.Second):
				t.Fatalf("%q not delivered within a second", s)
			}
		}
	}
	expect("rules=r1", "calibration=c1")
	cm.Data["calibration.json"] = "c2"
	if cm, err = cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("rules=r1", "calibration=c2")
	delete(cm.Data, "calibration.json")
	if cm, err = cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("rules=r1", "calibration absent")
	cm.Data = map[string]string{"calibration.json": "c3"}
	if _, err = cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("calibration=c3")
	cancel()
	<-done
}

func TestParseRef(t *testing.T) {
	for _, bad := range []string{"", "x", "/x", "x/"} {
		if _, _, err := configmap.ParseRef(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ns, name, err := configmap.ParseRef("team-a/rules")
	if err != nil || ns != "team-a" || name != "rules" {
		t.Fatalf("%s %s %v", ns, name, err)
	}
}
