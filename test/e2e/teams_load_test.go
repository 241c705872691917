package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams/redistest"
	"github.com/cascadeflow/cascadeflow-operator/test/testrig"
)

// The load test's shape: 200 clients on 10 keys, 20 per key, each pacing
// its requests so the machine is not saturated (the limits, not the CPU,
// must be what refuses).
const (
	loadClients   = 200
	loadKeys      = 10
	loadThinkTime = 250 * time.Millisecond
	rpmLimit      = 600  // keys k0-k4: requests per minute (demand is about 4x that)
	keyBudgetUSD  = 0.50 // keys k5-k9: a hard day budget each...
	teamBudgetUSD = 1.50 // ...and their team's, smaller than the keys' sum
	loadOutage    = 5 * time.Second
	// requestEstimateUSD bounds what one request can cost: well under 200
	// tokens (the prompt and max_tokens 100) at $100 per million.
	requestEstimateUSD = 0.02
	loadAfterReset     = 8 * time.Second
)

type loadStats struct {
	Clients []struct {
		Key     string  `json:"key"`
		CostUSD float64 `json:"costUSD"`
	} `json:"clients"`
	Budgets []struct {
		Scope       string  `json:"scope"`
		Name        string  `json:"name"`
		BudgetUSD   float64 `json:"budgetUSD"`
		SpentUSD    float64 `json:"spentUSD"`
		InFlightUSD float64 `json:"inFlightUSD"`
	} `json:"budgets"`
}

// TestTeamsLoad runs two proxy processes on one redis-server under 200
// concurrent clients of 10 keys (make load-teams; 2 to 3 minutes: the
// rate limits are per UTC minute, so the run covers one whole minute):
//   - hard budgets (of keys and of their team) are never overspent, checked
//     while the load runs and at the end;
//   - a requests-per-minute limit admits, across both proxies, within 5 % of
//     the limit in a whole minute;
//   - Redis killed (SIGKILL) and restarted while the load goes on loses no
//     committed spend: Redis holds at least what the proxies attributed.
func TestTeamsLoad(t *testing.T) {
	if os.Getenv("CASCADEFLOW_LOAD_TEAMS") == "" {
		t.Skip("a load test of 2 to 3 minutes: run it with make load-teams")
	}
	srv := redistest.Start(t)
	const vendorKey = "sk-vendor-teams-load"
	fake := fakeupstream.New(fakeupstream.Options{RequireKey: vendorKey, Latency: 20 * time.Millisecond, RecordLimit: -1})
	fakeURL := fake.Start()
	t.Cleanup(fake.Close)

	dir := t.TempDir()
	keysDir := filepath.Join(dir, "keys")
	if err := os.Mkdir(keysDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var decl strings.Builder
	for i := range loadKeys {
		name := fmt.Sprintf("k%d", i)
		if err := os.WriteFile(filepath.Join(keysDir, name), []byte("key-"+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if i < loadKeys/2 {
			// A budget never reached: its spend counter is what the outage check reads.
			fmt.Fprintf(&decl, "- {name: %s, team: rated, secretKey: %s, requestsPerMinute: %d, budget: {usd: 1000, period: day}}\n", name, name, rpmLimit)
		} else {
			fmt.Fprintf(&decl, "- {name: %s, team: capped, secretKey: %s, budget: {usd: %g, period: day}}\n", name, name, keyBudgetUSD)
		}
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(`version: v1
providers:
- {name: anth, type: anthropic, baseURL: "`+fakeURL+`", apiKey: {env: VENDOR_KEY}}
defaultRoute: {provider: anth}
prices:
  claude-haiku-5-5: {input: 100, output: 100}
clientKeys:
`+decl.String()+`teams:
- {name: capped, budget: {usd: `+fmt.Sprint(teamBudgetUSD)+`, period: day}}
`), 0o600); err != nil {
		t.Fatal(err)
	}

	proxyBin := testrig.Build(t, dir, "cmd/proxy")
	var addrs []string
	var procs []*testrig.Process
	for range 2 {
		addr := testrig.FreeAddr(t)
		procs = append(procs, testrig.Start(t, []string{"VENDOR_KEY=" + vendorKey}, proxyBin, "--listen", addr, "--rules", rules,
			"--client-keys-dir", keysDir, "--limits-redis", srv.Addr, "--limits-fail-policy", "open", "--demo", "off", "--log-level", "warn"))
		testrig.WaitFor(t, "proxy "+addr, 20*time.Second, func() bool {
			r, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				r.Body.Close()
			}
			return err == nil && r.StatusCode == 200
		})
		addrs = append(addrs, addr)
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}, Timeout: 30 * time.Second}
	stats := func(addr string) loadStats {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/stats", nil)
		req.Header.Set("x-api-key", "key-k0")
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatalf("stats of %s: %v", addr, err)
		}
		defer resp.Body.Close()
		var s loadStats
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatalf("stats of %s: %v", addr, err)
		}
		return s
	}

	// Every answer, by key, status and the UTC minute it was sent in.
	type tally struct {
		key    int
		minute time.Time
		status int
	}
	var mu sync.Mutex
	counts := map[tally]int{}
	var phase atomic.Value
	phase.Store("limits")
	phaseStatus := map[string]map[int]int{"limits": {}, "outage": {}}
	body := `{"model":"claude-haiku-5-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var clients sync.WaitGroup
	for c := range loadClients {
		clients.Go(func() {
			key := c % loadKeys
			for n := 0; ctx.Err() == nil; n++ {
				sent := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addrs[(c+n)%2]+"/v1/messages", strings.NewReader(body))
				req.Header.Set("x-api-key", fmt.Sprintf("key-k%d", key))
				req.Header.Set("anthropic-version", "2023-06-01")
				req.Header.Set("content-type", "application/json")
				status := 0
				if resp, err := httpc.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				} else if ctx.Err() != nil {
					return
				}
				mu.Lock()
				counts[tally{key, sent.UTC().Truncate(time.Minute), status}]++
				phaseStatus[phase.Load().(string)][status]++
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(loadThinkTime):
				}
			}
		})
	}

	// Phase 1, Redis up: until one whole UTC minute has passed under load,
	// the budgets are sampled: spend plus what is in flight never passes a
	// hard budget.
	start := time.Now()
	fullMinute := start.UTC().Truncate(time.Minute).Add(time.Minute)
	maxUsed := map[string]float64{}
	budgets := map[string]float64{}
	for time.Now().Before(fullMinute.Add(time.Minute + 2*time.Second)) {
		for _, b := range stats(addrs[0]).Budgets {
			id := b.Scope + "/" + b.Name
			budgets[id] = b.BudgetUSD
			maxUsed[id] = max(maxUsed[id], b.SpentUSD+b.InFlightUSD)
			if b.SpentUSD+b.InFlightUSD > b.BudgetUSD+1e-6 {
				t.Errorf("%s: spent $%.6f + in flight $%.6f over its $%g budget", id, b.SpentUSD, b.InFlightUSD, b.BudgetUSD)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	limitsPhase := time.Since(start)

	// Phase 2: Redis dies and comes back while the clients go on (fail
	// open: each proxy counts locally meanwhile and replays on recovery).
	phase.Store("outage")
	time.Sleep(2 * time.Second)
	srv.Kill()
	time.Sleep(loadOutage)
	srv.Restart()
	time.Sleep(loadAfterReset)
	stop()
	clients.Wait()

	// Once both proxies have replayed what they counted locally, Redis
	// holds at least the spend the proxies attributed, key by key. It may
	// hold a little more: a commit Redis wrote but whose reply the kill cut
	// off is replayed, so it counts twice (spend errs high, never low).
	type compare struct{ redis, attributed float64 }
	read := func() map[string]compare {
		out := map[string]compare{}
		for _, addr := range addrs {
			s := stats(addr)
			for _, c := range s.Clients {
				v := out[c.Key]
				v.attributed += c.CostUSD
				out[c.Key] = v
			}
			if addr == addrs[0] {
				for _, b := range s.Budgets {
					if b.Scope == "key" {
						v := out[b.Name]
						v.redis = b.SpentUSD
						out[b.Name] = v
					}
				}
			}
		}
		return out
	}
	var last map[string]compare
	settled := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !settled; time.Sleep(time.Second) {
		prev := last
		last = read()
		settled = len(last) == loadKeys && fmt.Sprint(prev) == fmt.Sprint(last)
		for _, v := range last {
			settled = settled && v.redis >= v.attributed-1e-6
		}
	}
	final := stats(addrs[1])

	mu.Lock()
	defer mu.Unlock()
	t.Logf("phase 1 (Redis up, %s): statuses %v", limitsPhase.Round(time.Second), phaseStatus["limits"])
	t.Logf("phase 2 (Redis killed for %s, %s after): statuses %v", loadOutage, loadAfterReset, phaseStatus["outage"])
	if n := phaseStatus["limits"][0] + phaseStatus["outage"][0] + phaseStatus["limits"][500] + phaseStatus["outage"][500]; n > 0 {
		t.Errorf("%d requests failed (transport error or 500)", n)
	}

	// Rate limit: in the whole minute, each rated key was admitted within
	// 5 % of its limit (never above it) across both proxies.
	for key := range loadKeys / 2 {
		ok, refused := counts[tally{key, fullMinute, 200}], counts[tally{key, fullMinute, 429}]
		t.Logf("k%d, minute %s: %d admitted (limit %d), %d refused with 429", key, fullMinute.Format("15:04"), ok, rpmLimit, refused)
		if ok > rpmLimit*105/100 || ok < rpmLimit*95/100 {
			t.Errorf("k%d admitted %d requests in one minute, limit %d (±5 %%)", key, ok, rpmLimit)
		}
		if refused == 0 {
			t.Errorf("k%d: no 429 in the minute: the demand did not reach the limit", key)
		}
	}

	// Budgets: never overspent; the team's, smaller than its keys' sum, binds.
	for _, b := range final.Budgets {
		id := b.Scope + "/" + b.Name
		if b.BudgetUSD > 100 {
			continue
		}
		t.Logf("%s: spent $%.4f of $%g (max spend + in flight seen during the load $%.4f)", id, b.SpentUSD, b.BudgetUSD, maxUsed[id])
		if b.SpentUSD > b.BudgetUSD+1e-6 {
			t.Errorf("%s: spent $%.6f of a $%g hard budget", id, b.SpentUSD, b.BudgetUSD)
		}
		if b.Scope == "team" && b.SpentUSD < b.BudgetUSD*0.9 {
			t.Errorf("%s: only $%.4f of $%g spent: the limiter refused too early", id, b.SpentUSD, b.BudgetUSD)
		}
	}
	if len(budgets) != loadKeys+1 { // every key's, and the capped team's
		t.Errorf("sampled %d budgets, want %d", len(budgets), loadKeys+1)
	}

	// The outage: nothing committed was lost.
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var lost, extra float64
	for _, k := range keys {
		v := last[k]
		t.Logf("%s: Redis holds $%.6f, the proxies attributed $%.6f", k, v.redis, v.attributed)
		lost += max(v.attributed-v.redis, 0)
		extra += max(v.redis-v.attributed, 0)
		// What can count twice is what was being committed when Redis died:
		// at most a request per client, each below its estimate.
		if v.redis > v.attributed+loadClients/loadKeys*requestEstimateUSD {
			t.Errorf("%s: Redis holds $%.6f more than the proxies attributed", k, v.redis-v.attributed)
		}
	}
	t.Logf("after the outage: $%.6f of committed spend lost, $%.6f counted twice (commits Redis wrote as it died)", lost, extra)
	if !settled {
		t.Error("after the outage, Redis did not settle on at least the spend the proxies attributed within 15s")
	}
	for i, p := range procs {
		if !strings.Contains(p.Output(), "Redis unreachable; counting locally") {
			t.Errorf("proxy %d never saw Redis down: the outage did not happen", i)
		}
	}
}
