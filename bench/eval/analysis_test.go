package main

import (
	"math"
	"testing"
)

// fourRows is a small source whose figures are worked out by hand below.
// Draft cost 5 in all, verifier cost 50 (draft cost share 0.1).
var fourRows = []rowResult{
	{Source: "a", DraftScore: 1.0, VerifierScore: 0.5, Gate: 0.9, GateMilli: 900, DraftUSD: 1, VerifierUSD: 10},
	{Source: "a", DraftScore: 0.0, VerifierScore: 1.0, Gate: 0.3, GateMilli: 300, DraftUSD: 1, VerifierUSD: 10},
	{Source: "a", DraftScore: 0.5, VerifierScore: 0.5, Gate: noScore, GateMilli: -1, DraftUSD: 2, VerifierUSD: 20}, // draft call failed
	{Source: "a", DraftScore: 0.25, VerifierScore: 1.0, Gate: 0.7, GateMilli: 700, DraftUSD: 1, VerifierUSD: 10},
}

func approx(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %.10f, want %.10f", what, got, want)
	}
}

func TestSummarizeBaselines(t *testing.T) {
	b := summarize("a", fourRows)
	approx(t, "draft quality", b.Draft.Quality, 0.4375)
	approx(t, "draft cost share", b.Draft.CostShare, 0.1)
	approx(t, "draft quality ratio", b.Draft.QualityRatio, 0.4375/0.75)
	approx(t, "verifier quality", b.Verifier.Quality, 0.75)
	approx(t, "verifier cost share", b.Verifier.CostShare, 1)
	// Oracle: rows 1 and 3 keep the draft (1.0, 0.5), rows 2 and 4 escalate
	// (1.0, 1.0): quality 3.5/4; cost 5 + 10 + 10 = 25 of 50.
	approx(t, "oracle quality", b.Oracle.Quality, 0.875)
	approx(t, "oracle cost share", b.Oracle.CostShare, 0.5)
	approx(t, "oracle escalation", b.Oracle.Escalation, 0.5)
}

func TestCascadeAtThreshold(t *testing.T) {
	b := summarize("a", fourRows)
	// 0.7: rows 1 and 4 accepted (score ≥ threshold, 0.7 ≥ 0.7), rows 2
	// and 3 escalated. Quality (1 + 1 + 0.5 + 0.25)/4; cost 5 + 10 + 20 = 35.
	p := at(b, fourRows, 0.7)
	approx(t, "quality@0.7", p.Quality, 0.6875)
	approx(t, "ratio@0.7", p.QualityRatio, 0.6875/0.75)
	approx(t, "cost share@0.7", p.CostShare, 0.7)
	approx(t, "escalation@0.7", p.Escalation, 0.5)
	approx(t, "random same rate@0.7", p.RandomSameRate, 0.5*0.4375+0.5*0.75)
	// Router at cost share 0.7: e' = (0.7 - 0.1)/0.9 = 2/3.
	approx(t, "random same cost@0.7", p.RandomSameCost, 0.4375+(2.0/3.0)*(0.75-0.4375))

	// 0.7001: row 4 escalates too.
	p = at(b, fourRows, 0.7001)
	approx(t, "quality@0.7001", p.Quality, 0.875)
	approx(t, "cost share@0.7001", p.CostShare, 0.9)
	approx(t, "escalation@0.7001", p.Escalation, 0.75)

	// 0: every scored draft is accepted; the failed draft still escalates.
	p = at(b, fourRows, 0)
	approx(t, "escalation@0", p.Escalation, 0.25)
	approx(t, "cost share@0", p.CostShare, 0.5)
}

func TestRandomAtCostClamps(t *testing.T) {
	b := summarize("a", fourRows)
	approx(t, "below the draft's cost", randomAtCost(b, 0.05), 0.4375)
	approx(t, "above the verifier's cost", randomAtCost(b, 1.2), 0.75)
}

func TestSweepTakesGridAndObservedScores(t *testing.T) {
	b := map[string]baselines{"a": summarize("a", fourRows)}
	pts := sweep([]string{"a"}, map[string][]rowResult{"a": fourRows}, b, []float64{0, 0.5, 0.7})
	type kind struct{ grid, score bool }
	want := map[float64]kind{0: {true, false}, 0.3: {false, true}, 0.5: {true, false}, 0.7: {true, true}, 0.9: {false, true}}
	if len(pts) != len(want) {
		t.Fatalf("%d points, want %d: %+v", len(pts), len(want), pts)
	}
	for i, p := range pts {
		k, ok := want[p.Threshold]
		if !ok || k.grid != p.OnGrid || k.score != p.AtScore {
			t.Errorf("point %v: grid %v score %v; want present with %+v", p.Threshold, p.OnGrid, p.AtScore, k)
		}
		if i > 0 && pts[i-1].Threshold >= p.Threshold {
			t.Errorf("thresholds not ascending at %v", p.Threshold)
		}
	}
}

func TestCompareRandomCountsObservedScores(t *testing.T) {
	b := summarize("a", fourRows)
	pts := sweep([]string{"a"}, map[string][]rowResult{"a": fourRows}, map[string]baselines{"a": b}, []float64{0})
	v := compareRandom(pts, "a")
	if v.Thresholds != 3 {
		t.Fatalf("thresholds = %d, want 3 (the scores 0.3, 0.7, 0.9)", v.Thresholds)
	}
	// At 0.3 the cascade keeps 0.4375 while escalating 25 %: random at that
	// rate expects 0.515625, and a router at cost share 0.5 expects
	// 0.4375 + (0.4/0.9)·0.3125. At 0.7 and 0.9 it is above both.
	if v.BelowSameRate != 1 || v.BelowSameCost != 1 {
		t.Errorf("below = %d / %d, want 1 / 1", v.BelowSameRate, v.BelowSameCost)
	}
	approx(t, "worst same rate", v.WorstSameRate, 0.515625-0.4375)
	approx(t, "worst same cost", v.WorstSameCost, (0.4/0.9)*0.3125)
}

// twoSources are sources whose own cheapest thresholds differ: x needs
// 0.75 (it sits between its scores 0.60 and 0.75: rule threshold 0.7), y
// meets the target with every draft accepted.
var twoSources = map[string][]rowResult{
	"x": {
		{Source: "x", DraftScore: 1, VerifierScore: 1, Gate: 0.80, DraftUSD: 1, VerifierUSD: 10},
		{Source: "x", DraftScore: 0, VerifierScore: 1, Gate: 0.60, DraftUSD: 1, VerifierUSD: 10},
		{Source: "x", DraftScore: 1, VerifierScore: 1, Gate: 0.75, DraftUSD: 1, VerifierUSD: 10},
		{Source: "x", DraftScore: 0, VerifierScore: 1, Gate: 0.55, DraftUSD: 1, VerifierUSD: 10},
	},
	"y": {
		{Source: "y", DraftScore: 1, VerifierScore: 1, Gate: 0.30, DraftUSD: 1, VerifierUSD: 10},
		{Source: "y", DraftScore: 0, VerifierScore: 0, Gate: 0.20, DraftUSD: 1, VerifierUSD: 10},
	},
}

func TestTuneIsPerSource(t *testing.T) {
	order := []string{"x", "y"}
	base := map[string]baselines{"x": summarize("x", twoSources["x"]), "y": summarize("y", twoSources["y"])}
	pts := sweep(order, twoSources, base, thresholdGrid())
	x, ok := tune(pts, twoSources["x"], base["x"], "x")
	if !ok {
		t.Fatal("x: no operating point")
	}
	// x at 0.75: rows 2 and 4 escalate, quality 1, cost (4 + 20)/40.
	if x.Score != 0.75 || x.Threshold != 0.7 {
		t.Errorf("x: score %v threshold %v; want 0.75 and 0.7", x.Score, x.Threshold)
	}
	approx(t, "x cost share", x.Predicted.CostShare, 0.6)
	approx(t, "x escalation", x.Predicted.Escalation, 0.5)
	approx(t, "x quality ratio", x.Predicted.QualityRatio, 1)
	// y: every draft accepted keeps the verifier's 0.5: cost 2/20.
	y, ok := tune(pts, twoSources["y"], base["y"], "y")
	if !ok || y.Score != 0.2 || y.Threshold != 0.2 {
		t.Errorf("y: %+v, %v; want score and threshold 0.2", y, ok)
	}
	approx(t, "y cost share", y.Predicted.CostShare, 0.1)

	never := []rowResult{{Source: "z", DraftScore: 0, VerifierScore: 1, Gate: 0.9, DraftUSD: 1, VerifierUSD: 10}, {Source: "z", DraftScore: 0, VerifierScore: 1, Gate: noScore, DraftUSD: 1, VerifierUSD: 10}}
	// z only reaches the target when every row escalates, which no observed score does.
	zb := summarize("z", never)
	zp := sweep([]string{"z"}, map[string][]rowResult{"z": never}, map[string]baselines{"z": zb}, thresholdGrid())
	if _, ok := tune(zp, never, zb, "z"); ok {
		t.Error("z: an operating point at an observed score although none keeps the target")
	}
}

// clustered has drafts scored a few thousandths apart around 0.815: the
// cheapest point keeping the target is at 0.8144 (rule threshold 0.814),
// between grid lines; the grid's cheapest is 0.82.
func clustered() []rowResult {
	var rs []rowResult
	add := func(g, draft float64) {
		rs = append(rs, rowResult{Source: "c", DraftScore: draft, VerifierScore: 1, Gate: g, GateMilli: milli(decimal(g, 3)), DraftUSD: 1, VerifierUSD: 10})
	}
	for _, g := range []float64{0.50, 0.51, 0.52, 0.813} {
		add(g, 0) // wrong drafts
	}
	for _, g := range []float64{0.8144, 0.815, 0.8151, 0.816, 0.817, 0.8196} {
		add(g, 1) // right drafts
	}
	return rs
}

func TestCheapestPointBetweenGridLines(t *testing.T) {
	rs := clustered()
	b := summarize("c", rs)
	pts := sweep([]string{"c"}, map[string][]rowResult{"c": rs}, map[string]baselines{"c": b}, thresholdGrid())
	op, ok := tune(pts, rs, b, "c")
	if !ok || op.Score != 0.8144 || op.Threshold != 0.814 {
		t.Fatalf("operating point %+v, %v; want score 0.8144, threshold 0.814", op, ok)
	}
	// 0.814: six right drafts accepted, four wrong ones escalated: quality 1,
	// cost (10 + 40)/100.
	approx(t, "cost share at 0.814", op.Predicted.CostShare, 0.5)
	approx(t, "escalation at 0.814", op.Predicted.Escalation, 0.4)

	res := resolve(pts, rs, "c", op, ok)
	// On the grid, 0.81 accepts the wrong 0.813 draft (quality 0.9); 0.82
	// escalates everything: cost (10 + 100)/100.
	if !res.GridOK || res.Grid.Threshold != 0.82 {
		t.Fatalf("grid point %+v, %v; want 0.82", res.Grid, res.GridOK)
	}
	approx(t, "grid cost share", res.Grid.CostShare, 1.1)
	if res.Between != 6 {
		t.Errorf("between = %d, want the 6 right drafts", res.Between)
	}
	// 0.815 and 0.8151 share the header 0.815.
	if res.DistinctExact != 10 || res.DistinctHeader != 9 {
		t.Errorf("distinct = %d / %d, want 10 / 9", res.DistinctExact, res.DistinctHeader)
	}
	// 0.8196 reads 0.820 in the header: predicted accepted at 0.82 from the
	// header, escalated by the proxy.
	if res.HeaderWrong != 1 {
		t.Errorf("header-wrong = %d, want 1", res.HeaderWrong)
	}
}

func TestShortestDecimalIn(t *testing.T) {
	cases := []struct{ lo, hi, want float64 }{
		{0.813508, 0.813663, 0.8136},
		{0.6, 0.75, 0.7},
		{0, 0.2, 0.2},
		{0.81, 0.82, 0.82},
		{0.28, 0.29, 0.29}, // 0.29·100 is 28.999… in binary
		{0.1, 0.35, 0.3},
		{0.7173, 0.717357, 0.71735},
		{0.29, 0.29, 0.29}, // empty interval: hi itself
	}
	for _, c := range cases {
		if got := shortestDecimalIn(c.lo, c.hi); got != c.want {
			t.Errorf("shortestDecimalIn(%v, %v) = %v, want %v", c.lo, c.hi, got, c.want)
		}
	}
	// Whatever the pair, the result lies in (lo, hi].
	for i := 1; i < 2000; i++ {
		lo, hi := float64(i)/2003, float64(i)/2003+float64(i%7+1)*1e-6
		if got := shortestDecimalIn(lo, hi); !(got > lo && got <= hi) {
			t.Errorf("shortestDecimalIn(%v, %v) = %v: outside the interval", lo, hi, got)
		}
	}
}

func TestCheapestMeeting(t *testing.T) {
	mk := func(th float64, ratio, cost float64) sweepPoint {
		p := sweepPoint{Source: "a", Threshold: th, AtScore: true}
		p.QualityRatio, p.CostShare = ratio, cost
		return p
	}
	pts := []sweepPoint{mk(0.1, 0.80, 0.1), mk(0.6, 0.951, 0.40), mk(0.9, 0.99, 0.9)}
	p, ok := cheapestMeeting(pts, "a", atScore)
	if !ok || p.Threshold != 0.6 {
		t.Errorf("cheapest = %v, %v; want 0.6, true", p.Threshold, ok)
	}
	if _, ok := cheapestMeeting(pts, "a", onGrid); ok {
		t.Error("found a grid point among points at scores only")
	}
	if _, ok := cheapestMeeting(pts, "b", atScore); ok {
		t.Error("found a point for a source with none")
	}
}

func TestThresholdGrid(t *testing.T) {
	g := thresholdGrid()
	if len(g) != 101 || g[0] != 0 || g[7] != 0.07 || g[70] != 0.7 || g[100] != 1 {
		t.Errorf("grid = %v…, len %d", g[:3], len(g))
	}
}

func TestMilliRounds(t *testing.T) {
	for in, want := range map[float64]int{0.7: 700, 0.6995: 700, 0.6994: 699, 1: 1000, 0: 0, -1: -1} {
		if got := milli(in); got != want {
			t.Errorf("milli(%v) = %d, want %d", in, got, want)
		}
	}
}

func TestFormatThreshold(t *testing.T) {
	for in, want := range map[float64]string{0.7: "0.70", 0.5: "0.50", 0.82: "0.82", 0.8136: "0.8136", 0.71735: "0.71735", 1: "1.00"} {
		if got := formatThreshold(in); got != want {
			t.Errorf("formatThreshold(%v) = %q, want %q", in, got, want)
		}
	}
}
