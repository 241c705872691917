package routequality

import (
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Defaults of the quality fields of a rule.
const (
	DefaultConfidence   = 0.9
	DefaultMinSamples   = 100
	DefaultExplore      = 0.1
	DefaultAuditRate    = 0.05
	DefaultMaxCostShare = 0.1
	DefaultJudgeRate    = 0.2
	DefaultJudgeTimeout = 60 * time.Second
	DefaultOpinionWait  = 2 * time.Second
	// DefaultThreshold is the gate threshold of a rule that sets none.
	DefaultThreshold = 0.7
	// Window is the number of samples a route keeps (the newest).
	Window = 5000
	// RefitEvery is the number of new labels between two calibrations.
	RefitEvery = 25
)

// Settings are a rule's quality fields with their defaults applied.
type Settings struct {
	// Target is the quality target; 0: none (the configured threshold holds).
	Target     float64
	Confidence float64
	MinSamples int
	Learn      bool
	ColdStart  rules.ColdStart
	Explore    float64
	// Threshold is the rule's configured threshold.
	Threshold float64

	AuditRate    float64
	MaxCostShare float64
	Comparer     rules.Comparer
	JudgeRate    float64
	// Judge is the audit's pairwise judge; nil: none.
	Judge        *rules.Target
	JudgeTimeout time.Duration
	KeepText     bool

	// Opinions are the second-opinion targets; OpinionWait how long the gate
	// waits for them once the draft is ready.
	Opinions    []rules.Target
	OpinionWait time.Duration
}

// Resolve applies the defaults to a rule's quality and second-opinion fields.
func Resolve(r *rules.Rule) Settings {
	s := Settings{
		Confidence:   DefaultConfidence,
		MinSamples:   DefaultMinSamples,
		ColdStart:    rules.ColdStartThreshold,
		Explore:      DefaultExplore,
		Threshold:    DefaultThreshold,
		MaxCostShare: DefaultMaxCostShare,
		Comparer:     rules.ComparerAuto,
		JudgeRate:    DefaultJudgeRate,
		JudgeTimeout: DefaultJudgeTimeout,
		OpinionWait:  DefaultOpinionWait,
	}
	if r.Threshold != nil {
		s.Threshold = *r.Threshold
	}
	if so := r.SecondOpinion; so != nil {
		s.Opinions = so.Targets
		if so.Timeout.Duration > 0 {
			s.OpinionWait = so.Timeout.Duration
		}
	}
	q := r.Quality
	if q == nil {
		return s
	}
	if q.Target != nil {
		s.Target = *q.Target
		s.AuditRate = DefaultAuditRate
		s.Learn = true
	}
	if q.Confidence != nil {
		s.Confidence = *q.Confidence
	}
	if q.MinSamples != nil {
		s.MinSamples = *q.MinSamples
	}
	if q.Learn != nil {
		s.Learn = *q.Learn
	}
	if q.ColdStart != "" {
		s.ColdStart = q.ColdStart
	}
	if q.Explore != nil {
		s.Explore = *q.Explore
	}
	if a := q.Audit; a != nil {
		if a.Rate != nil {
			s.AuditRate = *a.Rate
		}
		if a.MaxCostShare != nil {
			s.MaxCostShare = *a.MaxCostShare
		}
		if a.Comparer != "" {
			s.Comparer = a.Comparer
		}
		if a.JudgeRate != nil {
			s.JudgeRate = *a.JudgeRate
		}
		if a.Judge != nil {
			t := a.Judge.Target
			s.Judge = &t
			if a.Judge.Timeout.Duration > 0 {
				s.JudgeTimeout = a.Judge.Timeout.Duration
			}
		}
		s.KeepText = a.KeepText
	}
	return s
}

// Active reports whether the rule runs a quality loop at all (a target,
// audits or second opinions).
func (s Settings) Active() bool {
	return s.Target > 0 || s.AuditRate > 0 || len(s.Opinions) > 0
}
