// Package calibrate holds a route to its quality target: from audited
// samples of the route's own traffic it estimates, for every candidate
// threshold, the share of answers at least as good as the verifier's would
// have been, with a one-sided confidence bound, and picks the cheapest
// threshold whose bound meets the target and whose accepted drafts are
// shown to be better than the ones it escalates (a score that separates
// nothing escalates everything).
//
// The choice is a fixed-sequence test ("Learn then Test", Angelopoulos et
// al. 2021): candidate thresholds are tested from the strictest (accept no
// draft) to the loosest, and the search stops at the first one that fails,
// so the guarantee holds at the declared confidence although many
// thresholds are tried.
//
// Samples are drafts that were scored. A sample is labelled when its draft
// was compared with the verifier's answer: an audit of an accepted draft
// (drawn at the audit rate) or an escalated draft (the verifier answered
// anyway). Labels are weighted by the inverse of the probability that the
// draft was compared, so accepted drafts audited at 5 % and escalated drafts
// compared every time estimate one population without bias.
package calibrate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Sample is one scored draft.
type Sample struct {
	// Score is the draft's gate score under the score function in effect.
	Score float64 `json:"score"`
	// Features is the signal vector the score was computed from (kept so a
	// refitted score can rescore old samples).
	Features []float64 `json:"features,omitempty"`
	// Mass is how many requests this draft stands for: 1, or 1/p when only a
	// share p of the requests was drafted. Zero is read as 1.
	Mass float64 `json:"mass,omitempty"`
	// Labelled says the draft was compared with the verifier's answer; Good
	// is then the verdict (the draft is at least as good).
	Labelled bool `json:"labelled,omitempty"`
	Good     bool `json:"good,omitempty"`
	// LabelProb is the probability that this draft was compared (the audit
	// rate for accepted drafts, 1 for escalated ones). Zero is read as 1.
	LabelProb float64 `json:"labelProb,omitempty"`
}

func (s Sample) mass() float64 {
	if s.Mass <= 0 {
		return 1
	}
	return s.Mass
}

func (s Sample) labelWeight() float64 {
	if s.LabelProb <= 0 || s.LabelProb > 1 {
		return s.mass()
	}
	return s.mass() / s.LabelProb
}

// Estimate is the realised quality a threshold gives on the samples.
type Estimate struct {
	Threshold float64 `json:"threshold"`
	// Quality is the estimated share of answers at least as good as the
	// verifier's (escalated answers count as good); Lower and Upper bound it
	// at the configured confidence, one-sided each.
	Quality float64 `json:"quality"`
	Lower   float64 `json:"lower"`
	Upper   float64 `json:"upper"`
	// Accepted is the estimated share of requests whose draft is accepted.
	Accepted float64 `json:"accepted"`
	// Labels is the number of labelled samples at or above the threshold;
	// Effective is their effective sample size after weighting.
	Labels    int     `json:"labels"`
	Effective float64 `json:"effective"`
}

// At estimates the quality of threshold t on samples at confidence 1-delta.
func At(samples []Sample, t, delta float64) Estimate {
	var total float64
	var acc region
	for _, s := range samples {
		total += s.mass()
		if s.Score >= t {
			acc.add(s)
		}
	}
	return acc.estimate(t, total, delta, true)
}

// region sums what the estimate needs of the samples at or above a threshold.
type region struct {
	accepted, wSum, wSq, wBad float64
	labels, n                 int
}

func (r *region) add(s Sample) {
	r.n++
	r.accepted += s.mass()
	if !s.Labelled {
		return
	}
	w := s.labelWeight()
	r.labels++
	r.wSum += w
	r.wSq += w * w
	if !s.Good {
		r.wBad += w
	}
}

// estimate is the region's Estimate; upper false leaves Upper at 1 (the
// controller's walk needs only Lower, and each bound costs a beta quantile).
func (r *region) estimate(t, total, delta float64, upper bool) Estimate {
	e := Estimate{Threshold: t, Labels: r.labels}
	if total == 0 {
		e.Quality, e.Lower, e.Upper = 1, 0, 1
		return e
	}
	e.Accepted = r.accepted / total
	if r.accepted == 0 {
		e.Quality, e.Lower, e.Upper = 1, 1, 1
		return e
	}
	if r.wSum == 0 {
		// Drafts are accepted but none was compared: nothing is known of them.
		e.Quality, e.Lower, e.Upper = math.NaN(), 1-e.Accepted, 1
		return e
	}
	bad := r.wBad / r.wSum
	// Kish's effective sample size turns the weighted labels into a binomial
	// experiment of equivalent precision.
	n := r.wSum * r.wSum / r.wSq
	e.Effective = n
	e.Quality = 1 - e.Accepted*bad
	e.Lower = 1 - e.Accepted*UpperBound(bad*n, n, delta)
	e.Upper = 1
	if upper {
		e.Upper = 1 - e.Accepted*LowerBound(bad*n, n, delta)
	}
	return e
}

// Config is a route's quality target.
type Config struct {
	// Target is the share of answers that must be at least as good as the
	// verifier's (e.g. 0.95).
	Target float64
	// Confidence that the target holds at the chosen threshold (e.g. 0.9).
	Confidence float64
	// MinLabels is the number of labelled samples below which the configured
	// threshold is held (cold start).
	MinLabels int
	// Step is the spacing of candidate thresholds (default 0.01).
	Step float64
}

// Defaults fills unset fields.
func (c Config) Defaults() Config {
	if c.Confidence == 0 {
		c.Confidence = 0.9
	}
	if c.MinLabels == 0 {
		c.MinLabels = 100
	}
	if c.Step == 0 {
		c.Step = 0.01
	}
	return c
}

// Validate checks a configuration.
func (c Config) Validate() error {
	switch {
	case !(c.Target > 0 && c.Target < 1):
		return fmt.Errorf("target %v: must be in (0, 1)", c.Target)
	case !(c.Confidence > 0 && c.Confidence < 1):
		return fmt.Errorf("confidence %v: must be in (0, 1)", c.Confidence)
	case c.MinLabels < 0:
		return fmt.Errorf("minimum labels %d: must not be negative", c.MinLabels)
	case !(c.Step > 0 && c.Step <= 0.5):
		return fmt.Errorf("step %v: must be in (0, 0.5]", c.Step)
	}
	return nil
}

// Reason says why a threshold is in effect.
type Reason string

const (
	// ColdStart: too few labelled samples; the configured threshold holds.
	ColdStart Reason = "cold-start"
	// Calibrated: the cheapest threshold whose bound meets the target.
	Calibrated Reason = "calibrated"
	// EscalateAll: no threshold that accepts any draft meets the target
	// with confidence; every request goes to the verifier.
	EscalateAll Reason = "escalate-all"
)

// badBounds returns the region's one-sided bounds on the share of bad drafts
// (weighted as in estimate); ok is false without labels.
func (r region) badBounds(delta float64) (lo, hi float64, ok bool) {
	if r.wSum <= 0 {
		return 0, 1, false
	}
	n := r.wSum * r.wSum / r.wSq
	k := r.wBad / r.wSum * n
	return LowerBound(k, n, delta), UpperBound(k, n, delta), true
}

// minus is the region of the samples in r and not in s (s within r).
func (r region) minus(s region) region {
	return region{
		accepted: r.accepted - s.accepted,
		wSum:     r.wSum - s.wSum,
		wSq:      r.wSq - s.wSq,
		wBad:     r.wBad - s.wBad,
		labels:   r.labels - s.labels,
		n:        r.n - s.n,
	}
}

// separates reports whether the drafts of the accepted region acc are shown,
// at confidence 1-delta, to be better than the ones the threshold escalates
// (all minus acc): the upper bound of the accepted drafts' bad share is below
// the lower bound of the escalated drafts'. Accepting every draft needs no
// such evidence.
func separates(acc, all region, delta float64) bool {
	if acc.n == all.n {
		return true
	}
	_, accHi, okAcc := acc.badBounds(delta)
	rejLo, _, okRej := all.minus(acc).badBounds(delta)
	return okAcc && okRej && accHi < rejLo
}

// Never is a threshold no score reaches: every draft is escalated.
const Never = 1.01

// Decision is the controller's choice for a route.
type Decision struct {
	Threshold float64  `json:"threshold"`
	Reason    Reason   `json:"reason"`
	Estimate  Estimate `json:"estimate"`
	// Labels is the number of labelled samples the choice saw.
	Labels int `json:"labels"`
	// Met says the estimate's lower bound meets the target at the threshold
	// in effect: the answers served hold the target at the declared
	// confidence. It is true when every draft is escalated (the verifier
	// answers everything); Reason EscalateAll then says the drafts could not
	// be accepted at the target.
	Met bool `json:"met"`
}

// Choose picks the threshold for a route from its samples: the configured
// one during cold start, else the loosest threshold reached by testing from
// the strictest down while the lower confidence bound meets the target.
//
// Among the thresholds that pass, only one that accepts some drafts and
// whose accepted drafts are shown to be better than the ones it escalates
// (see separates; the confidence of each look is divided by the number of
// looks) is taken, the loosest such: a score that does not tell good drafts from bad
// ones could still pass by accepting a random sliver of them, but such a
// route is better off escalating everything (and, escalating, it can stop
// paying for drafts). When no threshold qualifies the reason is EscalateAll.
// Every threshold before the first failure is certified by the fixed
// sequence, so skipping some of them keeps the guarantee.
func Choose(samples []Sample, cfg Config, configured float64) Decision {
	cfg = cfg.Defaults()
	delta := 1 - cfg.Confidence
	labels := 0
	for _, s := range samples {
		if s.Labelled {
			labels++
		}
	}
	if labels < cfg.MinLabels {
		e := At(samples, configured, delta)
		met := e.Lower >= cfg.Target
		if configured >= Never {
			met = true
		}
		return Decision{Threshold: configured, Reason: ColdStart, Estimate: e, Labels: labels, Met: met}
	}
	// One pass from the highest score down: each candidate's region is the
	// previous one plus the samples between the two thresholds.
	// Sorting small (score, index) pairs is much cheaper than moving samples.
	type keyed struct {
		score float64
		i     int
	}
	order := make([]keyed, len(samples))
	var total float64
	var all region
	for i, s := range samples {
		order[i] = keyed{s.Score, i}
		total += s.mass()
		all.add(s)
	}
	slices.SortFunc(order, func(a, b keyed) int { return cmp.Compare(b.score, a.score) })
	// Walk strict to loose, keeping the passing thresholds that accept drafts.
	type candidate struct {
		e   Estimate
		acc region
	}
	var passing []candidate
	var acc region
	next := 0
	steps := int(math.Round(1 / cfg.Step))
	for i := steps; i >= 0; i-- {
		t := float64(i) * cfg.Step
		for next < len(order) && order[next].score >= t {
			acc.add(samples[order[next].i])
			next++
		}
		e := acc.estimate(t, total, delta, false)
		if e.Lower < cfg.Target {
			break
		}
		if acc.n > 0 {
			passing = append(passing, candidate{e, acc})
		}
	}
	// The loosest one that separates, each look at delta/looks so that a
	// score that separates nothing is caught at about the declared
	// confidence however many thresholds passed.
	var none region
	best := none.estimate(Never, total, delta, true)
	for i := len(passing) - 1; i >= 0; i-- {
		if c := passing[i]; separates(c.acc, all, delta/float64(len(passing))) {
			best = c.acc.estimate(c.e.Threshold, total, delta, true)
			break
		}
	}
	d := Decision{Threshold: best.Threshold, Reason: Calibrated, Estimate: best, Labels: labels, Met: true}
	if best.Threshold >= Never {
		d.Reason = EscalateAll
	}
	return d
}

// estimateJSON is Estimate's encoding: a quantity nothing is known of (NaN)
// is null, which JSON can carry.
type estimateJSON struct {
	Threshold float64  `json:"threshold"`
	Quality   *float64 `json:"quality"`
	Lower     *float64 `json:"lower"`
	Upper     *float64 `json:"upper"`
	Accepted  float64  `json:"accepted"`
	Labels    int      `json:"labels"`
	Effective float64  `json:"effective"`
}

func known(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes NaN quantities as null.
func (e Estimate) MarshalJSON() ([]byte, error) {
	return json.Marshal(estimateJSON{e.Threshold, known(e.Quality), known(e.Lower), known(e.Upper), e.Accepted, e.Labels, e.Effective})
}

// UnmarshalJSON reads null quantities as NaN.
func (e *Estimate) UnmarshalJSON(b []byte) error {
	var j estimateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Estimate{j.Threshold, orNaN(j.Quality), orNaN(j.Lower), orNaN(j.Upper), j.Accepted, j.Labels, j.Effective}
	return nil
}
