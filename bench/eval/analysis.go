package main

import (
	"math"
	"slices"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
)

// Outcomes as the proxy reports them in x-cascade-outcome.
const (
	outcomeAccepted     = string(cascade.Accepted)
	outcomeDraftOnly    = string(cascade.DraftOnly)
	outcomeVerifierOnly = string(cascade.VerifierOnly)
)

// noScore marks a row without a gate score (the draft call failed).
const noScore = -1.0

// rowResult joins, for one row, its labels and what the proxy reported in
// the passes that fix the sweep: the gate score (cascade pass) and the cost
// of the draft alone and of the verifier alone (draft-only and verifier-only
// passes).
type rowResult struct {
	Source        string
	DraftScore    float64
	VerifierScore float64
	// Gate is the gate score at full precision (read from /api/stats);
	// noScore when the draft call failed.
	Gate float64
	// GateMilli is the x-cascade-score header in thousandths; -1: none.
	GateMilli   int
	DraftUSD    float64
	VerifierUSD float64
}

// accepts reports whether the gate accepts the row's draft at threshold t:
// accept iff score >= threshold, as the gate decides.
func (r rowResult) accepts(t float64) bool { return r.Gate >= 0 && r.Gate >= t }

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
	Threshold float64
	Source    string
	OnGrid    bool // the threshold is on the 0.01 grid
	AtScore   bool // the threshold equals a gate score observed on this source
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

// at evaluates the cascade on a source's rows at threshold t: the draft is
// paid on every row, the verifier on rows whose draft fails.
func at(b baselines, rs []rowResult, t float64) sweepPoint {
	p := sweepPoint{Threshold: t, Source: b.Source}
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

// distinctScores returns the gate scores observed on rs, ascending, once each.
func distinctScores(rs []rowResult) []float64 {
	var s []float64
	for _, r := range rs {
		if r.Gate >= 0 {
			s = append(s, r.Gate)
		}
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// sweep evaluates each source at every threshold of the grid and at every
// gate score observed on it. The cascade's figures change only where the
// threshold crosses an observed score, so the observed scores give every
// operating point the gate can have on this data; the grid gives the
// regular columns of the CSV and the plot's dots. Points are ordered by
// source, then threshold.
func sweep(order []string, groups map[string][]rowResult, base map[string]baselines, grid []float64) []sweepPoint {
	var out []sweepPoint
	for _, s := range order {
		scores := distinctScores(groups[s])
		ths := slices.Concat(grid, scores)
		slices.Sort(ths)
		ths = slices.Compact(ths)
		for _, t := range ths {
			p := at(base[s], groups[s], t)
			_, p.OnGrid = slices.BinarySearch(grid, t)
			_, p.AtScore = slices.BinarySearch(scores, t)
			out = append(out, p)
		}
	}
	return out
}

// thresholdGrid is 0.00, 0.01, ..., 1.00.
func thresholdGrid() []float64 {
	g := make([]float64, 0, 101)
	for i := 0; i <= 100; i++ {
		g = append(g, float64(i)/100) // correctly rounded: equals the literal 0.07 etc.
	}
	return g
}

// cheapestMeeting returns, among a source's points that keep selects, the one
// with the lowest cost share that keeps evaldata.QualityTarget of verifier quality.
// Cost falls as the threshold falls, so this is also the lowest such
// threshold; on a tie of cost the higher quality wins.
func cheapestMeeting(points []sweepPoint, source string, keep func(sweepPoint) bool) (sweepPoint, bool) {
	var best sweepPoint
	found := false
	for _, p := range points {
		if p.Source != source || !keep(p) || p.QualityRatio < evaldata.QualityTarget {
			continue
		}
		if !found || p.CostShare < best.CostShare || (p.CostShare == best.CostShare && p.Quality > best.Quality) {
			best, found = p, true
		}
	}
	return best, found
}

func atScore(p sweepPoint) bool { return p.AtScore }
func onGrid(p sweepPoint) bool  { return p.OnGrid }

// operatingPoint is a source's own operating point, tuned on the dev data:
// the cheapest threshold keeping evaldata.QualityTarget of its always-verifier
// quality, as a rule for that traffic alone would set it.
type operatingPoint struct {
	// Score is the observed gate score the cheapest point sits at.
	Score float64
	// Threshold is the rule's threshold: the shortest decimal in
	// (next lower observed score, Score], so it takes the same decisions on
	// these rows as Score itself and can be written in a rules file.
	Threshold float64
	// Predicted is the sweep's figure at Threshold; the report shows the
	// proxy's re-run at Threshold.
	Predicted sweepPoint
}

// tune finds source's operating point; ok is false when no observed score
// keeps the quality target.
func tune(points []sweepPoint, rs []rowResult, b baselines, source string) (operatingPoint, bool) {
	p, ok := cheapestMeeting(points, source, atScore)
	if !ok {
		return operatingPoint{}, false
	}
	lower := 0.0
	for _, s := range distinctScores(rs) {
		if s < p.Threshold {
			lower = s
		}
	}
	t := shortestDecimalIn(lower, p.Threshold)
	return operatingPoint{Score: p.Threshold, Threshold: t, Predicted: at(b, rs, t)}, true
}

// shortestDecimalIn returns the decimal with the fewest digits (the largest
// of them) in (lo, hi]; hi when none is shorter than hi itself.
func shortestDecimalIn(lo, hi float64) float64 {
	if !(lo < hi) {
		return hi
	}
	for d := 0; d <= 17; d++ {
		c := decimal(hi, d)
		if c > hi { // rounded up: the d-digit decimal just below
			c = decimal(c-math.Pow10(-d), d)
		}
		if c > lo && c <= hi {
			return c
		}
	}
	return hi
}

// decimal rounds f to d decimals, as a rules file would spell it.
func decimal(f float64, d int) float64 {
	c, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', d, 64), 64)
	return c
}

// resolution compares a source's cheapest point on the 0.01 grid with its
// cheapest point at an observed score, and what reading the score at the
// header's 3 decimals would have done there.
type resolution struct {
	Grid   sweepPoint // cheapest grid point keeping the target
	GridOK bool
	// Between counts drafts scored in [operating threshold, grid threshold):
	// accepted at the operating point, escalated at the grid's.
	Between int
	// DistinctExact and DistinctHeader count the distinct gate scores at
	// full precision and at the header's 3 decimals.
	DistinctExact, DistinctHeader int
	// HeaderWrong counts rows a sweep built from the 3-decimal header would
	// predict wrongly at the grid point (header rounds up to the threshold,
	// exact score below it).
	HeaderWrong int
}

func resolve(points []sweepPoint, rs []rowResult, source string, op operatingPoint, opOK bool) resolution {
	var res resolution
	res.Grid, res.GridOK = cheapestMeeting(points, source, onGrid)
	res.DistinctExact = len(distinctScores(rs))
	header := map[int]bool{}
	for _, r := range rs {
		if r.GateMilli >= 0 {
			header[r.GateMilli] = true
		}
		if res.GridOK && (r.GateMilli >= milli(res.Grid.Threshold)) != r.accepts(res.Grid.Threshold) {
			res.HeaderWrong++
		}
		if opOK && res.GridOK && r.Gate >= op.Threshold && r.Gate < res.Grid.Threshold {
			res.Between++
		}
	}
	res.DistinctHeader = len(header)
	return res
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

// compareRandom compares a source's sweep points at observed scores (every
// distinct decision the gate can take on the data) with random routing.
func compareRandom(points []sweepPoint, source string) versusRandom {
	const eps = 1e-12
	var v versusRandom
	for _, p := range points {
		if p.Source != source || !p.AtScore {
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
func observed(rows []evaldata.Row, obs []observation, idx []int, qv, allUSD float64) strategy {
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
