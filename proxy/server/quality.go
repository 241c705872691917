package server

import (
	"context"
	"math"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// answered hands a rule's request to the quality loop once the client has
// its whole answer (or its error). It returns at once: what takes time runs
// in the background (cascade.Auditor).
func (s *Server) answered(rule *cascade.CompiledRule, r cascade.Request, res *cascade.Result, acct cascade.Accounting, streamed *llm.Response) {
	if s.cfg.Auditor != nil {
		s.cfg.Auditor.Answered(rule, r, res, acct, streamed)
	}
}

// comparesEscalated reports whether the verifier's answer the client is
// about to receive will be compared with an escalated draft.
func (s *Server) comparesEscalated(rule *cascade.CompiledRule, res *cascade.Result) bool {
	return s.cfg.Auditor != nil && rule.Quality != nil && rule.Quality.Settings().Active() &&
		res.Outcome == cascade.Escalated && res.DraftResponse != nil
}

// shutdownAudits gives the running audits until ctx ends, then cancels them.
func (s *Server) shutdownAudits(ctx context.Context) {
	if s.cfg.Auditor == nil {
		return
	}
	if err := s.cfg.Auditor.Shutdown(ctx); err != nil {
		s.log.Warn("audits still running at shutdown were canceled", "error", err.Error())
	}
}

// qualityRoutes are the serving rules that run a quality loop, in order.
func qualityRoutes(snap *snapshot.Snapshot) []*cascade.CompiledRule {
	if snap == nil || snap.Compiled == nil {
		return nil
	}
	var out []*cascade.CompiledRule
	for _, cr := range snap.Compiled.Rules {
		if cr.Quality != nil && cr.Quality.Settings().Active() {
			out = append(out, cr)
		}
	}
	return out
}

// refreshQuality sets the quality gauges from the serving rules' loops.
func (s *Server) refreshQuality() {
	qs := map[string]metrics.Quality{}
	for _, cr := range qualityRoutes(s.cfg.Store.Load()) {
		c := cr.Quality.Calibration()
		qs[cr.Name()] = metrics.Quality{Estimate: c.Estimate.Quality, Lower: c.Estimate.Lower, Upper: c.Estimate.Upper,
			Realised: c.Realised.Quality, RealisedLower: c.Realised.Lower, RealisedUpper: c.Realised.Upper,
			Target: c.Target, Met: c.Met, Threshold: c.Threshold, Reason: c.Reason, Samples: c.Samples, Labels: c.Labels}
	}
	s.m.SetQuality(qs)
}

// learned is a learned score, by feature name.
type learned struct {
	Bias    float64            `json:"bias"`
	Weights map[string]float64 `json:"weights"`
}

func learnedOf(m *routequality.Model) *learned {
	if m == nil {
		return nil
	}
	l := &learned{Bias: m.Bias, Weights: make(map[string]float64, len(m.Weights))}
	for i, w := range m.Weights {
		if i < len(m.Features) {
			l.Weights[m.Features[i]] = w
		}
	}
	return l
}

// qualityStats is a rule's quality loop as /api/stats shows it.
type qualityStats struct {
	Threshold float64 `json:"threshold"`
	Reason    string  `json:"reason"`
	Target    float64 `json:"target"`
	Met       bool    `json:"met"`
	// Estimate, Lower and Upper are the quality expected at the threshold in
	// effect; null when nothing is known of it (drafts accepted, none compared).
	Estimate *float64 `json:"estimate"`
	Lower    *float64 `json:"lower"`
	Upper    *float64 `json:"upper"`
	// Realised and its bounds are the quality the served answers delivered.
	Realised      *float64 `json:"realised"`
	RealisedLower *float64 `json:"realisedLower"`
	RealisedUpper *float64 `json:"realisedUpper"`
	// Samples and Labels are what the calibration in effect used.
	Samples int      `json:"samples"`
	Labels  int      `json:"labels"`
	Learned *learned `json:"learned,omitempty"`
	// SpendUSD and AuditSpendUSD are the route's spend answering clients
	// and comparing (what the audit budget is held to).
	SpendUSD      float64 `json:"spendUSD"`
	AuditSpendUSD float64 `json:"auditSpendUSD"`
	cascade.AuditStats
}

func (s *Server) qualityStats() map[string]qualityStats {
	var agg map[string]cascade.AuditStats
	if s.cfg.Auditor != nil {
		agg = s.cfg.Auditor.Stats()
	}
	out := map[string]qualityStats{}
	for _, cr := range qualityRoutes(s.cfg.Store.Load()) {
		c := cr.Quality.Calibration()
		spend, auditSpend := cr.Quality.Costs()
		q := qualityStats{Threshold: c.Threshold, Reason: c.Reason, Target: c.Target, Met: c.Met,
			Estimate: finite(c.Estimate.Quality), Lower: finite(c.Estimate.Lower), Upper: finite(c.Estimate.Upper),
			Realised: finite(c.Realised.Quality), RealisedLower: finite(c.Realised.Lower), RealisedUpper: finite(c.Realised.Upper),
			Samples: c.Samples, Labels: c.Labels,
			Learned: learnedOf(c.Model), SpendUSD: spend, AuditSpendUSD: auditSpend, AuditStats: agg[cr.Name()]}
		if q.Audits == nil {
			q.Audits, q.Skipped = map[string]map[string]int64{}, map[string]int64{}
		}
		out[cr.Name()] = q
	}
	return out
}

// debugQuality is each rule's threshold in effect and learned score, for
// /debug/rules.
func (s *Server) debugQuality(snap *snapshot.Snapshot) map[string]gin.H {
	out := map[string]gin.H{}
	for _, cr := range qualityRoutes(snap) {
		c := cr.Quality.Calibration()
		out[cr.Name()] = gin.H{"threshold": c.Threshold, "reason": c.Reason, "labels": c.Labels, "learned": learnedOf(c.Model)}
	}
	return out
}

// handleQualitySamples serves GET /api/quality/samples[?rule=NAME] on the
// admin listener only: the samples of a rule's quality loop (every rule's
// without a name) as JSON Lines. Samples may carry prompts and answers
// (quality.audit.keepText), so the API port never serves them.
func (s *Server) handleQualitySamples(c *gin.Context) {
	snap := s.cfg.Store.Load()
	if snap == nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "no rules loaded"})
		return
	}
	name := c.Query("rule")
	var routes []*routequality.Route
	for _, cr := range snap.Compiled.Rules {
		if cr.Quality != nil && (name == "" || cr.Name() == name) {
			routes = append(routes, cr.Quality)
		}
	}
	if name != "" && len(routes) == 0 {
		c.JSON(http.StatusNotFound, gin.H{"error": "no rule named " + name})
		return
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Status(http.StatusOK)
	for _, r := range routes {
		if err := routequality.WriteSamples(c.Writer, r.Samples()); err != nil {
			return // the client went away
		}
	}
}

// finite is v, or nil (JSON null) when v is NaN or infinite, which JSON cannot carry.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
