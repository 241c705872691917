package calibrate

import "math"

// UpperBound is the one-sided Clopper–Pearson upper confidence bound on a
// binomial proportion: with probability at least 1-delta the true rate is at
// most the result, having seen k failures in n trials. k and n may be
// fractional (effective sample sizes of weighted samples). n <= 0 gives 1:
// nothing is known.
func UpperBound(k, n, delta float64) float64 {
	if n <= 0 {
		return 1
	}
	k = math.Max(0, math.Min(k, n))
	if k >= n {
		return 1
	}
	// The bound p solves P[Bin(n, p) <= k] = delta, i.e. I_{1-p}(n-k, k+1) = delta,
	// i.e. p is the (1-delta) quantile of Beta(k+1, n-k).
	return betaQuantile(1-delta, k+1, n-k)
}

// LowerBound is the matching one-sided lower bound (0 when k = 0).
func LowerBound(k, n, delta float64) float64 {
	if n <= 0 {
		return 0
	}
	k = math.Max(0, math.Min(k, n))
	if k <= 0 {
		return 0
	}
	return betaQuantile(delta, k, n-k+1)
}

// betaQuantile inverts the regularised incomplete beta function by
// bisection: monotone, always converges, and fast enough for a controller
// that runs every few seconds (60 iterations reach float precision).
func betaQuantile(p, a, b float64) float64 {
	lo, hi := 0.0, 1.0
	for i := 0; i < 60; i++ {
		mid := (lo + hi) / 2
		if regIncBeta(mid, a, b) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// regIncBeta is I_x(a, b), by the continued fraction of Numerical Recipes
// (Lentz's method), using the symmetry I_x(a,b) = 1 - I_{1-x}(b,a) where the
// fraction converges slowly.
func regIncBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(x, a, b) / a
	}
	return 1 - front*betaCF(1-x, b, a)/b
}

func betaCF(x, a, b float64) float64 {
	const (
		maxIter = 300
		eps     = 1e-14
		tiny    = 1e-300
	)
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}
