package pricing

import (
	"math"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestDefaultHasTheModelsTheSamplesUse(t *testing.T) {
	tab := Default()
	for _, m := range []string{
		"claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5",
		"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1",
		"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4-turbo", "gpt-4-1106-preview",
		"mistralai/Mixtral-8x7B-Instruct-v0.1",
	} {
		p, ok := tab.Lookup(m)
		if !ok || p.Input <= 0 || p.Output <= 0 {
			t.Errorf("Lookup(%q) = %+v, %v; want a positive list price", m, p, ok)
		}
	}
}

func TestListPrices(t *testing.T) {
	tab := Default()
	for model, want := range map[string]Price{
		"claude-opus-5-5":                      {Input: 4, Output: 20, CacheWrite: 5, CacheRead: 0.20},
		"claude-sonnet-5-5":                    {Input: 2, Output: 10, CacheWrite: 2.50, CacheRead: 0.10},
		"claude-haiku-5-5":                     {Input: 0.10, Output: 0.50, CacheWrite: 0.125, CacheRead: 0.01},
		"claude-sonnet-4-5":                    {Input: 3, Output: 15, CacheWrite: 3.75, CacheRead: 0.30},
		"claude-opus-4-1":                      {Input: 15, Output: 75, CacheWrite: 18.75, CacheRead: 1.50},
		"gpt-4-1106-preview":                   {Input: 10, Output: 30},
		"mistralai/Mixtral-8x7B-Instruct-v0.1": {Input: 0.60, Output: 0.60},
	} {
		if got, _ := tab.Lookup(model); got != want {
			t.Errorf("%s: %+v, want %+v", model, got, want)
		}
	}
}

func TestLookupNormalisesIDs(t *testing.T) {
	tab := Default()
	for id, base := range map[string]string{
		"CLAUDE-OPUS-5-5":                     "claude-opus-5-5",
		"claude-sonnet-4-5-20250929":          "claude-sonnet-4-5",
		"claude-haiku-4-5-20251001":           "claude-haiku-4-5",
		"claude-opus-5-5[1m]":                 "claude-opus-5-5",
		"gpt-4o-2024-08-06":                   "gpt-4o",
		"gpt-4o-mini-2024-07-18":              "gpt-4o-mini",
		"claude-3-5-sonnet-latest":            "claude-3-5-sonnet",
		"anthropic/claude-sonnet-5-5":         "claude-sonnet-5-5",
		"openai/gpt-4.1-mini":                 "gpt-4.1-mini",
		"claude-opus-4-0":                     "claude-opus-4",
		"gpt-4-turbo-preview":                 "gpt-4-turbo",
		"gpt-4-turbo-2024-04-09":              "gpt-4-turbo",
		"mixtral-8x7b-instruct":               "mistralai/mixtral-8x7b-instruct-v0.1",
		"together/mixtral-8x7b-instruct-v0.1": "mistralai/mixtral-8x7b-instruct-v0.1",
	} {
		got, ok := tab.Lookup(id)
		want, _ := tab.Lookup(base)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want the price of %s %+v", id, got, ok, base, want)
		}
		if k, ok := tab.Key(id); !ok || k != base {
			t.Errorf("Key(%q) = %q, %v; want %q", id, k, ok, base)
		}
	}
	for _, id := range []string{"", "gpt-9", "claude-opus-9-9", "llama-3-70b", "claude-sonnet-4-5-2025"} {
		if p, ok := tab.Lookup(id); ok {
			t.Errorf("Lookup(%q) = %+v, want unknown", id, p)
		}
	}
}

func TestCost(t *testing.T) {
	tab := Default()
	// Opus 5.5: 1M each of input, output, cache write, cache read = 4 + 20 + 5 + 0.20.
	u := llm.Usage{InputTokens: 1e6, OutputTokens: 1e6, CacheCreationInputTokens: 1e6, CacheReadInputTokens: 1e6}
	if usd, ok := tab.Cost("claude-opus-5-5", u); !ok || !near(usd, 29.20) {
		t.Errorf("opus 5.5 cost = %v, %v; want 29.20", usd, ok)
	}
	// GPT-4-turbo: 1,000 in and 500 out = 0.01 + 0.015.
	if usd, ok := tab.Cost("gpt-4-1106-preview", llm.Usage{InputTokens: 1000, OutputTokens: 500}); !ok || !near(usd, 0.025) {
		t.Errorf("gpt-4-turbo cost = %v, %v; want 0.025", usd, ok)
	}
	// No cache rate: cached tokens bill at the input rate, never for free.
	if usd, _ := tab.Cost("gpt-4-turbo", llm.Usage{CacheReadInputTokens: 1e6}); !near(usd, 10) {
		t.Errorf("gpt-4-turbo cache read = %v, want 10 (the input rate)", usd)
	}
	if usd, ok := tab.Cost("no-such-model", u); ok || usd != 0 {
		t.Errorf("unknown model: %v, %v; want unknown", usd, ok)
	}
}

func TestWithOverridesAndKeepsOriginal(t *testing.T) {
	base := Default()
	over := base.With(map[string]Price{
		"My-Local-Model":  {Input: 0.01, Output: 0.02},
		"claude-opus-5-5": {Input: 1, Output: 2},
	})
	if p, ok := over.Lookup("my-local-model"); !ok || p.Output != 0.02 {
		t.Errorf("override added: %+v, %v", p, ok)
	}
	if p, _ := over.Lookup("claude-opus-5-5-20261001"); p.Input != 1 {
		t.Errorf("override replaced (dated id): %+v, want input 1", p)
	}
	if p, _ := base.Lookup("claude-opus-5-5"); p.Input != 4 {
		t.Errorf("base table changed by With: %+v", p)
	}
	if _, ok := base.Lookup("my-local-model"); ok {
		t.Error("base table gained an override")
	}
	if base.With(nil) != base {
		t.Error("With(nil) should return the same table")
	}
}

func TestEstimateBaseline(t *testing.T) {
	tab := Default()
	// Draft used 1,000 input and 500 output tokens; Opus 5.5 would cost
	// 1,000 × $4 + 500 × $20 per million = $0.014.
	usd, ok := tab.EstimateBaseline("claude-opus-5-5", llm.Usage{InputTokens: 1000, OutputTokens: 500})
	if !ok || !near(usd, 0.014) {
		t.Fatalf("baseline = %v, %v; want 0.014", usd, ok)
	}
	if _, ok := tab.EstimateBaseline("unknown-model", llm.Usage{InputTokens: 1}); ok {
		t.Fatal("baseline of an unknown model must be unknown")
	}
}

func TestAccount(t *testing.T) {
	tab := Default()
	draft := &Call{Model: "claude-haiku-5-5", Usage: llm.Usage{InputTokens: 1000, OutputTokens: 500}}
	// Haiku 5.5 draft: 1,000 × 0.10 + 500 × 0.50 = $0.00035.
	// Accepted: baseline is Opus 5.5 on the draft's usage = $0.014.
	a := tab.Account("claude-opus-5-5", draft, nil, nil)
	if !a.Known || !near(a.ActualUSD, 0.00035) || !near(a.BaselineUSD, 0.014) || !near(a.SavingsUSD, 0.014-0.00035) {
		t.Fatalf("accepted: %+v", a)
	}
	// Escalated: verifier Opus 5.5 used 1,000 in / 800 out = $0.02; the
	// baseline is that same call; savings = −draft cost.
	ver := &Call{Model: "claude-opus-5-5", Usage: llm.Usage{InputTokens: 1000, OutputTokens: 800}}
	a = tab.Account("claude-opus-5-5", draft, ver, nil)
	if !a.Known || !near(a.ActualUSD, 0.02035) || !near(a.BaselineUSD, 0.02) || !near(a.SavingsUSD, -0.00035) {
		t.Fatalf("escalated: %+v", a)
	}
	// A judge's cost counts.
	judge := &Call{Model: "gpt-4o-mini", Usage: llm.Usage{InputTokens: 2000, OutputTokens: 10}}
	a = tab.Account("claude-opus-5-5", draft, nil, judge)
	wantJudge := (2000*0.15 + 10*0.60) / 1e6
	if !near(a.ActualUSD, 0.00035+wantJudge) {
		t.Fatalf("with judge: %+v, want actual %v", a, 0.00035+wantJudge)
	}
	// Any unknown price makes the whole account unknown.
	a = tab.Account("claude-opus-5-5", &Call{Model: "mystery", Usage: draft.Usage}, nil, nil)
	if a.Known {
		t.Fatalf("unknown draft model: %+v, want Known false", a)
	}
	a = tab.Account("mystery-requested", draft, nil, nil)
	if a.Known {
		t.Fatalf("unknown requested model: %+v, want Known false", a)
	}
}

// Every model a rule names is checked for a price, with the overrides the
// accounting itself applies.
func TestUnpricedModels(t *testing.T) {
	set := &rules.Set{
		Prices: map[string]Price{"house-model": {Input: 1, Output: 1}},
		Rules: []rules.Rule{
			{Name: "a", Models: []string{"claude-opus-5-5", "opus"}, Draft: rules.Target{Model: "claude-haiku-5-5"}, Verifier: rules.Target{Model: "claude-opus-5-5"}},
			{Name: "b", Models: []string{"my-alias"}, Draft: rules.Target{Model: "qwen-local"}, Verifier: rules.Target{Model: "house-model"},
				Gate:   &rules.Gate{Judge: &rules.Judge{Target: rules.Target{Model: "judge-x"}}},
				Prices: map[string]Price{"my-alias": {Input: 2, Output: 2}}},
		},
	}
	got := UnpricedModels(set, nil)
	want := []Unpriced{{"a", "requested", "opus"}, {"b", "draft", "qwen-local"}, {"b", "judge", "judge-x"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The models of the samples and of the usual cascades are priced.
func TestHardeningCurrentModelsPriced(t *testing.T) {
	tab := Default()
	for _, m := range []string{"gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.1", "gpt-5.2", "gpt-5.4", "gpt-5.4-mini",
		"gpt-5.4-nano", "gpt-5.5", "gpt-5.6", "gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna", "gpt-6-astra", "gpt-6-sol",
		"gpt-6-luna", "gpt-6.1-sol", "gpt-6.2-sol", "gpt-6.2-astra", "gpt-5-mini-2025-08-07", "claude-mythos-5-1"} {
		if p, ok := tab.Lookup(m); !ok || p.Input <= 0 || p.Output <= p.Input {
			t.Errorf("Lookup(%q) = %+v, %v", m, p, ok)
		}
	}
	if p, _ := tab.Lookup("gpt-6-luna"); p != (Price{Input: 0.10, Output: 0.50, CacheWrite: 0.125, CacheRead: 0.01}) {
		t.Errorf("gpt-6-luna = %+v", p)
	}
}

// Embedding models bill their input only, so their requests are priced
// (never "unknown") through /v1/embeddings.
func TestEmbeddingModelsPriced(t *testing.T) {
	tab := Default()
	for model, input := range map[string]float64{"text-embedding-3-small": 0.02, "text-embedding-3-large": 0.13, "text-embedding-ada-002": 0.10} {
		p, ok := tab.Lookup(model)
		if !ok || p.Input != input || p.Output != 0 {
			t.Errorf("Lookup(%q) = %+v, %v", model, p, ok)
		}
		if usd, ok := tab.Cost(model, llm.Usage{InputTokens: 1_000_000}); !ok || usd != input {
			t.Errorf("Cost(%q, 1M input) = %v, %v", model, usd, ok)
		}
	}
}
