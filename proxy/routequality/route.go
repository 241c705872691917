package routequality

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/logistic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Sample is one scored draft of a route and, when it was compared with the
// verifier's answer, the verdict. It is what a pod publishes and what the
// samples export writes (one JSON object per line).
type Sample struct {
	calibrate.Sample
	Time time.Time `json:"time"`
	Rule string    `json:"rule"`
	// Pod and Seq identify the sample across replicas (Seq grows per pod).
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

// Model is a learned score: P(draft good | features).
type Model struct {
	Features []string `json:"features"`
	logistic.Model
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
	// Met says the target holds at the declared confidence (true without a
	// target).
	Met       bool      `json:"met"`
	Model     *Model    `json:"model,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Verdict is the route's decision on one draft.
type Verdict struct {
	Score     float64
	Threshold float64
	Accept    bool
	Features  []float64
}

// Route is one rule's quality loop. Safe for concurrent use.
type Route struct {
	name string
	s    Settings

	mu      sync.Mutex
	samples []Sample // the newest Window samples, oldest first
	pending []Sample // not yet published
	seq     uint64
	newLabs int
	cal     Calibration
	remote  bool // the calibration comes from the operator
	spend   float64
	audit   float64
}

// NewRoute starts a route with no samples.
func NewRoute(name string, s Settings) *Route {
	r := &Route{name: name, s: s}
	r.cal = Calibrate(s, nil)
	return r
}

// Name is the rule's name.
func (r *Route) Name() string { return r.name }

// Settings are the route's resolved settings.
func (r *Route) Settings() Settings { return r.s }

// Decide scores a draft with the route's score (learned, else the gate's)
// and compares it with the threshold in effect. gateAccept is the gate's
// own verdict, used while the configured threshold holds (it knows the
// per-complexity thresholds).
func (r *Route) Decide(in Inputs, gateAccept bool) Verdict {
	x := Vector(in)
	r.mu.Lock()
	cal := r.cal
	r.mu.Unlock()
	v := Verdict{Features: x, Threshold: cal.Threshold}
	if in.Decision != nil {
		v.Score = in.Decision.Score
	}
	if cal.Model != nil {
		v.Score = cal.Model.Predict(x)
	}
	if cal.Reason == ReasonConfigured || (cal.Reason == string(calibrate.ColdStart) && cal.Threshold < calibrate.Never) {
		v.Accept = gateAccept
		if in.Decision != nil {
			v.Threshold = in.Decision.Threshold
		}
		return v
	}
	v.Accept = v.Score >= cal.Threshold
	return v
}

// Bypass reports whether a request should go to the verifier without a
// draft: the route escalates everything, and this request is not one of the
// share Explore still drafted for samples. mass is what a drafted request's
// sample stands for (1/Explore while escalating everything, else 1).
func (r *Route) Bypass() (bypass bool, mass float64) {
	r.mu.Lock()
	escalating := r.cal.Threshold >= calibrate.Never
	r.mu.Unlock()
	if !escalating {
		return false, 1
	}
	if r.s.Explore <= 0 {
		return true, 1
	}
	if rand.Float64() < r.s.Explore {
		return false, 1 / r.s.Explore
	}
	return true, 1
}

// Audit draws whether an accepted draft is audited, within the audit budget;
// p is the probability it was drawn with (the sample's label probability).
func (r *Route) Audit(estimatedCost float64) (audit bool, p float64) {
	p = r.s.AuditRate
	if p <= 0 {
		return false, 0
	}
	r.mu.Lock()
	over := r.audit+estimatedCost > r.s.MaxCostShare*r.spend
	r.mu.Unlock()
	if over {
		return false, p
	}
	return rand.Float64() < p, p
}

// Judge draws whether a comparison of an escalated draft goes to the judge.
func (r *Route) Judge() (judge bool, p float64) {
	p = r.s.JudgeRate
	return p > 0 && rand.Float64() < p, p
}

// Spend counts the route's spend answering clients (audit false) or
// comparing (audit true), in USD.
func (r *Route) Spend(usd float64, audit bool) {
	r.mu.Lock()
	if audit {
		r.audit += usd
	} else {
		r.spend += usd
	}
	r.mu.Unlock()
}

// Add records a sample whose fate is known. A standalone route recalibrates
// every RefitEvery new labels.
func (r *Route) Add(s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	s.Rule, s.Seq = r.name, r.seq
	if s.Time.IsZero() {
		s.Time = time.Now()
	}
	r.samples = append(r.samples, s)
	if len(r.samples) > Window {
		r.samples = append(r.samples[:0], r.samples[len(r.samples)-Window:]...)
	}
	r.pending = append(r.pending, s)
	if len(r.pending) > Window {
		r.pending = append(r.pending[:0], r.pending[len(r.pending)-Window:]...)
	}
	if s.Labelled {
		r.newLabs++
	}
	if !r.remote && r.newLabs >= RefitEvery {
		r.newLabs = 0
		r.cal = Calibrate(r.s, r.samples)
	}
}

// Calibration is the calibration in effect.
func (r *Route) Calibration() Calibration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cal
}

// SetCalibration puts a calibration computed elsewhere (the operator, over
// every pod's samples) in effect; the route stops calibrating itself.
func (r *Route) SetCalibration(c Calibration) {
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

// Calibrate computes a route's calibration from its samples: with enough
// labels (and Learn) it fits a score over the samples' features, rescores
// them, and picks the threshold with calibrate.Choose.
func Calibrate(s Settings, samples []Sample) Calibration {
	cal := Calibration{Target: s.Target, Samples: len(samples), UpdatedAt: time.Now()}
	scored := make([]calibrate.Sample, len(samples))
	labels := 0
	for i, x := range samples {
		scored[i] = x.Sample
		if x.Labelled {
			labels++
		}
	}
	cal.Labels = labels
	if s.Learn && labels >= s.MinSamples {
		if m := fit(samples); m != nil {
			cal.Model = m
			for i := range scored {
				if len(samples[i].Features) > 0 {
					scored[i].Score = m.Predict(samples[i].Features)
				}
			}
		}
	}
	delta := 1 - s.Confidence
	if s.Target <= 0 {
		cal.Threshold, cal.Reason, cal.Met = s.Threshold, ReasonConfigured, true
		cal.Estimate = calibrate.At(scored, s.Threshold, delta)
		return cal
	}
	d := calibrate.Choose(scored, calibrate.Config{Target: s.Target, Confidence: s.Confidence, MinLabels: s.MinSamples}, s.Threshold)
	cal.Threshold, cal.Reason, cal.Estimate, cal.Met = d.Threshold, string(d.Reason), d.Estimate, d.Met
	if d.Reason == calibrate.ColdStart && s.ColdStart == rules.ColdStartVerifier {
		cal.Threshold, cal.Met = calibrate.Never, true
	}
	return cal
}

// fit learns P(good | features) on the labelled samples, each weighted by
// the inverse of its label probability, pulled toward the gate's own score.
func fit(samples []Sample) *Model {
	var x [][]float64
	var y []bool
	var w []float64
	for _, s := range samples {
		if !s.Labelled || len(s.Features) != NumFeatures {
			continue
		}
		x = append(x, s.Features)
		y = append(y, s.Good)
		lp := s.LabelProb
		if lp <= 0 || lp > 1 {
			lp = 1
		}
		m := s.Mass
		if m <= 0 {
			m = 1
		}
		w = append(w, m/lp)
	}
	if len(x) == 0 {
		return nil
	}
	prior := make([]float64, NumFeatures)
	prior[featPrior] = 1
	m, err := logistic.Fit(x, y, w, logistic.Options{Lambda: 1, Prior: prior})
	if err != nil {
		return nil
	}
	return &Model{Features: FeatureNames(), Model: *m}
}
