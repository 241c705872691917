package main

import (
	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
)

// Outcomes as the proxy reports them in x-cascade-outcome.
const (
	outcomeAccepted     = string(cascade.Accepted)
	outcomeDraftOnly    = string(cascade.DraftOnly)
	outcomeVerifierOnly = string(cascade.VerifierOnly)
)

// Targets of issue 3 on the dev data.
const qualityTarget = 0.95 // share of always-verifier quality

var costTargets = map[string]float64{"mt_bench": 0.45, "gsm8k": 0.60}

// rowResult joins, for one row, its labels and what the proxy reported in
// the passes that fix the sweep: the gate score (cascade pass) and the cost
// of the draft alone and of the verifier alone (draft-only and verifier-only
// passes).
type rowResult struct {
	Source        string
	DraftScore    float64
	VerifierScore float64
	GateMilli     int // gate score in thousandths; -1: none (the draft call failed)
	DraftUSD      float64
	VerifierUSD   float64
}

// accepts reports whether the gate accepts the row's draft at threshold t
// (thousandths): accept iff score >= threshold, as the gate decides.
func (r rowResult) accepts(t int) bool { return r.GateMilli >= 0 && r.GateMilli >= t }

// strategy is one way of answering a source's rows, summarised.
type strategy struct {
	Quality      float64 // mean label of the answers returned
	QualityRatio float64 // Quality / always-verifier quality
	CostShare    float64 // cost / always-verifier cost
	Escalation   float64 // share of rows answered by the verifier
}

// baselines are a source's reference strategies.
type baselines struct {
	Source   string
	Rows     int
	Draft    strategy // always the draft
	Verifier strategy // always the verifier
	Oracle   strategy // a cascade that accepts exactly when draft score >= verifier score
	// DraftCostShare is always-draft cost / always-verifier cost: the cost
	// every cascade pays before any escalation.
	DraftCostShare float64
}

// sweepPoint is the cascade at one threshold on one source, beside random
// routing.
type sweepPoint struct {
	ThresholdMilli int
	Source         string
	strategy
	// RandomSameRate is the expected quality of random escalation at the same
	// escalation rate (which, with the draft always paid as in the cascade,
	// also has the same cost).
	RandomSameRate float64
	// RandomSameCost is the expected quality of a random router (draft or
	// verifier, never both) spending the same cost share: the stricter line.
	RandomSameCost float64
}

// bySource splits results by source, in order of first appearance.
func bySource(rs []rowResult) (order []string, groups map[string][]rowResult) {
	groups = map[string][]rowResult{}
	for _, r := range rs {
		if _, ok := groups[r.Source]; !ok {
			order = append(order, r.Source)
		}
		groups[r.Source] = append(groups[r.Source], r)
	}
	return order, groups
}

// summarize computes a source's baselines.
func summarize(source string, rs []rowResult) baselines {
	b := baselines{Source: source, Rows: len(rs)}
	if len(rs) == 0 {
		return b
	}
	var qd, qv, qo, cd, cv, co float64
	escO := 0
	for _, r := range rs {
		qd += r.DraftScore
		qv += r.VerifierScore
		cd += r.DraftUSD
		cv += r.VerifierUSD
		co += r.DraftUSD
		if r.DraftScore >= r.VerifierScore {
			qo += r.DraftScore
		} else {
			qo += r.VerifierScore
			co += r.VerifierUSD
			escO++
		}
	}
	n := float64(len(rs))
	qd, qv, qo = qd/n, qv/n, qo/n
	b.Draft = strategy{Quality: qd, QualityRatio: ratio(qd, qv), CostShare: ratio(cd, cv), Escalation: 0}
	b.Verifier = strategy{Quality: qv, QualityRatio: 1, CostShare: 1, Escalation: 1}
	b.Oracle = strategy{Quality: qo, QualityRatio: ratio(qo, qv), CostShare: ratio(co, cv), Escalation: float64(escO) / n}
	b.DraftCostShare = ratio(cd, cv)
	return b
}

// at evaluates the cascade on a source's rows at threshold t (thousandths):
// the draft is paid on every row, the verifier on rows whose draft fails.
func at(b baselines, rs []rowResult, t int) sweepPoint {
	p := sweepPoint{ThresholdMilli: t, Source: b.Source}
	if len(rs) == 0 {
		return p
	}
	var q, cost, all float64
	esc := 0
	for _, r := range rs {
		all += r.VerifierUSD
		cost += r.DraftUSD
		if r.accepts(t) {
			q += r.DraftScore
			continue
		}
		q += r.VerifierScore
		cost += r.VerifierUSD
		esc++
	}
	n := float64(len(rs))
	p.strategy = strategy{Quality: q / n, QualityRatio: ratio(q/n, b.Verifier.Quality), CostShare: ratio(cost, all), Escalation: float64(esc) / n}
	p.RandomSameRate = randomAtRate(b, p.Escalation)
	p.RandomSameCost = randomAtCost(b, p.CostShare)
	return p
}

// randomAtRate is the expected quality of escalating a random share e of
// the rows: (1-e)·draft + e·verifier.
func randomAtRate(b baselines, e float64) float64 {
	return (1-e)*b.Draft.Quality + e*b.Verifier.Quality
}

// randomAtCost is the expected quality of a random router that sends a
// share e' of the rows to the verifier and the rest to the draft only, with
// e' chosen so its cost share is c: c = (1-e')·d + e', d the draft's cost
// share.
func randomAtCost(b baselines, c float64) float64 {
	d := b.DraftCostShare
	if d >= 1 {
		return b.Draft.Quality
	}
	e := (c - d) / (1 - d)
	e = min(max(e, 0), 1)
	return randomAtRate(b, e)
}

// sweep evaluates every threshold of the grid (thousandths) on every source.
func sweep(order []string, groups map[string][]rowResult, base map[string]baselines, grid []int) []sweepPoint {
	var out []sweepPoint
	for _, t := range grid {
		for _, s := range order {
			out = append(out, at(base[s], groups[s], t))
		}
	}
	return out
}

// thresholdGrid is 0.00, 0.01, ..., 1.00 in thousandths.
func thresholdGrid() []int {
	g := make([]int, 0, 101)
	for i := 0; i <= 100; i++ {
		g = append(g, i*10)
	}
	return g
}

// tunedThreshold is the eval's operating point, tuned on the dev data: the
// lowest threshold of the grid at which every source keeps at least
// qualityTarget of always-verifier quality. A lower threshold accepts more
// drafts, so it is also the cheapest such threshold. ok is false when no
// threshold of the grid meets the target on every source.
func tunedThreshold(points []sweepPoint, sources []string) (t int, ok bool) {
	meets := map[int]int{}
	var ts []int
	for _, p := range points {
		if _, seen := meets[p.ThresholdMilli]; !seen {
			ts = append(ts, p.ThresholdMilli)
			meets[p.ThresholdMilli] = 0
		}
		if p.QualityRatio >= qualityTarget {
			meets[p.ThresholdMilli]++
		}
	}
	best, found := 0, false
	for _, th := range ts {
		if meets[th] == len(sources) && (!found || th < best) {
			best, found = th, true
		}
	}
	return best, found
}

// cheapestMeeting returns a source's sweep point with the lowest cost share
// that keeps qualityTarget of verifier quality (what a per-source threshold
// could reach on this data; informational).
func cheapestMeeting(points []sweepPoint, source string) (sweepPoint, bool) {
	var best sweepPoint
	found := false
	for _, p := range points {
		if p.Source != source || p.QualityRatio < qualityTarget {
			continue
		}
		if !found || p.CostShare < best.CostShare {
			best, found = p, true
		}
	}
	return best, found
}

// versusRandom compares a source's sweep with random routing.
type versusRandom struct {
	Thresholds int
	// BelowSameRate and BelowSameCost count thresholds where the cascade's
	// quality is below random at the same escalation rate / the same cost.
	BelowSameRate, BelowSameCost int
	// WorstSameRate and WorstSameCost are the largest shortfalls (random
	// quality minus cascade quality; 0 when never below).
	WorstSameRate, WorstSameCost float64
}

// compareRandom compares a source's sweep points with random routing.
func compareRandom(points []sweepPoint, source string) versusRandom {
	const eps = 1e-12
	var v versusRandom
	for _, p := range points {
		if p.Source != source {
			continue
		}
		v.Thresholds++
		if gap := p.RandomSameRate - p.Quality; gap > eps {
			v.BelowSameRate++
			v.WorstSameRate = max(v.WorstSameRate, gap)
		}
		if gap := p.RandomSameCost - p.Quality; gap > eps {
			v.BelowSameCost++
			v.WorstSameCost = max(v.WorstSameCost, gap)
		}
	}
	return v
}

// observed summarises a pass as the client saw it: quality of the answers
// actually returned, cost from x-cascade-cost-usd, escalation from
// x-cascade-outcome. allUSD is the always-verifier cost of the same rows.
func observed(rows []row, obs []observation, idx []int, qv, allUSD float64) strategy {
	var q, cost float64
	esc := 0
	for _, i := range idx {
		o := obs[i]
		if o.Served == servedDraft {
			q += rows[i].Draft.Score
		} else {
			q += rows[i].Verifier.Score
		}
		cost += o.CostUSD
		if o.Outcome != outcomeAccepted && o.Outcome != outcomeDraftOnly {
			esc++
		}
	}
	n := float64(len(idx))
	if n == 0 {
		return strategy{}
	}
	return strategy{Quality: q / n, QualityRatio: ratio(q/n, qv), CostShare: ratio(cost, allUSD), Escalation: float64(esc) / n}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
