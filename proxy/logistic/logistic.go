// Package logistic fits a small regularised logistic regression: the
// probability that a draft is good given its signal vector. It is the
// learned part of a route's gate score: explainable (one weight per signal),
// fitted by Newton's method in a few milliseconds on a route's thousands of
// audit samples, and pulled toward a prior so a handful of samples cannot swing it.
// Weights may be constrained to be non-negative (a signal may only lower a
// draft's score where it says something is wrong).
package logistic

import (
	"errors"
	"fmt"
	"math"
)

// Model is a fitted logistic regression: P(good | x) = σ(Bias + Σ Weights·x).
type Model struct {
	Bias    float64   `json:"bias"`
	Weights []float64 `json:"weights"`
}

// Predict returns P(good | x). Missing features read as 0.
func (m *Model) Predict(x []float64) float64 {
	return sigmoid(m.Logit(x))
}

// Logit returns Bias + Σ Weights·x, the log-odds that the draft is good.
func (m *Model) Logit(x []float64) float64 {
	z := m.Bias
	n := min(len(m.Weights), len(x))
	for i, w := range m.Weights[:n] {
		z += w * x[i]
	}
	return z
}

// Options shape a fit.
type Options struct {
	// Lambda is the L2 penalty pulling the weights toward Prior; larger is
	// steadier. Default 1. It is on the scale of the sample weights: with
	// weights averaging 1, Lambda is roughly how many samples' worth of
	// evidence the prior is given per weight.
	Lambda float64
	// BiasLambda is the penalty pulling the bias toward PriorBias; 0 means
	// Lambda. A small value leaves the bias nearly free, so a feature that is
	// constant over the samples does not get weight for what the bias can say.
	BiasLambda float64
	// Prior is the weight vector the penalty pulls toward (nil: zeros).
	Prior     []float64
	PriorBias float64
	// NonNegative constrains weight j to be >= 0 where NonNegative[j] is true
	// (nil or short: unconstrained). A prior below 0 on a constrained weight
	// is read as 0.
	NonNegative []bool
	// Start is where Newton's method starts (nil: the prior), e.g. the
	// previous fit when a few samples were added: the optimum is the same
	// (the problem is strictly convex), it is reached in fewer steps.
	Start *Model
	// MaxIter bounds Newton's iterations (default 50).
	MaxIter int
}

func (o Options) withDefaults() Options {
	if o.Lambda <= 0 {
		o.Lambda = 1
	}
	if o.BiasLambda <= 0 {
		o.BiasLambda = o.Lambda
	}
	if o.MaxIter <= 0 {
		o.MaxIter = 50
	}
	return o
}

// Fit fits a model on samples x (rows of equal length) with labels y and
// optional per-sample weights w (nil: all 1): it minimises the weighted
// negative log-likelihood plus the penalties, under the sign constraints, by
// projected Newton steps with backtracking (constrained weights held at 0
// form the active set while the gradient pushes them below 0).
func Fit(x [][]float64, y []bool, w []float64, o Options) (*Model, error) {
	n := len(x)
	if n == 0 {
		return nil, errors.New("logistic: no samples")
	}
	if len(y) != n || (w != nil && len(w) != n) {
		return nil, fmt.Errorf("logistic: %d samples, %d labels, %d weights", n, len(y), len(w))
	}
	d := len(x[0])
	for i, r := range x {
		if len(r) != d {
			return nil, fmt.Errorf("logistic: sample %d has %d features, want %d", i, len(r), d)
		}
		for j, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("logistic: sample %d feature %d is %v", i, j, v)
			}
		}
		if w != nil && !(w[i] >= 0 && !math.IsInf(w[i], 0)) {
			return nil, fmt.Errorf("logistic: sample %d has weight %v", i, w[i])
		}
	}
	if len(o.Prior) > d || len(o.NonNegative) > d {
		return nil, fmt.Errorf("logistic: %d prior weights and %d constraints for %d features", len(o.Prior), len(o.NonNegative), d)
	}
	o = o.withDefaults()
	p := newProblem(x, y, w, d, o)
	beta := append([]float64(nil), p.prior...)
	if st := o.Start; st != nil && len(st.Weights) == d && finiteModel(st) {
		beta[0] = st.Bias
		for j, v := range st.Weights {
			if p.nonNeg[j+1] {
				v = math.Max(v, 0)
			}
			beta[j+1] = v
		}
	}
	p.solve(beta, o.MaxIter)
	return &Model{Bias: beta[0], Weights: beta[1:]}, nil
}

// problem is a fit in coordinates where index 0 is the bias and j+1 is
// feature j. Rows are stored sparsely: most signals do not fire on most
// drafts, and skipping their zeros is what keeps a fit of thousands of
// samples around a millisecond.
type problem struct {
	k       int
	rowPtr  []int32 // row s's entries are idx/val[rowPtr[s]:rowPtr[s+1]]
	idx     []int32
	val     []float64
	y       []float64 // 1 good, 0 bad
	w       []float64
	prior   []float64
	penalty []float64
	nonNeg  []bool
	tol     float64 // gradient size counted as zero
	// q holds σ(z) of every sample at the current point, qTry at the point
	// the line search tries (swapped in when it is taken).
	q, qTry []float64
}

func newProblem(x [][]float64, y []bool, w []float64, d int, o Options) *problem {
	k := d + 1
	n := len(x)
	nnz := n
	for _, r := range x {
		for _, v := range r {
			if v != 0 {
				nnz++
			}
		}
	}
	p := &problem{
		k:       k,
		rowPtr:  make([]int32, 1, n+1),
		idx:     make([]int32, 0, nnz),
		val:     make([]float64, 0, nnz),
		y:       make([]float64, n),
		w:       make([]float64, n),
		prior:   make([]float64, k),
		penalty: make([]float64, k),
		nonNeg:  make([]bool, k),
		q:       make([]float64, n),
		qTry:    make([]float64, n),
	}
	total := 0.0
	for s, r := range x {
		p.idx = append(p.idx, 0)
		p.val = append(p.val, 1)
		for j, v := range r {
			if v != 0 {
				p.idx = append(p.idx, int32(j+1))
				p.val = append(p.val, v)
			}
		}
		p.rowPtr = append(p.rowPtr, int32(len(p.idx)))
		if y[s] {
			p.y[s] = 1
		}
		p.w[s] = 1
		if w != nil {
			p.w[s] = w[s]
		}
		total += p.w[s]
	}
	p.tol = 1e-9 * math.Max(1, total)
	p.prior[0], p.penalty[0] = o.PriorBias, o.BiasLambda
	for j := 1; j < k; j++ {
		p.penalty[j] = o.Lambda
		if j-1 < len(o.Prior) {
			p.prior[j] = o.Prior[j-1]
		}
		if j-1 < len(o.NonNegative) && o.NonNegative[j-1] {
			p.nonNeg[j] = true
			p.prior[j] = math.Max(p.prior[j], 0)
		}
	}
	return p
}

// loss is the penalised weighted negative log-likelihood at beta; it
// stores σ(z) of every sample in q (one exponential per sample serves both).
func (p *problem) loss(beta, q []float64) float64 {
	l := 0.0
	for s := range p.y {
		z := 0.0
		for e := p.rowPtr[s]; e < p.rowPtr[s+1]; e++ {
			z += beta[p.idx[e]] * p.val[e]
		}
		// With e = exp(-|z|): σ(z) and log(1 + exp(∓z)) without overflow.
		a := math.Exp(-math.Abs(z))
		sp := math.Log1p(a) // log(1 + exp(-|z|))
		if z >= 0 {
			q[s] = 1 / (1 + a)
		} else {
			q[s] = a / (1 + a)
		}
		// A good sample costs log(1 + e^-z), a bad one log(1 + e^z).
		if (p.y[s] == 1) == (z < 0) {
			sp += math.Abs(z)
		}
		l += p.w[s] * sp
	}
	for j, b := range beta {
		d := b - p.prior[j]
		l += p.penalty[j] / 2 * d * d
	}
	return l
}

// solve moves beta to the optimum.
func (p *problem) solve(beta []float64, maxIter int) {
	k := p.k
	grad := make([]float64, k)
	hess := make([]float64, k*k)
	free := make([]int, 0, k)
	next := make([]float64, k)
	step := make([]float64, k)
	cur := p.loss(beta, p.q)
	for iter := 0; iter < maxIter; iter++ {
		p.derivatives(beta, grad, hess)
		// Active set: constrained weights at 0 that the gradient pushes below.
		free = free[:0]
		worst := 0.0
		for j := 0; j < k; j++ {
			if !(p.nonNeg[j] && beta[j] <= 0 && grad[j] > 0) {
				free = append(free, j)
				worst = math.Max(worst, math.Abs(grad[j]))
			}
		}
		// Converged when no free weight's gradient is worth a step.
		if worst < p.tol {
			break
		}
		// The Newton step on the free weights; if its projection does not
		// lower the loss enough, a gradient step scaled by the Hessian's
		// diagonal (a descent direction on the projected path).
		moved, ok := 0.0, false
		if solveSubset(hess, grad, k, free, step) {
			// A Newton step this small is below what the loss can resolve
			// in floating point: the fit has converged.
			size := 0.0
			for _, j := range free {
				size = math.Max(size, math.Abs(step[j]))
			}
			if size < 1e-6 {
				break
			}
			moved, ok = p.search(beta, step, grad, next, &cur)
		}
		if !ok {
			clear(step)
			for _, j := range free {
				step[j] = grad[j] / hess[j*k+j]
			}
			moved, ok = p.search(beta, step, grad, next, &cur)
		}
		if !ok || moved < 1e-6 {
			break
		}
	}
}

// search backtracks along the projected path beta - a·step until the loss
// drops enough (Armijo condition); it moves beta there and reports the
// largest change of a weight.
func (p *problem) search(beta, step, grad, next []float64, cur *float64) (moved float64, ok bool) {
	for a := 1.0; a > 1e-10; a /= 2 {
		dec := 0.0
		for j := range beta {
			v := beta[j] - a*step[j]
			if p.nonNeg[j] && v < 0 {
				v = 0
			}
			next[j] = v
			dec += grad[j] * (beta[j] - v)
		}
		if dec <= 0 {
			return 0, false // not a descent direction
		}
		if l := p.loss(next, p.qTry); l <= *cur-1e-4*dec {
			for j := range beta {
				moved = math.Max(moved, math.Abs(next[j]-beta[j]))
			}
			copy(beta, next)
			*cur = l
			p.q, p.qTry = p.qTry, p.q
			return moved, true
		}
	}
	return 0, false
}

// derivatives fills the gradient and the Hessian of the loss at beta, whose
// σ(z) are in p.q.
func (p *problem) derivatives(beta, grad, hess []float64) {
	k := p.k
	for j := range grad {
		grad[j] = p.penalty[j] * (beta[j] - p.prior[j])
	}
	clear(hess)
	for j := 0; j < k; j++ {
		hess[j*k+j] = p.penalty[j]
	}
	for s, q := range p.q {
		lo, hi := p.rowPtr[s], p.rowPtr[s+1]
		g := p.w[s] * (q - p.y[s])
		h := p.w[s] * q * (1 - q)
		for e := lo; e < hi; e++ {
			a, va := p.idx[e], p.val[e]
			grad[a] += g * va
			hv := h * va
			row := hess[int(a)*k:]
			for f := e; f < hi; f++ {
				row[p.idx[f]] += hv * p.val[f]
			}
		}
	}
	// Entries were added with a <= b (indices grow along a row): mirror them.
	for a := 0; a < k; a++ {
		for b := 0; b < a; b++ {
			hess[a*k+b] = hess[b*k+a]
		}
	}
}

// solveSubset solves H[f,f] s[f] = g[f] for the indices f into s, leaving
// s = 0 elsewhere; false when the subsystem is not positive definite.
func solveSubset(hess, grad []float64, k int, f []int, s []float64) bool {
	m := len(f)
	a := make([]float64, m*m)
	b := make([]float64, m)
	for i, fi := range f {
		b[i] = grad[fi]
		for j, fj := range f {
			a[i*m+j] = hess[fi*k+fj]
		}
	}
	x, err := solve(a, b, m)
	if err != nil {
		return false
	}
	clear(s)
	for i, fi := range f {
		s[fi] = x[i]
	}
	return true
}

// solve solves A x = b for a symmetric positive-definite A (k×k, row-major)
// by Cholesky decomposition; A and b are left unchanged.
func solve(a, b []float64, k int) ([]float64, error) {
	l := make([]float64, k*k)
	for i := 0; i < k; i++ {
		for j := 0; j <= i; j++ {
			sum := a[i*k+j]
			for m := 0; m < j; m++ {
				sum -= l[i*k+m] * l[j*k+m]
			}
			if i == j {
				if sum <= 0 {
					return nil, errors.New("matrix is not positive definite")
				}
				l[i*k+i] = math.Sqrt(sum)
			} else {
				l[i*k+j] = sum / l[j*k+j]
			}
		}
	}
	y := make([]float64, k)
	for i := 0; i < k; i++ {
		sum := b[i]
		for m := 0; m < i; m++ {
			sum -= l[i*k+m] * y[m]
		}
		y[i] = sum / l[i*k+i]
	}
	x := make([]float64, k)
	for i := k - 1; i >= 0; i-- {
		sum := y[i]
		for m := i + 1; m < k; m++ {
			sum -= l[m*k+i] * x[m]
		}
		x[i] = sum / l[i*k+i]
	}
	return x, nil
}

func finiteModel(m *Model) bool {
	if math.IsNaN(m.Bias) || math.IsInf(m.Bias, 0) {
		return false
	}
	for _, v := range m.Weights {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
