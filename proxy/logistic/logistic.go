// Package logistic fits a small regularised logistic regression: the
// probability that a draft is good given its signal vector. It is the
// learned part of a route's gate score: explainable (one weight per signal),
// fitted by Newton's method in well under a millisecond on a route's audit
// samples, and pulled toward a prior so a handful of samples cannot swing it.
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
	z := m.Bias
	for i, w := range m.Weights {
		if i < len(x) {
			z += w * x[i]
		}
	}
	return sigmoid(z)
}

// Options shape a fit.
type Options struct {
	// Lambda is the L2 penalty pulling the weights toward Prior (and the bias
	// toward PriorBias); larger is steadier. Default 1.
	Lambda float64
	// Prior is the weight vector the penalty pulls toward (nil: zeros).
	Prior     []float64
	PriorBias float64
	// MaxIter bounds Newton's iterations (default 25).
	MaxIter int
}

// Fit fits a model on samples x (rows of equal length) with labels y and
// optional per-sample weights w (nil: all 1).
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
	}
	if o.Lambda == 0 {
		o.Lambda = 1
	}
	if o.MaxIter == 0 {
		o.MaxIter = 25
	}
	prior := make([]float64, d+1) // index 0 is the bias
	prior[0] = o.PriorBias
	copy(prior[1:], o.Prior)
	beta := append([]float64(nil), prior...)
	k := d + 1
	grad := make([]float64, k)
	hess := make([]float64, k*k)
	row := make([]float64, k)
	for iter := 0; iter < o.MaxIter; iter++ {
		// Gradient and Hessian of the penalised negative log-likelihood.
		for i := range grad {
			grad[i] = o.Lambda * (beta[i] - prior[i])
		}
		for i := range hess {
			hess[i] = 0
		}
		for i := 0; i < k; i++ {
			hess[i*k+i] = o.Lambda
		}
		for s := 0; s < n; s++ {
			row[0] = 1
			copy(row[1:], x[s])
			z := 0.0
			for j := 0; j < k; j++ {
				z += beta[j] * row[j]
			}
			p := sigmoid(z)
			ws := 1.0
			if w != nil {
				ws = w[s]
			}
			t := 0.0
			if y[s] {
				t = 1
			}
			g := ws * (p - t)
			h := ws * p * (1 - p)
			for a := 0; a < k; a++ {
				grad[a] += g * row[a]
				ha := h * row[a]
				for b := a; b < k; b++ {
					hess[a*k+b] += ha * row[b]
				}
			}
		}
		for a := 0; a < k; a++ {
			for b := 0; b < a; b++ {
				hess[a*k+b] = hess[b*k+a]
			}
		}
		step, err := solve(hess, grad, k)
		if err != nil {
			return nil, fmt.Errorf("logistic: iteration %d: %w", iter, err)
		}
		max := 0.0
		for j := range beta {
			beta[j] -= step[j]
			max = math.Max(max, math.Abs(step[j]))
		}
		if max < 1e-8 {
			break
		}
	}
	return &Model{Bias: beta[0], Weights: beta[1:]}, nil
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

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
