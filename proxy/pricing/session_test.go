package pricing

import (
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func TestCostOfCacheTTLs(t *testing.T) {
	opus := Price{Input: 4, Output: 20, CacheWrite: 5, CacheRead: 0.20}
	// 1M written, 400k of them for one hour: 600k × $5 + 400k × 2 × $4 = 3 + 3.2.
	u := llm.Usage{CacheCreationInputTokens: 1e6, CacheCreation1hInputTokens: 4e5}
	if got := CostOf(opus, u); !near(got, 6.2) {
		t.Errorf("mixed TTL writes = %v, want 6.2", got)
	}
	// Reads at a tenth of input (Opus 5.5: $0.20), writes at 1.25×.
	u = llm.Usage{InputTokens: 1000, CacheCreationInputTokens: 2000, CacheReadInputTokens: 30000, OutputTokens: 100}
	want := (1000*4 + 2000*5 + 30000*0.20 + 100*20) / 1e6
	if got := CostOf(opus, u); !near(got, want) {
		t.Errorf("cost = %v, want %v", got, want)
	}
	// A 1h count larger than the writes (a broken usage) is clamped.
	if got := CostOf(opus, llm.Usage{CacheCreationInputTokens: 10, CacheCreation1hInputTokens: 99}); !near(got, 10*8/1e6) {
		t.Errorf("clamped = %v", got)
	}
}

func TestSessionUsage(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	// First request seen: ref is kept as it is, and the cache holds its prefix.
	ref := llm.Usage{InputTokens: 100, CacheCreationInputTokens: 20000, OutputTokens: 50}
	u, w := SessionUsage(ref, WarmCache{}, false, t0)
	if u != ref || w.Tokens != 20000 || !w.Used.Equal(t0) || w.TTL != CacheTTL {
		t.Fatalf("first: %+v %+v", u, w)
	}
	// An escalation two minutes later whose verifier found its cache cold
	// (the draft answered in between): the requested model would have read
	// the 20k it cached and written only the 5k the conversation grew.
	cold := llm.Usage{InputTokens: 200, CacheCreationInputTokens: 25000, OutputTokens: 80}
	u, w = SessionUsage(cold, w, true, t0.Add(2*time.Minute))
	if want := (llm.Usage{InputTokens: 200, CacheReadInputTokens: 20000, CacheCreationInputTokens: 5000, OutputTokens: 80}); u != want {
		t.Fatalf("escalation: %+v, want %+v", u, want)
	}
	if w.Tokens != 25000 {
		t.Fatalf("cache after: %+v", w)
	}
	// Ten minutes of silence: the five-minute cache is cold again.
	u, _ = SessionUsage(cold, w, true, t0.Add(12*time.Minute))
	if u.CacheReadInputTokens != 0 || u.CacheCreationInputTokens != 25000 {
		t.Fatalf("after the TTL: %+v", u)
	}
	// A draft of another vendor reports no cache: the requested model
	// would still have read what it holds.
	foreign := llm.Usage{InputTokens: 26000, OutputTokens: 10}
	u, w2 := SessionUsage(foreign, w, true, t0.Add(3*time.Minute))
	if want := (llm.Usage{InputTokens: 1000, CacheReadInputTokens: 25000, OutputTokens: 10}); u != want || w2.Tokens != 25000 {
		t.Fatalf("foreign draft: %+v (want %+v), cache %+v", u, want, w2)
	}
	// No caching at all: ref as is, the cache untouched.
	plain := llm.Usage{InputTokens: 300, OutputTokens: 10}
	if u, w3 := SessionUsage(plain, WarmCache{}, true, t0); u != plain || w3 != (WarmCache{}) {
		t.Fatalf("no cache: %+v %+v", u, w3)
	}
	// One-hour writes keep the cache for an hour and bill the baseline's writes the same way.
	long := llm.Usage{CacheCreationInputTokens: 30000, CacheCreation1hInputTokens: 30000}
	u, w = SessionUsage(long, WarmCache{Tokens: 25000, Used: t0, TTL: CacheTTL1h}, true, t0.Add(30*time.Minute))
	if u.CacheReadInputTokens != 25000 || u.CacheCreationInputTokens != 5000 || u.CacheCreation1hInputTokens != 5000 || w.TTL != CacheTTL1h {
		t.Fatalf("1h: %+v %+v", u, w)
	}
}

// A session where the draft answered two requests and the verifier a
// third, cold: the baseline prices the third as a warm read, so the
// escalation shows what it really cost against the requested model.
func TestSessionBaselineOfAnEscalation(t *testing.T) {
	tab := Default()
	t0 := time.Unix(1_000_000, 0)
	var w WarmCache
	known := false
	var baseline float64
	for i, ref := range []llm.Usage{
		{InputTokens: 50, CacheCreationInputTokens: 20000, OutputTokens: 100},                             // draft, cold
		{InputTokens: 50, CacheReadInputTokens: 20000, CacheCreationInputTokens: 1000, OutputTokens: 100}, // draft, warm
		{InputTokens: 50, CacheCreationInputTokens: 22000, OutputTokens: 100},                             // verifier, cold
	} {
		var u llm.Usage
		u, w = SessionUsage(ref, w, known, t0.Add(time.Duration(i)*time.Minute))
		known = true
		usd, _ := tab.Cost("claude-opus-5-5", u)
		baseline += usd
		if i == 2 {
			// Opus 5.5: 50 × $4 + 21000 × $0.20 + 1000 × $5 + 100 × $20.
			if want := (50*4 + 21000*0.20 + 1000*5 + 100*20) / 1e6; !near(usd, want) {
				t.Errorf("escalation baseline %v, want %v", usd, want)
			}
			if cold, _ := tab.Cost("claude-opus-5-5", ref); !(cold > usd*5) {
				t.Errorf("the cold write %v should cost far more than the warm baseline %v", cold, usd)
			}
		}
	}
	if !(baseline > 0) {
		t.Fatal("no baseline")
	}
}
