package logistic

import (
	"math"
	"math/rand/v2"
	"testing"
)

// draw samples labels from a known model.
func draw(rng *rand.Rand, n int, truth Model) ([][]float64, []bool) {
	x := make([][]float64, n)
	y := make([]bool, n)
	for i := range x {
		x[i] = make([]float64, len(truth.Weights))
		for j := range x[i] {
			x[i][j] = rng.NormFloat64()
		}
		y[i] = rng.Float64() < truth.Predict(x[i])
	}
	return x, y
}

func TestFitRecoversKnownModel(t *testing.T) {
	truth := Model{Bias: 0.5, Weights: []float64{2, -1, 0}}
	x, y := draw(rand.New(rand.NewPCG(1, 1)), 20000, truth)
	m, err := Fit(x, y, nil, Options{Lambda: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.Bias-truth.Bias) > 0.1 {
		t.Errorf("bias %.3f, want %.3f", m.Bias, truth.Bias)
	}
	for j, w := range truth.Weights {
		if math.Abs(m.Weights[j]-w) > 0.1 {
			t.Errorf("weight %d = %.3f, want %.3f", j, m.Weights[j], w)
		}
	}
}

func TestFitPullsTowardPriorOnFewSamples(t *testing.T) {
	truth := Model{Bias: 0, Weights: []float64{3}}
	x, y := draw(rand.New(rand.NewPCG(2, 2)), 10, truth)
	prior := []float64{1}
	m, err := Fit(x, y, nil, Options{Lambda: 50, Prior: prior})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.Weights[0]-prior[0]) > 0.3 {
		t.Errorf("10 samples moved the weight from the prior %.1f to %.3f under a strong penalty", prior[0], m.Weights[0])
	}
	loose, err := Fit(x, y, nil, Options{Lambda: 0.01, Prior: prior})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loose.Weights[0]-prior[0]) <= math.Abs(m.Weights[0]-prior[0]) {
		t.Errorf("a weak penalty (%.3f) stayed closer to the prior than a strong one (%.3f)", loose.Weights[0], m.Weights[0])
	}
}

func TestFitSeparableDataStaysFinite(t *testing.T) {
	x := [][]float64{{-1}, {-2}, {1}, {2}}
	y := []bool{false, false, true, true}
	m, err := Fit(x, y, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(m.Weights[0]) || math.IsInf(m.Weights[0], 0) || m.Weights[0] <= 0 {
		t.Fatalf("weight %v", m.Weights[0])
	}
	if p := m.Predict([]float64{3}); p < 0.5 {
		t.Errorf("P(good | 3) = %.3f", p)
	}
}

func TestFitWeightsCountAsRepeats(t *testing.T) {
	x := [][]float64{{0}, {1}, {1}}
	y := []bool{false, true, false}
	weighted, err := Fit(x[:2], y[:2], []float64{1, 2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	repeated, err := Fit([][]float64{{0}, {1}, {1}}, []bool{false, true, true}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(weighted.Weights[0]-repeated.Weights[0]) > 1e-9 || math.Abs(weighted.Bias-repeated.Bias) > 1e-9 {
		t.Errorf("weight 2 %+v != sample twice %+v", weighted, repeated)
	}
}

func TestFitRejectsBadInput(t *testing.T) {
	if _, err := Fit(nil, nil, nil, Options{}); err == nil {
		t.Error("no samples accepted")
	}
	if _, err := Fit([][]float64{{1}, {1, 2}}, []bool{true, false}, nil, Options{}); err == nil {
		t.Error("ragged rows accepted")
	}
	if _, err := Fit([][]float64{{1}}, []bool{true, false}, nil, Options{}); err == nil {
		t.Error("label count mismatch accepted")
	}
}

func BenchmarkFit500x12(b *testing.B) {
	truth := Model{Weights: make([]float64, 12)}
	for i := range truth.Weights {
		truth.Weights[i] = float64(i%3) - 1
	}
	x, y := draw(rand.New(rand.NewPCG(3, 3)), 500, truth)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Fit(x, y, nil, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPredict12(b *testing.B) {
	m := Model{Weights: make([]float64, 12)}
	x := make([]float64, 12)
	for i := 0; i < b.N; i++ {
		m.Predict(x)
	}
}
