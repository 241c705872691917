// Package calibrate holds a route to its quality target: from audited
// samples of the route's own traffic it estimates, for every candidate
// threshold, the share of answers at least as good as the verifier's would
// have been, with a one-sided confidence bound, and picks the cheapest
// threshold whose bound meets the target, provided drafting pays at it: a
// threshold that accepts too few drafts to pay for drafting every request
// (or, with no prices known, whose accepted drafts are not shown better than
// the ones it escalates) loses to escalating everything.
//
// The choice is a fixed-sequence test ("Learn then Test", Angelopoulos et
// al. 2021): candidate thresholds are tested from the strictest (accept no
// draft) to the loosest, and the search stops at the first one that fails,
// so the guarantee holds at the declared confidence although many
// thresholds are tried.
//
// Samples are drafts that were scored. A draft is compared with the
// verifier's answer in an audit of an accepted draft (drawn at the audit
// rate) or when it was escalated (the verifier answered anyway). Compared
// drafts are weighted by the inverse of the probability that they were
// compared, so accepted drafts audited at 5 % and escalated drafts compared
// every time estimate one population without bias.
//
// A comparison the free comparer settles (equal final answers) labels the
// draft at once. One it cannot settle is disputed: the judge decides it, but
// the judge is asked only for a share of them and within a budget, so the
// judged disputes stand for all disputes (a ratio estimate within the
// disputed stratum) rather than being weighted by the judge's draw: a
// stretch of requests the budget refused would otherwise leave disputes,
// mostly bad drafts, unrepresented, and labels biased towards good ones.
// Disputes no judge has seen count as bad in the bounds.
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
	// Disputed says the draft was compared but the free comparison did not
	// settle it (final answers differ or one is missing): the judge's
	// verdict, when it was asked, is the label (Labelled); unlabelled, the
	// dispute is undecided and stands in its stratum.
	Disputed bool `json:"disputed,omitempty"`
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
// Weights are Mass/LabelProb. Compared drafts (labelled or disputed) are c;
// of them, those labelled bad by the free comparison are bad; the disputed
// ones are d, of which the judged are j and the judged bad jBad.
type region struct {
	accepted  float64
	c, d      weights
	j         weights
	bad, jBad float64
	labels, n int
}

// weights is a sum of weights and of their squares (for Kish's effective
// sample size).
type weights struct{ sum, sq float64 }

func (w *weights) add(x float64) { w.sum += x; w.sq += x * x }

func (w weights) minus(o weights) weights { return weights{w.sum - o.sum, w.sq - o.sq} }

// effective is Kish's effective sample size: weighted samples as a binomial
// experiment of equivalent precision.
func (w weights) effective() float64 {
	if w.sq <= 0 {
		return 0
	}
	return w.sum * w.sum / w.sq
}

func (r *region) add(s Sample) {
	r.n++
	r.accepted += s.mass()
	if !s.Labelled && !s.Disputed {
		return
	}
	w := s.labelWeight()
	r.c.add(w)
	if s.Labelled {
		r.labels++
	}
	if !s.Disputed {
		if !s.Good {
			r.bad += w
		}
		return
	}
	r.d.add(w)
	if s.Labelled {
		r.j.add(w)
		if !s.Good {
			r.jBad += w
		}
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
	bad, ok := r.badShare()
	if !ok {
		// Drafts are accepted but none was compared: nothing is known of them.
		e.Quality, e.Lower, e.Upper = math.NaN(), 1-e.Accepted, 1
		return e
	}
	lo, hi := r.badBounds(delta, upper)
	e.Effective = r.c.effective()
	e.Quality = 1 - e.Accepted*bad
	e.Lower = 1 - e.Accepted*hi
	e.Upper = 1
	if upper {
		e.Upper = 1 - e.Accepted*lo
	}
	return e
}

// badShare is the estimated share of bad drafts among the region's drafts:
// the free comparison's bad labels plus the disputed stratum at the judged
// disputes' bad rate (all bad when none was judged). ok is false when no
// draft was compared.
func (r region) badShare() (share float64, ok bool) {
	if r.c.sum <= 0 {
		return 0, false
	}
	return (r.bad + r.d.sum*r.judgedBad()) / r.c.sum, true
}

// judgedBad is the judged disputes' bad rate, 1 without any.
func (r region) judgedBad() float64 {
	if r.j.sum <= 0 {
		return 1
	}
	return r.jBad / r.j.sum
}

// badBounds returns one-sided bounds on the region's share of bad drafts at
// confidence 1-delta each (lo only when lower is true, else 0); without
// compared drafts they are 0 and 1. Without disputes it is a binomial bound
// on the labels. With disputes, the judged disputes' bad rate is bounded
// first and the share of bad drafts, with the disputes at that bound, next,
// each at delta/2 (a union bound: both hold together at 1-delta).
func (r region) badBounds(delta float64, lower bool) (lo, hi float64) {
	share, ok := r.badShare()
	if !ok {
		return 0, 1
	}
	n := r.c.effective()
	if r.d.sum <= 0 {
		hi = UpperBound(share*n, n, delta)
		if lower {
			lo = LowerBound(share*n, n, delta)
		}
		return lo, hi
	}
	nj := r.j.effective()
	jb := r.judgedBad()
	jHi := UpperBound(jb*nj, nj, delta/2)
	hi = UpperBound((r.bad+r.d.sum*jHi)/r.c.sum*n, n, delta/2)
	if lower {
		jLo := 0.0
		if r.j.sum > 0 {
			jLo = LowerBound(jb*nj, nj, delta/2)
		}
		lo = LowerBound((r.bad+r.d.sum*jLo)/r.c.sum*n, n, delta/2)
	}
	return lo, hi
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
	// DraftCost is what drafting costs per request (the draft and any second
	// opinions) as a share of the verifier's answer; 0 when unknown. A
	// threshold pays only when the share of drafts it accepts exceeds it.
	DraftCost float64
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

// minus is the region of the samples in r and not in s (s within r).
func (r region) minus(s region) region {
	return region{
		accepted: r.accepted - s.accepted,
		c:        r.c.minus(s.c),
		d:        r.d.minus(s.d),
		j:        r.j.minus(s.j),
		bad:      r.bad - s.bad,
		jBad:     r.jBad - s.jBad,
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
	rej := all.minus(acc)
	if acc.c.sum <= 1e-9 || rej.c.sum <= 1e-9 {
		return false
	}
	_, accHi := acc.badBounds(delta, false)
	rejLo, _ := rej.badBounds(delta, true)
	return accHi < rejLo
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
// The loosest threshold that passes is the cheapest, but it is taken only
// when drafting pays at it: with cfg.DraftCost known, when the share of
// drafts it accepts exceeds what drafting costs (accepting a share a of
// drafts saves a verifier answers and pays a draft on every request);
// otherwise the route escalates everything (and, escalating, it can stop
// paying for drafts). A score that does not tell good drafts from bad ones
// passes only by accepting a sliver of them, which does not pay. Without
// prices, the loosest passing threshold whose accepted drafts are shown to
// be better than the ones it escalates is taken (see separates; the
// confidence of each look is divided by the number of looks). When no
// threshold qualifies the reason is EscalateAll. Every threshold before the
// first failure is certified by the fixed sequence, so skipping some of
// them keeps the guarantee.
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
	var none region
	best := none.estimate(Never, total, delta, true)
	switch {
	case len(passing) == 0:
	case cfg.DraftCost > 0:
		// The loosest accepts the most: if drafting does not pay there, it
		// pays nowhere.
		if c := passing[len(passing)-1]; c.e.Accepted > cfg.DraftCost {
			best = c.acc.estimate(c.e.Threshold, total, delta, true)
		}
	default:
		// The loosest one that separates, each look at delta/looks so that
		// a score that separates nothing is caught at about the declared
		// confidence however many thresholds passed.
		for i := len(passing) - 1; i >= 0; i-- {
			if c := passing[i]; separates(c.acc, all, delta/float64(len(passing))) {
				best = c.acc.estimate(c.e.Threshold, total, delta, true)
				break
			}
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
