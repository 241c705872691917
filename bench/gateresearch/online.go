package main

import (
	"math"
	"math/rand"
)

// ctlConfig is one configuration of the online learner and controller.
type ctlConfig struct {
	m            int     // second opinions asked per request (0, 1, 2)
	audit        float64 // share of accepted drafts also sent to the verifier
	judgeEscRate float64 // share of escalated rows labelled by a paid judge (routes without final answers, or judge mode)
	judgeMode    bool    // label every route with the pairwise judge (true label) instead of exact final-answer comparison
	hybrid       bool    // exact comparison when the answers agree (free, good); the judge only when they differ
	bypass       float64 // >0: when the learned score predicts the cascade costs more than the verifier alone, skip the draft on all but this share of requests (those get a shadow draft: escalated and labelled)
	bypassMin    int     // labels before bypass may start
	safeStart    bool    // before the first fit escalate everything (shadow drafts, all labelled) instead of holding the configured threshold
	minLabels    int     // labels before the first fit; the configured threshold holds until then
	refit        int     // refit after this many new labels
	lambda       float64 // L2 strength towards the prior weights
	delta        float64 // 1 - confidence of the one-sided bound
	bound        string  // "cp" or "wilson"
	target       float64 // parity target
	configured   float64 // configured threshold on the prior (warm-up score)
	warmup       int     // rows excluded from the post-warm-up cost figure
	learn        bool    // false: prior score only (controller moves a threshold on the prior)
}

// ctlResult is one run of the controller over a route's rows.
type ctlResult struct {
	retained, parity, cost, costPost, esc float64
	estParity                             float64 // controller's own realised-parity estimate (from its labels)
	finalLB                               float64 // controller's bound at its final threshold
	finalTau                              float64
	labels                                int
	perSource                             map[string][2]float64 // retained, cost
	bypassed                              float64
	moved                                 int // row index where the controller first left the configured threshold (-1 never)
	weights                               []float64
}

type labelled struct {
	x    []float64
	bad  bool
	prop float64 // labelling probability
}

// warmScore is the score used before the first fit: today's gate, times the
// agreement factor (1+k)/(1+m) when second opinions are asked.
func warmScore(it *item, m int) float64 {
	s := it.prior
	if m > 0 && it.hasFinal {
		s *= float64(1+it.agreeK(m)) / float64(1+m)
	}
	return s
}

func runController(items []*item, cfg ctlConfig, seed int64) ctlResult {
	rng := rand.New(rand.NewSource(seed))
	order := rng.Perm(len(items))
	if streamLen > 0 {
		// A longer stream: rows drawn with replacement (repeats make the fit
		// somewhat optimistic; it shows where the controller settles).
		order = make([]int, streamLen)
		for i := range order {
			order[i] = rng.Intn(len(items))
		}
	}
	n := nFeat(cfg.m)
	var model *lr
	tau := math.NaN()
	var labs []labelled
	var seen [][]float64
	sinceFit := 0
	res := ctlResult{perSource: map[string][2]float64{}, moved: -1}
	var q, vq, c, all, cPost, allPost, bad float64
	var estBadW float64
	esc, bypassed := 0, 0
	bypassing := false
	var sumCasc, sumVer float64
	nCasc := 0
	srcQ := map[string][3]float64{} // q, vq, c ; all in srcAll
	srcAll := map[string]float64{}
	scoreOf := func(x []float64, it *item) float64 {
		if model == nil {
			if cfg.learn {
				return warmScore(it, cfg.m)
			}
			return warmScore(it, cfg.m)
		}
		return model.p(x)
	}
	for step, idx := range order {
		it := items[idx]
		if bypassing && rng.Float64() >= cfg.bypass {
			// Verifier only: no draft, no second opinion, no label.
			q += it.v
			vq += it.v
			c += it.cVer
			all += it.cVer
			if step >= cfg.warmup {
				cPost += it.cVer
				allPost += it.cVer
			}
			sq := srcQ[it.source]
			srcQ[it.source] = [3]float64{sq[0] + it.v, sq[1] + it.v, sq[2] + it.cVer}
			srcAll[it.source] += it.cVer
			esc++
			bypassed++
			continue
		}
		x := feat(it, cfg.m)
		seen = append(seen, x)
		s := scoreOf(x, it)
		th := cfg.configured
		if model != nil {
			th = tau
		}
		accept := s >= th
		if bypassing || (cfg.safeStart && model == nil) {
			accept = false // shadow draft: escalated, labelled like any escalated row
		}
		rowCost := it.cDraft + soCost(it, cfg.m)
		sumCasc += rowCost
		sumVer += it.cVer
		nCasc++
		judgeLabel := cfg.judgeMode || !it.hasFinal || (cfg.hybrid && !it.exactLabel)
		obsBad := !it.good
		if !judgeLabel {
			obsBad = !it.exactLabel
		}
		var served float64
		if accept {
			served = it.d
			if !it.good {
				bad++
			}
			if rng.Float64() < cfg.audit {
				rowCost += it.cVer
				if judgeLabel {
					rowCost += it.cJudge
				}
				labs = append(labs, labelled{x, obsBad, cfg.audit})
				sinceFit++
				if obsBad {
					estBadW += 1 / cfg.audit
				}
			}
		} else {
			served = it.v
			rowCost += it.cVer
			esc++
			rate := 1.0
			if judgeLabel {
				rate = cfg.judgeEscRate
			}
			if rng.Float64() < rate {
				if judgeLabel {
					rowCost += it.cJudge
				}
				labs = append(labs, labelled{x, obsBad, rate})
				sinceFit++
			}
		}
		q += served
		vq += it.v
		c += rowCost
		all += it.cVer
		if step >= cfg.warmup {
			cPost += rowCost
			allPost += it.cVer
		}
		sq := srcQ[it.source]
		srcQ[it.source] = [3]float64{sq[0] + served, sq[1] + it.v, sq[2] + rowCost}
		srcAll[it.source] += it.cVer

		if cfg.learn && len(labs) >= cfg.minLabels && sinceFit >= cfg.refit {
			sinceFit = 0
			X := make([][]float64, len(labs))
			y := make([]bool, len(labs))
			w := make([]float64, len(labs))
			for i, l := range labs {
				X[i], y[i], w[i] = l.x, !l.bad, 1
			}
			model = fit(X, y, w, cfg.lambda, n)
			newTau, lb := ltt(model, seen, labs, cfg)
			if res.moved < 0 {
				res.moved = step
			}
			tau = newTau
			res.finalLB = lb
			bypassing = cfg.bypass > 0 && len(labs) >= cfg.bypassMin && acceptShare(model, seen, tau)*sumVer < sumCasc
			if debugHook != nil {
				debugHook(step, tau, acceptShare(model, seen, tau), lb, len(labs), bypassing)
			}
		}
		if !cfg.learn && len(labs) >= cfg.minLabels && sinceFit >= cfg.refit {
			// Threshold moved on the prior score alone (no learning).
			sinceFit = 0
			model = &lr{w: priorWeights(n)}
			newTau, lb := ltt(model, seen, labs, cfg)
			if res.moved < 0 {
				res.moved = step
			}
			tau = newTau
			res.finalLB = lb
		}
	}
	N := float64(len(order))
	res.retained = q / vq
	res.parity = 1 - bad/N
	res.cost = c / all
	res.costPost = cPost / allPost
	res.esc = float64(esc) / N
	res.estParity = 1 - estBadW/N
	res.finalTau = tau
	res.labels = len(labs)
	res.bypassed = float64(bypassed) / N
	for s, v := range srcQ {
		res.perSource[s] = [2]float64{v[0] / v[1], v[2] / srcAll[s]}
	}
	if model != nil {
		res.weights = model.w
	}
	return res
}

// ltt picks the loosest threshold, walking from strict to loose (fixed
// sequence), whose lower confidence bound on parity meets the target:
// parity(t) = 1 - P(score >= t) · P(bad | score >= t); P(score >= t) from all
// rows seen, P(bad | score >= t) bounded from the labels, weighted by the
// inverse of their labelling probability.
func ltt(model *lr, seen [][]float64, labs []labelled, cfg ctlConfig) (float64, float64) {
	ps := make([]float64, len(seen))
	for i, x := range seen {
		ps[i] = model.p(x)
	}
	pl := make([]float64, len(labs))
	for i, l := range labs {
		pl[i] = model.p(l.x)
	}
	tau, lbAt := 1.0+1e-9, 1.0
	for k := 100; k >= 0; k-- {
		t := float64(k) / 100
		acc := 0
		for _, p := range ps {
			if p >= t {
				acc++
			}
		}
		A := float64(acc) / float64(len(ps))
		var sw, sw2, sb float64
		for i, l := range labs {
			if pl[i] >= t {
				w := 1 / l.prop
				sw += w
				sw2 += w * w
				if l.bad {
					sb += w
				}
			}
		}
		ucb := 1.0
		if sw > 0 {
			neff := sw * sw / sw2
			kk := sb / sw * neff
			if cfg.bound == "wilson" {
				ucb = wilsonUpper(kk, neff, zOf(cfg.delta))
			} else {
				ucb = cpUpper(kk, neff, cfg.delta)
			}
		}
		if A == 0 {
			ucb = 0
		}
		lb := 1 - A*ucb
		if debugLTT != nil && k%5 == 0 {
			debugLTT(t, A, sw, sw*sw/math.Max(sw2, 1e-9), sb, ucb, lb)
		}
		if lb < cfg.target {
			break
		}
		tau, lbAt = t, lb
	}
	return tau, lbAt
}

func zOf(delta float64) float64 {
	switch {
	case delta <= 0.01:
		return 2.326
	case delta <= 0.025:
		return 1.96
	case delta <= 0.05:
		return 1.645
	}
	return 1.2816
}

// acceptShare is the share of the rows seen whose learned score reaches tau.
func acceptShare(model *lr, seen [][]float64, tau float64) float64 {
	n := 0
	for _, x := range seen {
		if model.p(x) >= tau {
			n++
		}
	}
	return float64(n) / float64(len(seen))
}

// debugHook, when set, sees every controller update.
var debugHook func(step int, tau, accept, lb float64, labels int, bypass bool)

// streamLen > 0 replays this many rows drawn with replacement instead of one pass.
var streamLen int

var debugLTT func(t, A, sw, neff, sb, ucb, lb float64)
