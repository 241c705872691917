package main

import (
	"math"
	"testing"
)

// fourRows is a small source whose figures are worked out by hand below.
// Draft cost 5 in all, verifier cost 50 (draft cost share 0.1).
var fourRows = []rowResult{
	{Source: "a", DraftScore: 1.0, VerifierScore: 0.5, GateMilli: 900, DraftUSD: 1, VerifierUSD: 10},
	{Source: "a", DraftScore: 0.0, VerifierScore: 1.0, GateMilli: 300, DraftUSD: 1, VerifierUSD: 10},
	{Source: "a", DraftScore: 0.5, VerifierScore: 0.5, GateMilli: -1, DraftUSD: 2, VerifierUSD: 20}, // draft call failed
	{Source: "a", DraftScore: 0.25, VerifierScore: 1.0, GateMilli: 700, DraftUSD: 1, VerifierUSD: 10},
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
	// 0.700: rows 1 and 4 accepted (score ≥ threshold, 700 ≥ 700), rows 2
	// and 3 escalated. Quality (1 + 1 + 0.5 + 0.25)/4; cost 5 + 10 + 20 = 35.
	p := at(b, fourRows, 700)
	approx(t, "quality@0.7", p.Quality, 0.6875)
	approx(t, "ratio@0.7", p.QualityRatio, 0.6875/0.75)
	approx(t, "cost share@0.7", p.CostShare, 0.7)
	approx(t, "escalation@0.7", p.Escalation, 0.5)
	approx(t, "random same rate@0.7", p.RandomSameRate, 0.5*0.4375+0.5*0.75)
	// Router at cost share 0.7: e' = (0.7 - 0.1)/0.9 = 2/3.
	approx(t, "random same cost@0.7", p.RandomSameCost, 0.4375+(2.0/3.0)*(0.75-0.4375))

	// 0.701: row 4 escalates too.
	p = at(b, fourRows, 701)
	approx(t, "quality@0.701", p.Quality, 0.875)
	approx(t, "cost share@0.701", p.CostShare, 0.9)
	approx(t, "escalation@0.701", p.Escalation, 0.75)

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

func TestCompareRandom(t *testing.T) {
	b := summarize("a", fourRows)
	pts := []sweepPoint{at(b, fourRows, 0), at(b, fourRows, 700), at(b, fourRows, 701)}
	v := compareRandom(pts, "a")
	if v.Thresholds != 3 {
		t.Fatalf("thresholds = %d, want 3", v.Thresholds)
	}
	// At 0 the cascade keeps 0.4375 while escalating 25 %: random at that
	// rate expects 0.515625, and a router at cost share 0.5 expects
	// 0.4375 + (0.4/0.9)·0.3125.
	if v.BelowSameRate != 1 || v.BelowSameCost != 1 {
		t.Errorf("below = %d / %d, want 1 / 1", v.BelowSameRate, v.BelowSameCost)
	}
	approx(t, "worst same rate", v.WorstSameRate, 0.515625-0.4375)
	approx(t, "worst same cost", v.WorstSameCost, (0.4/0.9)*0.3125)
}

func TestTunedThresholdIsLowestMeetingEverySource(t *testing.T) {
	pt := func(src string, th int, ratio float64) sweepPoint {
		p := sweepPoint{Source: src, ThresholdMilli: th}
		p.QualityRatio = ratio
		return p
	}
	pts := []sweepPoint{
		pt("a", 300, 0.96), pt("b", 300, 0.90),
		pt("a", 500, 0.97), pt("b", 500, 0.95),
		pt("a", 800, 0.99), pt("b", 800, 0.99),
	}
	if th, ok := tunedThreshold(pts, []string{"a", "b"}); !ok || th != 500 {
		t.Errorf("tuned = %d, %v; want 500, true", th, ok)
	}
	if _, ok := tunedThreshold(pts[:2], []string{"a", "b"}); ok {
		t.Error("a threshold was found although source b never reaches the target")
	}
}

func TestCheapestMeeting(t *testing.T) {
	mk := func(th int, ratio, cost float64) sweepPoint {
		p := sweepPoint{Source: "a", ThresholdMilli: th}
		p.QualityRatio, p.CostShare = ratio, cost
		return p
	}
	pts := []sweepPoint{mk(100, 0.80, 0.1), mk(600, 0.951, 0.40), mk(900, 0.99, 0.9)}
	p, ok := cheapestMeeting(pts, "a")
	if !ok || p.ThresholdMilli != 600 {
		t.Errorf("cheapest = %d, %v; want 600, true", p.ThresholdMilli, ok)
	}
	if _, ok := cheapestMeeting(pts, "b"); ok {
		t.Error("found a point for a source with none")
	}
}

func TestThresholdGrid(t *testing.T) {
	g := thresholdGrid()
	if len(g) != 101 || g[0] != 0 || g[70] != 700 || g[100] != 1000 {
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
