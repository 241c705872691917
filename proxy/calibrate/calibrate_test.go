package calibrate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

func TestUpperBoundClosedForms(t *testing.T) {
	// With no failures the Clopper–Pearson bound is 1 - delta^(1/n); with all
	// failures the lower bound is delta^(1/n).
	for _, n := range []float64{1, 5, 10, 100, 1000} {
		for _, delta := range []float64{0.01, 0.05, 0.1} {
			want := 1 - math.Pow(delta, 1/n)
			if got := UpperBound(0, n, delta); math.Abs(got-want) > 1e-9 {
				t.Errorf("UpperBound(0, %v, %v) = %v, want %v", n, delta, got, want)
			}
			if got := LowerBound(n, n, delta); math.Abs(got-math.Pow(delta, 1/n)) > 1e-9 {
				t.Errorf("LowerBound(%v, %v, %v) = %v, want %v", n, n, delta, got, math.Pow(delta, 1/n))
			}
		}
	}
}

func TestUpperBoundKnownValues(t *testing.T) {
	// The bound p solves P[Bin(n, p) <= k] = delta; checked against that
	// equation solved by bisection on the binomial distribution itself.
	cases := []struct{ k, n, delta float64 }{{5, 100, 0.05}, {10, 50, 0.05}, {1, 10, 0.1}, {30, 400, 0.01}}
	for _, c := range cases {
		c := struct{ k, n, delta, want float64 }{c.k, c.n, c.delta, binomialBound(int(c.k), int(c.n), c.delta)}
		if got := UpperBound(c.k, c.n, c.delta); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("UpperBound(%v, %v, %v) = %.4f, want %.4f", c.k, c.n, c.delta, got, c.want)
		}
		if lo, hi := LowerBound(c.k, c.n, c.delta), UpperBound(c.k, c.n, c.delta); !(lo < c.k/c.n && c.k/c.n < hi) {
			t.Errorf("bounds [%v, %v] do not bracket %v", lo, hi, c.k/c.n)
		}
	}
	if UpperBound(3, 0, 0.1) != 1 || UpperBound(7, 7, 0.1) != 1 || LowerBound(0, 9, 0.1) != 0 {
		t.Error("degenerate cases")
	}
}

// binomialBound solves P[Bin(n, p) <= k] = delta for p by bisection.
func binomialBound(k, n int, delta float64) float64 {
	cdf := func(p float64) float64 {
		sum, term := 0.0, math.Pow(1-p, float64(n)) // P[X = 0]
		for i := 0; i <= k; i++ {
			sum += term
			term *= float64(n-i) / float64(i+1) * p / (1 - p)
		}
		return sum
	}
	lo, hi := 0.0, 1.0
	for i := 0; i < 80; i++ {
		if m := (lo + hi) / 2; cdf(m) > delta {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

func TestUpperBoundCoverage(t *testing.T) {
	// The bound must hold at least 1-delta of the time.
	rng := rand.New(rand.NewPCG(1, 2))
	const p, n, delta, runs = 0.07, 200, 0.1, 2000
	held := 0
	for r := 0; r < runs; r++ {
		k := 0
		for i := 0; i < n; i++ {
			if rng.Float64() < p {
				k++
			}
		}
		if UpperBound(float64(k), n, delta) >= p {
			held++
		}
	}
	if cov := float64(held) / runs; cov < 1-delta {
		t.Fatalf("coverage %.3f < %.3f", cov, 1-delta)
	}
}

// stream draws n scored drafts with score ~ U(0,1) and P(good | score) =
// good(score), audited as a live route would: drafts at or above threshold
// are labelled at the audit rate, those below (escalated) always.
func stream(rng *rand.Rand, n int, threshold, rate float64, good func(float64) float64) []Sample {
	out := make([]Sample, 0, n)
	for i := 0; i < n; i++ {
		s := Sample{Score: rng.Float64()}
		isGood := rng.Float64() < good(s.Score)
		if s.Score >= threshold {
			s.LabelProb = rate
			if rng.Float64() < rate {
				s.Labelled, s.Good = true, isGood
			}
		} else {
			s.LabelProb, s.Labelled, s.Good = 1, true, isGood
		}
		out = append(out, s)
	}
	return out
}

// trueQuality is 1 - integral over [t, 1] of (1 - good(s)) ds.
func trueQuality(t float64, good func(float64) float64) float64 {
	const steps = 10000
	bad := 0.0
	for i := 0; i < steps; i++ {
		s := (float64(i) + 0.5) / steps
		if s >= t {
			bad += (1 - good(s)) / steps
		}
	}
	return 1 - bad
}

func TestChooseConvergesAndRespectsTheBound(t *testing.T) {
	calibrated := func(s float64) float64 { return s } // quality(t) = 1 - (1-t)^2/2; 0.95 at t ≈ 0.684
	cfg := Config{Target: 0.95, Confidence: 0.9, MinLabels: 100}
	const runs = 100
	violations := 0
	var sum float64
	for r := 0; r < runs; r++ {
		rng := rand.New(rand.NewPCG(uint64(r), 7))
		samples := stream(rng, 4000, 0.7, 0.1, calibrated)
		d := Choose(samples, cfg, 0.7)
		if d.Reason != Calibrated {
			t.Fatalf("run %d: reason %s", r, d.Reason)
		}
		sum += d.Threshold
		if trueQuality(d.Threshold, calibrated) < cfg.Target {
			violations++
		}
	}
	// At 90 % confidence at most ~10 % of runs may miss the target; allow sampling noise.
	if violations > 15 {
		t.Errorf("target missed in %d of %d runs", violations, runs)
	}
	if mean := sum / runs; mean < 0.684 || mean > 0.80 {
		t.Errorf("mean threshold %.3f, want just above the oracle 0.684", mean)
	}
}

func TestChooseEstimateTracksTruth(t *testing.T) {
	good := func(s float64) float64 { return 0.5 + 0.5*s }
	rng := rand.New(rand.NewPCG(3, 3))
	samples := stream(rng, 20000, 0.5, 0.1, good)
	for _, th := range []float64{0.3, 0.5, 0.8} {
		e := At(samples, th, 0.005)
		want := trueQuality(th, good)
		if math.Abs(e.Quality-want) > 0.015 {
			t.Errorf("t=%.1f: estimate %.4f, truth %.4f", th, e.Quality, want)
		}
		if !(e.Lower <= want && want <= e.Upper) {
			t.Errorf("t=%.1f: truth %.4f outside [%.4f, %.4f]", th, want, e.Lower, e.Upper)
		}
	}
}

func TestChooseHoldsOnTooFewSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	samples := stream(rng, 60, 0.7, 1, func(float64) float64 { return 0 }) // 60 labels, all bad
	d := Choose(samples, Config{Target: 0.95, MinLabels: 100}, 0.7)
	if d.Reason != ColdStart || d.Threshold != 0.7 {
		t.Fatalf("moved on %d labels: %+v", d.Labels, d)
	}
	if d.Met {
		t.Error("cold start with all-bad drafts claims the target is met")
	}
}

func TestChooseEscalatesWhenNothingSeparates(t *testing.T) {
	// Every draft is bad: no threshold that accepts drafts holds 95 %.
	rng := rand.New(rand.NewPCG(9, 9))
	samples := stream(rng, 3000, 0.7, 0.1, func(float64) float64 { return 0 })
	d := Choose(samples, Config{Target: 0.95}, 0.7)
	if d.Threshold < 0.95 {
		t.Fatalf("threshold %.2f accepts more than 5 %% of all-bad drafts", d.Threshold)
	}
	// A score that does not separate, with most drafts bad: only a sliver may be accepted.
	samples = stream(rng, 3000, 0.7, 0.1, func(float64) float64 { return 0.3 })
	d = Choose(samples, Config{Target: 0.95}, 0.7)
	if q := trueQuality(d.Threshold, func(float64) float64 { return 0.3 }); q < 0.95 {
		t.Fatalf("threshold %.2f gives quality %.3f", d.Threshold, q)
	}
}

func TestChooseEscalatesOnANonSeparatingScore(t *testing.T) {
	// 70 % of drafts are good whatever their score. Accepting a random top
	// sliver would pass the bound (quality 1 - 0.3·share), but the score
	// shows nothing: the route must escalate everything.
	flat := func(float64) float64 { return 0.7 }
	cfg := Config{Target: 0.95, Confidence: 0.9}
	slivers, escalated := 0, 0
	const runs = 50
	for r := 0; r < runs; r++ {
		rng := rand.New(rand.NewPCG(uint64(r), 11))
		samples := stream(rng, 3000, 0.7, 0.1, flat)
		if At(samples, 0.97, 1-cfg.Confidence).Lower >= cfg.Target {
			slivers++
		}
		d := Choose(samples, cfg, 0.7)
		if d.Reason == EscalateAll && d.Threshold == Never && d.Met {
			escalated++
		}
	}
	if slivers < runs/2 {
		t.Fatalf("a top sliver passes the bound in only %d of %d runs: the case does not test the guard", slivers, runs)
	}
	t.Logf("escalated %d/%d, slivers %d", escalated, runs, slivers)
	if escalated < runs*9/10 {
		t.Errorf("escalate-all in %d of %d runs", escalated, runs)
	}
}

func TestChooseAcceptingNothingIsEscalateAll(t *testing.T) {
	// Every score is 0.5 and half the drafts are bad: the thresholds above
	// 0.5 pass by accepting nothing, 0.5 fails. That is escalate-all, not a
	// calibrated threshold that never fires.
	samples := make([]Sample, 400)
	for i := range samples {
		samples[i] = Sample{Score: 0.5, Labelled: true, Good: i%2 == 0, LabelProb: 1}
	}
	d := Choose(samples, Config{Target: 0.95}, 0.7)
	if d.Reason != EscalateAll || d.Threshold != Never || d.Estimate.Accepted != 0 {
		t.Fatalf("got %+v", d)
	}
}

func TestChooseSeparatingScoreIsNotHeldBack(t *testing.T) {
	// Good drafts score high, bad ones low: the loosest threshold between the
	// two groups is taken.
	rng := rand.New(rand.NewPCG(13, 13))
	var samples []Sample
	for i := 0; i < 2000; i++ {
		good := rng.Float64() < 0.6
		s := Sample{Score: 0.1 + 0.3*rng.Float64(), Labelled: true, Good: good, LabelProb: 1}
		if good {
			s.Score += 0.5
		}
		samples = append(samples, s)
	}
	d := Choose(samples, Config{Target: 0.95}, 0.7)
	if d.Reason != Calibrated || d.Threshold < 0.3 || d.Threshold > 0.6 || d.Estimate.Accepted < 0.6 || d.Estimate.Accepted > 0.65 {
		t.Fatalf("got %+v, want a threshold at or below the gap accepting the good 60 %% and a few bad", d)
	}
}

func TestChooseColdStartEscalatingIsMet(t *testing.T) {
	samples := []Sample{{Score: 0.9, Labelled: true, LabelProb: 1}}
	if d := Choose(samples, Config{Target: 0.95}, Never); d.Reason != ColdStart || !d.Met {
		t.Fatalf("got %+v", d)
	}
	if d := Choose(samples, Config{Target: 0.95}, 0.5); d.Met {
		t.Fatalf("one bad accepted draft meets the target: %+v", d)
	}
}

func TestChooseEscalateAllReason(t *testing.T) {
	// All scores are 1 and all drafts bad: even the strictest real threshold fails.
	samples := make([]Sample, 500)
	for i := range samples {
		samples[i] = Sample{Score: 1, Labelled: true, LabelProb: 1}
	}
	d := Choose(samples, Config{Target: 0.95}, 0.7)
	if d.Reason != EscalateAll || d.Threshold != Never || !d.Met {
		t.Fatalf("got %+v", d)
	}
}

func TestAtWeightsAuditsAgainstEscalations(t *testing.T) {
	// 1000 accepted drafts audited at 10 % (100 labels, 20 bad) and 1000
	// escalated ones all compared: the accepted region's bad rate is 20 %,
	// whatever the labels below the threshold say.
	var samples []Sample
	for i := 0; i < 1000; i++ {
		s := Sample{Score: 0.9, LabelProb: 0.1}
		if i < 100 {
			s.Labelled, s.Good = true, i >= 20
		}
		samples = append(samples, s, Sample{Score: 0.1, LabelProb: 1, Labelled: true, Good: false})
	}
	e := At(samples, 0.5, 0.1)
	if math.Abs(e.Accepted-0.5) > 1e-9 || math.Abs(e.Quality-0.9) > 1e-9 || e.Labels != 100 {
		t.Fatalf("got %+v, want accepted 0.5 quality 0.9 labels 100", e)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Target: 0.95}.Defaults()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{{Target: 1.2}, {Target: 0}, {Target: 0.9, Confidence: 1}, {Target: 0.9, Confidence: 0.9, Step: 0}, {Target: 0.9, Confidence: 0.9, Step: 0.01, MinLabels: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func BenchmarkChoose(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	samples := stream(rng, 5000, 0.7, 0.1, func(s float64) float64 { return s })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Choose(samples, Config{Target: 0.95}, 0.7)
	}
}

func TestEstimateJSONCarriesUnknownQuality(t *testing.T) {
	// Accepted drafts of which none was compared: the quality is unknown.
	e := At([]Sample{{Score: 0.9}, {Score: 0.2, Labelled: true, Good: true}}, 0.5, 0.1)
	if !math.IsNaN(e.Quality) {
		t.Fatalf("quality %v, want NaN", e.Quality)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back Estimate
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.Quality) || back.Lower != e.Lower || back.Accepted != e.Accepted || back.Threshold != 0.5 {
		t.Errorf("round trip %s gave %+v, want %+v", b, back, e)
	}
}

// disputes builds escalated drafts, every one compared: eq settle as good by
// the free comparison, the rest are disputes, bad with probability badRate,
// judged when judged(i) says so.
func disputes(rng *rand.Rand, eq, disputed int, badRate float64, judged func(i int) bool) []Sample {
	var out []Sample
	for range eq {
		out = append(out, Sample{Score: rng.Float64(), Labelled: true, Good: true, LabelProb: 1})
	}
	for i := range disputed {
		s := Sample{Score: rng.Float64(), Disputed: true, LabelProb: 1}
		if judged(i) {
			s.Labelled, s.Good = true, rng.Float64() >= badRate
		}
		out = append(out, s)
	}
	return out
}

func TestDisputesStandForTheirStratumWhateverTheJudgeSaw(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// 600 drafts settle as good, 400 are disputes, 60 % of them bad: the
	// true bad share is 0.24. Judged at random (20 %) or only the first 100
	// (a budget that ran out): either way the judged disputes stand for all.
	for name, judged := range map[string]func(int) bool{
		"at random":      func(int) bool { return rng.Float64() < 0.2 },
		"budget ran out": func(i int) bool { return i < 100 },
	} {
		s := disputes(rng, 600, 400, 0.6, judged)
		e := At(s, 0, 0.1)
		if bad := 1 - e.Quality; math.Abs(bad-0.24) > 0.06 {
			t.Errorf("%s: estimated bad share %.3f, want about 0.24", name, bad)
		}
		if !(e.Lower < e.Quality && e.Quality < e.Upper) || 1-e.Lower < 0.24 {
			t.Errorf("%s: bounds [%.3f, %.3f] around %.3f do not cover the true quality 0.76", name, e.Lower, e.Upper, e.Quality)
		}
	}
}

func TestUndecidedDisputesCountAsBad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// No dispute judged: the bound must assume them bad (40 % of drafts).
	s := disputes(rng, 600, 400, 0.6, func(int) bool { return false })
	e := At(s, 0, 0.1)
	if e.Quality > 0.6+1e-9 || e.Lower > 0.6 {
		t.Errorf("undecided disputes: quality %.3f, lower %.3f; want at most 0.6 (all disputes bad)", e.Quality, e.Lower)
	}
	// Two judged good disputes do not vouch for 400.
	s = disputes(rng, 600, 400, 0, func(i int) bool { return i < 2 })
	if e := At(s, 0, 0.1); e.Lower > 0.9 {
		t.Errorf("two judged disputes certify quality %.3f (lower bound)", e.Lower)
	}
	d := Choose(s, Config{Target: 0.95, MinLabels: 100}, 0.7)
	if d.Threshold < 0.5 {
		t.Errorf("with 398 undecided disputes the route accepts from %.2f (%s); want it held back", d.Threshold, d.Reason)
	}
}

func TestJudgedDisputesLetARouteAccept(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	// Disputes are good drafts (both models wrong, say), and enough were
	// judged: the route may accept every draft.
	s := disputes(rng, 600, 400, 0, func(i int) bool { return i%2 == 0 })
	d := Choose(s, Config{Target: 0.95, MinLabels: 100}, 0.7)
	if d.Threshold != 0 || !d.Met {
		t.Errorf("got threshold %.2f (%s), want 0: every draft is good", d.Threshold, d.Reason)
	}
}

func TestChooseDraftingMustPay(t *testing.T) {
	// Only the top tenth of the scores are good drafts (and the score says
	// so perfectly): the target is met by accepting that tenth.
	var s []Sample
	for i := range 2000 {
		score := float64(i) / 2000
		s = append(s, Sample{Score: score, Labelled: true, Good: score >= 0.9, LabelProb: 1})
	}
	cfg := Config{Target: 0.95, MinLabels: 100}
	cfg.DraftCost = 0.05 // drafting costs less than the verifier answers it saves
	// Some bad drafts just below 0.9 fit within the target's 5 %.
	if d := Choose(s, cfg, 0.7); d.Reason != Calibrated || d.Threshold > 0.9 || d.Threshold < 0.8 || d.Estimate.Lower < 0.95 {
		t.Errorf("cheap drafts: %.2f (%s, lower bound %.3f), want calibrated in [0.8, 0.9]", d.Threshold, d.Reason, d.Estimate.Lower)
	}
	cfg.DraftCost = 0.3 // accepting a tenth does not pay for drafting every request
	if d := Choose(s, cfg, 0.7); d.Reason != EscalateAll || d.Threshold != Never || !d.Met {
		t.Errorf("dear drafts: %.2f (%s), want escalate-all", d.Threshold, d.Reason)
	}
}

func TestChooseGoodDraftsNeedNoSeparatingScore(t *testing.T) {
	// The score means nothing, but 99 % of drafts are good: accept them all.
	rng := rand.New(rand.NewPCG(9, 10))
	var s []Sample
	for range 2000 {
		s = append(s, Sample{Score: rng.Float64(), Labelled: true, Good: rng.Float64() < 0.99, LabelProb: 1})
	}
	d := Choose(s, Config{Target: 0.95, MinLabels: 100, DraftCost: 0.3}, 0.7)
	if d.Reason != Calibrated || d.Threshold != 0 {
		t.Errorf("got %.2f (%s), want calibrated at 0", d.Threshold, d.Reason)
	}
}
