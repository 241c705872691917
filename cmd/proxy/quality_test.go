package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

func TestQualityFlags(t *testing.T) {
	o, _, done := parseArgs(nil, io.Discard, io.Discard)
	if done || o.qualityState != "" || o.qualityPublish || o.qualityStateInterval != 30*time.Second || o.qualityPublishInterval != 30*time.Second {
		t.Fatalf("defaults: %+v", o)
	}
	o, _, done = parseArgs([]string{"--quality-state", "/var/lib/q.json", "--quality-state-interval", "5s",
		"--quality-publish", "--quality-route", "my-route", "--quality-publish-interval", "1m"}, io.Discard, io.Discard)
	if done || o.qualityState != "/var/lib/q.json" || o.qualityStateInterval != 5*time.Second || !o.qualityPublish ||
		o.qualityRoute != "my-route" || o.qualityPublishInterval != time.Minute {
		t.Fatalf("parsed: %+v", o)
	}
}

// --quality-publish needs the route's name and the pod's identity, valid as
// Kubernetes names, and says which is missing.
func TestQualityPublishNeedsRouteAndPod(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	pod := map[string]string{"POD_NAME": "proxy-abc-12345", "POD_NAMESPACE": "team-a"}
	for _, c := range []struct {
		route string
		env   map[string]string
		want  string
	}{
		{"", pod, "--quality-route is required"},
		{"My_Route", pod, `--quality-route "My_Route"`},
		{strings.Repeat("r", 64), pod, "--quality-route"},
		{"my-route", map[string]string{"POD_NAME": "proxy-abc-12345"}, "POD_NAME and POD_NAMESPACE"},
		{"my-route", map[string]string{"POD_NAME": "Proxy!", "POD_NAMESPACE": "team-a"}, `POD_NAME "Proxy!"`},
	} {
		_, err := newPublisher(options{qualityRoute: c.route, kubeconfig: kubeconfig}, env(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("route %q env %v: %v, want an error with %q", c.route, c.env, err, c.want)
		}
	}
	p, err := newPublisher(options{qualityRoute: "my-route", kubeconfig: kubeconfig}, env(pod))
	if err != nil {
		t.Fatal(err)
	}
	if p.Route != "my-route" || p.Pod != "proxy-abc-12345" || p.Namespace != "team-a" {
		t.Errorf("publisher %+v", p)
	}
	// run refuses to start without the pod's identity.
	t.Setenv("POD_NAME", "")
	err = run(context.Background(), options{rulesFile: "../../config/samples/rules-demo.yaml", qualityPublish: true,
		qualityRoute: "my-route", qualityStateInterval: time.Second, qualityPublishInterval: time.Second}, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "POD_NAME") {
		t.Errorf("run without POD_NAME: %v", err)
	}
}

// With --quality-state, the proxy saves its rules' quality state when it
// shuts down.
func TestQualityStateSavedAtShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quality.json")
	o := options{listen: freeAddr(t), rulesFile: "../../config/samples/rules-demo.yaml", demo: "on",
		maxBody: 1 << 20, shutdownTimeout: time.Second, pollInterval: time.Minute,
		qualityState: path, qualityStateInterval: time.Hour, qualityPublishInterval: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, slog.New(slog.DiscardHandler), nil) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + o.listen + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("not ready within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("state file before shutdown: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not stop")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st routequality.State
	if err := json.Unmarshal(b, &st); err != nil || st.Version != routequality.StateVersion || len(st.Routes) == 0 {
		t.Fatalf("state file %s: %v", b, err)
	}
}
