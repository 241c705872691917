package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/clientauth"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams/redistest"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// teamsRules: alice (team payments) has a hard daily budget; bob a rate
// limit and one allowed model; carol no limits. The haiku model costs
// $10 per million tokens either way, so estimates are easy to steer with
// max_tokens.
func teamsRules(budgetUSD string) string {
	return passthroughRules("anth", "") + `
prices:
  claude-haiku-5-5: {input: 10, output: 10}
  gpt-5: {input: 10, output: 10}
clientKeys:
  - {name: alice, team: payments, secretKey: alice, budget: {usd: ` + budgetUSD + `, period: day}}
  - {name: bob, team: payments, secretKey: bob, requestsPerMinute: 2, models: [claude-haiku-5-5]}
  - {name: carol, secretKey: carol}
teams:
  - {name: payments, budget: {usd: 1000, period: month, enforcement: soft}}
`
}

func teamKeys(t *testing.T) *clientauth.Keys {
	t.Helper()
	dir := t.TempDir()
	for name, key := range map[string]string{"alice": "key-alice", "bob": "key-bob", "carol": "key-carol"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keys := &clientauth.Keys{}
	if err := keys.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	return keys
}

func haiku(maxTokens int64) anthropic.MessageNewParams {
	p := userParams("claude-haiku-5-5", "hi")
	p.MaxTokens = maxTokens
	return p
}

// A spent hard budget is refused in each client's dialect, with a message
// the SDKs surface and no retry; the spend is attributed per key and team.
func TestBudgetRefusalInBothDialects(t *testing.T) {
	limiter := teams.NewLimiter(teams.NewMemory(), nil, nil)
	h := newHarness(t, teamsRules("0.01"), harnessOptions{clientKeys: teamKeys(t), limiter: limiter})
	alice := h.anthropic(aoption.WithAPIKey("key-alice"))
	// $10/M: 256 tokens out estimate $0.0026, inside $0.01.
	if _, err := alice.Messages.New(context.Background(), haiku(256)); err != nil {
		t.Fatalf("first request: %v", err)
	}
	// 2000 output tokens would cost $0.02: more than the budget.
	_, err := alice.Messages.New(context.Background(), haiku(2000))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 402 || !strings.Contains(ae.RawJSON(), `"billing_error"`) ||
		!strings.Contains(ae.RawJSON(), `the key \"alice\" has spent its day budget of $0.01`) {
		t.Fatalf("want an Anthropic 402 billing_error naming the budget, got %v", err)
	}
	if got := ae.Response.Header.Get("X-Should-Retry"); got != "false" {
		t.Errorf("x-should-retry %q", got)
	}
	if ra, _ := strconv.Atoi(ae.Response.Header.Get("Retry-After")); ra < 1 || ra > 86400 {
		t.Errorf("Retry-After %q should be the time to the period's end", ae.Response.Header.Get("Retry-After"))
	}
	oc := h.openai(ooption.WithAPIKey("key-alice"))
	_, err = oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5", MaxCompletionTokens: openai.Int(5000),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Type != "insufficient_quota" || oe.Code != "insufficient_quota" || !strings.Contains(oe.Message, "budget") {
		t.Fatalf("want an OpenAI 429 insufficient_quota, got %v", err)
	}
	if n := len(h.fake.Requests()); n != 1 {
		t.Errorf("refused requests reached the upstream: %d calls", n)
	}
	// Attribution: metrics, stats, the access log.
	if got := h.metricValue(t, "cascadeflow_client_requests_total", map[string]string{"team": "payments", "key": "alice"}); got != 1 {
		t.Errorf("requests metric %v", got)
	}
	code, body := h.get("/api/stats", map[string]string{"x-api-key": "key-carol"})
	if code != 200 {
		t.Fatalf("stats %d", code)
	}
	var stats struct {
		Clients []teams.Totals      `json:"clients"`
		Budgets []teams.BudgetState `json:"budgets"`
	}
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats.Clients) != 1 || stats.Clients[0].Key != "alice" || stats.Clients[0].Requests != 1 || stats.Clients[0].Refused != 2 || stats.Clients[0].CostUSD <= 0 {
		t.Errorf("clients %+v", stats.Clients)
	}
	if len(stats.Budgets) != 2 || stats.Budgets[0].Name != "alice" || stats.Budgets[0].SpentUSD != stats.Clients[0].CostUSD || stats.Budgets[1].Scope != "team" {
		t.Errorf("budgets %+v", stats.Budgets)
	}
	if strings.Contains(body, "key-alice") {
		t.Error("a key reached /api/stats")
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"key_name":"alice","team":"payments"`) {
		t.Errorf("the access log should name the key and team: %s", logs)
	}
	if strings.Contains(logs, "key-alice") {
		t.Error("a client key reached the logs")
	}
}

// metricValue is the value of the series name{labels} on the proxy's registry (0 when absent).
func (h *harness) metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := h.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// A rate limit answers 429 with Retry-After in the client's dialect; a model
// the key may not use is 403.
func TestRateLimitAndModelRefusals(t *testing.T) {
	h := newHarness(t, teamsRules("10"), harnessOptions{clientKeys: teamKeys(t), limiter: teams.NewLimiter(nil, nil, nil)})
	bob := h.anthropic(aoption.WithAPIKey("key-bob"))
	var ae *anthropic.Error
	limited := false
	// Two a minute: the third in a minute is refused (five tries cover a minute boundary).
	for i := 0; i < 5 && !limited; i++ {
		_, err := bob.Messages.New(context.Background(), haiku(16))
		if err == nil {
			continue
		}
		if !errors.As(err, &ae) || ae.StatusCode != 429 || !strings.Contains(ae.RawJSON(), `"rate_limit_error"`) || !strings.Contains(ae.RawJSON(), "2 requests per minute") {
			t.Fatalf("want an Anthropic 429 rate_limit_error, got %v", err)
		}
		if ra, _ := strconv.Atoi(ae.Response.Header.Get("Retry-After")); ra < 1 || ra > 60 {
			t.Errorf("Retry-After %q", ae.Response.Header.Get("Retry-After"))
		}
		limited = true
	}
	if !limited {
		t.Fatal("five requests at two a minute were all admitted")
	}
	code, _, body := h.post("/v1/messages", `{"model":"claude-opus-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"x-api-key": "key-bob"})
	if code != 403 || !strings.Contains(body, "permission_error") || !strings.Contains(body, `may not use model \"claude-opus-5\"`) {
		t.Errorf("disallowed model: %d %s", code, body)
	}
	if got := h.metricValue(t, "cascadeflow_client_refusals_total", map[string]string{"key": "bob", "reason": "model"}); got != 1 {
		t.Errorf("model refusals metric %v", got)
	}
	// carol has no limits: never refused.
	carol := h.anthropic(aoption.WithAPIKey("key-carol"))
	for i := 0; i < 4; i++ {
		if _, err := carol.Messages.New(context.Background(), haiku(100000)); err != nil {
			t.Fatalf("carol: %v", err)
		}
	}
}

// Two proxies share one Redis: concurrent clients of one key on both never
// spend more than the hard budget (estimates bound the actual cost here),
// and Redis's spend is what the proxies attributed.
func TestTwoProxiesShareOneBudgetThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	var proxies []*harness
	keys := teamKeys(t)
	for i := 0; i < 2; i++ {
		store, err := teams.NewRedis(teams.RedisConfig{Addr: srv.Addr, Timeout: 5e9}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close() })
		l := teams.NewLimiter(store, nil, nil)
		proxies = append(proxies, newHarness(t, teamsRules("0.05"), harnessOptions{clientKeys: keys, limiter: l}))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for c := 0; c < 20; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := proxies[c%2].anthropic(aoption.WithAPIKey("key-alice"))
			for j := 0; j < 6; j++ {
				_, err := cl.Messages.New(context.Background(), haiku(300))
				var ae *anthropic.Error
				if errors.As(err, &ae) && ae.StatusCode == 402 {
					mu.Lock()
					refused++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var attributed float64
	for _, p := range proxies {
		attributed += p.metricValue(t, "cascadeflow_client_cost_usd_total", map[string]string{"key": "alice"})
	}
	code, body := proxies[0].get("/api/stats", map[string]string{"x-api-key": "key-carol"})
	var stats struct {
		Budgets []teams.BudgetState `json:"budgets"`
	}
	if err := json.Unmarshal([]byte(body), &stats); code != 200 || err != nil || len(stats.Budgets) == 0 {
		t.Fatalf("stats %d %s", code, body)
	}
	b := stats.Budgets[0]
	if b.SpentUSD > 0.05 {
		t.Errorf("spent $%v of a $0.05 hard budget", b.SpentUSD)
	}
	if refused == 0 {
		t.Error("120 requests of ~$0.003 should exhaust $0.05")
	}
	if diff := b.SpentUSD - attributed; diff > 1e-5 || diff < -1e-5 {
		t.Errorf("Redis says $%v spent, the proxies attributed $%v", b.SpentUSD, attributed)
	}
	if b.InFlightUSD != 0 {
		t.Errorf("$%v still reserved after every request ended", b.InFlightUSD)
	}
	t.Logf("spent $%.4f of $0.05; %d refused", b.SpentUSD, refused)
}

// The server span names the client key and team, never the key itself.
func TestTraceNamesKeyAndTeam(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := newHarness(t, teamsRules("10"), harnessOptions{clientKeys: teamKeys(t), limiter: teams.NewLimiter(nil, nil, nil), tracer: tp})
	if _, err := h.anthropic(aoption.WithAPIKey("key-alice")).Messages.New(context.Background(), haiku(16)); err != nil {
		t.Fatal(err)
	}
	var server sdktrace.ReadOnlySpan
	testWait(t, func() bool {
		for _, s := range sr.Ended() {
			if s.SpanKind() == trace.SpanKindServer {
				server = s
				return true
			}
		}
		return false
	})
	a := attrs(server)
	if a[tracing.CascadeKeyName].AsString() != "alice" || a[tracing.CascadeTeam].AsString() != "payments" {
		t.Errorf("server span attributes %v", a)
	}
	for _, s := range sr.Ended() {
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "key-alice") {
				t.Errorf("span %s carries the client key in %s", s.Name(), kv.Key)
			}
		}
	}
}

func testWait(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
