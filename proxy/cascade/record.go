package cascade

import (
	"sort"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Accounting is one request's money: what it cost, what the requested model
// alone would have cost, and the difference (pricing.Accounting).
type Accounting = pricing.Accounting

// Recorder prices results and records them in metrics and per-rule stats.
type Recorder struct {
	Metrics *metrics.Metrics
	Prices  *pricing.Table

	mu        sync.Mutex
	stats     map[string]*RuleStats
	tables    map[*rules.Rule]*pricing.Table
	tablesFor *rules.Set
}

// RuleStats aggregates one rule's requests in this process.
type RuleStats struct {
	Rule        string              `json:"rule"`
	Requests    int64               `json:"requests"`
	Outcomes    map[Outcome]int64   `json:"outcomes"`
	DraftErrors int64               `json:"draftErrors"`
	CostUSD     float64             `json:"costUSD"`
	BaselineUSD float64             `json:"baselineUSD"`
	SavingsUSD  float64             `json:"savingsUSD"`
	Tokens      map[string]int64    `json:"tokens"` // by model
	Served      map[string]int64    `json:"served"` // answers by the model that gave them
	MeanScore   float64             `json:"meanGateScore"`
	scoreSum    float64             // for MeanScore
	scoreN      int64               // for MeanScore
	Latency     map[Outcome]float64 `json:"meanLatencySeconds"`
	latSum      map[Outcome]float64
}

// Finish prices a finished request (verifierUsage: the verifier call's
// usage when it answered) and records it. requested is the model the client
// asked for; it prices the baseline (falling back to the verifier's price
// when the requested name has none, e.g. an alias).
func (r *Recorder) Finish(set *rules.Set, rule *rules.Rule, requested string, res *Result, verifierUsage llm.Usage) Accounting {
	prices := r.table(set, rule)
	verified := res.Outcome == Escalated || res.Outcome == SkippedDraft || res.Outcome == VerifierOnly
	call := func(model string, u llm.Usage) *pricing.Call {
		if model == "" || u == (llm.Usage{}) {
			return nil
		}
		return &pricing.Call{Model: model, Usage: u}
	}
	draft, judge := call(res.DraftModel, res.DraftUsage), call(res.JudgeModel, res.JudgeUsage)
	var verifier *pricing.Call
	if verified {
		verifier = call(rule.Verifier.Model, verifierUsage)
	}
	baseModel := requested
	if _, ok := prices.Lookup(baseModel); !ok {
		baseModel = rule.Verifier.Model
	}
	a := prices.Account(baseModel, draft, verifier, judge)
	// A call that answered without reporting usage has an unknown cost, not a zero one.
	draftAnswered := res.DraftModel != "" && res.DraftErr == nil && res.DraftTime > 0
	if (draftAnswered && draft == nil) || (verified && verifier == nil) {
		a.Known = false
	}
	if res.Outcome == Failed {
		// No answer: nothing to compare with a baseline. The calls' costs are still counted below.
		a.Known, a.BaselineUSD, a.SavingsUSD = false, 0, 0
	}

	r.count(func(m *metrics.Metrics) {
		for _, c := range []*pricing.Call{draft, judge, verifier} {
			if c == nil {
				continue
			}
			tokens(m, c.Model, c.Usage)
			if usd, ok := prices.Cost(c.Model, c.Usage); ok {
				m.CostUSD.WithLabelValues(rule.Name, c.Model).Add(usd)
			} else {
				m.UnknownPrice.WithLabelValues(c.Model).Inc()
			}
		}
		m.RouteRequests.WithLabelValues(rule.Name, string(res.Outcome)).Inc()
		if res.DraftErr != nil {
			reason := "error"
			if llm.AsError(res.DraftErr).Kind == llm.ErrTimeout {
				reason = "timeout"
			}
			m.DraftFailures.WithLabelValues(rule.Name, reason).Inc()
		}
		if res.Decision != nil {
			m.GateScore.WithLabelValues(rule.Name).Observe(res.Decision.Score)
			m.StageDuration.WithLabelValues("gate", string(res.Outcome)).Observe(res.GateTime.Seconds())
		}
		if res.DraftTime > 0 {
			m.StageDuration.WithLabelValues("draft", string(res.Outcome)).Observe(res.DraftTime.Seconds())
		}
		total := time.Since(res.Started)
		if verified {
			m.StageDuration.WithLabelValues("verifier", string(res.Outcome)).Observe((total - res.DraftTime - res.GateTime).Seconds())
		}
		m.StageDuration.WithLabelValues("total", string(res.Outcome)).Observe(total.Seconds())
		if a.Known {
			m.BaselineUSD.WithLabelValues(rule.Name).Add(a.BaselineUSD)
			if a.SavingsUSD >= 0 {
				m.SavingsUSD.WithLabelValues(rule.Name).Add(a.SavingsUSD)
			} else {
				m.ExtraCostUSD.WithLabelValues(rule.Name).Add(-a.SavingsUSD)
			}
		}
	})
	r.aggregate(rule.Name, res, a, verifierUsage, verified)
	return a
}

// Passthrough records the tokens and cost of a request served without a
// rule (rule label ""): nothing was cascaded, so there is no baseline.
func (r *Recorder) Passthrough(set *rules.Set, model string, u llm.Usage) {
	if r.Metrics == nil || model == "" {
		return
	}
	tokens(r.Metrics, model, u)
	if usd, ok := r.table(set, nil).Cost(model, u); ok {
		r.Metrics.CostUSD.WithLabelValues("", model).Add(usd)
	} else {
		r.Metrics.UnknownPrice.WithLabelValues(model).Inc()
	}
}

func tokens(m *metrics.Metrics, model string, u llm.Usage) {
	if model == "" {
		return
	}
	for kind, n := range map[string]int{"input": u.InputTokens, "output": u.OutputTokens, "cache_write": u.CacheCreationInputTokens, "cache_read": u.CacheReadInputTokens} {
		if n > 0 {
			m.Tokens.WithLabelValues(model, kind).Add(float64(n))
		}
	}
}

func (r *Recorder) count(f func(*metrics.Metrics)) {
	if r.Metrics != nil {
		f(r.Metrics)
	}
}

// table returns the price table for a rule (nil: no rule): the built-in
// prices, then the rules file's, then the rule's own; built once per loaded
// rules set.
func (r *Recorder) table(set *rules.Set, rule *rules.Rule) *pricing.Table {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tablesFor != set {
		r.tables, r.tablesFor = map[*rules.Rule]*pricing.Table{}, set
	}
	if t, ok := r.tables[rule]; ok {
		return t
	}
	t := r.Prices
	if t == nil {
		t = pricing.Default()
	}
	if len(set.Prices) > 0 {
		t = t.With(set.Prices)
	}
	if rule != nil && len(rule.Prices) > 0 {
		t = t.With(rule.Prices)
	}
	r.tables[rule] = t
	return t
}

func (r *Recorder) aggregate(rule string, res *Result, a Accounting, vu llm.Usage, verified bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stats == nil {
		r.stats = map[string]*RuleStats{}
	}
	s := r.stats[rule]
	if s == nil {
		s = &RuleStats{Rule: rule, Outcomes: map[Outcome]int64{}, Tokens: map[string]int64{}, Served: map[string]int64{}, Latency: map[Outcome]float64{}, latSum: map[Outcome]float64{}}
		r.stats[rule] = s
	}
	s.Requests++
	s.Outcomes[res.Outcome]++
	if res.Served != "" && res.Outcome != Failed {
		s.Served[res.Served]++
	}
	if res.DraftErr != nil {
		s.DraftErrors++
	}
	if a.Known {
		s.CostUSD += a.ActualUSD
		s.BaselineUSD += a.BaselineUSD
		s.SavingsUSD += a.SavingsUSD
	}
	if res.Decision != nil {
		s.scoreSum += res.Decision.Score
		s.scoreN++
		s.MeanScore = s.scoreSum / float64(s.scoreN)
	}
	add := func(model string, u llm.Usage) {
		if model != "" {
			s.Tokens[model] += int64(u.InputTokens + u.OutputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens)
		}
	}
	add(res.DraftModel, res.DraftUsage)
	add(res.JudgeModel, res.JudgeUsage)
	if verified {
		add(res.Served, vu)
	}
	s.latSum[res.Outcome] += time.Since(res.Started).Seconds()
	s.Latency[res.Outcome] = s.latSum[res.Outcome] / float64(s.Outcomes[res.Outcome])
}

// Reset forgets the aggregates (DELETE /api/stats).
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats = nil
}

// Stats returns a copy of the per-rule aggregates, sorted by rule.
func (r *Recorder) Stats() []RuleStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RuleStats, 0, len(r.stats))
	for _, s := range r.stats {
		c := *s
		c.Outcomes = copyMap(s.Outcomes)
		c.Tokens = copyMap(s.Tokens)
		c.Served = copyMap(s.Served)
		c.Latency = copyMap(s.Latency)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
