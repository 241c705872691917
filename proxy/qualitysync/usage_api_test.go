package qualitysync_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/qualitysync"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

// counterSource is a process's per-rule counters, as the recorder keeps them.
type counterSource struct {
	mu sync.Mutex
	m  map[string]qualitysync.RuleCounters
}

func (c *counterSource) count(rule, outcome string, cost float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]qualitysync.RuleCounters{}
	}
	r := c.m[rule]
	r.Outcomes = map[string]int64{"accepted": r.Outcomes["accepted"], "escalated": r.Outcomes["escalated"]}
	r.Requests++
	r.Outcomes[outcome]++
	r.CostUSD += cost
	c.m[rule] = r
}

func (c *counterSource) read() map[string]qualitysync.RuleCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]qualitysync.RuleCounters, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

func publishedUsage(t *testing.T, cs kubernetes.Interface, ns, name string) qualitysync.Usage {
	t.Helper()
	cm, _ := published(t, cs, ns, name)
	var u qualitysync.Usage
	if err := json.Unmarshal([]byte(cm.Data[qualitysync.UsageKey]), &u); err != nil {
		t.Fatalf("%s: %v", qualitysync.UsageKey, err)
	}
	return u
}

// A pod publishes its counters and budget state beside its samples; its
// restarted container (same pod name, counters from zero) continues the
// published totals; and while what it published cannot be read back,
// nothing is written over it.
func TestUsagePublishedAndContinuedAcrossRestarts(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	budgets := func(context.Context) (*qualitysync.Budgets, error) {
		return &qualitysync.Budgets{Shared: true, States: []qualitysync.BudgetFigures{
			{Scope: "key", Name: "alice", Team: "ml", Period: "month", Enforcement: "hard", BudgetUSD: 10, SpentUSD: 2.5, PeriodEnd: end}}}, nil
	}
	first := &counterSource{}
	p := &qualitysync.Publisher{Registry: registry("opus"), Route: "usage", Namespace: "default", Pod: "proxy-u",
		Usage: &qualitysync.UsageSources{Counters: first.read, Budgets: budgets}}
	if err := p.Connect(cfg); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		first.count("opus", "accepted", 0.01)
	}
	first.count("opus", "escalated", 0.1)
	first.count("plain", "accepted", 0.02) // a rule without a quality loop
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	u := publishedUsage(t, cs, "default", "usage-quality-proxy-u")
	if u.Version != qualitysync.UsageVersion || u.Rules["opus"].Requests != 4 || u.Rules["opus"].Outcomes["accepted"] != 3 ||
		u.Rules["plain"].Requests != 1 || u.Budgets == nil || !u.Budgets.Shared || len(u.Budgets.States) != 1 ||
		u.Budgets.States[0].Name != "alice" || u.Budgets.States[0].SpentUSD != 2.5 {
		t.Fatalf("published usage = %+v", u)
	}

	// The container restarts: its counters start from zero and count two
	// requests before anything is read back; the API server is out of reach.
	apiURL, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(t, apiURL.Host)
	through := rest.CopyConfig(cfg)
	through.Host = "https://" + g.ln.Addr().String()
	second := &counterSource{}
	q := &qualitysync.Publisher{Registry: registry("opus"), Route: "usage", Namespace: "default", Pod: "proxy-u",
		Usage: &qualitysync.UsageSources{Counters: second.read, Budgets: budgets}}
	if err := q.Connect(through); err != nil {
		t.Fatal(err)
	}
	second.count("opus", "escalated", 0.1)
	second.count("opus", "accepted", 0.01)
	g.setDown(true)
	if _, err := q.Restore(ctx); err == nil {
		t.Fatal("restored through an API server that is down")
	}
	g.setDown(false)
	// The read back failed, and the API server is back: the first publish
	// reads back before it writes.
	if err := q.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	u = publishedUsage(t, cs, "default", "usage-quality-proxy-u")
	opus := u.Rules["opus"]
	if opus.Requests != 6 || opus.Outcomes["accepted"] != 4 || opus.Outcomes["escalated"] != 2 || u.Rules["plain"].Requests != 1 {
		t.Fatalf("after the restart: %+v, want opus 6 requests (4 published + 2), 4 accepted, 2 escalated; plain 1", u.Rules)
	}
	if d := opus.CostUSD - 0.24; d > 1e-9 || d < -1e-9 {
		t.Errorf("cost %v, want 0.24 (0.13 published + 0.11)", opus.CostUSD)
	}
	// Publishing again with nothing new changes nothing.
	before, _ := published(t, cs, "default", "usage-quality-proxy-u")
	if err := q.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := published(t, cs, "default", "usage-quality-proxy-u"); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("an idle publish rewrote the ConfigMap (%s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
}

// A container that cannot read back what its pod published writes nothing
// over it: the counts stay as published until the read succeeds.
func TestUsageNotOverwrittenBeforeReadBack(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	src := &counterSource{}
	p := &qualitysync.Publisher{Registry: registry("opus"), Route: "readback", Namespace: "default", Pod: "proxy-r",
		Usage: &qualitysync.UsageSources{Counters: src.read}}
	if err := p.Connect(cfg); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		src.count("opus", "accepted", 0)
	}
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}

	apiURL, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(t, apiURL.Host)
	through := rest.CopyConfig(cfg)
	through.Host = "https://" + g.ln.Addr().String()
	fresh := &counterSource{}
	q := &qualitysync.Publisher{Registry: registry("opus"), Route: "readback", Namespace: "default", Pod: "proxy-r",
		Usage: &qualitysync.UsageSources{Counters: fresh.read}}
	if err := q.Connect(through); err != nil {
		t.Fatal(err)
	}
	fresh.count("opus", "accepted", 0)
	g.setDown(true)
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = q.Publish(tctx)
	cancel()
	if err == nil {
		t.Fatal("published without reading back what the pod published before")
	}
	if u := publishedUsage(t, cs, "default", "readback-quality-proxy-r"); u.Rules["opus"].Requests != 5 {
		t.Errorf("the published count became %d, want the 5 published before", u.Rules["opus"].Requests)
	}
	g.setDown(false)
	if err := q.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if u := publishedUsage(t, cs, "default", "readback-quality-proxy-r"); u.Rules["opus"].Requests != 6 {
		t.Errorf("after the read back: %d requests, want 6", u.Rules["opus"].Requests)
	}
}

const usageRules = `version: v1
providers:
  - {name: anthropic, type: anthropic, baseURL: FAKE, apiKey: {env: ANTHROPIC_API_KEY}}
rules:
  - {name: plain, models: [claude-opus-5-5], mode: verifier-only, draft: {provider: anthropic, model: claude-haiku-5-5}, verifier: {provider: anthropic, model: claude-opus-5-5}}
clientKeys:
  - {name: alice, team: ml, secretKey: alice, budget: {usd: 10, period: month, enforcement: hard}}
teams:
  - {name: ml, budget: {usd: 50, period: month, enforcement: soft}}
defaultRoute: {provider: anthropic}
`

// An assembled proxy publishes what its recorder counted for a rule
// without a quality loop, and its limiter's budget state by key and team
// name.
func TestProxyPublishesItsRulesCountersAndBudgets(t *testing.T) {
	cfg := needAPI(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fake := fakeupstream.New(fakeupstream.Options{})
	t.Cleanup(fake.Close)
	fakeURL := fake.Start()
	pub := &qualitysync.Publisher{Route: "wired", Namespace: "default", Pod: "proxy-w"}
	if err := pub.Connect(cfg); err != nil {
		t.Fatal(err)
	}
	limiter := teams.NewLimiter(nil, nil, slog.New(slog.DiscardHandler))
	p, err := app.New(app.Options{Log: slog.New(slog.DiscardHandler), LookupEnv: func(string) (string, bool) { return "sk-ant-operator", true },
		QualityPublish: pub, Server: server.Config{Limiter: limiter}})
	if err != nil {
		t.Fatal(err)
	}
	rulesYAML := strings.ReplaceAll(usageRules, "FAKE", fakeURL)
	if err := p.Load([]byte(rulesYAML), "test"); err != nil {
		t.Fatal(err)
	}
	base, wait, err := p.Serve(ctx, "127.0.0.1:0", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = wait() })
	for range 3 {
		body := `{"model":"claude-opus-5-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/messages", strings.NewReader(body))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// alice spends $2.5 through the limiter, as a finished request commits.
	set, err := rules.Decode([]byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	lease, err := limiter.Admit(ctx, teams.Identities(set)["alice"], "claude-opus-5-5", "plain", teams.Estimate{USD: 3})
	if err != nil {
		t.Fatal(err)
	}
	lease.Commit(ctx, teams.Usage{USD: 2.5})

	p.FlushQuality(ctx)
	u := publishedUsage(t, cs, "default", "wired-quality-proxy-w")
	plain := u.Rules["plain"]
	if plain.Requests != 3 || plain.Outcomes["verifier_only"] != 3 || plain.CostUSD <= 0 {
		t.Errorf("published rule counters %+v, want 3 verifier_only requests with their cost", u.Rules)
	}
	if u.Budgets == nil || u.Budgets.Shared || len(u.Budgets.States) != 2 {
		t.Fatalf("published budgets %+v, want alice and ml counted in this pod's memory", u.Budgets)
	}
	alice, ml := u.Budgets.States[0], u.Budgets.States[1]
	_, end := teams.Month.Window(time.Now())
	if alice.Scope != "key" || alice.Name != "alice" || alice.SpentUSD != 2.5 || alice.BudgetUSD != 10 || !alice.PeriodEnd.Equal(end) ||
		ml.Scope != "team" || ml.Name != "ml" || ml.SpentUSD != 2.5 || ml.Enforcement != "soft" {
		t.Errorf("published budgets %+v", u.Budgets.States)
	}
}
