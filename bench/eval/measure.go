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

// checkPass is a re-run of the cascade at another threshold, compared with
// the outcomes the default pass predicts for it.
type checkPass struct {
	ThresholdMilli int
	Stream         bool
	Rows           int
	// Mismatches: rows whose outcome differs from "accept iff score >= threshold"
	// applied to the default pass's score. Boundary ones have a score equal to
	// the threshold at the header's 3-decimal precision (so the header cannot
	// tell which side the exact score is on); they are reported, not failed.
	Mismatches, Boundary int
	// ScoreChanged: rows whose gate score differs from the default pass's.
	ScoreChanged int
	// TextChanged: rows (streaming pass) whose returned answer differs from
	// the non-streaming pass's.
	TextChanged int
	Observed    map[string]strategy // by source, as the client saw it
}

// report is everything the eval prints and writes.
type report struct {
	DataFile     string
	GateHash     string // fingerprint of the gate's source, when found
	Rows         int
	Elapsed      time.Duration
	Requests     int
	DefaultMilli int
	TunedMilli   int
	TunedOK      bool
	Sources      []string
	Base         map[string]baselines
	Points       []sweepPoint
	// Default is the cascade pass at the proxy's default threshold as observed.
	Default map[string]strategy
	Checks  []checkPass
	// Problems are consistency failures (the command exits 1 when any).
	Problems []string
}

// measure runs all passes through the proxy and analyses them.
func measure(ctx context.Context, rows []row, concurrency int, proxyLog io.Writer) (*report, error) {
	up, err := newReplayUpstream(rows, replayKey)
	if err != nil {
		return nil, err
	}
	upURL, stopUp, err := startUpstream(up)
	if err != nil {
		return nil, err
	}
	defer stopUp()
	px, err := startProxy(ctx, evalRules(upURL, rules.ModeCascade, nil), quietLogger(proxyLog))
	if err != nil {
		return nil, err
	}
	defer px.Close()

	rep := &report{Rows: len(rows), DefaultMilli: milli(rules.DefaultThreshold), Base: map[string]baselines{}}
	problem := func(format string, a ...any) {
		if len(rep.Problems) < 50 {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, a...))
		}
	}
	pass := func(name string, mode rules.Mode, threshold *float64, stream bool) ([]observation, map[string]int, error) {
		if err := px.Load(evalRules(upURL, mode, threshold)); err != nil {
			return nil, nil, err
		}
		up.counts() // reset
		obs := runPass(ctx, rows, passOptions{ProxyURL: px.URL, Stream: stream, Concurrency: concurrency})
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

	// 1. The cascade at the proxy's default threshold, and the two baselines
	// whose per-row costs price every point of the sweep.
	cas, calls, err := pass("cascade", rules.ModeCascade, nil, false)
	if err != nil {
		return nil, err
	}
	dOnly, _, err := pass("draft-only", rules.ModeDraftOnly, nil, false)
	if err != nil {
		return nil, err
	}
	vOnly, _, err := pass("verifier-only", rules.ModeVerifierOnly, nil, false)
	if err != nil {
		return nil, err
	}
	results := make([]rowResult, len(rows))
	escalated := 0
	for i := range rows {
		r := &rows[i]
		in := promptTokens(r.Messages)
		wantD := (float64(in)*evalPrices[draftModel].Input + float64(estimateTokens(r.Draft.Text))*evalPrices[draftModel].Output) / 1e6
		wantV := (float64(in)*evalPrices[verifierModel].Input + float64(estimateTokens(r.Verifier.Text))*evalPrices[verifierModel].Output) / 1e6
		if d := dOnly[i]; d.Outcome != outcomeDraftOnly || d.Served != servedDraft || !d.HasCost || !near(d.CostUSD, wantD) {
			problem("draft-only: row %s: outcome %q, answer %s, cost %v (want %q, draft, %.8f)", r.ID, d.Outcome, d.Served, d.CostUSD, outcomeDraftOnly, wantD)
		}
		if v := vOnly[i]; v.Outcome != outcomeVerifierOnly || v.Served != servedVerifier || !v.HasCost || !near(v.CostUSD, wantV) {
			problem("verifier-only: row %s: outcome %q, answer %s, cost %v (want %q, verifier, %.8f)", r.ID, v.Outcome, v.Served, v.CostUSD, outcomeVerifierOnly, wantV)
		}
		results[i] = rowResult{Source: r.Source, DraftScore: r.Draft.Score, VerifierScore: r.Verifier.Score,
			GateMilli: cas[i].ScoreMilli, DraftUSD: dOnly[i].CostUSD, VerifierUSD: vOnly[i].CostUSD}
		o := cas[i]
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
		if results[i].accepts(rep.DefaultMilli) != acc && results[i].GateMilli != rep.DefaultMilli {
			problem("cascade: row %s: outcome %q but score %.3f vs threshold %.3f", r.ID, o.Outcome, float64(o.ScoreMilli)/1000, rules.DefaultThreshold)
		}
	}
	if calls[draftModel] != len(rows) || calls[verifierModel] != escalated {
		problem("cascade: the replay upstream saw %d draft and %d verifier calls; want %d and %d", calls[draftModel], calls[verifierModel], len(rows), escalated)
	}

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
	if !slices.Contains(grid, rep.DefaultMilli) {
		grid = append(grid, rep.DefaultMilli)
		slices.Sort(grid)
	}
	rep.Points = sweep(order, groups, rep.Base, grid)
	rep.TunedMilli, rep.TunedOK = tunedThreshold(rep.Points, order)
	rep.Default = map[string]strategy{}
	for _, s := range order {
		rep.Default[s] = observed(rows, cas, idxBySource[s], rep.Base[s].Verifier.Quality, sumUSD(groups[s]))
	}

	// 3. Re-run the proxy at other thresholds and check the prediction.
	checks := []int{500, 900}
	if rep.TunedOK {
		checks = append(checks, rep.TunedMilli)
	}
	slices.Sort(checks)
	checks = slices.Compact(checks)
	for _, t := range checks {
		if t == rep.DefaultMilli {
			continue
		}
		th := float64(t) / 1000
		obs, _, err := pass(fmt.Sprintf("cascade @%.2f", th), rules.ModeCascade, &th, false)
		if err != nil {
			return nil, err
		}
		c := checkPass{ThresholdMilli: t, Rows: len(rows), Observed: map[string]strategy{}}
		for i, o := range obs {
			if o.ScoreMilli != cas[i].ScoreMilli {
				c.ScoreChanged++
				problem("cascade @%.2f: row %s: gate score %d‰, %d‰ at the default threshold", th, rows[i].ID, o.ScoreMilli, cas[i].ScoreMilli)
			}
			if (o.Outcome == outcomeAccepted) != results[i].accepts(t) {
				c.Mismatches++
				if results[i].GateMilli == t {
					c.Boundary++
				} else {
					problem("cascade @%.2f: row %s: outcome %q, predicted otherwise from score %d‰", th, rows[i].ID, o.Outcome, results[i].GateMilli)
				}
			}
		}
		for _, s := range order {
			c.Observed[s] = observed(rows, obs, idxBySource[s], rep.Base[s].Verifier.Quality, sumUSD(groups[s]))
		}
		rep.Checks = append(rep.Checks, c)
	}

	// 4. A streaming pass at the default threshold: the same decisions and
	// the same answers, delivered as SSE.
	str, _, err := pass("streaming cascade", rules.ModeCascade, nil, true)
	if err != nil {
		return nil, err
	}
	sc := checkPass{ThresholdMilli: rep.DefaultMilli, Stream: true, Rows: len(rows)}
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
