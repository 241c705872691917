package routequality

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/logistic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// richDraft draws a draft with varied length, a hedging signal on 30 % of
// drafts, the complexity signal on every draft at one value, a repetition
// signal on 20 %, and one second opinion compared on 80 % of drafts.
func richDraft(rng *rand.Rand) Inputs {
	sig := []quality.Signal{{Name: quality.SignalComplexity, Score: 0.7}}
	if rng.Float64() < 0.3 {
		sig = append(sig, quality.Signal{Name: quality.SignalHedging, Score: 0.1 + 0.9*rng.Float64()})
	}
	if rng.Float64() < 0.2 {
		sig = append(sig, quality.Signal{Name: quality.SignalRepetition, Score: 0.1 + 0.9*rng.Float64()})
	}
	in := Inputs{
		Decision:   gateDecision(0.05+0.9*rng.Float64(), 0.7, sig...),
		DraftChars: int(math.Exp(math.Log(100) + rng.Float64()*math.Log(100))),
		Agreement:  Agreement{Asked: 1, DraftAnswer: true},
	}
	if rng.Float64() < 0.8 {
		in.Agreement.Compared = 1
		if rng.Float64() < 0.6 {
			in.Agreement.Agree = 1
		}
	}
	return in
}

// labelled draws n samples labelled by truth (a function of the features),
// drafts the truth scores at or above 0.7 labelled at rate 0.2 (weighted
// 5), the others always.
func labelled(rng *rand.Rand, n int, truth func(x []float64) float64) []Sample {
	var out []Sample
	for len(out) < n {
		x := Vector(richDraft(rng))
		p := truth(x)
		s := Sample{Sample: calibrate.Sample{Features: x, LabelProb: 1, Labelled: true, Good: rng.Float64() < p}}
		if p >= 0.7 {
			s.LabelProb = 0.2
			if rng.Float64() >= 0.2 {
				continue // not audited: the fit never sees it
			}
		}
		out = append(out, s)
	}
	return out
}

func index(name string) int {
	for i, n := range featureNames {
		if n == name {
			return i
		}
	}
	panic(name)
}

func TestFitRecoversKnownWeights(t *testing.T) {
	truth := &Model{Features: FeatureNames(), Model: logistic.Model{Bias: 0.5, Weights: make([]float64, NumFeatures)}}
	want := map[string]float64{
		FeaturePrior: 0.8, "signal:" + quality.SignalHedging: 1, FeatureLength: 0.4,
		FeatureAgree: 1.5, FeatureNoneAgree: -1,
	}
	for n, w := range want {
		truth.Weights[index(n)] = w
	}
	samples := labelled(rand.New(rand.NewPCG(1, 2)), 8000, truth.Predict)
	m := fit(samples, opinionPrior, nil)
	if m == nil {
		t.Fatal("no model")
	}
	got := m.Named()
	for n, w := range want {
		if math.Abs(got[n]-w) > 0.2 {
			t.Errorf("%s: weight %.3f, want %.2f", n, got[n], w)
		}
	}
	if math.Abs(got[FeatureBias]-0.5) > 0.3 {
		t.Errorf("bias %.3f, want 0.5", got[FeatureBias])
	}
	for n, w := range got {
		if _, ok := want[n]; !ok && n != FeatureBias && math.Abs(w) > 0.15 {
			t.Errorf("%s: weight %.3f, want ~0", n, w)
		}
	}
}

func TestFitGivesNoWeightToSignalsThatSayNothing(t *testing.T) {
	// Truth: the gate's score and agreement. Hedging fires at random,
	// complexity fires on every draft at one value, and repetition fires
	// more on good drafts than on bad ones (its low scores go with good
	// drafts: were it free, it would push bad-looking good drafts up and
	// clean drafts down).
	rng := rand.New(rand.NewPCG(3, 4))
	base := func(x []float64) float64 {
		return sigmoid(0.2 + 0.7*x[featPrior] + 1.5*x[featAgree] - 1*x[featNoneAgree])
	}
	rep := index("signal:" + quality.SignalRepetition)
	truth := func(x []float64) float64 { return sigmoid(math.Log(base(x)/(1-base(x))) - 1.5*x[rep]) }
	samples := labelled(rng, 6000, truth)
	m := fit(samples, opinionPrior, nil)
	if m == nil {
		t.Fatal("no model")
	}
	w := m.Named()
	if w["signal:"+quality.SignalRepetition] != 0 {
		t.Errorf("anti-informative repetition has weight %v, want exactly 0", w["signal:"+quality.SignalRepetition])
	}
	for _, n := range []string{"signal:" + quality.SignalHedging, "signal:" + quality.SignalComplexity} {
		if w[n] < 0 || w[n] > 0.05 {
			t.Errorf("%s: weight %.4f, want ~0", n, w[n])
		}
	}
	// Without the three signals the scores are the same: they push nothing
	// down.
	silenced := make([]Sample, len(samples))
	for i, s := range samples {
		s.Features = append([]float64(nil), s.Features...)
		for _, n := range []string{quality.SignalHedging, quality.SignalComplexity, quality.SignalRepetition} {
			s.Features[index("signal:"+n)] = 0
		}
		silenced[i] = s
	}
	ref := fit(silenced, opinionPrior, nil)
	worst := 0.0
	for i := range samples {
		worst = math.Max(worst, math.Abs(m.Score(samples[i].Features)-ref.Score(silenced[i].Features)))
	}
	if worst > 0.01 {
		t.Errorf("signals that say nothing move a score by %.4f", worst)
	}
	// And they do not lower the drafts they fire on: hedged drafts score on
	// average what their labels say.
	var pred, good, n float64
	hedge := index("signal:" + quality.SignalHedging)
	for _, s := range samples {
		if s.Features[hedge] < 0 && s.LabelProb == 1 {
			pred += m.Score(s.Features)
			if s.Good {
				good++
			}
			n++
		}
	}
	if math.Abs(pred/n-good/n) > 0.03 {
		t.Errorf("hedged drafts: mean score %.3f, good share %.3f", pred/n, good/n)
	}
}

func TestFitWithFewLabelsStaysNearThePrior(t *testing.T) {
	// 20 labels, all bad: the prior (agreement counts) still shows.
	rng := rand.New(rand.NewPCG(5, 6))
	samples := labelled(rng, 20, func([]float64) float64 { return 0 })
	m := fit(samples, opinionPrior, nil)
	w := m.Named()
	if w[FeatureAgree] < 0.7 || w[FeatureNoneAgree] > -0.7 {
		t.Errorf("20 labels erased the agreement prior: %v", w)
	}
	// The bias says "these drafts are bad"; the complexity signal, on every
	// draft at one value, must not be made to say it too.
	if c := w["signal:"+quality.SignalComplexity]; c > 0.05 {
		t.Errorf("a constant signal took weight %.3f", c)
	}
}

func TestScoreCapsVetoedDrafts(t *testing.T) {
	m := &Model{Features: FeatureNames(), Model: logistic.Model{Bias: 5, Weights: make([]float64, NumFeatures)}}
	in := Inputs{Decision: gateDecision(0, 0.7, quality.Signal{Name: quality.SignalEmpty, Score: 0, Veto: true}), DraftChars: 0}
	if s := m.Score(Vector(in)); s > 1e-3 {
		t.Errorf("a vetoed draft scores %v under a model that would accept anything", s)
	}
	in.Decision.Signals[0].Veto = false
	if s := m.Score(Vector(in)); s < 0.99 {
		t.Errorf("cap applied without a veto: %v", s)
	}
}

func TestVectorIsFiniteOnBadInput(t *testing.T) {
	in := Inputs{
		Decision:   &quality.Decision{Score: math.NaN(), Signals: []quality.Signal{{Name: quality.SignalHedging, Score: math.NaN()}, {Name: quality.SignalLength, Score: -3}, {Name: "unknown", Score: 0}}},
		DraftChars: -5,
		Agreement:  Agreement{Asked: 2, Compared: 1, Agree: 5, DraftAnswer: true},
	}
	x := Vector(in)
	if !finite(x) || x[featAgree] != 1 {
		t.Fatalf("%v", x)
	}
	if x[index("signal:"+quality.SignalLength)] != math.Log(0.01) {
		t.Errorf("a negative signal score is not floored: %v", x)
	}
}

func TestLearningNeutralisesAnAntiInformativeGateAndKeepsAgreement(t *testing.T) {
	// The research routes: the gate's score is lower on good drafts than on
	// bad ones, the second opinion agrees with 80 % of good drafts and 20 % of
	// bad ones. Learning must drop the gate (weight exactly 0), keep
	// agreement, and the calibrated route must hold the target on fresh
	// drafts.
	draw := func(rng *rand.Rand) (Inputs, bool) {
		good := rng.Float64() < 0.75
		s := 0.3 + 0.6*rng.Float64()
		if good {
			s -= 0.2
		}
		a := Agreement{Asked: 1, Compared: 1, DraftAnswer: true}
		if (good && rng.Float64() < 0.8) || (!good && rng.Float64() < 0.2) {
			a.Agree = 1
		}
		return Inputs{Decision: gateDecision(s, 0.7), DraftChars: 1000, Agreement: a}, good
	}
	s := targetSettings(0.9)
	s.Opinions = []rules.Target{{Provider: "p", Model: "m"}}
	rng := rand.New(rand.NewPCG(9, 9))
	var samples []Sample
	for i := 0; i < 3000; i++ {
		in, good := draw(rng)
		x := Vector(in)
		smp := Sample{Sample: calibrate.Sample{Score: opinionPrior.Score(x), Features: x, LabelProb: 1, Labelled: true, Good: good}}
		if smp.Score >= 0.7 { // accepted by the prior, audited at 10 %
			smp.LabelProb = 0.1
			smp.Labelled = rng.Float64() < 0.1
			smp.Good = smp.Labelled && good
		}
		samples = append(samples, smp)
	}
	c := Calibrate(s, samples)
	if c.Reason != string(calibrate.Calibrated) || c.Model == nil {
		t.Fatalf("%+v", c)
	}
	w := c.Model.Named()
	if w[FeaturePrior] != 0 || w[FeatureAgree] < 1 {
		t.Errorf("weights %v: want the gate at 0 and agreement kept", w)
	}
	var accepted, bad, n float64
	for i := 0; i < 20000; i++ {
		in, good := draw(rng)
		n++
		if c.Model.Score(Vector(in)) >= c.Threshold {
			accepted++
			if !good {
				bad++
			}
		}
	}
	if q := 1 - bad/n; q < s.Target || accepted/n < 0.3 {
		t.Errorf("fresh drafts: quality %.3f accepting %.3f at threshold %.2f", q, accepted/n, c.Threshold)
	}
}
