package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams/redistest"
	"github.com/cascadeflow/cascadeflow-operator/test/testrig"
)

// Two proxy processes share one Redis: many concurrent clients of one key,
// spread over both, never spend more than the key's hard budget; the
// refusal is Anthropic's billing_error; both proxies report the same
// shared spend.
func TestTwoProxyProcessesShareOneBudget(t *testing.T) {
	srv := redistest.Start(t)
	const vendorKey = "sk-vendor-teams-e2e"
	fake := fakeupstream.New(fakeupstream.Options{RequireKey: vendorKey})
	fakeURL := fake.Start()
	t.Cleanup(fake.Close)

	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(keys, "alice"), []byte("key-alice\n"), 0o600)
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte(`version: v1
providers:
- {name: anth, type: anthropic, baseURL: "`+fakeURL+`", apiKey: {env: VENDOR_KEY}}
defaultRoute: {provider: anth}
prices:
  claude-haiku-5-5: {input: 10, output: 10}
clientKeys:
- {name: alice, team: payments, secretKey: alice, budget: {usd: 0.05, period: day}}
`), 0o600)

	proxyBin := testrig.Build(t, dir, "cmd/proxy")
	var addrs []string
	for i := 0; i < 2; i++ {
		addr := testrig.FreeAddr(t)
		p := testrig.Start(t, []string{"VENDOR_KEY=" + vendorKey}, proxyBin, "--listen", addr, "--rules", rulesFile,
			"--client-keys-dir", keys, "--limits-redis", srv.Addr, "--demo", "off")
		testrig.WaitFor(t, "proxy "+addr, 20*time.Second, func() bool {
			r, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				r.Body.Close()
			}
			return err == nil && r.StatusCode == 200
		})
		t.Cleanup(func() {
			if strings.Contains(p.Output(), "key-alice") {
				t.Errorf("a client key reached proxy %s's logs", addr)
			}
		})
		addrs = append(addrs, addr)
	}

	call := func(addr string) (int, string) {
		body := `{"model":"claude-haiku-5-5","max_tokens":300,"messages":[{"role":"user","content":"hi"}]}`
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/messages", strings.NewReader(body))
		req.Header.Set("x-api-key", "key-alice")
		req.Header.Set("anthropic-version", "2023-06-01")
		req.Header.Set("content-type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var mu sync.Mutex
	counts := map[int]int{}
	var refusal string
	var wg sync.WaitGroup
	for c := 0; c < 40; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				code, body := call(addrs[(c+j)%2])
				mu.Lock()
				counts[code]++
				if code == 402 {
					refusal = body
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counts[200] == 0 || counts[402] == 0 || counts[200]+counts[402] != 200 {
		t.Fatalf("statuses %v: want answers until the budget is spent, then 402s only", counts)
	}
	if !strings.Contains(refusal, `"billing_error"`) || !strings.Contains(refusal, `has spent its day budget`) {
		t.Errorf("refusal %s", refusal)
	}
	var spent []float64
	for _, addr := range addrs {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/stats", nil)
		req.Header.Set("x-api-key", "key-alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var stats struct {
			Budgets []struct {
				Name        string  `json:"name"`
				SpentUSD    float64 `json:"spentUSD"`
				InFlightUSD float64 `json:"inFlightUSD"`
			} `json:"budgets"`
		}
		err = json.NewDecoder(resp.Body).Decode(&stats)
		resp.Body.Close()
		if err != nil || len(stats.Budgets) != 1 {
			t.Fatalf("stats of %s: %v %+v", addr, err, stats)
		}
		b := stats.Budgets[0]
		if b.SpentUSD > 0.05 || b.SpentUSD <= 0 || b.InFlightUSD != 0 {
			t.Errorf("proxy %s: spent $%v (in flight $%v) of a $0.05 hard budget", addr, b.SpentUSD, b.InFlightUSD)
		}
		spent = append(spent, b.SpentUSD)
	}
	if spent[0] != spent[1] {
		t.Errorf("the proxies disagree on the shared spend: %v", spent)
	}
	t.Logf("statuses %v, spent $%.4f", counts, spent[0])
}
