package routequality

import (
	"math/rand/v2"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// BenchmarkDecide is one decision on a calibrated route with a learned
// model: the feature vector of a draft with 12 signals and one second
// opinion, and the model's score.
func BenchmarkDecide(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	s := targetSettings(0.95)
	r := NewRoute("r", s)
	m := fit(labelled(rng, 2000, func(x []float64) float64 { return sigmoid(x[featPrior] + x[featAgree]) }), opinionPrior, nil)
	r.SetCalibration(Calibration{Threshold: 0.8, Reason: string(calibrate.Calibrated), Model: m})
	names := []string{quality.SignalTruncation, quality.SignalEmpty, quality.SignalRefusal, quality.SignalHedging,
		quality.SignalRepetition, quality.SignalLength, quality.SignalToolCalls, quality.SignalFormat,
		quality.SignalArithmetic, quality.SignalCoverage, quality.SignalAnswer, quality.SignalComplexity}
	sig := make([]quality.Signal, len(names))
	for i, n := range names {
		sig[i] = quality.Signal{Name: n, Score: 0.5 + 0.5*rng.Float64(), Weight: 1}
	}
	in := Inputs{Decision: gateDecision(0.8, 0.7, sig...), DraftChars: 1200, Agreement: Agreement{Asked: 1, Compared: 1, Agree: 1, DraftAnswer: true}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v := r.Decide(in, true); v.Scorer != ScorerLearned {
			b.Fatal(v.Scorer)
		}
	}
}

// BenchmarkCalibrate5000 is a full recalibration of a route's window:
// fitting the learned score on the labelled samples, rescoring all 5,000
// and choosing the threshold.
func BenchmarkCalibrate5000(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	samples := labelled(rng, Window, func(x []float64) float64 { return sigmoid(0.5*x[featPrior] + 1.5*x[featAgree] - x[featNoneAgree]) })
	s := targetSettings(0.95)
	s.Opinions = []rules.Target{{Provider: "p", Model: "m"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c := Calibrate(s, samples); c.Model == nil {
			b.Fatal("no model")
		}
	}
}

// BenchmarkRecalibrate5000 is the routine refit of a full window: RefitEvery
// labels more than the model in effect saw, the fit starting from it.
func BenchmarkRecalibrate5000(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	samples := labelled(rng, Window, func(x []float64) float64 { return sigmoid(0.5*x[featPrior] + 1.5*x[featAgree] - x[featNoneAgree]) })
	prev := fit(samples[:Window-RefitEvery], opinionPrior, nil)
	s := targetSettings(0.95)
	s.Opinions = []rules.Target{{Provider: "p", Model: "m"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c := calibrateFrom(s, samples, prev); c.Model == nil {
			b.Fatal("no model")
		}
	}
}
