// Command gate replays the cascade-eval dev pairs through the quality gate,
// offline and without any proxy: for each row it builds the request and the
// recorded draft answer, scores the draft, and prints per source the quality
// and cost share of the cascade over a threshold sweep, beside always-draft,
// always-verifier, the oracle and random routing at the same escalation rate.
//
//	go run ./bench/gate                      # from the repository root
//	go run ./bench/gate -csv /tmp/sweep.csv  # also write the sweep
//	go run ./bench/gate -signals             # per-signal diagnostics
//
// The data is read from ../shared/data/cascade-eval/pairs-dev.jsonl (never
// copied into the repository; -data names another file of the data set);
// without it the command says so and exits 0.
//
// Token counts are estimated as ceil(chars / 4) (the data has no usage).
// Costs use the data set's prices of each row's models (evaldata.Prices):
// the draft is paid on every row, the verifier on escalated rows (dev
// pairs: Mixtral-8x7B $0.60/$0.60, gpt-4-1106-preview $10/$30).
// The verifier's prompt is the row's messages (for MT-Bench turn 2 the
// verifier actually saw its own turn-1 answer; the length difference is
// ignored). Cost share = cascade cost / always-verifier cost.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand"
	"os"
	"sort"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// scored is one row after the gate.
type scored struct {
	evaldata.Row
	score     float64
	decision  quality.Decision
	draftUSD  float64
	verifyUSD float64
}

func main() {
	data := flag.String("data", evaldata.DevPath, "cascade-eval JSONL file")
	csvPath := flag.String("csv", "", "write the threshold sweep as CSV to this file")
	signals := flag.Bool("signals", false, "print per-signal diagnostics")
	options := flag.String("options", "", "gate options as name=value,... (rules.Gate.Options)")
	weights := flag.String("weights", "", "gate weights as name=value,... (rules.Gate.Weights)")
	dump := flag.String("dump", "", "print every row of this source with its signals")
	halves := flag.Int("halves", 0, "also report the cheapest cost at the quality target on this many random halves (split by group)")
	seed := flag.Int64("seed", 1, "random seed for -halves")
	flag.Parse()

	rows, err := evaldata.ReadFile(*data)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Printf("skip: %s not found (the cascade-eval data lives outside the repository)\n", *data)
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gate:", err)
		os.Exit(1)
	}
	cfg := &rules.Gate{}
	if cfg.Options, err = parseKV(*options); err == nil {
		cfg.Weights, err = parseKV(*weights)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gate:", err)
		os.Exit(2)
	}
	g, err := quality.New(cfg, rules.DefaultThreshold)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gate:", err)
		os.Exit(2)
	}
	bySource := map[string][]scored{}
	var order []string
	for _, r := range rows {
		s, err := score(g, r)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gate:", err)
			os.Exit(1)
		}
		if _, ok := bySource[r.Source]; !ok {
			order = append(order, r.Source)
		}
		bySource[r.Source] = append(bySource[r.Source], s)
	}

	var csv strings.Builder
	csv.WriteString("source,threshold,escalation_rate,cost_share,quality,quality_vs_verifier,random_quality\n")
	for _, src := range order {
		report(src, bySource[src], &csv)
		if *signals {
			diagnose(bySource[src])
		}
		if *halves > 0 {
			reportHalves(bySource[src], *halves, *seed)
		}
		if *dump == src {
			for _, r := range bySource[src] {
				fmt.Printf("%s draft %.2f verifier %.2f gate %.6f:", r.ID, r.Draft.Score, r.Verifier.Score, r.score)
				for _, s := range r.decision.Signals {
					if s.Score < 1 {
						fmt.Printf(" %s=%.2f(%s)", s.Name, s.Score, s.Detail)
					}
				}
				fmt.Println()
			}
		}
	}
	if *csvPath != "" {
		if err := os.WriteFile(*csvPath, []byte(csv.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gate:", err)
			os.Exit(1)
		}
	}
}

func parseKV(s string) (map[string]float64, error) {
	if s == "" {
		return nil, nil
	}
	m := map[string]float64{}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		var f float64
		if _, err := fmt.Sscan(v, &f); !ok || err != nil {
			return nil, fmt.Errorf("bad setting %q: want name=number", kv)
		}
		m[strings.TrimSpace(k)] = f
	}
	return m, nil
}

// score builds the request from the row's messages and the draft as a
// finished answer, scores it, and prices both answers with the data set's
// prices of the row's own models.
func score(g *quality.Gate, r evaldata.Row) (scored, error) {
	req := &llm.Request{Model: r.Verifier.Model, MaxTokens: 1024}
	for _, m := range r.Messages {
		role := llm.RoleUser
		if m.Role == "assistant" {
			role = llm.RoleAssistant
		}
		req.Messages = append(req.Messages, llm.Message{Role: role, Content: []llm.Block{{Type: llm.BlockText, Text: m.Content}}})
	}
	in := evaldata.PromptTokens(r.Messages)
	draft := &llm.Response{
		Model:      r.Draft.Model,
		Content:    []llm.Block{{Type: llm.BlockText, Text: r.Draft.Text}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: in, OutputTokens: evaldata.EstimateTokens(r.Draft.Text)},
	}
	d := g.Evaluate(context.Background(), req, draft, nil)
	dp, ok1 := evaldata.Prices[r.Draft.Model]
	vp, ok2 := evaldata.Prices[r.Verifier.Model]
	if !ok1 || !ok2 {
		return scored{}, fmt.Errorf("row %s: no price for %s or %s", r.Key(), r.Draft.Model, r.Verifier.Model)
	}
	du := pricing.CostOf(dp, draft.Usage)
	vu := pricing.CostOf(vp, llm.Usage{InputTokens: in, OutputTokens: evaldata.EstimateTokens(r.Verifier.Text)})
	return scored{Row: r, score: d.Score, decision: d, draftUSD: du, verifyUSD: vu}, nil
}

// point is the cascade at one threshold.
type point struct {
	threshold, escalation, costShare, quality, random float64
}

func evaluate(rows []scored, accept func(scored) bool) (esc, costShare, qual float64) {
	var cost, all, q float64
	n := 0
	for _, r := range rows {
		all += r.verifyUSD
		cost += r.draftUSD
		if accept(r) {
			q += r.Draft.Score
		} else {
			cost += r.verifyUSD
			q += r.Verifier.Score
			n++
		}
	}
	return float64(n) / float64(len(rows)), cost / all, q / float64(len(rows))
}

func report(src string, rows []scored, csv *strings.Builder) {
	n := float64(len(rows))
	var dq, vq, draftCost, verCost float64
	for _, r := range rows {
		dq += r.Draft.Score
		vq += r.Verifier.Score
		draftCost += r.draftUSD
		verCost += r.verifyUSD
	}
	dq /= n
	vq /= n
	_, oCost, oQual := evaluate(rows, func(r scored) bool { return r.Draft.Score >= r.Verifier.Score })
	oEsc, _, _ := evaluate(rows, func(r scored) bool { return r.Draft.Score >= r.Verifier.Score })

	fmt.Printf("\n== %s (%d rows) ==\n", src, len(rows))
	fmt.Printf("%-16s quality %.3f (%.1f%% of verifier)  cost share %.3f\n", "always-draft", dq, 100*dq/vq, draftCost/verCost)
	fmt.Printf("%-16s quality %.3f (100.0%% of verifier)  cost share 1.000\n", "always-verifier", vq)
	fmt.Printf("%-16s quality %.3f (%.1f%% of verifier)  cost share %.3f  escalation %.2f\n", "oracle", oQual, 100*oQual/vq, oCost, oEsc)

	// Sweep every distinct score as a threshold, plus a regular grid.
	ths := map[float64]bool{0: true, 1.000001: true}
	for t := 0.0; t <= 1.0001; t += 0.05 {
		ths[math.Round(t*100)/100] = true
	}
	for _, r := range rows {
		ths[r.score] = true
	}
	var sorted []float64
	for t := range ths {
		sorted = append(sorted, t)
	}
	sort.Float64s(sorted)

	var pts []point
	for _, t := range sorted {
		esc, cs, q := evaluate(rows, func(r scored) bool { return r.score >= t })
		pts = append(pts, point{threshold: t, escalation: esc, costShare: cs, quality: q, random: (1-esc)*dq + esc*vq})
	}
	fmt.Printf("%-10s %-10s %-10s %-9s %-9s %-9s\n", "threshold", "escalate", "cost", "quality", "q/verif", "random")
	grid := map[float64]bool{}
	for t := 0.0; t <= 1.0001; t += 0.05 {
		grid[math.Round(t*100)/100] = true
	}
	belowRandom := 0
	worst, worstAt := 0.0, 0.0
	for _, p := range pts {
		if gap := p.random - p.quality; gap > worst {
			worst, worstAt = gap, p.threshold
		}
		fmt.Fprintf(csv, "%s,%.6f,%.4f,%.4f,%.4f,%.4f,%.4f\n", src, p.threshold, p.escalation, p.costShare, p.quality, p.quality/vq, p.random)
		if p.quality+1e-9 < p.random {
			belowRandom++
		}
		if grid[p.threshold] {
			fmt.Printf("%-10.2f %-10.2f %-10.3f %-9.3f %-9.3f %-9.3f\n", p.threshold, p.escalation, p.costShare, p.quality, p.quality/vq, p.random)
		}
	}
	// Cheapest threshold that keeps the quality target.
	best := -1
	for i, p := range pts {
		if p.quality >= evaldata.QualityTarget*vq && (best < 0 || p.costShare < pts[best].costShare) {
			best = i
		}
	}
	if best >= 0 {
		p := pts[best]
		fmt.Printf("cheapest ≥%.0f%% of verifier quality: threshold %.3f, cost share %.3f (target ≤ %.2f), quality %.3f (%.1f%%), escalation %.2f\n",
			100*evaldata.QualityTarget, p.threshold, p.costShare, evaldata.CostTargets[src], p.quality, 100*p.quality/vq, p.escalation)
	}
	at := func(t float64) point {
		esc, cs, q := evaluate(rows, func(r scored) bool { return r.score >= t })
		return point{t, esc, cs, q, (1-esc)*dq + esc*vq}
	}
	p := at(rules.DefaultThreshold)
	fmt.Printf("default threshold %.2f: cost share %.3f, quality %.3f (%.1f%%), escalation %.2f, random at same escalation %.3f\n",
		p.threshold, p.costShare, p.quality, 100*p.quality/vq, p.escalation, p.random)
	fmt.Printf("thresholds below random: %d of %d (largest shortfall %.3f at threshold %.3f)\n", belowRandom, len(pts), worst, worstAt)
}

// diagnose prints, per signal, how often it applied and its AUC for telling
// drafts at least as good as the verifier from worse ones (0.5 = no skill).
func diagnose(rows []scored) {
	names := map[string]bool{}
	for _, r := range rows {
		for _, s := range r.decision.Signals {
			names[s.Name] = true
		}
	}
	var ns []string
	for n := range names {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	ns = append(ns, "TOTAL")
	fmt.Printf("%-12s %-8s %-6s\n", "signal", "applies", "AUC")
	for _, n := range ns {
		var pos, neg []float64
		applied := 0
		for _, r := range rows {
			v := r.score
			if n != "TOTAL" {
				s, ok := r.decision.Signal(n)
				if ok {
					applied++
					v = s.Score
				} else {
					v = 1
				}
			} else {
				applied++
			}
			if r.Draft.Score >= r.Verifier.Score {
				pos = append(pos, v)
			} else {
				neg = append(neg, v)
			}
		}
		fmt.Printf("%-12s %-8d %.3f\n", n, applied, auc(pos, neg))
	}
}

func auc(pos, neg []float64) float64 {
	if len(pos) == 0 || len(neg) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, p := range pos {
		for _, q := range neg {
			switch {
			case p > q:
				s++
			case p == q:
				s += 0.5
			}
		}
	}
	return s / float64(len(pos)*len(neg))
}

// cheapest returns the lowest cost share whose quality keeps the target, over
// every distinct gate score as threshold (NaN when none does).
func cheapest(rows []scored) float64 {
	var vq float64
	for _, r := range rows {
		vq += r.Verifier.Score
	}
	vq /= float64(len(rows))
	ths := []float64{0, 1.000001}
	for _, r := range rows {
		ths = append(ths, r.score)
	}
	best := math.NaN()
	for _, t := range ths {
		_, cs, q := evaluate(rows, func(r scored) bool { return r.score >= t })
		if q >= evaldata.QualityTarget*vq && (math.IsNaN(best) || cs < best) {
			best = cs
		}
	}
	return best
}

// reportHalves draws n random halves of the groups (the same draws for the
// same seed, whatever the gate settings, so two runs compare half by half)
// and prints the cheapest cost share at the quality target on each.
func reportHalves(rows []scored, n int, seed int64) {
	var groups []string
	byGroup := map[string][]scored{}
	for _, r := range rows {
		g := r.Group
		if g == "" {
			g = r.ID
		}
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], r)
	}
	rng := rand.New(rand.NewSource(seed))
	fmt.Printf("halves (seed %d):", seed)
	sum := 0.0
	for range n {
		perm := rng.Perm(len(groups))
		var half []scored
		for _, i := range perm[:len(groups)/2] {
			half = append(half, byGroup[groups[i]]...)
		}
		c := cheapest(half)
		sum += c
		fmt.Printf(" %.3f", c)
	}
	fmt.Printf("\nhalves mean cost share at %.0f%%: %.3f\n", 100*evaldata.QualityTarget, sum/float64(n))
}
