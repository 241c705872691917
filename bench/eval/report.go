package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sourceTitle names a source in tables.
func sourceTitle(s string) string {
	switch s {
	case "mt_bench":
		return "MT-Bench"
	case "gsm8k":
		return "GSM8K"
	}
	return s
}

// point returns the sweep point of source at threshold t.
func (r *report) point(source string, t int) (sweepPoint, bool) {
	for _, p := range r.Points {
		if p.Source == source && p.ThresholdMilli == t {
			return p, true
		}
	}
	return sweepPoint{}, false
}

// check returns the re-run at threshold t (non-streaming), if one was made.
func (r *report) check(t int) (checkPass, bool) {
	for _, c := range r.Checks {
		if c.ThresholdMilli == t && !c.Stream {
			return c, true
		}
	}
	return checkPass{}, false
}

// tableRow is one line of a source's table.
type tableRow struct {
	name string
	s    strategy
}

// rowsFor lists a source's strategies: baselines, the cascade at the default
// and at the tuned threshold (as observed through the proxy), and random
// routing at their escalation rates.
func (r *report) rowsFor(source string) []tableRow {
	b := r.Base[source]
	rnd := func(e float64) strategy {
		q := randomAtRate(b, e)
		return strategy{Quality: q, QualityRatio: ratio(q, b.Verifier.Quality), CostShare: b.DraftCostShare + e, Escalation: e}
	}
	// Random escalation with the draft always paid costs draft + e·verifier.
	out := []tableRow{
		{"always-draft", b.Draft},
		{"always-verifier", b.Verifier},
		{"oracle (accept iff draft ≥ verifier)", b.Oracle},
	}
	def := r.Default[source]
	out = append(out,
		tableRow{fmt.Sprintf("cascade @%.2f (proxy default)", float64(r.DefaultMilli)/1000), def},
		tableRow{"  random at the same rate", rnd(def.Escalation)})
	if r.TunedOK && r.TunedMilli != r.DefaultMilli {
		tuned := r.Default[source]
		if c, ok := r.check(r.TunedMilli); ok {
			tuned = c.Observed[source]
		}
		out = append(out,
			tableRow{fmt.Sprintf("cascade @%.2f (tuned on dev)", float64(r.TunedMilli)/1000), tuned},
			tableRow{"  random at the same rate", rnd(tuned.Escalation)})
	}
	return out
}

// operating returns the strategy the targets are judged at: the tuned
// threshold when one exists, else the default.
func (r *report) operating(source string) (strategy, int) {
	if r.TunedOK && r.TunedMilli != r.DefaultMilli {
		if c, ok := r.check(r.TunedMilli); ok {
			return c.Observed[source], r.TunedMilli
		}
	}
	return r.Default[source], r.DefaultMilli
}

func meets(s strategy, source string) bool {
	return s.QualityRatio >= qualityTarget && s.CostShare <= costTargets[source]
}

// shortfall describes how often and by how much the cascade is below random.
func shortfall(n int, worst float64) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (worst by %.4f)", n, worst)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// text is the report printed by the command.
func (r *report) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cascade eval: %d rows of %s replayed through the proxy (%d requests)\n", r.Rows, r.DataFile, r.Requests)
	for _, s := range r.Sources {
		base := r.Base[s]
		fmt.Fprintf(&b, "\n== %s (%d rows) ==\n", sourceTitle(s), base.Rows)
		fmt.Fprintf(&b, "%-40s %8s %12s %11s %11s\n", "strategy", "quality", "vs verifier", "cost share", "escalation")
		for _, tr := range r.rowsFor(s) {
			fmt.Fprintf(&b, "%-40s %8.3f %11.1f%% %11.3f %10.1f%%\n", tr.name, tr.s.Quality, 100*tr.s.QualityRatio, tr.s.CostShare, 100*tr.s.Escalation)
		}
		op, t := r.operating(s)
		fmt.Fprintf(&b, "target ≥%.0f%% of verifier quality at cost share ≤%.2f: %s at @%.2f (%.1f%%, %.3f)\n",
			100*qualityTarget, costTargets[s], map[bool]string{true: "MET", false: "NOT MET"}[meets(op, s)], float64(t)/1000, 100*op.QualityRatio, op.CostShare)
		if p, ok := cheapestMeeting(r.Points, s); ok {
			fmt.Fprintf(&b, "cheapest threshold keeping ≥%.0f%% on %s alone: @%.2f (cost share %.3f)\n", 100*qualityTarget, sourceTitle(s), float64(p.ThresholdMilli)/1000, p.CostShare)
		} else {
			fmt.Fprintf(&b, "no threshold keeps ≥%.0f%% on %s\n", 100*qualityTarget, sourceTitle(s))
		}
		v := compareRandom(r.Points, s)
		fmt.Fprintf(&b, "sweep vs random: below random at the same rate at %d of %d thresholds (worst by %.4f); below a random router at the same cost at %d (worst by %.4f)\n",
			v.BelowSameRate, v.Thresholds, v.WorstSameRate, v.BelowSameCost, v.WorstSameCost)
	}
	if !r.TunedOK {
		fmt.Fprintf(&b, "\nno threshold keeps ≥%.0f%% of verifier quality on every source; targets are judged at the default\n", 100*qualityTarget)
	}
	b.WriteString("\nchecks (re-runs of the proxy vs the sweep's prediction from the default pass):\n")
	for _, c := range r.Checks {
		kind := "threshold re-run"
		if c.Stream {
			kind = "streaming pass  "
		}
		fmt.Fprintf(&b, "  %s @%.2f: %d rows, %d outcome mismatches (%d at the header's rounding boundary), %d score changes, %d answer changes\n",
			kind, float64(c.ThresholdMilli)/1000, c.Rows, c.Mismatches, c.Boundary, c.ScoreChanged, c.TextChanged)
	}
	if len(r.Problems) > 0 {
		b.WriteString("\nCONSISTENCY PROBLEMS:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	return b.String()
}

// markdown is docs/eval/results.md.
func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# Cascade evaluation on the dev pairs\n\n")
	b.WriteString("Made by `make eval` (`go run ./bench/eval`), which replays " +
		fmt.Sprintf("`../shared/data/cascade-eval/%s` (%d rows; not in this repository) ", r.DataFile, r.Rows) +
		"through the real proxy and writes this file, [`sweep.csv`](sweep.csv) and [`sweep.svg`](sweep.svg). " +
		"The figures are those of the quality gate (`proxy/quality`) as it was when the command ran")
	if r.GateHash != "" {
		fmt.Fprintf(&b, " (gate source fingerprint `%s`: SHA-256 of `proxy/quality/*.go` without tests)", r.GateHash)
	}
	b.WriteString(".\n\n")
	b.WriteString("## How it is measured\n\n")
	b.WriteString("- The proxy is assembled in-process exactly as `cmd/proxy` does (snapshot builder, rules loader, cascade engine, server) and " +
		"serves on 127.0.0.1. One rule maps the requested model `gpt-4-1106-preview` to the draft `mistralai/Mixtral-8x7B-Instruct-v0.1` " +
		"and the verifier `gpt-4-1106-preview`, both on an OpenAI-type provider pointing at a replay upstream.\n")
	b.WriteString("- The replay upstream is an OpenAI-compatible `/v1/chat/completions` server that finds the row by the request's messages and answers " +
		"the recorded draft text to the draft model and the recorded verifier text to the verifier model (streaming too).\n")
	b.WriteString("- Usage is estimated the same way for every model and strategy: input tokens = Σ over messages of ceil(UTF-8 bytes / 4), " +
		"output tokens = ceil(UTF-8 bytes of the answer / 4). Prices come from the rule's `prices:`: Mixtral-8x7B $0.60/$0.60, " +
		"GPT-4-turbo $10/$30 per million input/output tokens.\n")
	b.WriteString("- The client is the official `openai-go/v3` SDK, one request per row. Outcome, gate score and cost are read from the " +
		"`x-cascade-outcome`, `x-cascade-score` and `x-cascade-cost-usd` response headers; which answer came back is read from the body.\n")
	b.WriteString("- Quality of an answer = the row's `draft.score` when the draft came back, else `verifier.score` (MT-Bench: GPT-4 judge grade mapped to 0..1; " +
		"GSM8K: exact match). Cost share = cost / cost of always asking the verifier. Escalation rate = share of rows answered by the verifier.\n")
	b.WriteString("- Always-draft and always-verifier are measured through the proxy too (rule modes `draft-only` and `verifier-only`); their per-row " +
		"costs price the sweep. The oracle is a cascade that accepts exactly when `draft.score ≥ verifier.score` (draft always paid). " +
		"Random routing is computed analytically: at escalation rate e its expected quality is (1−e)·draft + e·verifier; " +
		"with the draft always paid (a coin-flip gate) it costs what the cascade costs at that rate. The plot also shows the stricter " +
		"random router, which pays only one model per row.\n")
	fmt.Fprintf(&b, "- Sweep: the draft is accepted iff its gate score ≥ the threshold, and the score does not depend on the threshold, so one pass at the "+
		"proxy's default threshold (`rules.DefaultThreshold` = %.2f) with the per-row scores gives the whole curve (thresholds 0.00–1.00 by 0.01). "+
		"This is checked by re-running the proxy at other thresholds (below).\n", float64(r.DefaultMilli)/1000)
	b.WriteString("- Operating threshold, **tuned on dev**: the lowest threshold of the sweep at which every source keeps ≥ 95 % of always-verifier quality " +
		"(the lowest such threshold is also the cheapest). The proxy's default threshold is reported beside it.\n\n")

	b.WriteString("## Results\n\n")
	for _, s := range r.Sources {
		fmt.Fprintf(&b, "### %s (%d rows)\n\n", sourceTitle(s), r.Base[s].Rows)
		b.WriteString("| strategy | quality | vs verifier | cost share | escalation |\n|---|---:|---:|---:|---:|\n")
		for _, tr := range r.rowsFor(s) {
			name := strings.TrimSpace(tr.name)
			if strings.HasPrefix(tr.name, "  ") {
				name = "↳ " + name
			}
			fmt.Fprintf(&b, "| %s | %.3f | %.1f %% | %.3f | %.1f %% |\n", name, tr.s.Quality, 100*tr.s.QualityRatio, tr.s.CostShare, 100*tr.s.Escalation)
		}
		b.WriteString("\n")
	}

	b.WriteString("## Targets (dev data)\n\n")
	b.WriteString("| source | target | reached at | quality vs verifier | cost share | met | cheapest threshold keeping ≥ 95 % on this source alone | below random (same rate / same cost) |\n")
	b.WriteString("|---|---|---|---:|---:|---|---|---|\n")
	for _, s := range r.Sources {
		op, t := r.operating(s)
		alone := "none"
		if p, ok := cheapestMeeting(r.Points, s); ok {
			alone = fmt.Sprintf("%.2f (cost share %.3f)", float64(p.ThresholdMilli)/1000, p.CostShare)
		}
		v := compareRandom(r.Points, s)
		fmt.Fprintf(&b, "| %s | ≥ 95 %% at ≤ %.2f | %.2f | %.1f %% | %.3f | %s | %s | %s / %s of %d thresholds |\n",
			sourceTitle(s), costTargets[s], float64(t)/1000, 100*op.QualityRatio, op.CostShare, yesNo(meets(op, s)), alone,
			shortfall(v.BelowSameRate, v.WorstSameRate), shortfall(v.BelowSameCost, v.WorstSameCost), v.Thresholds)
	}
	if !r.TunedOK {
		b.WriteString("\nNo threshold keeps ≥ 95 % of verifier quality on every source at once; the targets are judged at the default threshold.\n")
	}
	b.WriteString("\n## Threshold sweep\n\n![quality against cost share](sweep.svg)\n\n")
	b.WriteString("[`sweep.csv`](sweep.csv): threshold, source, quality, quality_ratio_vs_verifier, cost_share, escalation_rate, " +
		"random_quality_at_same_rate, random_router_quality_at_same_cost.\n\n")

	b.WriteString("## Checks\n\n")
	b.WriteString("| pass | threshold | rows | outcome mismatches vs prediction | of which at the header's rounding boundary | gate score changed | answer changed |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Checks {
		kind := "non-streaming re-run"
		if c.Stream {
			kind = "streaming (vs non-streaming)"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %d | %d | %d | %d | %d |\n", kind, float64(c.ThresholdMilli)/1000, c.Rows, c.Mismatches, c.Boundary, c.ScoreChanged, c.TextChanged)
	}
	b.WriteString("\nEvery pass also checks that the answer returned is exactly one recorded answer (never altered or mixed), that it matches " +
		"the outcome header, that `x-cascade-cost-usd` equals the rule's prices applied to the estimated usage, and that the replay upstream saw " +
		"one draft call per row and one verifier call per escalation.")
	if len(r.Problems) == 0 {
		b.WriteString(" No check failed.\n\n")
	} else {
		fmt.Fprintf(&b, " **%d check(s) failed:**\n\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Caveats\n\n")
	b.WriteString("- Token counts are estimates (the data has no usage); the same rule for every strategy keeps the comparison fair, not the absolute dollars exact.\n")
	b.WriteString("- MT-Bench turn 2: the prompt carries the draft's own turn-1 answer; the recorded verifier answer was generated after the verifier's own turn 1. " +
		"The replay sends the same prompt to both and prices the verifier on it.\n")
	b.WriteString("- The gate score header has 3 decimals; a re-run can only disagree with the prediction when the score equals the threshold at that precision (counted above).\n")
	b.WriteString("- The tuned threshold is chosen on these rows; figures on unseen answers will differ.\n")
	return b.String()
}

// csv is docs/eval/sweep.csv.
func (r *report) csv() string {
	var b strings.Builder
	b.WriteString("threshold,source,quality,quality_ratio_vs_verifier,cost_share,escalation_rate,random_quality_at_same_rate,random_router_quality_at_same_cost\n")
	for _, p := range r.Points {
		fmt.Fprintf(&b, "%.2f,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", float64(p.ThresholdMilli)/1000, p.Source,
			p.Quality, p.QualityRatio, p.CostShare, p.Escalation, p.RandomSameRate, p.RandomSameCost)
	}
	return b.String()
}

// write writes results.md, sweep.csv and sweep.svg into dir.
func (r *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	files := map[string]string{"results.md": r.markdown(), "sweep.csv": r.csv(), "sweep.svg": r.svg()}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
