package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// checkPass is a re-run of the cascade at another threshold (or with
// streaming), compared with the outcomes the default pass predicts for it.
type checkPass struct {
	Threshold float64
	Stream    bool
	// For names the sources whose operating point this threshold is.
	For  []string
	Rows int
	// Mismatches: rows whose outcome differs from "accept iff score >=
	// threshold" applied to the default pass's full-precision score
	// (streaming: from the non-streaming outcome).
	Mismatches int
	// ScoreChanged: rows whose x-cascade-score differs from the default pass's.
	ScoreChanged int
	// TextChanged: rows (streaming pass) whose returned answer differs from
	// the non-streaming pass's.
	TextChanged int
	Observed    map[string]strategy // by source, as the client saw it
}

// exactCheck is how the full-precision scores of the default pass were read.
type exactCheck struct {
	Rows, Scored int
	// HeaderDisagree counts rows whose x-cascade-score is not the full
	// score rounded to 3 decimals.
	HeaderDisagree int
}

// report is everything the eval prints and writes.
type report struct {
	DataFile         string
	GateHash         string // fingerprint of the gate's source, when found
	Rows             int
	Elapsed          time.Duration
	Requests         int
	DefaultThreshold float64
	Sources          []string
	Base             map[string]baselines
	Points           []sweepPoint
	// Operating is each source's own operating point, tuned on dev (absent
	// when no threshold keeps the quality target).
	Operating  map[string]operatingPoint
	Resolution map[string]resolution
	// Default is the cascade pass at the proxy's default threshold as observed.
	Default map[string]strategy
	Exact   exactCheck
	Checks  []checkPass
	// Results are the rows' labels, gate scores and costs (the online
	// mode's hindsight comes from them).
	Results []rowResult
	// Online are the online passes, when run.
	Online *onlineReport
	File   *fileSetup
	// Problems are consistency failures (the command exits 1 when any).
	Problems  []string
	nProblems int
}

// measure runs the offline passes of one file through the proxy (the
// static gate at fixed thresholds) and analyses them.
func measure(ctx context.Context, f *fileSetup, concurrency int, proxyLog io.Writer, prog *progress) (*report, error) {
	rows := f.Rows
	up, err := newReplayUpstream(rows, f.Prices, replayKey)
	if err != nil {
		return nil, err
	}
	upURL, stopUp, err := startUpstream(up)
	if err != nil {
		return nil, err
	}
	defer stopUp()
	px, err := startProxy(ctx, evalRules(f, upURL, ruleOptions{Mode: rules.ModeCascade}), quietLogger(proxyLog))
	if err != nil {
		return nil, err
	}
	defer px.Close()

	rep := &report{File: f, DataFile: f.Name, Rows: len(rows), DefaultThreshold: rules.DefaultThreshold, Base: map[string]baselines{},
		Operating: map[string]operatingPoint{}, Resolution: map[string]resolution{}}
	problem := rep.problem
	pass := func(name string, mode rules.Mode, threshold *float64, o passOptions) ([]observation, map[string]int, error) {
		if err := px.Load(evalRules(f, upURL, ruleOptions{Mode: mode, Threshold: threshold})); err != nil {
			return nil, nil, err
		}
		up.counts() // reset
		prog.Phase(f.Slug, "offline: "+name, len(rows))
		o.ProxyURL, o.Concurrency, o.Progress = px.URL, concurrency, prog
		obs := runPass(ctx, rows, o)
		rep.Requests += len(rows)
		calls, misses := up.counts()
		if misses > 0 {
			problem("%s: the replay upstream got %d request(s) for a prompt or model not in the data", name, misses)
		}
		for i, o := range obs {
			if o.Err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, o.Err)
			}
			if o.Served == servedOther {
				problem("%s: row %s: the answer returned is neither recorded answer (altered or mixed)", name, rows[i].ID)
			}
		}
		return obs, calls, nil
	}

	// 1. The cascade at the proxy's default threshold, with each row's
	// full-precision gate score, and the two baselines whose per-row costs
	// price every point of the sweep.
	cas, calls, err := pass("cascade", rules.ModeCascade, nil, passOptions{ExactScores: true})
	if err != nil {
		return nil, err
	}
	dOnly, _, err := pass("draft-only", rules.ModeDraftOnly, nil, passOptions{})
	if err != nil {
		return nil, err
	}
	vOnly, _, err := pass("verifier-only", rules.ModeVerifierOnly, nil, passOptions{})
	if err != nil {
		return nil, err
	}
	results := make([]rowResult, len(rows))
	escalated := 0
	for i := range rows {
		r := &rows[i]
		wantD, wantV := f.draftUSD(i), f.verifierUSD(i)
		if d := dOnly[i]; d.Outcome != outcomeDraftOnly || d.Served != servedDraft || !d.HasCost || !near(d.CostUSD, wantD) {
			problem("draft-only: row %s: outcome %q, answer %s, cost %v (want %q, draft, %.8f)", r.ID, d.Outcome, d.Served, d.CostUSD, outcomeDraftOnly, wantD)
		}
		if v := vOnly[i]; v.Outcome != outcomeVerifierOnly || v.Served != servedVerifier || !v.HasCost || !near(v.CostUSD, wantV) {
			problem("verifier-only: row %s: outcome %q, answer %s, cost %v (want %q, verifier, %.8f)", r.ID, v.Outcome, v.Served, v.CostUSD, outcomeVerifierOnly, wantV)
		}
		o := cas[i]
		results[i] = rowResult{Source: r.Source, DraftScore: r.Draft.Score, VerifierScore: r.Verifier.Score,
			Gate: o.Score, GateMilli: o.ScoreMilli, DraftUSD: dOnly[i].CostUSD, VerifierUSD: vOnly[i].CostUSD}
		rep.Exact.Rows++
		if o.ScoreMilli >= 0 {
			rep.Exact.Scored++
			if milli(decimal(o.Score, 3)) != o.ScoreMilli {
				rep.Exact.HeaderDisagree++
				problem("cascade: row %s: x-cascade-score %.3f but the full score is %v", r.ID, float64(o.ScoreMilli)/1000, o.Score)
			}
		}
		acc := o.Outcome == outcomeAccepted
		if !acc {
			escalated++
		}
		wantServed, wantCost := servedDraft, results[i].DraftUSD
		if !acc {
			wantServed, wantCost = servedVerifier, wantCost+results[i].VerifierUSD
		}
		if o.Served != wantServed || !o.HasCost || !near(o.CostUSD, wantCost) {
			problem("cascade: row %s: outcome %q returned the %s answer at cost %v (want the %s answer at %.8f)", r.ID, o.Outcome, o.Served, o.CostUSD, wantServed, wantCost)
		}
		if results[i].accepts(rep.DefaultThreshold) != acc {
			problem("cascade: row %s: outcome %q but score %v vs threshold %v", r.ID, o.Outcome, o.Score, rep.DefaultThreshold)
		}
	}
	if calls[roleDraft] != len(rows) || calls[roleVerifier] != escalated {
		problem("cascade: the replay upstream saw %d draft and %d verifier calls; want %d and %d", calls[roleDraft], calls[roleVerifier], len(rows), escalated)
	}
	rep.Results = results

	// 2. The sweep from the default pass's scores.
	order, groups := bySource(results)
	rep.Sources = order
	idxBySource := map[string][]int{}
	for i := range rows {
		idxBySource[rows[i].Source] = append(idxBySource[rows[i].Source], i)
	}
	for _, s := range order {
		rep.Base[s] = summarize(s, groups[s])
	}
	grid := thresholdGrid()
	if !slices.Contains(grid, rep.DefaultThreshold) {
		grid = append(grid, rep.DefaultThreshold)
		slices.Sort(grid)
	}
	rep.Points = sweep(order, groups, rep.Base, grid)
	rep.Default = map[string]strategy{}
	for _, s := range order {
		rep.Default[s] = observed(rows, cas, idxBySource[s], rep.Base[s].Verifier.Quality, sumUSD(groups[s]))
		op, ok := tune(rep.Points, groups[s], rep.Base[s], s)
		if ok {
			rep.Operating[s] = op
		}
		rep.Resolution[s] = resolve(rep.Points, groups[s], s, op, ok)
	}

	// 3. Re-run the proxy at other thresholds, each source's operating
	// threshold among them, and check the prediction row by row.
	checks := []float64{0.5, 0.9}
	forSources := map[float64][]string{}
	for _, s := range order {
		if op, ok := rep.Operating[s]; ok {
			checks = append(checks, op.Threshold)
			forSources[op.Threshold] = append(forSources[op.Threshold], s)
		}
	}
	slices.Sort(checks)
	checks = slices.Compact(checks)
	for _, t := range checks {
		if t == rep.DefaultThreshold {
			continue
		}
		th := t
		name := "cascade @" + formatThreshold(t)
		obs, _, err := pass(name, rules.ModeCascade, &th, passOptions{})
		if err != nil {
			return nil, err
		}
		c := checkPass{Threshold: t, For: forSources[t], Rows: len(rows), Observed: map[string]strategy{}}
		for i, o := range obs {
			if o.ScoreMilli != cas[i].ScoreMilli {
				c.ScoreChanged++
				problem("%s: row %s: gate score %d‰, %d‰ at the default threshold", name, rows[i].ID, o.ScoreMilli, cas[i].ScoreMilli)
			}
			if (o.Outcome == outcomeAccepted) != results[i].accepts(t) {
				c.Mismatches++
				problem("%s: row %s: outcome %q, predicted otherwise from score %v", name, rows[i].ID, o.Outcome, results[i].Gate)
			}
		}
		for _, s := range order {
			c.Observed[s] = observed(rows, obs, idxBySource[s], rep.Base[s].Verifier.Quality, sumUSD(groups[s]))
		}
		rep.Checks = append(rep.Checks, c)
	}

	// 4. A streaming pass at the default threshold: the same decisions and
	// the same answers, delivered as SSE.
	str, _, err := pass("streaming cascade", rules.ModeCascade, nil, passOptions{Stream: true})
	if err != nil {
		return nil, err
	}
	sc := checkPass{Threshold: rep.DefaultThreshold, Stream: true, Rows: len(rows)}
	for i, o := range str {
		if o.ScoreMilli != cas[i].ScoreMilli {
			sc.ScoreChanged++
			problem("streaming: row %s: gate score %d‰, %d‰ without streaming", rows[i].ID, o.ScoreMilli, cas[i].ScoreMilli)
		}
		if o.Outcome != cas[i].Outcome {
			sc.Mismatches++
			problem("streaming: row %s: outcome %q, %q without streaming", rows[i].ID, o.Outcome, cas[i].Outcome)
		}
		if o.Served != cas[i].Served {
			sc.TextChanged++
			problem("streaming: row %s: returned the %s answer, the %s answer without streaming", rows[i].ID, o.Served, cas[i].Served)
		}
	}
	rep.Checks = append(rep.Checks, sc)
	return rep, nil
}

// problem records a consistency failure (the first 50 are kept).
func (r *report) problem(format string, a ...any) {
	r.nProblems++
	if len(r.Problems) < 50 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
	}
}

func sumUSD(rs []rowResult) float64 {
	s := 0.0
	for _, r := range rs {
		s += r.VerifierUSD
	}
	return s
}

// near compares USD amounts at the x-cascade-cost-usd header's precision
// (8 decimals, plus rounding of a sum of two calls).
func near(a, b float64) bool { return math.Abs(a-b) <= 2e-8 }
