// Package pricing knows what models cost: a table of list prices in USD per
// million tokens, the cost of one call's usage, and the baseline a cascade is
// measured against. A model without a price is "unknown", never free.
package pricing

import (
	"maps"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Price is USD per million input, output, cache-write and cache-read tokens.
// A zero CacheWrite or CacheRead means the model has no separate cache rate:
// such tokens are billed at the Input rate.
type Price = rules.Price

// Table maps model ids to prices. It is immutable once built; With returns a
// new table, so a table can be shared by concurrent requests.
type Table struct {
	prices map[string]Price // keys lower-case
}

// New builds a table from a map of model id to price.
func New(prices map[string]Price) *Table {
	t := &Table{prices: make(map[string]Price, len(prices))}
	for k, p := range prices {
		t.prices[strings.ToLower(k)] = p
	}
	return t
}

// Default returns the built-in list prices (see defaults.go).
func Default() *Table { return New(builtin) }

// With returns a copy of t where overrides replace or add entries (the rules
// file's top-level and per-rule prices).
func (t *Table) With(overrides map[string]Price) *Table {
	if len(overrides) == 0 {
		return t
	}
	n := &Table{prices: maps.Clone(t.prices)}
	for k, p := range overrides {
		n.prices[strings.ToLower(k)] = p
	}
	return n
}

// Lookup finds a model's price: the exact id (case-insensitive), then the id
// with its variant or date suffix removed ("[1m]", "-20250929",
// "-2024-08-06", "-latest"), then the id without a vendor prefix
// ("anthropic/…", "openai/…"), then the known aliases.
func (t *Table) Lookup(model string) (Price, bool) {
	k, ok := t.Key(model)
	return t.prices[k], ok
}

// Key is the table entry Lookup prices model with, e.g. "claude-sonnet-4-5"
// for "claude-sonnet-4-5-20250929". Keys are bounded by the table, so they
// are safe metric labels where client-chosen names are not.
func (t *Table) Key(model string) (string, bool) {
	id := strings.ToLower(strings.TrimSpace(model))
	if id == "" {
		return "", false
	}
	for _, cand := range candidates(id) {
		if _, ok := t.prices[cand]; ok {
			return cand, true
		}
		if a, ok := aliases[cand]; ok {
			if _, ok := t.prices[a]; ok {
				return a, true
			}
		}
	}
	return "", false
}

// candidates lists the ids to try for id, most specific first.
func candidates(id string) []string {
	out := make([]string, 0, 6)
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	add(id)
	base := id
	if i := strings.IndexByte(base, '['); i > 0 { // claude-opus-5-5[1m]
		base = base[:i]
		add(base)
	}
	if s := stripDate(base); s != base {
		base = s
		add(base)
	}
	if s, ok := strings.CutSuffix(base, "-latest"); ok {
		base = s
		add(base)
	}
	if i := strings.LastIndexByte(id, '/'); i >= 0 && i+1 < len(id) {
		for _, c := range candidates(id[i+1:]) {
			add(c)
		}
	}
	return out
}

// stripDate removes a trailing "-YYYYMMDD" or "-YYYY-MM-DD".
func stripDate(id string) string {
	if n := len(id); n > 9 && id[n-9] == '-' && allDigits(id[n-8:]) && id[n-8] == '2' {
		return id[:n-9]
	}
	if n := len(id); n > 11 && id[n-11] == '-' && id[n-6] == '-' && id[n-3] == '-' &&
		allDigits(id[n-10:n-6]) && allDigits(id[n-5:n-3]) && allDigits(id[n-2:]) {
		return id[:n-11]
	}
	return id
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// CacheWrite1hFactor is the price of a cache write with a one-hour TTL, as
// a multiple of the input price (Anthropic: 2×; the five-minute writes are
// the table's CacheWrite, 1.25× input).
const CacheWrite1hFactor = 2

// CostOf is the USD cost of u at price p: input and output at their rates,
// cache reads at CacheRead, cache writes at CacheWrite (five minutes) or
// CacheWrite1hFactor × Input (the part written for one hour).
func CostOf(p Price, u llm.Usage) float64 {
	cw, cr := p.CacheWrite, p.CacheRead
	if cw == 0 {
		cw = p.Input
	}
	if cr == 0 {
		cr = p.Input
	}
	w1h := min(max(u.CacheCreation1hInputTokens, 0), u.CacheCreationInputTokens)
	w5m := u.CacheCreationInputTokens - w1h
	return (float64(u.InputTokens)*p.Input +
		float64(u.OutputTokens)*p.Output +
		float64(w5m)*cw +
		float64(w1h)*CacheWrite1hFactor*p.Input +
		float64(u.CacheReadInputTokens)*cr) / 1e6
}

// Cost is the USD cost of model's usage u; known is false when the model has
// no price (the cost is then unknown, not zero).
func (t *Table) Cost(model string, u llm.Usage) (usd float64, known bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return CostOf(p, u), true
}

// EstimateBaseline is what the requested model would have cost for a request
// the draft answered: the same prompt (input and cache tokens as the draft
// reported them) and, as the estimate of the requested model's answer
// length, the same number of output tokens as the draft. Tokenizers differ
// by model (±30 %) and strong models often answer longer, so this tends to
// understate the savings; it never invents them.
func (t *Table) EstimateBaseline(requestedModel string, draftUsage llm.Usage) (usd float64, known bool) {
	return t.Cost(requestedModel, draftUsage)
}

// Call is one upstream call of a cascaded request.
type Call struct {
	Model string
	Usage llm.Usage
}

// Accounting is the money side of one cascaded request.
type Accounting struct {
	// ActualUSD: draft + verifier + judge, whichever were called.
	ActualUSD float64
	// BaselineUSD: the requested model alone (estimated for an accepted draft).
	BaselineUSD float64
	// SavingsUSD = BaselineUSD − ActualUSD; negative when escalation paid twice.
	SavingsUSD float64
	// Known is false when any involved model has no price; the figures are
	// then incomplete and must be reported as unknown.
	Known bool
}

// Account prices one request. draft, verifier and judge are nil when that
// call was not made. The baseline is the verifier's own usage priced as the
// requested model when the verifier answered, else the draft-based estimate.
func (t *Table) Account(requestedModel string, draft, verifier, judge *Call) Accounting {
	a := Accounting{Known: true}
	for _, c := range []*Call{draft, verifier, judge} {
		if c == nil {
			continue
		}
		usd, ok := t.Cost(c.Model, c.Usage)
		a.ActualUSD += usd
		a.Known = a.Known && ok
	}
	var base float64
	var ok bool
	switch {
	case verifier != nil:
		base, ok = t.Cost(requestedModel, verifier.Usage)
	case draft != nil:
		base, ok = t.EstimateBaseline(requestedModel, draft.Usage)
	default:
		ok = true
	}
	a.BaselineUSD = base
	a.Known = a.Known && ok
	a.SavingsUSD = a.BaselineUSD - a.ActualUSD
	return a
}
