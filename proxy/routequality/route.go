package routequality

import (
	"cmp"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Sample is one scored draft of a route and, when it was compared with the
// verifier's answer, the verdict. It is what a pod publishes and what the
// samples export writes (one JSON object per line).
type Sample struct {
	calibrate.Sample
	Time time.Time `json:"time"`
	Rule string    `json:"rule"`
	// Pod and Seq identify the sample across replicas: Seq grows within a
	// process and starts from the clock, so it stays unique per pod across
	// container restarts and rebuilt routes.
	Pod string `json:"pod,omitempty"`
	Seq uint64 `json:"seq"`
	// RequestHash is a SHA-256 of the request's messages, never the text.
	RequestHash string `json:"requestHash,omitempty"`
	// Outcome is how the request was answered (accepted, escalated, ...).
	Outcome string `json:"outcome"`
	// Comparer is the comparer that labelled the sample (exact, judge).
	Comparer string `json:"comparer,omitempty"`
	// Costs in USD: the draft (and second opinions), the verifier when it
	// answered the client, and the audit (verifier and judge calls made only
	// to compare).
	DraftCost    float64 `json:"draftCost,omitempty"`
	VerifierCost float64 `json:"verifierCost,omitempty"`
	AuditCost    float64 `json:"auditCost,omitempty"`
	// Prompt, DraftText and VerifierText are kept only when the rule opts in
	// (quality.audit.keepText).
	Prompt       string `json:"prompt,omitempty"`
	DraftText    string `json:"draftText,omitempty"`
	VerifierText string `json:"verifierText,omitempty"`
}

// Reasons a threshold is in effect, beyond calibrate's.
const (
	// ReasonConfigured: the rule declares no target; its threshold holds.
	ReasonConfigured = "configured"
)

// Calibration is what a route runs with: the threshold in effect and why,
// the learned score, and the quality estimated at the threshold.
type Calibration struct {
	Threshold float64            `json:"threshold"`
	Reason    string             `json:"reason"`
	Target    float64            `json:"target,omitempty"`
	Estimate  calibrate.Estimate `json:"estimate"`
	Labels    int                `json:"labels"`
	Samples   int                `json:"samples"`
	// Met says the answers served hold the target at the declared
	// confidence: true without a target, and when everything is escalated
	// (the verifier answers; reason escalate-all then says the drafts could
	// not be accepted at the target); in cold start, whether the estimate at
	// the configured threshold meets it.
	Met   bool   `json:"met"`
	Model *Model `json:"model,omitempty"`
	// Realised is the quality the answers actually served delivered over the
	// samples kept (accepted drafts judged by their audits, escalated and
	// bypassed answers good), whatever thresholds were in effect then.
	Realised  calibrate.Estimate `json:"realised"`
	UpdatedAt time.Time          `json:"updatedAt"`
}

// Scorers: what a route's score is.
const (
	// ScorerGate: the gate's own score and verdict.
	ScorerGate = "gate"
	// ScorerPrior: the prior model (the gate's score and, with second
	// opinions, their agreement); see PriorModel.
	ScorerPrior = "prior"
	// ScorerLearned: a model learned from the route's labelled samples.
	ScorerLearned = "learned"
)

// Verdict is the route's decision on one draft.
type Verdict struct {
	Score     float64
	Threshold float64
	Accept    bool
	Features  []float64
	// Scorer is the score used (ScorerGate, ScorerPrior, ScorerLearned).
	Scorer string
}

// lastSeq is the last sample sequence number handed out in this process.
var lastSeq atomic.Uint64

func init() { lastSeq.Store(uint64(time.Now().UnixNano())) }

// nextSeq returns a sequence number greater than any this process (or, the
// clock allowing, an earlier process of the same pod) handed out.
func nextSeq() uint64 {
	floor := uint64(time.Now().UnixNano())
	for {
		cur := lastSeq.Load()
		next := max(cur+1, floor)
		if lastSeq.CompareAndSwap(cur, next) {
			return next
		}
	}
}

// Route is one rule's quality loop. Safe for concurrent use.
type Route struct {
	name string
	// float draws the route's random numbers (audits, exploration, judging).
	float func() float64

	// calMu serialises recalibrations (fitting runs without mu held).
	calMu sync.Mutex

	mu      sync.Mutex
	s       Settings
	samples []Sample // the newest Window samples, oldest first; never changed in place
	pending []Sample // not yet published
	seq     uint64
	newLabs int
	cal     Calibration
	remote  bool // the calibration comes from the operator
	spend   float64
	audit   float64
	drawn   uint64 // audits drawn and made
	skipped uint64 // audits drawn but refused by the budget
	judged  uint64 // escalated comparisons drawn for the judge and judged
	refused uint64 // escalated comparisons drawn for the judge, refused by the budget
}

// NewRoute starts a route with no samples.
func NewRoute(name string, s Settings) *Route {
	r := &Route{name: name, s: s, float: rand.Float64}
	r.cal = Calibrate(s, nil)
	return r
}

// Name is the rule's name.
func (r *Route) Name() string { return r.name }

// Settings are the route's resolved settings.
func (r *Route) Settings() Settings {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s
}

// holdsConfigured reports whether the configured threshold is in effect:
// the rule declares no target, or the route is in cold start and still
// drafts.
func (c *Calibration) holdsConfigured() bool {
	return c.Reason == ReasonConfigured || (c.Reason == string(calibrate.ColdStart) && c.Threshold < calibrate.Never)
}

// scorer returns the model that scores a route's drafts under a
// calibration: the learned one, else the prior.
func scorer(c *Calibration, opinions bool) (*Model, string) {
	if c.Model != nil && len(c.Model.Weights) == NumFeatures {
		return c.Model, ScorerLearned
	}
	if opinions {
		return opinionPrior, ScorerPrior
	}
	return gatePrior, ScorerPrior
}

// Decide scores a draft and compares the score with the threshold in
// effect. gateAccept is the gate's own verdict.
//
// While the configured threshold holds (no target, or cold start):
//   - without second opinions and without a learned model the verdict is
//     the gate's own, score and threshold included (the gate knows the
//     per-complexity thresholds);
//   - with second opinions the prior model's score is compared with the
//     gate's threshold for this draft: agreement can accept a draft the gate
//     alone would escalate, disagreement escalate one it would accept;
//   - a learned model's score is compared with the rule's threshold.
//
// Once calibrated (or escalating everything) the score in effect is
// compared with the calibrated threshold.
func (r *Route) Decide(in Inputs, gateAccept bool) Verdict {
	x := Vector(in)
	r.mu.Lock()
	threshold, configured := r.cal.Threshold, r.cal.holdsConfigured()
	model, kind := scorer(&r.cal, len(r.s.Opinions) > 0)
	r.mu.Unlock()
	v := Verdict{Features: x, Threshold: threshold, Scorer: kind}
	gateScore, gateThreshold := 0.0, threshold
	if d := in.Decision; d != nil {
		gateScore, gateThreshold = d.Score, d.Threshold
	}
	if configured && model == gatePrior {
		v.Score, v.Threshold, v.Accept, v.Scorer = gateScore, gateThreshold, gateAccept, ScorerGate
		return v
	}
	v.Score = model.Score(x)
	if configured && kind == ScorerPrior {
		v.Threshold = gateThreshold
	}
	v.Accept = v.Score >= v.Threshold
	return v
}

// Bypass reports whether a request should go to the verifier without a
// draft: the route escalates everything, and this request is not one of the
// share Explore still drafted for samples. mass is what a drafted request's
// sample stands for (1/Explore while escalating everything, else 1).
func (r *Route) Bypass() (bypass bool, mass float64) {
	r.mu.Lock()
	escalating := r.cal.Threshold >= calibrate.Never
	explore := r.s.Explore
	r.mu.Unlock()
	if !escalating {
		return false, 1
	}
	if explore <= 0 {
		return true, 1
	}
	if r.float() < explore {
		return false, 1 / explore
	}
	return true, 1
}

// Audit draws whether an accepted draft is audited, within the audit budget
// (audit spend at most MaxCostShare of the route's other spend); p is the
// probability it was drawn with (the sample's label probability).
func (r *Route) Audit(estimatedCost float64) (audit bool, p float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p = r.s.AuditRate
	if p <= 0 {
		return false, 0
	}
	if r.float() >= p {
		return false, p
	}
	if r.audit+estimatedCost > r.s.MaxCostShare*r.spend {
		r.skipped++
		return false, p
	}
	r.drawn++
	// The budget refuses some draws, whatever the draft: the probability
	// that an accepted draft is labelled is the rate times the share of draws
	// the budget let through, and weighting labels by the rate alone would
	// mix them wrongly with the escalated drafts' labels.
	return true, p * made(r.drawn, r.skipped)
}

// made is the share of draws a budget let through, smoothed so that it is
// never zero.
func made(done, refused uint64) float64 {
	return float64(done+1) / float64(done+refused+1)
}

// EscalatedJudgeShare is the part of the audit budget that judging
// escalated drafts may use: the rest stays for audits of accepted drafts,
// the only labels that measure what clients are served.
const EscalatedJudgeShare = 0.5

// Judge draws whether a comparison of an escalated draft goes to the judge,
// within its share of the audit budget; held is the estimated cost of the
// audits still running. refused says the draw was refused by the budget.
// The judged disputes stand for all disputes in the calibration (a ratio
// within the disputed stratum), so no label probability is needed here.
func (r *Route) Judge(held float64) (judge, refused bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s.JudgeRate <= 0 || r.float() >= r.s.JudgeRate {
		return false, false
	}
	if r.audit+held > EscalatedJudgeShare*r.s.MaxCostShare*r.spend {
		r.refused++
		return false, true
	}
	r.judged++
	return true, false
}

// Spend counts the route's spend answering clients (audit false) or
// comparing (audit true), in USD.
func (r *Route) Spend(usd float64, audit bool) {
	if !(usd > 0) || math.IsInf(usd, 0) {
		return
	}
	r.mu.Lock()
	if audit {
		r.audit += usd
	} else {
		r.spend += usd
	}
	r.mu.Unlock()
}

// Add records a sample whose fate is known. A route that calibrates itself
// recalibrates every RefitEvery new labels, in the caller's goroutine but
// without holding up Decide or other Adds (at most one recalibration runs;
// one due while another runs waits for the next label).
func (r *Route) Add(s Sample) {
	r.mu.Lock()
	r.seq++
	s.Rule, s.Seq = r.name, nextSeq()
	if s.Time.IsZero() {
		s.Time = time.Now()
	}
	// Reslicing drops the oldest without copying; append reallocates now and
	// then, copying only the live window.
	r.samples = append(r.samples, s)
	if len(r.samples) > Window {
		r.samples = r.samples[len(r.samples)-Window:]
	}
	r.pending = append(r.pending, s)
	if len(r.pending) > Window {
		r.pending = r.pending[len(r.pending)-Window:]
	}
	if s.Labelled {
		r.newLabs++
	}
	due := !r.remote && r.newLabs >= RefitEvery
	r.mu.Unlock()
	if due {
		r.recalibrate(false)
	}
}

// recalibrate computes the route's calibration from its samples and puts it
// in effect, unless the operator's is. wait false gives up when another
// recalibration is running.
func (r *Route) recalibrate(wait bool) {
	if wait {
		r.calMu.Lock()
	} else if !r.calMu.TryLock() {
		return
	}
	defer r.calMu.Unlock()
	r.mu.Lock()
	if r.remote {
		r.mu.Unlock()
		return
	}
	s, start := r.s, r.cal.Model
	// Samples are never changed in place and appends land beyond this view,
	// so it can be read without the lock.
	samples := r.samples[:len(r.samples):len(r.samples)]
	r.newLabs = 0
	r.mu.Unlock()
	cal := calibrateFrom(s, samples, start)
	r.mu.Lock()
	if !r.remote {
		r.cal = cal
	}
	r.mu.Unlock()
}

// reconfigure puts new settings of the same rule in effect and, when they
// changed, recalibrates.
func (r *Route) reconfigure(s Settings) {
	r.mu.Lock()
	changed := !reflect.DeepEqual(r.s, s)
	r.s = s
	r.mu.Unlock()
	if changed {
		r.recalibrate(true)
	}
}

// Calibration is the calibration in effect.
func (r *Route) Calibration() Calibration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cal
}

// SetCalibration puts a calibration computed elsewhere (the operator, over
// every pod's samples) in effect; the route stops calibrating itself. A
// learned model is matched to this build's features by name.
func (r *Route) SetCalibration(c Calibration) {
	c.Model = c.Model.aligned()
	r.mu.Lock()
	r.cal, r.remote = c, true
	r.mu.Unlock()
}

// Samples returns a copy of the route's samples, oldest first.
func (r *Route) Samples() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Sample(nil), r.samples...)
}

// Drain returns the samples added since the last Drain.
func (r *Route) Drain() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending
	r.pending = nil
	return p
}

// Costs returns the route's spend answering clients and auditing, in USD.
func (r *Route) Costs() (spend, audit float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spend, r.audit
}

// Stats is what a route reports to metrics, the stats API and the status
// page.
type Stats struct {
	Calibration Calibration `json:"calibration"`
	// Scorer is the score in effect (ScorerGate, ScorerPrior, ScorerLearned)
	// while the calibration holds.
	Scorer string `json:"scorer"`
	// Remote says the calibration comes from the operator.
	Remote bool `json:"remote"`
	// Samples held (the newest Window), of which Labels labelled: Good at
	// least as good as the verifier's answer, Bad worse (raw counts, not
	// weighted).
	Samples int `json:"samples"`
	Labels  int `json:"labels"`
	Good    int `json:"good"`
	Bad     int `json:"bad"`
	// Added counts the samples added since the route started.
	Added uint64 `json:"added"`
	// AuditsDrawn counts the audits drawn and made; AuditsSkipped those drawn
	// but refused because the audit budget was spent.
	AuditsDrawn   uint64 `json:"auditsDrawn"`
	AuditsSkipped uint64 `json:"auditsSkipped"`
	// Spend answering clients and AuditSpend comparing, in USD.
	Spend      float64 `json:"spend"`
	AuditSpend float64 `json:"auditSpend"`
	// Weights are the learned model's weights by feature name (FeatureBias
	// for the bias); nil without a learned model. A signal at 0 is
	// neutralised on this route.
	Weights map[string]float64 `json:"weights,omitempty"`
}

// Stats returns the route's figures.
func (r *Route) Stats() Stats {
	r.mu.Lock()
	st := Stats{
		Calibration:   r.cal,
		Remote:        r.remote,
		Samples:       len(r.samples),
		Added:         r.seq,
		AuditsDrawn:   r.drawn,
		AuditsSkipped: r.skipped,
		Spend:         r.spend,
		AuditSpend:    r.audit,
	}
	samples := r.samples[:len(r.samples):len(r.samples)]
	opinions := len(r.s.Opinions) > 0
	r.mu.Unlock()
	for i := range samples {
		if samples[i].Labelled {
			st.Labels++
			if samples[i].Good {
				st.Good++
			} else {
				st.Bad++
			}
		}
	}
	m, kind := scorer(&st.Calibration, opinions)
	st.Scorer = kind
	if kind == ScorerPrior && !opinions && st.Calibration.holdsConfigured() {
		st.Scorer = ScorerGate
	}
	if kind == ScorerLearned {
		st.Weights = m.Named()
	}
	return st
}

// Calibrate computes a route's calibration from its samples.
//
//   - Fewer than MinSamples labels (cold start): the configured threshold,
//     or calibrate.Never (escalate everything) with coldStart verifier.
//   - Enough labels: with Learn, a model is fitted on the labelled samples
//     (pulled toward the prior model, see fit); every sample with features
//     is rescored by the score in effect (learned, else prior), and
//     calibrate.Choose picks the loosest threshold whose lower confidence
//     bound meets the target and whose accepted drafts are shown better
//     than the escalated ones. None qualifies: escalate-all (Threshold
//     calibrate.Never, Met true: the verifier answers everything; the
//     reason says the drafts cannot be accepted at the target).
//   - No target: the configured threshold, Met true; the estimate at it is
//     reported.
//
// Samples' Mass (1/Explore for drafts taken while escalating everything)
// weighs them in every share, and Mass/LabelProb in every label.
func Calibrate(s Settings, samples []Sample) Calibration {
	return calibrateFrom(s, samples, nil)
}

// calibrateFrom is Calibrate with the fit started at a previous model.
func calibrateFrom(s Settings, samples []Sample, start *Model) Calibration {
	cal := Calibration{Target: s.Target, Samples: len(samples), UpdatedAt: time.Now()}
	for i := range samples {
		if samples[i].Labelled {
			cal.Labels++
		}
	}
	prior := gatePrior
	if len(s.Opinions) > 0 {
		prior = opinionPrior
	}
	// scorer gives each sample the score the threshold is tested on. A score
	// learned from the very labels it is then tested on looks better on them
	// than it is, so a learned score is cross-fitted: each half of the
	// samples (alternate ones in time order) is scored by a model fitted on the other
	// half, and the model put in effect is fitted on all of them.
	scorer := func(int) *Model { return prior }
	if s.Learn && cal.Labels >= s.MinSamples {
		if m := fit(samples, prior, start); m != nil {
			cal.Model = m
			var folds [2][]Sample
			for i, x := range samples {
				folds[i%2] = append(folds[i%2], x)
			}
			held := [2]*Model{fit(folds[1], prior, m), fit(folds[0], prior, m)}
			for k := range held {
				if held[k] == nil {
					held[k] = prior // a half without labels is scored by the prior
				}
			}
			scorer = func(i int) *Model { return held[i%2] }
		}
	}
	scored := make([]calibrate.Sample, len(samples))
	for i := range samples {
		scored[i] = samples[i].Sample
		scored[i].Features = nil // not needed below; keeps the copy small
		if f := samples[i].Features; len(f) == NumFeatures {
			scored[i].Score = scorer(i).Score(f)
		}
	}
	delta := 1 - s.Confidence
	if s.Target <= 0 {
		cal.Threshold, cal.Reason, cal.Met = s.Threshold, ReasonConfigured, true
		cal.Estimate = calibrate.At(scored, s.Threshold, delta)
		return cal
	}
	configured := s.Threshold
	if s.ColdStart == rules.ColdStartVerifier {
		configured = calibrate.Never
	}
	d := calibrate.Choose(scored, calibrate.Config{Target: s.Target, Confidence: s.Confidence, MinLabels: max(s.MinSamples, 1),
		DraftCost: draftCost(samples)}, configured)
	cal.Threshold, cal.Reason, cal.Estimate, cal.Met = d.Threshold, string(d.Reason), d.Estimate, d.Met
	if cal.Model != nil && d.Reason == calibrate.Calibrated {
		if cal.Threshold = matchShare(cal.Model, samples, d.Estimate.Accepted); cal.Threshold >= calibrate.Never {
			cal.Reason = string(calibrate.EscalateAll)
		}
	}
	// A cold start holds the configured threshold while too few labels say
	// where to move it, but not against evidence: once ProtectLabels labels
	// show at the declared confidence that holding it misses the target, the
	// route escalates everything (drafting its explore share) until it is
	// calibrated. Escalating cannot lower quality, so this move needs fewer
	// labels than a loosening one.
	if d.Reason == calibrate.ColdStart && configured < calibrate.Never &&
		cal.Labels >= min(ProtectLabels, s.MinSamples) && d.Estimate.Upper < s.Target {
		cal.Threshold, cal.Reason, cal.Met = calibrate.Never, string(calibrate.EscalateAll), true
	}
	cal.Realised = realised(samples, delta)
	return cal
}

// matchShare is the threshold at which model m accepts no larger share of
// the samples than accepted. The threshold is tested on cross-fitted scores,
// but the model in effect is fitted on every sample and its scores can sit
// higher (a fit on few labels moves its bias most): applying the tested
// threshold to it could accept many more drafts than were certified. The
// share, not the raw score, is what the bound holds for.
func matchShare(m *Model, samples []Sample, accepted float64) float64 {
	type scored struct{ score, mass float64 }
	var all []scored
	var total float64
	for i := range samples {
		mass := samples[i].Mass
		if mass <= 0 || math.IsInf(mass, 0) {
			mass = 1
		}
		total += mass
		if f := samples[i].Features; len(f) == NumFeatures {
			all = append(all, scored{m.Score(f), mass})
		}
	}
	if total == 0 {
		return calibrate.Never
	}
	slices.SortFunc(all, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	// Walk the 0.01 grid from the top, as calibrate.Choose does, and keep the
	// loosest threshold whose share stays within the certified one.
	t, next, share := calibrate.Never, 0, 0.0
	for i := 100; i >= 0; i-- {
		g := float64(i) / 100
		grown := share
		j := next
		for j < len(all) && all[j].score >= g {
			grown += all[j].mass / total
			j++
		}
		if grown > accepted+1e-9 {
			break
		}
		t, next, share = g, j, grown
	}
	return t
}

// draftCost is what drafting a request costs as a share of the verifier's
// answer, from the samples' recorded costs: the mean draft cost (with second
// opinions) over the mean cost of the verifier's answers to escalated
// requests; 0 when either is unknown.
func draftCost(samples []Sample) float64 {
	var draft, verifier float64
	var nd, nv int
	for i := range samples {
		if c := samples[i].DraftCost; c > 0 && !math.IsInf(c, 0) {
			draft += c
			nd++
		}
		if c := samples[i].VerifierCost; c > 0 && !math.IsInf(c, 0) {
			verifier += c
			nv++
		}
	}
	if nd == 0 || nv == 0 {
		return 0
	}
	return (draft / float64(nd)) / (verifier / float64(nv))
}

// ProtectLabels is the number of labels from which a cold start that
// evidently misses its target escalates everything.
const ProtectLabels = 20

// realised estimates the quality of the answers served: a sample whose draft
// was accepted counts as served by the draft, any other as the verifier's.
func realised(samples []Sample, delta float64) calibrate.Estimate {
	served := make([]calibrate.Sample, len(samples))
	for i := range samples {
		served[i] = samples[i].Sample
		served[i].Features = nil
		served[i].Score = 0
		if samples[i].Outcome == OutcomeAccepted {
			served[i].Score = 1
		}
	}
	e := calibrate.At(served, 0.5, delta)
	e.Threshold = 0
	return e
}

// OutcomeAccepted is Sample.Outcome for a draft served to the client.
const OutcomeAccepted = "accepted"
