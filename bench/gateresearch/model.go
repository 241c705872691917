package main

import (
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"

	"math"
)

// Feature layout: 0 intercept, 1 logit(prior), 2..11 log signal scores,
// 12 draft length, then (with second opinions) agreement features.
const (
	fIntercept = 0
	fPrior     = 1
	fSig0      = 2
	fLen       = fSig0 + 10
	fAgree     = fLen + 1 // share of second opinions agreeing
	fNone      = fAgree + 1
	fNoAnswer  = fNone + 1
	fAllDiffer = fNoAnswer + 1
)

func nFeat(m int) int {
	if m == 0 {
		return fLen + 1
	}
	return fAllDiffer + 1
}

// feat builds the feature vector of it with m second opinions.
func feat(it *item, m int) []float64 {
	x := make([]float64, nFeat(m))
	x[fIntercept] = 1
	x[fPrior] = logit(it.prior)
	for i, s := range it.sig {
		x[fSig0+i] = math.Log(math.Max(s, 0.01))
	}
	x[fLen] = (math.Log(float64(it.draftChars)+1) - 7) / 2
	if m > 0 && it.hasFinal {
		k := it.agreeK(m)
		x[fAgree] = float64(k) / float64(m)
		if k == 0 {
			x[fNone] = 1
		}
		if !it.okD {
			x[fNoAnswer] = 1
		}
		if m > 1 && it.distinct(m) == m+1 {
			x[fAllDiffer] = 1
		}
	}
	return x
}

// nonNeg reports whether feature j is constrained to a non-negative weight:
// a signal may only push a draft down where it says something is wrong.
func nonNeg(j int) bool { return j >= fPrior && j < fLen || j == fAgree }

// lr is an L2-regularised logistic regression centred on a prior weight
// vector (today's gate: weight 1 on logit(prior score), 0 elsewhere).
type lr struct {
	w []float64
}

func priorWeights(n int) []float64 {
	w := make([]float64, n)
	w[fPrior] = 1
	return w
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func (m *lr) p(x []float64) float64 {
	z := 0.0
	for j, v := range x {
		z += m.w[j] * v
	}
	return sigmoid(z)
}

// fit minimises Σ wt_i·logloss_i + λ/2·‖β−β0‖² with the sign constraints, by
// projected Newton steps with backtracking.
func fit(X [][]float64, y []bool, wt []float64, lambda float64, n int) *lr {
	b0 := priorWeights(n)
	b := append([]float64(nil), b0...)
	loss := func(b []float64) float64 {
		l := 0.0
		for i, x := range X {
			z := 0.0
			for j, v := range x {
				z += b[j] * v
			}
			// log(1+e^-z) for y, log(1+e^z) for !y, stable
			if y[i] {
				z = -z
			}
			if z > 30 {
				l += wt[i] * z
			} else {
				l += wt[i] * math.Log1p(math.Exp(z))
			}
		}
		for j := range b {
			d := b[j] - b0[j]
			l += lambda / 2 * d * d
		}
		return l
	}
	cur := loss(b)
	for iter := 0; iter < 30; iter++ {
		g := make([]float64, n)
		H := make([][]float64, n)
		for j := range H {
			H[j] = make([]float64, n)
		}
		for i, x := range X {
			z := 0.0
			for j, v := range x {
				z += b[j] * v
			}
			p := sigmoid(z)
			t := 0.0
			if y[i] {
				t = 1
			}
			r := wt[i] * (p - t)
			h := wt[i] * p * (1 - p)
			for j, v := range x {
				if v == 0 {
					continue
				}
				g[j] += r * v
				for k := j; k < n; k++ {
					if x[k] != 0 {
						H[j][k] += h * v * x[k]
					}
				}
			}
		}
		for j := 0; j < n; j++ {
			for k := 0; k < j; k++ {
				H[j][k] = H[k][j]
			}
			g[j] += lambda * (b[j] - b0[j])
			H[j][j] += lambda + 1e-9
		}
		// Active set: constrained weights at 0 whose gradient pushes them negative.
		free := make([]bool, n)
		for j := range free {
			free[j] = !(nonNeg(j) && b[j] <= 0 && g[j] > 0)
		}
		step := solveFree(H, g, free)
		improved := false
		for a := 1.0; a > 1e-4; a /= 2 {
			nb := make([]float64, n)
			for j := range b {
				nb[j] = b[j] - a*step[j]
				if nonNeg(j) && nb[j] < 0 {
					nb[j] = 0
				}
			}
			if l := loss(nb); l < cur-1e-10 {
				b, cur, improved = nb, l, true
				break
			}
		}
		if !improved {
			break
		}
	}
	return &lr{w: b}
}

// solveFree solves H_ff s_f = g_f (Gaussian elimination), 0 elsewhere.
func solveFree(H [][]float64, g []float64, free []bool) []float64 {
	var idx []int
	for j, f := range free {
		if f {
			idx = append(idx, j)
		}
	}
	k := len(idx)
	A := make([][]float64, k)
	for a, j := range idx {
		A[a] = make([]float64, k+1)
		for c, l := range idx {
			A[a][c] = H[j][l]
		}
		A[a][k] = g[j]
	}
	for c := 0; c < k; c++ {
		piv := c
		for r := c + 1; r < k; r++ {
			if math.Abs(A[r][c]) > math.Abs(A[piv][c]) {
				piv = r
			}
		}
		A[c], A[piv] = A[piv], A[c]
		if math.Abs(A[c][c]) < 1e-12 {
			continue
		}
		for r := 0; r < k; r++ {
			if r == c {
				continue
			}
			f := A[r][c] / A[c][c]
			for cc := c; cc <= k; cc++ {
				A[r][cc] -= f * A[c][cc]
			}
		}
	}
	s := make([]float64, len(g))
	for a, j := range idx {
		if math.Abs(A[a][a]) > 1e-12 {
			s[j] = A[a][k] / A[a][a]
		}
	}
	return s
}

// --- binomial bounds ---

// cpUpper is the one-sided Clopper-Pearson upper bound the proxy's
// calibration uses (k, n may be fractional effective counts).
func cpUpper(k, n, delta float64) float64 { return calibrate.UpperBound(k, n, delta) }

// wilsonUpper is the one-sided Wilson score upper bound.
func wilsonUpper(k, n, z float64) float64 {
	if n <= 0 {
		return 1
	}
	p := k / n
	den := 1 + z*z/n
	c := p + z*z/(2*n)
	r := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n))
	return math.Min(1, (c+r)/den)
}
