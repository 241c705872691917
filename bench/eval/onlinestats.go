package main

import (
	"math"
	"slices"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
)

// groupAll names the group of every row of a file.
const groupAll = "all"

// onlineStats summarises an online pass over one group of rows (a source
// or all), from a step on (0, or after the warm-up).
type onlineStats struct {
	Group string
	From  int
	Rows  int
	// Retained is the served answers' mean label over the verifier's;
	// Parity the share of answers at least as good as the verifier's.
	Retained, Parity float64
	// Cost is every upstream call (audits included) over always asking the
	// verifier; Audit and Opinion are parts of it.
	Cost, Audit, Opinion float64
	Escalation, Bypass   float64
	Compares             int
	// Static is the cheapest static threshold on the gate's score keeping
	// QualityTarget on the same rows, in hindsight; Oracle the oracle
	// cascade; RandomCost a random router's cost share at QualityTarget.
	Static     staticPoint
	Oracle     strategy
	RandomCost float64
	// DraftShare is the draft's cost on these rows over always-verifier.
	DraftShare float64
}

// staticPoint is a static policy in hindsight.
type staticPoint struct {
	Threshold float64
	Cost      float64
	Retained  float64
	// VerifierAlone: no threshold keeps the target for less than the
	// verifier alone, which the point then is.
	VerifierAlone bool
}

// summarizeOnline computes a group's figures from step from on.
func summarizeOnline(run *onlineRun, results []rowResult, group string, from int) onlineStats {
	st := onlineStats{Group: group, From: from}
	var rs []rowResult
	var label, vlabel, cost, audit, opinion, base float64
	good, esc, byp := 0, 0, 0
	for i := range run.Rows {
		r := &run.Rows[i]
		if r.Step < from || (group != groupAll && r.Source != group) {
			continue
		}
		st.Rows++
		rs = append(rs, results[r.Row])
		label += r.Label
		vlabel += r.VerifierLabel
		cost += r.AnswerUSD + r.AuditUSD
		audit += r.AuditUSD
		opinion += r.OpinionUSD
		base += r.BaselineUSD
		st.Compares += r.Compares
		if r.Good {
			good++
		}
		if r.escalated() {
			esc++
		}
		if r.bypassed() {
			byp++
		}
	}
	if st.Rows == 0 {
		return st
	}
	n := float64(st.Rows)
	st.Retained, st.Parity = ratio(label, vlabel), float64(good)/n
	st.Cost, st.Audit, st.Opinion = ratio(cost, base), ratio(audit, base), ratio(opinion, base)
	st.Escalation, st.Bypass = float64(esc)/n, float64(byp)/n
	b := summarize(group, rs)
	st.Static = bestStatic(b, rs)
	st.Oracle = b.Oracle
	st.DraftShare = b.DraftCostShare
	st.RandomCost = randomRouterCost(b, evaldata.QualityTarget)
	return st
}

// bestStatic is the cheapest static threshold on the gate's score keeping
// evaldata.QualityTarget of the verifier's quality on rs, or the verifier
// alone when none is cheaper.
func bestStatic(b baselines, rs []rowResult) staticPoint {
	best := staticPoint{Threshold: calibrate.Never, Cost: 1, Retained: 1, VerifierAlone: true}
	for _, t := range append(distinctScores(rs), calibrate.Never) {
		p := at(b, rs, t)
		if p.QualityRatio >= evaldata.QualityTarget && p.CostShare < best.Cost {
			best = staticPoint{Threshold: t, Cost: p.CostShare, Retained: p.QualityRatio}
		}
	}
	return best
}

// randomRouterCost is the cost share of a random router (the draft or the
// verifier, never both) keeping share q of the verifier's quality.
func randomRouterCost(b baselines, q float64) float64 {
	qd, qv := b.Draft.Quality, b.Verifier.Quality
	if qd >= q*qv {
		return b.DraftCostShare
	}
	if qv <= qd {
		return 1
	}
	e := (q*qv - qd) / (qv - qd)
	return (1-e)*b.DraftCostShare + e
}

// mark is a target's verdict in a table.
type mark int

const (
	notApplicable mark = iota
	met
	missed
)

func (m mark) String() string { return [...]string{"—", "✔", "✘"}[m] }

func markOf(ok bool) mark {
	if ok {
		return met
	}
	return missed
}

// targetMarks are one group's verdicts against the online targets.
type targetMarks struct {
	// Retained: all rows keep evaldata.RetainedFloor.
	Retained mark
	// Estimate: the route's own estimate is within EstimateTolerance of
	// the parity it delivered (routeEstimate; route level only).
	Estimate mark
	// Hindsight: cost after the warm-up ≤ HindsightRatio × best static,
	// keeping RetainedFloor (a cheap route that lost quality does not count).
	Hindsight mark
	// CostTarget: the source's cost target at QualityTarget, after the warm-up.
	CostTarget mark
	// Oracle: cost after the warm-up ≤ oracle + OracleMargin at QualityTarget.
	Oracle mark
	// Escalates: where no static threshold saves, the route escalates
	// everything and says so (route level only).
	Escalates mark
}

// judge marks a group: all is the group over every row, after the same
// group after the warm-up; route says the group is the whole route.
func judge(run *onlineRun, all, after onlineStats, route bool) targetMarks {
	var m targetMarks
	if all.Rows == 0 {
		return m
	}
	m.Retained = markOf(all.Retained >= evaldata.RetainedFloor)
	if after.Rows > 0 {
		m.Hindsight = markOf(after.Retained >= evaldata.RetainedFloor && after.Cost <= evaldata.HindsightRatio*after.Static.Cost)
		m.Oracle = markOf(after.Retained >= evaldata.QualityTarget && after.Cost <= after.Oracle.CostShare+evaldata.OracleMargin)
		if ct, ok := evaldata.CostTargets[all.Group]; ok {
			m.CostTarget = markOf(after.Retained >= evaldata.QualityTarget && after.Cost <= ct)
		}
	}
	if route {
		est, truth, _ := routeEstimate(run, after)
		m.Estimate = markOf(run.HasRoute && !math.IsNaN(est) && !math.IsNaN(truth) && math.Abs(est-truth) <= evaldata.EstimateTolerance)
		if all.Static.VerifierAlone {
			m.Escalates = markOf(run.HasRoute && escalatesAll(run.Final))
		}
	}
	return m
}

// routeEstimate is the route's own estimate of the quality it delivered
// and the parity it is held to. With a realised estimate (the calibration's
// Realised: the answers served, over the samples the route keeps) it is
// compared with the parity of every request those samples cover: the pass,
// and the learning pass before it for offline-learned. Otherwise the
// estimate at the threshold in effect is compared with the parity delivered
// after the warm-up.
func routeEstimate(run *onlineRun, after onlineStats) (est, truth float64, realised bool) {
	if !run.HasRoute {
		return math.NaN(), math.NaN(), false
	}
	if run.Final.Samples > 0 && !math.IsNaN(run.Final.Realised.Quality) {
		good, n := 0, 0
		for _, r := range []*onlineRun{run, run.Learning} {
			if r == nil {
				continue
			}
			for _, x := range r.Rows {
				n++
				if x.Good {
					good++
				}
			}
		}
		if n == 0 {
			return run.Final.Realised.Quality, math.NaN(), true
		}
		return run.Final.Realised.Quality, float64(good) / float64(n), true
	}
	if after.Rows == 0 {
		return run.Final.Estimate.Quality, math.NaN(), false
	}
	return run.Final.Estimate.Quality, after.Parity, false
}

// groupsOf lists a file's groups: every source, in order of first
// appearance, then all.
func groupsOf(sources []string) []string {
	return append(slices.Clone(sources), groupAll)
}
