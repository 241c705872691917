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

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// limitsProxy is a standalone proxy with one client key under a hard budget.
type limitsProxy struct {
	t    *testing.T
	o    options
	logs *syncBuffer
	stop func() error // stops the proxy and returns what run returned
}

func limitsOptionsFor(t *testing.T, state string) options {
	t.Helper()
	fake := fakeupstream.New(fakeupstream.Options{RequireKey: "sk-vendor"})
	url := fake.Start()
	t.Cleanup(fake.Close)
	t.Setenv("VENDOR_KEY", "sk-vendor")
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, "alice"), []byte("key-alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(`version: v1
providers:
- {name: anth, type: anthropic, baseURL: "`+url+`", apiKey: {env: VENDOR_KEY}}
defaultRoute: {provider: anth}
prices:
  claude-haiku-5-5: {input: 100, output: 100}
clientKeys:
- {name: alice, team: payments, secretKey: alice, budget: {usd: 0.05, period: day}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return options{listen: freeAddr(t), rulesFile: rules, demo: "off", clientKeysDir: keys,
		maxBody: 1 << 20, shutdownTimeout: 5 * time.Second, pollInterval: time.Minute,
		limits: limitsOptions{state: state, stateInterval: time.Hour, failPolicy: "open"}}
}

func startLimitsProxy(t *testing.T, o options) *limitsProxy {
	t.Helper()
	o.listen = freeAddr(t)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, slog.New(slog.NewJSONHandler(logs, nil)), nil) }()
	p := &limitsProxy{t: t, o: o, logs: logs}
	stopped := false
	var runErr error
	p.stop = func() error {
		if stopped {
			return runErr
		}
		stopped = true
		cancel()
		select {
		case runErr = <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("the proxy did not stop")
		}
		return runErr
	}
	t.Cleanup(func() { _ = p.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + o.listen + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the proxy exited: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 10s:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *limitsProxy) call() int {
	p.t.Helper()
	body := `{"model":"claude-haiku-5-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.o.listen+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", "key-alice")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (p *limitsProxy) spent() float64 {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.o.listen+"/api/stats", nil)
	req.Header.Set("x-api-key", "key-alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		Budgets []struct {
			SpentUSD float64 `json:"spentUSD"`
		} `json:"budgets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil || len(stats.Budgets) != 1 {
		p.t.Fatalf("stats: %v %+v", err, stats)
	}
	return stats.Budgets[0].SpentUSD
}

// A standalone proxy restarted with --limits-state keeps the spend it
// counted: a hard budget spent before the restart refuses after it.
func TestLimitsStateKeepsSpendAcrossRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "limits.json")
	o := limitsOptionsFor(t, state)
	p := startLimitsProxy(t, o)
	answered := 0
	for answered < 1000 && p.call() == http.StatusOK {
		answered++
	}
	if answered == 0 || answered == 1000 {
		t.Fatalf("%d requests answered before the first refusal", answered)
	}
	before := p.spent()
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state file after shutdown: %v", err)
	}

	p = startLimitsProxy(t, o)
	if !strings.Contains(p.logs.String(), "client key limits restored") {
		t.Errorf("no restore logged:\n%s", p.logs)
	}
	if after := p.spent(); after != before || after <= 0 {
		t.Errorf("spent $%v after the restart, $%v before", after, before)
	}
	if code := p.call(); code != http.StatusPaymentRequired {
		t.Errorf("after the restart the spent budget answers %d, want 402", code)
	}
	t.Logf("%d requests answered, $%.4f spent, kept across the restart", answered, before)

	// Without the file the budget starts over: the file is what kept it.
	o.limits.state = ""
	p = startLimitsProxy(t, o)
	if p.spent() != 0 || p.call() != http.StatusOK {
		t.Error("a proxy without --limits-state should start from zero")
	}
}

// A corrupt state file is logged, moved aside and the proxy serves.
func TestLimitsStateCorruptFileIsLoggedNotFatal(t *testing.T) {
	state := filepath.Join(t.TempDir(), "limits.json")
	if err := os.WriteFile(state, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startLimitsProxy(t, limitsOptionsFor(t, state))
	if code := p.call(); code != http.StatusOK {
		t.Errorf("a request after a corrupt state file: %d", code)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "client key limits not restored") || !strings.Contains(logs, "moved aside") {
		t.Errorf("the corrupt file is not reported:\n%s", logs)
	}
	if aside, _ := filepath.Glob(state + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("moved-aside files %v", aside)
	}
	if b, err := os.ReadFile(state); err != nil || !strings.Contains(string(b), `"version":1`) {
		t.Errorf("a fresh state file should be saved at shutdown: %s %v", b, err)
	}
}

func TestLimitsStateFlags(t *testing.T) {
	o, code, done := parseArgs([]string{"--limits-state", "/x/limits.json", "--limits-state-interval", "3s"}, io.Discard, io.Discard)
	if done || code != 0 || o.limits.state != "/x/limits.json" || o.limits.stateInterval != 3*time.Second {
		t.Fatalf("parsed %+v (done %v, code %d)", o.limits, done, code)
	}
	o.limits.redisAddr = "127.0.0.1:1"
	if _, _, err := o.limits.limiter(context.Background(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--limits-state") {
		t.Errorf("--limits-state with --limits-redis: %v", err)
	}
	o.limits.redisAddr, o.limits.stateInterval = "", 0
	if _, _, err := o.limits.limiter(context.Background(), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a zero --limits-state-interval was accepted")
	}
}
