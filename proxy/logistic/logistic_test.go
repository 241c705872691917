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

// dropColumn returns x without column j.
func dropColumn(x [][]float64, j int) [][]float64 {
	out := make([][]float64, len(x))
	for i, r := range x {
		out[i] = append(append([]float64(nil), r[:j]...), r[j+1:]...)
	}
	return out
}

func TestFitNonNegativeBindingEqualsDroppingTheFeature(t *testing.T) {
	// The truth gives feature 1 a negative weight; constrained to >= 0 its
	// weight must be exactly 0, and the others must be the fit without it
	// (the KKT point of the constrained problem).
	truth := Model{Bias: 0.3, Weights: []float64{1.5, -1, 0.5}}
	x, y := draw(rand.New(rand.NewPCG(4, 4)), 5000, truth)
	c, err := Fit(x, y, nil, Options{Lambda: 0.5, NonNegative: []bool{true, true, false}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Weights[1] != 0 {
		t.Fatalf("constrained weight %v, want exactly 0", c.Weights[1])
	}
	u, err := Fit(x, y, nil, Options{Lambda: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if u.Weights[1] > -0.5 {
		t.Fatalf("unconstrained weight %v: the data does not push it below 0", u.Weights[1])
	}
	d, err := Fit(dropColumn(x, 1), y, nil, Options{Lambda: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{d.Weights[0], 0, d.Weights[1]}
	for j := range want {
		if math.Abs(c.Weights[j]-want[j]) > 1e-6 {
			t.Errorf("weight %d = %.6f, want %.6f (fit without the feature)", j, c.Weights[j], want[j])
		}
	}
	if math.Abs(c.Bias-d.Bias) > 1e-6 {
		t.Errorf("bias %.6f, want %.6f", c.Bias, d.Bias)
	}
}

func TestFitNonNegativeSlackChangesNothing(t *testing.T) {
	truth := Model{Bias: -0.2, Weights: []float64{1, 2}}
	x, y := draw(rand.New(rand.NewPCG(5, 5)), 3000, truth)
	c, err := Fit(x, y, nil, Options{NonNegative: []bool{true, true}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := Fit(x, y, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for j := range u.Weights {
		if math.Abs(c.Weights[j]-u.Weights[j]) > 1e-6 {
			t.Errorf("weight %d: constrained %.6f, unconstrained %.6f", j, c.Weights[j], u.Weights[j])
		}
	}
}

func TestFitNonNegativeMeetsKKT(t *testing.T) {
	// Random problems, priors and constraints: at the solution every free
	// weight's gradient is ~0, every constrained weight is >= 0, and one held
	// at 0 has a gradient pushing it below 0 (>= 0).
	rng := rand.New(rand.NewPCG(6, 6))
	for run := 0; run < 40; run++ {
		d := 1 + rng.IntN(8)
		truth := Model{Bias: rng.NormFloat64(), Weights: make([]float64, d)}
		o := Options{Lambda: 0.1 + 3*rng.Float64(), BiasLambda: 0.01, Prior: make([]float64, d), NonNegative: make([]bool, d)}
		for j := range truth.Weights {
			truth.Weights[j] = 2 * rng.NormFloat64()
			o.Prior[j] = rng.NormFloat64()
			o.NonNegative[j] = rng.IntN(2) == 0
		}
		x, y := draw(rng, 50+rng.IntN(400), truth)
		for i := range x { // sparse columns, as signals that rarely fire
			for j := range x[i] {
				if j%2 == 1 && rng.Float64() < 0.8 {
					x[i][j] = 0
				}
			}
		}
		w := make([]float64, len(x))
		for i := range w {
			w[i] = 0.2 + 5*rng.Float64()
		}
		m, err := Fit(x, y, w, o)
		if err != nil {
			t.Fatal(err)
		}
		p := newProblem(x, y, w, d, o.withDefaults())
		beta := append([]float64{m.Bias}, m.Weights...)
		grad := make([]float64, d+1)
		p.loss(beta, p.q)
		p.derivatives(beta, grad, make([]float64, (d+1)*(d+1)))
		scale := 1e-6 * float64(len(x)) * 5
		for j, g := range grad {
			switch {
			case p.nonNeg[j] && beta[j] < 0:
				t.Fatalf("run %d: constrained weight %d = %v", run, j, beta[j])
			case p.nonNeg[j] && beta[j] == 0:
				if g < -scale {
					t.Errorf("run %d: weight %d held at 0 with gradient %v pulling it up", run, j, g)
				}
			default:
				if math.Abs(g) > scale {
					t.Errorf("run %d: free weight %d has gradient %v", run, j, g)
				}
			}
		}
	}
}

func TestFitOneConstrainedWeightMatchesGridSearch(t *testing.T) {
	// One feature, no bias freedom to speak of: the loss along the weight is
	// minimised by brute force over a fine grid of non-negative values.
	x := [][]float64{{1}, {2}, {-1}, {0.5}, {-2}, {1.5}}
	y := []bool{false, false, true, true, true, false} // good goes with low x: weight < 0
	o := Options{Lambda: 0.5, BiasLambda: 1e6, NonNegative: []bool{true}, Prior: []float64{0.8}}
	m, err := Fit(x, y, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	p := newProblem(x, y, nil, 1, o.withDefaults())
	best, bestW := math.Inf(1), 0.0
	for w := 0.0; w < 3; w += 1e-4 {
		if l := p.loss([]float64{0, w}, make([]float64, len(x))); l < best {
			best, bestW = l, w
		}
	}
	if math.Abs(m.Weights[0]-bestW) > 2e-4 {
		t.Errorf("weight %.5f, grid minimum at %.5f", m.Weights[0], bestW)
	}
	if bestW != 0 {
		t.Errorf("grid minimum %.4f: the case meant to bind the constraint does not", bestW)
	}
}

func TestFitRejectsNonFiniteInput(t *testing.T) {
	if _, err := Fit([][]float64{{math.NaN()}}, []bool{true}, nil, Options{}); err == nil {
		t.Error("NaN feature accepted")
	}
	if _, err := Fit([][]float64{{1}}, []bool{true}, []float64{math.Inf(1)}, Options{}); err == nil {
		t.Error("infinite weight accepted")
	}
	if _, err := Fit([][]float64{{1}}, []bool{true}, nil, Options{Prior: []float64{1, 2}}); err == nil {
		t.Error("more prior weights than features accepted")
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

// BenchmarkFit5000x19 is a route's full window: 19 features, most of them
// signals that fire on a few drafts, some weights constrained.
func BenchmarkFit5000x19(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	const d = 19
	truth := Model{Bias: 0.5, Weights: make([]float64, d)}
	truth.Weights[0], truth.Weights[d-3], truth.Weights[d-2] = 0.5, 1.5, -1
	x, y := draw(rng, 5000, truth)
	for i := range x {
		for j := 1; j < d-4; j++ {
			if rng.Float64() < 0.9 {
				x[i][j] = 0
			}
		}
	}
	nonNeg := make([]bool, d)
	for j := 0; j < d-3; j++ {
		nonNeg[j] = true
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Fit(x, y, nil, Options{Lambda: 2, BiasLambda: 0.01, NonNegative: nonNeg}); err != nil {
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

func TestFitFromAStartReachesTheSameOptimum(t *testing.T) {
	truth := Model{Bias: 0.3, Weights: []float64{1.5, -1, 0.5}}
	x, y := draw(rand.New(rand.NewPCG(8, 8)), 3000, truth)
	o := Options{Lambda: 2, BiasLambda: 0.01, NonNegative: []bool{true, true, false}, Prior: []float64{1, 0, 0}}
	cold, err := Fit(x, y, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []*Model{cold, {Bias: -3, Weights: []float64{5, -2, 4}}, {Weights: []float64{math.NaN(), 0, 0}}} {
		o.Start = start
		warm, err := Fit(x, y, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(warm.Bias-cold.Bias) > 1e-5 {
			t.Errorf("start %v: bias %v, want %v", start, warm.Bias, cold.Bias)
		}
		for j := range cold.Weights {
			if math.Abs(warm.Weights[j]-cold.Weights[j]) > 1e-5 {
				t.Errorf("start %v: weight %d = %v, want %v", start, j, warm.Weights[j], cold.Weights[j])
			}
		}
	}
}
