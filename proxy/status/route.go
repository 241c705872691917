package status

import (
	"html/template"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// Route is one rule's section of the page.
type Route struct {
	Name     string
	Mode     string
	Models   []string
	Draft    string
	Verifier string
	// Removed marks a rule no longer loaded whose requests are still counted.
	Removed bool

	Requests int64
	Outcomes []Count
	// Acceptance is accepted ÷ (accepted + escalated): the share of drafts
	// the gate let through; Gated is that denominator.
	Acceptance float64
	Gated      int64

	// Money in USD. Savings is the baseline minus the cost over requests
	// whose cost is known (escalations count against it); audit costs are
	// apart, and NetSavings is Savings minus them.
	CostUSD, BaselineUSD, SavingsUSD, AuditCostUSD, NetSavingsUSD float64

	// Quality is the rule's quality loop; nil when it runs none.
	Quality *Quality
	Stages  []Stage
	Audits  []Audit

	SavingsChart, QualityChart template.HTML
}

// Count is a number of requests with one outcome.
type Count struct {
	Outcome string
	N       int64
}

// Stage is the mean time of one cascade stage.
type Stage struct {
	Name    string
	Seconds float64
}

// Quality is a rule's quality loop as the page shows it.
type Quality struct {
	// Realised is the quality the answers served delivered (share at least
	// as good as the verifier's), with its interval at Confidence; Known is
	// false while the loop has no samples, or has accepted drafts none of
	// which was compared (the figures are then NaN).
	Known                  bool
	Realised, Lower, Upper float64
	// AtThreshold is the quality estimated at the threshold in effect
	// (NaN while unknown).
	AtThreshold float64
	Confidence  float64
	// Target is 0 when the rule declares none.
	Target    float64
	Met       bool
	Threshold float64
	Reason    string
	// Why explains Reason in words.
	Why    string
	Scorer string
	Remote bool
	// Samples held, of which Labels compared with the verifier (Good, Bad).
	Samples, Labels, Good, Bad int
	MinSamples                 int
	// The figures above are the calibration in effect's: computed at
	// UpdatedAt from CalSamples samples, CalLabels of them labelled (a route
	// recalibrates every routequality.RefitEvery labels).
	UpdatedAt                  time.Time
	CalSamples, CalLabels      int
	RefitEvery                 int
	AuditsDrawn, AuditsSkipped uint64
}

// Audit is one compared draft: its score and verdict, never its text.
type Audit struct {
	Time                               time.Time
	Outcome                            string
	Score                              float64
	Good                               bool
	Comparer                           string
	DraftCost, VerifierCost, AuditCost float64
}

// outcomeOrder is the order outcomes are listed in.
var outcomeOrder = []cascade.Outcome{cascade.Accepted, cascade.Escalated, cascade.SkippedDraft, cascade.Bypassed,
	cascade.TurnDraft, cascade.TurnVerifier, cascade.DraftOnly, cascade.VerifierOnly, cascade.Failed, cascade.Canceled}

// routes builds every loaded rule's section, in the rules file's order,
// then those of rules no longer loaded that served requests.
func (p *Page) routes() []Route {
	stats := map[string]cascade.RuleStats{}
	for _, s := range p.src.Recorder.Stats() {
		stats[s.Rule] = s
	}
	var audits map[string]cascade.AuditStats
	if p.src.Auditor != nil {
		audits = p.src.Auditor.Stats()
	}
	var out []Route
	seen := map[string]bool{}
	if snap := p.src.Store.Load(); snap != nil && snap.Compiled != nil {
		for _, cr := range snap.Compiled.Rules {
			spec := cr.Rule
			r := Route{Name: spec.Name, Mode: string(spec.Mode), Models: spec.Models,
				Draft: spec.Draft.Model, Verifier: spec.Verifier.Model}
			if r.Mode == "" {
				r.Mode = "cascade"
			}
			r.fill(stats[spec.Name], audits[spec.Name])
			if cr.Quality != nil && cr.Quality.Settings().Active() {
				r.Quality, r.Audits = qualityOf(cr.Quality)
			}
			seen[spec.Name] = true
			out = append(out, r)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(stats)) {
		if !seen[name] {
			r := Route{Name: name, Removed: true}
			r.fill(stats[name], audits[name])
			out = append(out, r)
		}
	}
	return out
}

// fill sets the request, money and latency figures.
func (r *Route) fill(s cascade.RuleStats, a cascade.AuditStats) {
	r.Requests = s.Requests
	for _, o := range outcomeOrder {
		if n := s.Outcomes[o]; n > 0 {
			r.Outcomes = append(r.Outcomes, Count{string(o), n})
		}
	}
	r.Gated = s.Outcomes[cascade.Accepted] + s.Outcomes[cascade.Escalated]
	if r.Gated > 0 {
		r.Acceptance = float64(s.Outcomes[cascade.Accepted]) / float64(r.Gated)
	}
	r.CostUSD, r.BaselineUSD, r.SavingsUSD = s.CostUSD, s.BaselineUSD, s.SavingsUSD
	r.AuditCostUSD = a.AuditCostUSD
	r.NetSavingsUSD = s.SavingsUSD - a.AuditCostUSD
	for _, name := range metrics.Stages {
		if sec, ok := s.Stages[name]; ok {
			r.Stages = append(r.Stages, Stage{name, sec})
		}
	}
}

// qualityOf reads a rule's quality loop and its newest audited samples
// (newest first).
func qualityOf(q *routequality.Route) (*Quality, []Audit) {
	st := q.Stats()
	set := q.Settings()
	c := st.Calibration
	out := &Quality{Realised: c.Realised.Quality, Lower: c.Realised.Lower, Upper: c.Realised.Upper,
		AtThreshold: c.Estimate.Quality, Confidence: set.Confidence, Target: c.Target, Met: c.Met, Threshold: c.Threshold, Reason: c.Reason,
		Scorer: st.Scorer, Remote: st.Remote, Samples: st.Samples, Labels: st.Labels, Good: st.Good, Bad: st.Bad,
		MinSamples: set.MinSamples, AuditsDrawn: st.AuditsDrawn, AuditsSkipped: st.AuditsSkipped,
		UpdatedAt: c.UpdatedAt, CalSamples: c.Samples, CalLabels: c.Labels, RefitEvery: routequality.RefitEvery}
	out.Known = finite(out.Realised) && c.Samples > 0
	out.Why = why(out)
	samples := q.Samples()
	var audits []Audit
	for i := len(samples) - 1; i >= 0 && len(audits) < recentAudits; i-- {
		s := samples[i]
		if !s.Labelled {
			continue
		}
		audits = append(audits, Audit{Time: s.Time, Outcome: s.Outcome, Score: s.Score, Good: s.Good, Comparer: s.Comparer,
			DraftCost: s.DraftCost, VerifierCost: s.VerifierCost, AuditCost: s.AuditCost})
	}
	return out, audits
}

// why says in words why the threshold in effect holds.
func why(q *Quality) string {
	switch q.Reason {
	case routequality.ReasonConfigured:
		return "the rule declares no quality target: its configured threshold holds"
	case string(calibrate.ColdStart):
		return "too few drafts compared with the verifier yet to calibrate: the configured threshold holds until there are enough"
	case string(calibrate.Calibrated):
		return "the loosest threshold whose lower bound meets the target"
	case string(calibrate.EscalateAll):
		return "no threshold that accepts drafts meets the target: every request goes to the verifier"
	}
	return q.Reason
}

// point is the route's figures now, for the history.
func (r *Route) point(now time.Time) Point {
	pt := Point{Time: now, NetSavingsUSD: r.NetSavingsUSD, Quality: math.NaN(), Lower: math.NaN(), Upper: math.NaN()}
	if r.Quality != nil && r.Quality.Known {
		pt.Quality, pt.Lower, pt.Upper = r.Quality.Realised, r.Quality.Lower, r.Quality.Upper
	}
	return pt
}
