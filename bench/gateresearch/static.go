package main

import (
	"math"
	"math/rand"
	"sort"
)

// outcome is a policy's result on a set of rows.
type outcome struct {
	retained, parity, cost, esc float64
	threshold                   float64
	ok                          bool
}

// soCost is the cost of the first m second opinions of it.
func soCost(it *item, m int) float64 {
	c := 0.0
	for i := 0; i < m && i < len(it.cOther); i++ {
		c += it.cOther[i]
	}
	return c
}

// apply evaluates accept decisions with m second opinions paid on every row.
func apply(items []*item, accept func(i int) bool, m int) outcome {
	var q, vq, c, all, bad float64
	esc := 0
	for i, it := range items {
		vq += it.v
		all += it.cVer
		c += it.cDraft + soCost(it, m)
		if accept(i) {
			q += it.d
			if !it.good {
				bad++
			}
		} else {
			q += it.v
			c += it.cVer
			esc++
		}
	}
	n := float64(len(items))
	return outcome{retained: q / vq, parity: 1 - bad/n, cost: c / all, esc: float64(esc) / n, ok: true}
}

// cheapestAt sweeps thresholds over the distinct scores and returns the
// cheapest point keeping retained >= target.
func cheapestAt(items []*item, score []float64, m int, target float64) outcome {
	ths := append([]float64(nil), score...)
	ths = append(ths, math.Inf(1))
	sort.Float64s(ths)
	best := outcome{}
	prev := math.NaN()
	for _, t := range ths {
		if t == prev {
			continue
		}
		prev = t
		o := apply(items, func(i int) bool { return score[i] >= t }, m)
		o.threshold = t
		if o.retained >= target-1e-12 && (!best.ok || o.cost < best.cost) {
			best = o
		}
	}
	return best
}

func oracle(items []*item) outcome {
	return apply(items, func(i int) bool { return items[i].good }, 0)
}

// randomAt is the cost of escalating a random share reaching target.
func randomAt(items []*item, target float64) float64 {
	var dq, vq, dc, vc float64
	for _, it := range items {
		dq += it.d
		vq += it.v
		dc += it.cDraft
		vc += it.cVer
	}
	e := 0.0
	if vq > dq {
		e = (target*vq - dq) / (vq - dq)
	}
	e = math.Min(math.Max(e, 0), 1)
	return dc/vc + e
}

func auc(score []float64, pos []bool) float64 {
	type p struct {
		s float64
		y bool
	}
	ps := make([]p, len(score))
	np, nn := 0.0, 0.0
	for i := range score {
		ps[i] = p{score[i], pos[i]}
		if pos[i] {
			np++
		} else {
			nn++
		}
	}
	if np == 0 || nn == 0 {
		return math.NaN()
	}
	sort.Slice(ps, func(a, b int) bool { return ps[a].s < ps[b].s })
	// rank-sum with ties
	r := 0.0
	for i := 0; i < len(ps); {
		j := i
		for j < len(ps) && ps[j].s == ps[i].s {
			j++
		}
		avg := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if ps[k].y {
				r += avg
			}
		}
		i = j
	}
	return (r - np*(np+1)/2) / (np * nn)
}

// cvScores fits the logistic model on k-1 folds (split by group) and scores
// the held-out fold, with true labels (d >= v).
func cvScores(items []*item, m int, lambda float64, folds int, seed int64) []float64 {
	groups := map[string]int{}
	var names []string
	for _, it := range items {
		if _, ok := groups[it.group]; !ok {
			groups[it.group] = len(names)
			names = append(names, it.group)
		}
	}
	rng := rand.New(rand.NewSource(seed))
	perm := rng.Perm(len(names))
	fold := make([]int, len(names))
	for i, p := range perm {
		fold[p] = i % folds
	}
	out := make([]float64, len(items))
	n := nFeat(m)
	for f := 0; f < folds; f++ {
		var X [][]float64
		var y []bool
		var w []float64
		for _, it := range items {
			if fold[groups[it.group]] != f {
				X = append(X, feat(it, m))
				y = append(y, it.good)
				w = append(w, 1)
			}
		}
		mod := fit(X, y, w, lambda, n)
		for i, it := range items {
			if fold[groups[it.group]] == f {
				out[i] = mod.p(feat(it, m))
			}
		}
	}
	return out
}

func insample(items []*item, m int, lambda float64) (*lr, []float64) {
	var X [][]float64
	var y []bool
	var w []float64
	for _, it := range items {
		X = append(X, feat(it, m))
		y = append(y, it.good)
		w = append(w, 1)
	}
	mod := fit(X, y, w, lambda, nFeat(m))
	s := make([]float64, len(items))
	for i, x := range X {
		s[i] = mod.p(x)
	}
	return mod, s
}
