package cascade

import (
	"sort"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/turn"
)

// Accounting is one request's money: what it cost, what the requested model
// alone would have cost, and the difference (pricing.Accounting).
type Accounting = pricing.Accounting

// Recorder prices results and records them in metrics and per-rule stats.
type Recorder struct {
	Metrics *metrics.Metrics

	// Now is the clock of the session accounting (nil: time.Now).
	Now func() time.Time

	mu       sync.Mutex
	stats    map[string]*RuleStats
	sessions *turn.Cache[sessionID, *SessionStats]
}

// RuleStats aggregates one rule's requests in this process.
type RuleStats struct {
	Rule        string            `json:"rule"`
	Requests    int64             `json:"requests"`
	Outcomes    map[Outcome]int64 `json:"outcomes"`
	DraftErrors int64             `json:"draftErrors"`
	CostUSD     float64           `json:"costUSD"`
	BaselineUSD float64           `json:"baselineUSD"`
	SavingsUSD  float64           `json:"savingsUSD"`
	Tokens      map[string]int64  `json:"tokens"` // by model
	// Cache is each model's prompt tokens by how they were billed, and the
	// share read from its prompt cache.
	Cache     map[string]CacheStats `json:"cache"`
	Served    map[string]int64      `json:"served"` // answers by the model that gave them
	MeanScore float64               `json:"meanGateScore"`
	scoreSum  float64               // for MeanScore
	scoreN    int64                 // for MeanScore
	Latency   map[Outcome]float64   `json:"meanLatencySeconds"`
	latSum    map[Outcome]float64
	// SecondOpinions counts second-opinion calls by how they ended
	// (answered, failed, dropped, canceled).
	SecondOpinions map[CallEnd]int64 `json:"secondOpinions,omitempty"`
	// Stages is the mean time of each stage (metrics.Stages) over the
	// requests that went through it, in seconds.
	Stages   map[string]float64 `json:"meanStageSeconds,omitempty"`
	stageSum map[string]float64
	stageN   map[string]int64
}

// Finish settles and records a request a rule served, whatever happened
// to it: it is the one place that decides, from the calls res records, the
// request's outcome, cost and savings. streamErr is how reading res.Stream
// ended (nil: read to its end; WriteStream's error otherwise); it is ignored
// when there was no stream. requested is the model the client asked for; it
// prices the baseline (falling back to the verifier's price when the
// requested name has none, e.g. an alias).
//
// When the answering call did not answer in full, the outcome is Failed (an
// upstream failure, before or after the first byte) or Canceled (the client
// went away): no savings are claimed, but what the calls spent is counted.
// Every call that failed on the upstream's side counts as an upstream error
// of its provider. Second opinions are part of the request's cost (a
// dropped one at its estimated input), never of its baseline.
func (r *Recorder) Finish(rule *CompiledRule, requested string, res *Result, streamErr error) Accounting {
	res.settle(streamErr)
	prices, spec := rule.Prices, rule.Rule
	verified := res.Outcome == Escalated || res.Outcome == SkippedDraft || res.Outcome == VerifierOnly || res.Outcome == Bypassed || res.Outcome == TurnVerifier
	priced := func(c *Call) *pricing.Call {
		if c == nil || c.Usage == (llm.Usage{}) {
			return nil
		}
		return &pricing.Call{Model: c.Model, Usage: c.Usage}
	}
	draft, judge, verifier := priced(res.Draft), priced(res.Judge), priced(res.Verifier)
	baseModel := requested
	if _, ok := prices.Lookup(baseModel); !ok {
		baseModel = spec.Verifier.Model
	}
	a := prices.Account(baseModel, draft, verifier, judge)
	settled := res.Outcome != Failed && res.Outcome != Canceled
	if settled {
		r.sessionBaseline(prices, baseModel, spec.Name, res, &a)
	}
	opinions := make([]*pricing.Call, 0, len(res.Opinions))
	for _, c := range res.Opinions {
		if p := priced(c); p != nil {
			opinions = append(opinions, p)
			usd, ok := prices.Cost(p.Model, p.Usage)
			a.ActualUSD += usd
			a.Known = a.Known && ok
		}
	}
	a.SavingsUSD = a.BaselineUSD - a.ActualUSD
	// A call that answered without reporting usage has an unknown cost, not a zero one.
	for _, c := range append([]*Call{res.Draft, res.Verifier}, res.Opinions...) {
		if c != nil && c.End == CallAnswered && c.Usage == (llm.Usage{}) {
			a.Known = false
		}
	}
	if !settled {
		// No complete answer: nothing to compare with a baseline. The calls' costs are still counted below.
		a.Known, a.BaselineUSD, a.SavingsUSD = false, 0, 0
	}
	draftEscalated := res.Draft.upstreamFailed() && res.Verifier != nil

	r.count(func(m *metrics.Metrics) {
		for _, c := range append([]*pricing.Call{draft, judge, verifier}, opinions...) {
			if c == nil {
				continue
			}
			tokens(m, c.Model, c.Usage)
			if usd, ok := prices.Cost(c.Model, c.Usage); ok {
				m.CostUSD.WithLabelValues(spec.Name, c.Model).Add(usd)
			} else {
				m.UnknownPrice.WithLabelValues(c.Model).Inc()
			}
		}
		for _, c := range res.Calls() {
			if c.upstreamFailed() {
				m.UpstreamErrors.WithLabelValues(c.Provider, string(llm.AsError(c.Err).Kind)).Inc()
			}
		}
		for _, c := range res.Opinions {
			m.SecondOpinions.WithLabelValues(spec.Name, string(c.End)).Inc()
			m.StageDuration.WithLabelValues("opinion", string(res.Outcome)).Observe(c.Took.Seconds())
		}
		m.RouteRequests.WithLabelValues(spec.Name, string(res.Outcome)).Inc()
		if draftEscalated {
			reason := "error"
			if llm.AsError(res.Draft.Err).Kind == llm.ErrTimeout {
				reason = "timeout"
			}
			m.DraftFailures.WithLabelValues(spec.Name, reason).Inc()
		}
		if res.Decision != nil {
			m.GateScore.WithLabelValues(spec.Name).Observe(res.Decision.Score)
			m.StageDuration.WithLabelValues("gate", string(res.Outcome)).Observe(res.GateTime.Seconds())
		}
		var draftTime time.Duration
		if res.Draft != nil {
			draftTime = res.Draft.Took
			m.StageDuration.WithLabelValues("draft", string(res.Outcome)).Observe(draftTime.Seconds())
		}
		total := time.Since(res.Started)
		if verified {
			m.StageDuration.WithLabelValues("verifier", string(res.Outcome)).Observe((total - draftTime - res.GateTime - res.OpinionWait).Seconds())
		}
		m.StageDuration.WithLabelValues("total", string(res.Outcome)).Observe(total.Seconds())
		if a.Known {
			m.BaselineUSD.WithLabelValues(spec.Name).Add(a.BaselineUSD)
			if a.SavingsUSD >= 0 {
				m.SavingsUSD.WithLabelValues(spec.Name).Add(a.SavingsUSD)
			} else {
				m.ExtraCostUSD.WithLabelValues(spec.Name).Add(-a.SavingsUSD)
			}
		}
	})
	r.aggregate(spec.Name, res, a, draftEscalated, verified)
	r.session(spec.Name, res, a)
	return a
}

// settle ends a live stream's call with how its reading ended and turns the
// outcome into Failed or Canceled when the answering call did not answer.
func (res *Result) settle(streamErr error) {
	if m, ok := res.Stream.(*meteredStream); ok {
		m.ended(streamErr)
	}
	answer := res.Verifier
	if answer == nil {
		answer = res.Draft // accepted or draft-only
	}
	switch {
	case answer == nil:
		res.Outcome = Failed
	case answer.End == CallCanceled:
		res.Outcome = Canceled
	case answer.End != CallAnswered:
		res.Outcome = Failed
	}
}

// Passthrough records the tokens and cost of a request served without a
// rule (rule label ""), at the loaded set's prices: nothing was cascaded,
// so there is no baseline.
func (r *Recorder) Passthrough(prices *pricing.Table, model string, u llm.Usage) {
	if r.Metrics == nil || model == "" {
		return
	}
	tokens(r.Metrics, model, u)
	if usd, ok := prices.Cost(model, u); ok {
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

func (r *Recorder) aggregate(rule string, res *Result, a Accounting, draftEscalated, verified bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stats == nil {
		r.stats = map[string]*RuleStats{}
	}
	s := r.stats[rule]
	if s == nil {
		s = &RuleStats{Rule: rule, Outcomes: map[Outcome]int64{}, Tokens: map[string]int64{}, Cache: map[string]CacheStats{}, Served: map[string]int64{}, Latency: map[Outcome]float64{}, latSum: map[Outcome]float64{}}
		r.stats[rule] = s
	}
	s.Requests++
	s.Outcomes[res.Outcome]++
	if res.Served != "" && res.Outcome != Failed && res.Outcome != Canceled {
		s.Served[res.Served]++
	}
	if draftEscalated {
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
	for _, c := range res.Opinions {
		if s.SecondOpinions == nil {
			s.SecondOpinions = map[CallEnd]int64{}
		}
		s.SecondOpinions[c.End]++
	}
	for _, c := range res.Calls() {
		if c != nil {
			u := c.Usage
			s.Tokens[c.Model] += int64(u.InputTokens + u.OutputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens)
			addCache(s.Cache, c.Model, u)
		}
	}
	total := time.Since(res.Started)
	s.latSum[res.Outcome] += total.Seconds()
	s.Latency[res.Outcome] = s.latSum[res.Outcome] / float64(s.Outcomes[res.Outcome])
	if s.Stages == nil {
		s.Stages, s.stageSum, s.stageN = map[string]float64{}, map[string]float64{}, map[string]int64{}
	}
	stage := func(name string, d time.Duration) {
		s.stageSum[name] += d.Seconds()
		s.stageN[name]++
		s.Stages[name] = s.stageSum[name] / float64(s.stageN[name])
	}
	// The same stages, measured the same way, as cascadeflow_stage_duration_seconds.
	var draftTime time.Duration
	if res.Draft != nil {
		draftTime = res.Draft.Took
		stage("draft", draftTime)
	}
	for _, c := range res.Opinions {
		stage("opinion", c.Took)
	}
	if res.Decision != nil {
		stage("gate", res.GateTime)
	}
	if verified {
		stage("verifier", total-draftTime-res.GateTime-res.OpinionWait)
	}
	stage("total", total)
}

// Reset forgets the aggregates (DELETE /api/stats).
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats = nil
	if r.sessions != nil {
		r.sessions.Clear()
	}
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
		c.Cache = copyMap(s.Cache)
		c.Served = copyMap(s.Served)
		c.Latency = copyMap(s.Latency)
		if s.SecondOpinions != nil {
			c.SecondOpinions = copyMap(s.SecondOpinions)
		}
		if s.Stages != nil {
			c.Stages = copyMap(s.Stages)
		}
		c.stageSum, c.stageN, c.latSum = nil, nil, nil
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
