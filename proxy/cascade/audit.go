package cascade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// Defaults of an Auditor.
const (
	// DefaultMaxAudits bounds the comparisons running in the background.
	DefaultMaxAudits = 32
	// DefaultAuditTimeout bounds one background comparison: the audit's
	// verifier call and the judge's two calls.
	DefaultAuditTimeout = 5 * time.Minute
)

// Where a compared draft came from (the source label of cascadeflow_audits_total).
const (
	SourceAccepted  = "accepted"  // an accepted draft, audited: the verifier was asked only to compare
	SourceEscalated = "escalated" // an escalated draft, compared with the verifier's answer the client got
)

// Reasons a comparison was drawn but not made.
const (
	SkipBudget    = "budget"    // it would pass quality.audit.maxCostShare
	SkipSaturated = "saturated" // too many comparisons running
	SkipShutdown  = "shutdown"  // the proxy is shutting down
)

// Auditor feeds the rules' quality loops once a client has its whole
// answer: it counts each request's spend, samples every scored draft, audits
// a share of the accepted drafts (asking the verifier too, in the
// background) and compares escalated drafts with the verifier's answer the
// client received. It never touches the client's answer and never delays
// it: everything that calls a model or reads the answers runs in the
// background, under a detached context, a bounded number at a time; a
// comparison that finds no room is dropped and counted. Safe for concurrent
// use; the zero value is ready.
type Auditor struct {
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// MaxInFlight bounds the comparisons running at once (0: DefaultMaxAudits).
	MaxInFlight int
	// Timeout bounds one comparison (0: DefaultAuditTimeout).
	Timeout time.Duration
	// Pod names this process in its samples (routequality.Sample.Pod).
	Pod string

	once   sync.Once
	base   context.Context
	cancel context.CancelFunc
	slots  chan struct{}

	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
	running map[string]float64 // estimated cost of the running audits, by rule
	stats   map[string]*AuditStats
}

// AuditStats aggregates one rule's comparisons in this process.
type AuditStats struct {
	// Audits counts comparisons by source, then comparer and verdict
	// ("exact/good", "judge/bad", "none/error", ...).
	Audits map[string]map[string]int64 `json:"audits"`
	// Skipped counts comparisons drawn but not made, by reason.
	Skipped map[string]int64 `json:"skipped"`
	// AuditCostUSD is the spend on calls made only to compare.
	AuditCostUSD float64 `json:"auditCostUSD"`
	// NetSavingsUSD is the savings minus extra and audit cost.
	NetSavingsUSD float64 `json:"netSavingsUSD"`
}

func (a *Auditor) init() {
	a.once.Do(func() {
		a.base, a.cancel = context.WithCancel(context.Background())
		n := a.MaxInFlight
		if n <= 0 {
			n = DefaultMaxAudits
		}
		a.slots = make(chan struct{}, n)
	})
}

// Answered is called once the client has its whole answer to a rule's
// request (or its error), after Recorder.Finish settled it. verifierAnswer
// is the verifier's answer as the client received it when it was streamed
// (accumulated from the stream), nil otherwise.
func (a *Auditor) Answered(rule *CompiledRule, r Request, res *Result, acct Accounting, verifierAnswer *llm.Response) {
	if a == nil || rule == nil || rule.Quality == nil || res == nil {
		return
	}
	a.init()
	q := rule.Quality
	q.Spend(acct.ActualUSD, false)
	if acct.Known {
		a.netSavings(rule.Name(), acct.SavingsUSD)
	}
	s := q.Settings()
	if !s.Active() {
		return
	}
	switch {
	case res.Outcome == Accepted && res.Response != nil:
		a.accepted(rule, r, res)
	case res.Outcome == Escalated && res.DraftResponse != nil:
		v := verifierAnswer
		if v == nil {
			v = res.Response
		}
		if v != nil {
			a.escalated(rule, r, res, v)
		}
	}
}

// accepted draws whether an accepted draft is audited; the audit asks the
// verifier in the background. A draft not audited is an unlabelled sample.
func (a *Auditor) accepted(rule *CompiledRule, r Request, res *Result) {
	q, spec := rule.Quality, rule.Rule
	var usage llm.Usage
	if res.Draft != nil {
		usage = res.Draft.Usage
	}
	estimate, _ := rule.Prices.EstimateBaseline(spec.Verifier.Model, usage)
	// The audits still running count at their estimated cost, so that a
	// burst of requests cannot draw more audits than the budget allows
	// before the first ones have settled theirs.
	a.mu.Lock()
	held := a.running[rule.Name()]
	a.mu.Unlock()
	over := overBudget(q, held+estimate)
	audited, p := q.Audit(held + estimate)
	base := a.sample(rule, r, res, res.Response, nil)
	if !audited {
		// An audit the budget refused: counted at the rate it would have
		// been drawn at.
		if over && p > 0 && rand.Float64() < p {
			a.skipped(rule.Name(), SkipBudget)
		}
		a.add(q, base)
		return
	}
	a.hold(rule.Name(), estimate)
	r = detach(r)
	if !a.start(rule.Name(), func(ctx context.Context) {
		defer a.hold(rule.Name(), -estimate)
		ctx, span := startAudit(ctx, res, rule.Name(), SourceAccepted)
		defer span.End()
		a.audit(ctx, rule, r, res, base, p)
	}) {
		a.hold(rule.Name(), -estimate)
		a.add(q, base)
	}
}

// hold adds usd to the estimated cost of a rule's running audits.
func (a *Auditor) hold(rule string, usd float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running == nil {
		a.running = map[string]float64{}
	}
	a.running[rule] += usd
	if a.running[rule] <= 1e-15 {
		delete(a.running, rule)
	}
}

// overBudget reports whether spending estimate more on audits would pass the
// rule's audit budget (as routequality.Route.Audit decides it).
func overBudget(q *routequality.Route, estimate float64) bool {
	spend, auditSpend := q.Costs()
	return auditSpend+estimate > q.Settings().MaxCostShare*spend
}

// audit asks the verifier the client's request again and compares its
// answer with the accepted draft; the sample's label probability is the
// audit rate p.
func (a *Auditor) audit(ctx context.Context, rule *CompiledRule, r Request, res *Result, sample routequality.Sample, p float64) {
	spec, prov := rule.Rule, rule.VerifierProvider
	req, raw := target(r, prov, spec.Verifier.Model, spec.Verifier.Model)
	var v *llm.Response
	var err error
	if r.Req.Stream {
		// The request asks for a stream (its raw body says so): read it whole.
		v, err = collect(ctx, prov, req, raw, r.Header)
	} else {
		v, err = prov.Complete(ctx, req, raw, r.Header)
	}
	if err != nil {
		a.log().Warn("audit: verifier call failed", "rule", spec.Name, "error_kind", string(llm.AsError(err).Kind))
		a.counted(rule.Name(), SourceAccepted, "none", "error")
		a.add(rule.Quality, sample)
		return
	}
	cost, _ := rule.Prices.Cost(spec.Verifier.Model, v.Usage)
	label, ok := a.compare(ctx, rule, r, res.Response, v, true)
	cost += label.cost
	a.spent(rule, cost)
	sample.AuditCost = cost
	if rule.Quality.Settings().KeepText {
		sample.VerifierText = audit.AnswerText(v)
	}
	sample.LabelProb, sample.Disputed = p, label.disputed
	if ok {
		sample.Labelled, sample.Good, sample.Comparer = label.Counted, label.Good, label.By
	}
	a.add(rule.Quality, sample)
}

// escalated compares an escalated draft with the verifier's answer the
// client received (its label probability is 1). Final answers are compared
// for free; a dispute goes to the judge only when Route.Judge draws (at
// quality.audit.judgeRate, within the budget) and stays undecided otherwise.
func (a *Auditor) escalated(rule *CompiledRule, r Request, res *Result, verifier *llm.Response) {
	q := rule.Quality
	sample := a.sample(rule, r, res, res.DraftResponse, verifier)
	r = detach(r)
	ok := a.start(rule.Name(), func(ctx context.Context) {
		ctx, span := startAudit(ctx, res, rule.Name(), SourceEscalated)
		defer span.End()
		label, decided := a.compare(ctx, rule, r, res.DraftResponse, verifier, false)
		if label.cost > 0 {
			a.spent(rule, label.cost)
			sample.AuditCost = label.cost
		}
		sample.LabelProb, sample.Disputed = 1, label.disputed
		if decided {
			sample.Labelled, sample.Good, sample.Comparer = label.Counted, label.Good, label.By
		}
		a.add(q, sample)
	})
	if !ok {
		a.add(q, sample)
	}
}

// comparison is a Label with what it took.
type comparison struct {
	audit.Label
	cost float64 // the judge's calls
	// disputed says the free comparison did not settle it (it needed the
	// judge, or could not compare the answers).
	disputed bool
}

// compare applies the rule's comparer to a draft and the verifier's answer.
// always says every comparison the judge is needed for goes to it (an
// audit); otherwise the judge is asked at the route's judge rate and within
// the audit budget. decided is false when no label could be had (the judge
// was not drawn, over budget or failed).
func (a *Auditor) compare(ctx context.Context, rule *CompiledRule, r Request, draft, verifier *llm.Response, always bool) (c comparison, decided bool) {
	q := rule.Quality
	s := q.Settings()
	source := SourceEscalated
	if always {
		source = SourceAccepted
	}
	judge := auditJudge(rule)
	label, needJudge := audit.Plan(s.Comparer, judge != nil, draft, verifier)
	c = comparison{Label: label, disputed: needJudge || !label.Counted}
	if !needJudge {
		a.counted(rule.Name(), source, comparerLabel(label.By), verdict(label))
		return c, true
	}
	if !always {
		a.mu.Lock()
		held := a.running[rule.Name()]
		a.mu.Unlock()
		drawn, refused := q.Judge(held)
		if refused {
			a.skipped(rule.Name(), SkipBudget)
		}
		if !drawn {
			return c, false
		}
	}
	good, usage, err := judge.Compare(ctx, audit.Conversation(r.Req), draft, verifier)
	c.cost, _ = rule.Prices.Cost(judge.Model, usage)
	if err != nil {
		a.log().Warn("audit: judge failed", "rule", rule.Name(), "error", err.Error())
		a.counted(rule.Name(), source, audit.ByJudge, "error")
		return c, false
	}
	c.Label = audit.Label{By: audit.ByJudge, Counted: true, Good: good}
	a.counted(rule.Name(), source, audit.ByJudge, verdict(c.Label))
	return c, true
}

// auditJudge is the rule's pairwise judge, nil without one.
func auditJudge(rule *CompiledRule) *audit.Judge {
	s := rule.Quality.Settings()
	if rule.AuditJudgeProvider == nil || s.Judge == nil {
		return nil
	}
	return &audit.Judge{Provider: rule.AuditJudgeProvider, Model: s.Judge.Model, Timeout: s.JudgeTimeout}
}

func comparerLabel(by string) string {
	if by == "" {
		return "none"
	}
	return by
}

func verdict(l audit.Label) string {
	switch {
	case !l.Counted:
		return "none"
	case l.Good:
		return "good"
	}
	return "bad"
}

// sample is a draft's sample, unlabelled: its score and features, what it
// stands for, the request's hash, costs, and (with keepText) the texts.
func (a *Auditor) sample(rule *CompiledRule, r Request, res *Result, draft, verifier *llm.Response) routequality.Sample {
	s := routequality.Sample{
		Sample:      calibrate.Sample{Mass: res.Mass},
		Pod:         a.Pod,
		RequestHash: RequestHash(r.Req),
		Outcome:     string(res.Outcome),
	}
	switch {
	case res.Verdict != nil:
		s.Score, s.Features = res.Verdict.Score, res.Verdict.Features
	case res.Decision != nil:
		s.Score = res.Decision.Score
	}
	cost := func(c *Call) float64 {
		if c == nil {
			return 0
		}
		usd, _ := rule.Prices.Cost(c.Model, c.Usage)
		return usd
	}
	s.DraftCost = cost(res.Draft)
	for _, o := range res.Opinions {
		s.DraftCost += cost(o)
	}
	if res.Outcome != Accepted {
		s.VerifierCost = cost(res.Verifier)
	}
	if rule.Quality.Settings().KeepText {
		s.Prompt = audit.Conversation(r.Req)
		s.DraftText = audit.AnswerText(draft)
		if verifier != nil {
			s.VerifierText = audit.AnswerText(verifier)
		}
	}
	return s
}

// RequestHash is the SHA-256 of a request's system prompt and messages as
// text (audit.Conversation): the same question asked in either dialect has
// the same hash, and the hash never reveals the text.
func RequestHash(req *llm.Request) string {
	h := sha256.New()
	for _, b := range req.System {
		h.Write([]byte(b.Text))
		h.Write([]byte{0})
	}
	h.Write([]byte{1})
	h.Write([]byte(audit.Conversation(req)))
	return hex.EncodeToString(h.Sum(nil))
}

// detach copies what a background comparison reads of the client's request
// and may outlive it.
func detach(r Request) Request {
	r.Header = r.Header.Clone()
	return r
}

// start runs f in the background with a slot, under the auditor's context
// and timeout. It reports false (and counts why) when there is no slot or
// the auditor is shutting down.
func (a *Auditor) start(rule string, f func(ctx context.Context)) bool {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.skipped(rule, SkipShutdown)
		return false
	}
	select {
	case a.slots <- struct{}{}:
	default:
		a.mu.Unlock()
		a.skipped(rule, SkipSaturated)
		return false
	}
	a.wg.Add(1)
	a.mu.Unlock()
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = DefaultAuditTimeout
	}
	go func() {
		defer a.wg.Done()
		defer func() { <-a.slots }()
		ctx, cancel := context.WithTimeout(a.base, timeout)
		defer cancel()
		f(ctx)
	}()
	return true
}

// Shutdown stops new comparisons and gives those running until ctx ends;
// then it cancels them and waits for them to return. It returns ctx's error
// when comparisons had to be canceled.
func (a *Auditor) Shutdown(ctx context.Context) error {
	a.init()
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	a.cancel()
	<-done
	return ctx.Err()
}

// Wait returns once no comparison is running (tests).
func (a *Auditor) Wait() {
	a.wg.Wait()
}

func (a *Auditor) add(q *routequality.Route, s routequality.Sample) {
	q.Add(s)
	if a.Metrics != nil {
		a.Metrics.QualitySamples.WithLabelValues(q.Name(), strconv.FormatBool(s.Labelled)).Inc()
	}
}

// spent counts audit spend: in the route's audit budget, the metrics and stats.
func (a *Auditor) spent(rule *CompiledRule, usd float64) {
	if usd <= 0 {
		return
	}
	rule.Quality.Spend(usd, true)
	name := rule.Name()
	if a.Metrics != nil {
		a.Metrics.AuditCostUSD.WithLabelValues(name).Add(usd)
	}
	a.update(name, func(s *AuditStats) { s.AuditCostUSD += usd })
	a.netSavings(name, -usd)
}

func (a *Auditor) netSavings(rule string, usd float64) {
	if a.Metrics != nil {
		a.Metrics.NetSavingsUSD.WithLabelValues(rule).Add(usd)
	}
	a.update(rule, func(s *AuditStats) { s.NetSavingsUSD += usd })
}

func (a *Auditor) counted(rule, source, comparer, verdict string) {
	if a.Metrics != nil {
		a.Metrics.Audits.WithLabelValues(rule, source, comparer, verdict).Inc()
	}
	a.update(rule, func(s *AuditStats) {
		if s.Audits[source] == nil {
			s.Audits[source] = map[string]int64{}
		}
		s.Audits[source][comparer+"/"+verdict]++
	})
}

func (a *Auditor) skipped(rule, reason string) {
	if a.Metrics != nil {
		a.Metrics.AuditsSkipped.WithLabelValues(rule, reason).Inc()
	}
	a.update(rule, func(s *AuditStats) { s.Skipped[reason]++ })
}

func (a *Auditor) update(rule string, f func(*AuditStats)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stats == nil {
		a.stats = map[string]*AuditStats{}
	}
	s := a.stats[rule]
	if s == nil {
		s = &AuditStats{Audits: map[string]map[string]int64{}, Skipped: map[string]int64{}}
		a.stats[rule] = s
	}
	f(s)
}

// Stats returns a copy of the per-rule aggregates, by rule.
func (a *Auditor) Stats() map[string]AuditStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]AuditStats, len(a.stats))
	for rule, s := range a.stats {
		c := AuditStats{Audits: map[string]map[string]int64{}, Skipped: copyMap(s.Skipped),
			AuditCostUSD: s.AuditCostUSD, NetSavingsUSD: s.NetSavingsUSD}
		for src, m := range s.Audits {
			c.Audits[src] = copyMap(m)
		}
		out[rule] = c
	}
	return out
}

// Reset forgets the aggregates (DELETE /api/stats); the quality loops keep
// their samples.
func (a *Auditor) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats = nil
}

func (a *Auditor) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}
