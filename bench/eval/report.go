package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
)

// formatThreshold spells a threshold with 2 decimals when that is exact,
// else with as many as it needs.
func formatThreshold(t float64) string {
	if decimal(t, 2) == t {
		return strconv.FormatFloat(t, 'f', 2, 64)
	}
	return strconv.FormatFloat(t, 'f', -1, 64)
}

// point returns the sweep point of source at threshold t.
func (r *report) point(source string, t float64) (sweepPoint, bool) {
	for _, p := range r.Points {
		if p.Source == source && p.Threshold == t {
			return p, true
		}
	}
	return sweepPoint{}, false
}

// check returns the re-run at threshold t (non-streaming), if one was made.
func (r *report) check(t float64) (checkPass, bool) {
	for _, c := range r.Checks {
		if c.Threshold == t && !c.Stream {
			return c, true
		}
	}
	return checkPass{}, false
}

// operating returns the cascade at source's own operating threshold as the
// client saw it (the re-run at that threshold); ok is false when the source
// has no operating point.
func (r *report) operating(source string) (s strategy, op operatingPoint, ok bool) {
	op, ok = r.Operating[source]
	if !ok {
		return strategy{}, op, false
	}
	if op.Threshold == r.DefaultThreshold {
		return r.Default[source], op, true
	}
	c, found := r.check(op.Threshold)
	if !found {
		return op.Predicted.strategy, op, true
	}
	return c.Observed[source], op, true
}

// tableRow is one line of a source's table.
type tableRow struct {
	name string
	s    strategy
}

// rowsFor lists a source's strategies: baselines, the cascade at the default
// and at the source's own tuned threshold (as observed through the proxy),
// and random routing at their escalation rates.
func (r *report) rowsFor(source string) []tableRow {
	b := r.Base[source]
	// Random escalation with the draft always paid costs draft + e·verifier.
	rnd := func(e float64) strategy {
		q := randomAtRate(b, e)
		return strategy{Quality: q, QualityRatio: ratio(q, b.Verifier.Quality), CostShare: b.DraftCostShare + e, Escalation: e}
	}
	out := []tableRow{
		{"always-draft", b.Draft},
		{"always-verifier", b.Verifier},
		{"oracle (accept iff draft ≥ verifier)", b.Oracle},
	}
	def := r.Default[source]
	out = append(out,
		tableRow{fmt.Sprintf("cascade @%s (proxy default)", formatThreshold(r.DefaultThreshold)), def},
		tableRow{"  random at the same rate", rnd(def.Escalation)})
	if s, op, ok := r.operating(source); ok {
		out = append(out,
			tableRow{fmt.Sprintf("cascade @%s (tuned on dev for %s)", formatThreshold(op.Threshold), evaldata.SourceTitle(source)), s},
			tableRow{"  random at the same rate", rnd(s.Escalation)})
	}
	return out
}

// meets reports whether s keeps the quality target within source's cost
// target (sources without one: the quality target alone).
func meets(s strategy, source string) bool {
	ct, ok := evaldata.CostTargets[source]
	return s.QualityRatio >= evaldata.QualityTarget && (!ok || s.CostShare <= ct)
}

// targetLabel is a source's target in words.
func targetLabel(source string) string {
	if ct, ok := evaldata.CostTargets[source]; ok {
		return fmt.Sprintf("≥ 95 %% at ≤ %.2f", ct)
	}
	return "≥ 95 % (no cost target)"
}

// shortfall describes how often and by how much the cascade is below random.
func shortfall(n int, worst float64) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (worst by %.4f)", n, worst)
}

// drafts is "1 draft" or "n drafts".
func drafts(n int) string {
	if n == 1 {
		return "1 draft"
	}
	return fmt.Sprintf("%d drafts", n)
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
	fmt.Fprintf(&b, "cascade eval: %d rows of %s (%s) replayed through the proxy (%d offline requests)\n", r.Rows, r.DataFile, r.File.title(), r.Requests)
	for _, s := range r.Sources {
		base := r.Base[s]
		fmt.Fprintf(&b, "\n== %s (%d rows) ==\n", evaldata.SourceTitle(s), base.Rows)
		fmt.Fprintf(&b, "%-44s %8s %12s %11s %11s\n", "strategy", "quality", "vs verifier", "cost share", "escalation")
		for _, tr := range r.rowsFor(s) {
			fmt.Fprintf(&b, "%-44s %8.3f %11.1f%% %11.3f %10.1f%%\n", tr.name, tr.s.Quality, 100*tr.s.QualityRatio, tr.s.CostShare, 100*tr.s.Escalation)
		}
		if op, o, ok := r.operating(s); ok {
			fmt.Fprintf(&b, "target %s: %s at @%s (%.1f%%, cost share %.3f, escalation %.1f%%)\n",
				targetLabel(s), map[bool]string{true: "MET", false: "NOT MET"}[meets(op, s)], formatThreshold(o.Threshold),
				100*op.QualityRatio, op.CostShare, 100*op.Escalation)
		} else {
			fmt.Fprintf(&b, "target %s: NOT MET (no threshold keeps ≥%.0f%%)\n", targetLabel(s), 100*evaldata.QualityTarget)
		}
		if res := r.Resolution[s]; res.GridOK {
			fmt.Fprintf(&b, "cheapest on the 0.01 grid: @%s (cost share %.3f, escalation %.1f%%); %s scored between it and the operating threshold\n",
				formatThreshold(res.Grid.Threshold), res.Grid.CostShare, 100*res.Grid.Escalation, drafts(res.Between))
		}
		v := compareRandom(r.Points, s)
		fmt.Fprintf(&b, "sweep vs random (%d thresholds, one per distinct score): below random at the same rate at %d (worst by %.4f); below a random router at the same cost at %d (worst by %.4f)\n",
			v.Thresholds, v.BelowSameRate, v.WorstSameRate, v.BelowSameCost, v.WorstSameCost)
	}
	fmt.Fprintf(&b, "\nfull-precision gate scores from /api/stats: %d of %d rows scored, %d disagree with x-cascade-score\n", r.Exact.Scored, r.Exact.Rows, r.Exact.HeaderDisagree)
	b.WriteString("checks (re-runs of the proxy vs the sweep's prediction from the default pass):\n")
	for _, c := range r.Checks {
		kind := "threshold re-run"
		if c.Stream {
			kind = "streaming pass  "
		}
		fmt.Fprintf(&b, "  %s @%s%s: %d rows, %d outcome mismatches, %d score changes, %d answer changes\n",
			kind, formatThreshold(c.Threshold), r.forLabel(c), c.Rows, c.Mismatches, c.ScoreChanged, c.TextChanged)
	}
	b.WriteString(r.onlineText())
	if len(r.Problems) > 0 {
		b.WriteString("\nCONSISTENCY PROBLEMS:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	return b.String()
}

// forLabel names what a check's threshold is, beyond a spot check.
func (r *report) forLabel(c checkPass) string {
	var names []string
	for _, s := range c.For {
		names = append(names, evaldata.SourceTitle(s))
	}
	if c.Stream || c.Threshold == r.DefaultThreshold {
		names = append([]string{"proxy default"}, names...)
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// markdown is docs/eval/results.md.
func (r *report) markdown() string {
	var b strings.Builder
	def := formatThreshold(r.DefaultThreshold)
	fmt.Fprintf(&b, "# Cascade evaluation: %s\n\n", r.File.title())
	b.WriteString("Made by `make eval` (`go run ./bench/eval`), which replays " +
		fmt.Sprintf("`%s` (%d rows; not in this repository) ", r.DataFile, r.Rows) +
		"through the real proxy and writes this file, [`sweep.csv`](sweep.csv), [`sweep.svg`](sweep.svg) and the online mode's " +
		"[`online.csv`](online.csv), [`online-summary.csv`](online-summary.csv) and [`online.svg`](online.svg); [the index](../README.md) " +
		"has every file's targets. The figures are those of the gate and quality loop as they were when the command ran")
	if r.GateHash != "" {
		fmt.Fprintf(&b, " (source fingerprint `%s`: SHA-256 of the non-test Go files of %s)", r.GateHash, fingerprintDirsText())
	}
	b.WriteString(".\n\n")
	b.WriteString("## How it is measured\n\n")
	b.WriteString("- The proxy is assembled in-process exactly as `cmd/proxy` does (snapshot builder, rules loader, cascade engine, server) and " +
		"serves on 127.0.0.1. One rule maps the requested model `verifier-model` to the draft `draft-model` and the verifier `verifier-model`, " +
		"both on an OpenAI-type provider pointing at a replay upstream.\n")
	fmt.Fprintf(&b, "- The replay upstream is an OpenAI-compatible `/v1/chat/completions` server that finds the row by the request's messages and answers "+
		"`draft-model` with the recorded draft (`%s`), `verifier-model` with the recorded verifier answer (`%s`)%s, streaming too.\n",
		r.File.Draft, r.File.Verifier, othersText(r.File))
	b.WriteString("- Usage is estimated the same way for every model and strategy: input tokens = Σ over messages of ceil(UTF-8 bytes / 4), " +
		"output tokens = ceil(UTF-8 bytes of the answer / 4). Each name is priced in the rule's `prices:` at its real model's price (" +
		pricesText(r.File) + ", USD per million input/output tokens).\n")
	b.WriteString("- The client is the official `openai-go/v3` SDK, one request per row. Outcome, gate score and cost are read from the " +
		"`x-cascade-outcome`, `x-cascade-score` and `x-cascade-cost-usd` response headers; which answer came back is read from the body. " +
		"`x-cascade-score` has 3 decimals, so the default pass also reads each row's gate score at full precision from the proxy's " +
		"`GET /api/stats` (`meanGateScore` of the rule after a `DELETE /api/stats`, one request at a time) and checks that it rounds to the header.\n")
	b.WriteString("- Quality of an answer = the row's `draft.score` when the draft came back, else `verifier.score` (MT-Bench: GPT-4 judge grade mapped to 0..1; exact-answer sources: 1 or 0; " +
		"GSM8K: exact match). Cost share = cost / cost of always asking the verifier. Escalation rate = share of rows answered by the verifier.\n")
	b.WriteString("- Always-draft and always-verifier are measured through the proxy too (rule modes `draft-only` and `verifier-only`); their per-row " +
		"costs price the sweep. The oracle is a cascade that accepts exactly when `draft.score ≥ verifier.score` (draft always paid). " +
		"Random routing is computed analytically: at escalation rate e its expected quality is (1−e)·draft + e·verifier; " +
		"with the draft always paid (a coin-flip gate) it costs what the cascade costs at that rate. The plot also shows the stricter " +
		"random router, which pays only one model per row.\n")
	fmt.Fprintf(&b, "- Sweep: the draft is accepted iff its gate score ≥ the threshold, and the score does not depend on the threshold, so one pass at the "+
		"proxy's default threshold (`rules.DefaultThreshold` = %s) with the per-row scores gives the whole curve. The cascade's figures change only "+
		"where the threshold crosses a score, so the sweep is evaluated at every distinct score observed on a source (every operating point the gate "+
		"can have on these rows) and, for the CSV and the plot, on the grid 0.00–1.00 by 0.01. This is checked by re-running the proxy at other thresholds (below).\n", def)
	b.WriteString("- Operating point, **tuned on dev per source** (in production each traffic type gets its own rule and threshold): a source's cheapest " +
		"threshold keeping ≥ 95 % of its always-verifier quality. It sits at an observed score; the rule's threshold is the shortest decimal between " +
		"that score and the next lower one (the same decisions on these rows). Its figures are those of a re-run of the proxy with a rule at that " +
		"threshold. The proxy's default threshold is reported beside it.\n\n")

	b.WriteString("## Results\n\n")
	for _, s := range r.Sources {
		fmt.Fprintf(&b, "### %s (%d rows)\n\n", evaldata.SourceTitle(s), r.Base[s].Rows)
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
	b.WriteString("Each source at its own operating point (re-run through the proxy at that threshold). Random: thresholds of the sweep " +
		"(one per distinct score) at which the cascade's quality is below random escalation at the same rate / below a random router at the same cost.\n\n")
	b.WriteString("| source | target | threshold (tuned on this source) | quality vs verifier | cost share | escalation | met | below random (same rate / same cost) |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|---|\n")
	for _, s := range r.Sources {
		v := compareRandom(r.Points, s)
		rnd := fmt.Sprintf("%s / %s of %d thresholds", shortfall(v.BelowSameRate, v.WorstSameRate), shortfall(v.BelowSameCost, v.WorstSameCost), v.Thresholds)
		st, op, ok := r.operating(s)
		if !ok {
			fmt.Fprintf(&b, "| %s | %s | none keeps ≥ 95 %% | | | | no | %s |\n", evaldata.SourceTitle(s), targetLabel(s), rnd)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f %% | %.3f | %.1f %% | %s | %s |\n",
			evaldata.SourceTitle(s), targetLabel(s), formatThreshold(op.Threshold), 100*st.QualityRatio, st.CostShare, 100*st.Escalation, yesNo(meets(st, s)), rnd)
	}

	b.WriteString("\n## Sweep resolution: observed scores against the 0.01 grid\n\n")
	b.WriteString("| source | cheapest ≥ 95 % on the 0.01 grid | cheapest ≥ 95 % at an observed score | drafts scored in between | distinct gate scores (full precision / header's 3 decimals) | header-rounded predictions wrong at the grid point |\n")
	b.WriteString("|---|---|---|---:|---:|---:|\n")
	for _, s := range r.Sources {
		res := r.Resolution[s]
		grid, exact := "none", "none"
		if res.GridOK {
			grid = fmt.Sprintf("%s: cost share %.3f, escalation %.1f %%", formatThreshold(res.Grid.Threshold), res.Grid.CostShare, 100*res.Grid.Escalation)
		}
		if op, ok := r.Operating[s]; ok {
			exact = fmt.Sprintf("%s (score %.6f): cost share %.3f, escalation %.1f %%", formatThreshold(op.Threshold), op.Score, op.Predicted.CostShare, 100*op.Predicted.Escalation)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d / %d | %d |\n", evaldata.SourceTitle(s), grid, exact, res.Between, res.DistinctExact, res.DistinctHeader, res.HeaderWrong)
	}
	b.WriteString("\nCost share is a step function of the threshold: it moves only where the threshold crosses a draft's score, and each " +
		"escalation adds that row's verifier cost. Drafts' scores cluster, so a few thousandths of threshold can move many rows: every draft " +
		"scored between the two thresholds above is accepted at the lower one and escalated at the grid's. Both figures are right for their own " +
		"threshold and are priced the same way; the cheapest operating point is the one at an observed score, which a 0.01 grid can miss. " +
		"`go run ./bench/gate` scores the same drafts with `proxy/quality` offline and also tries every distinct score, so with the same gate it finds the " +
		"same cheapest point and the same cost share (same token rule, same prices, draft paid on every row, verifier on escalated rows; it prints the " +
		"threshold as the score at 3 decimals); a figure read " +
		"at a 0.01 grid line near it is simply a different threshold, not a different cost model. The last column counts rows whose 3-decimal header " +
		"rounds up to the grid threshold while the full score is below it: a sweep built from the header alone would predict them accepted, but the " +
		"proxy escalates them; the full-precision scores remove that error.\n")
	for _, s := range r.Sources {
		res := r.Resolution[s]
		op, ok := r.Operating[s]
		if !ok || !res.GridOK || res.Between == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s: the cheapest threshold keeping ≥ 95 %% is %s (the score %.6f, which `bench/gate` prints as %.3f): cost share %.3f at "+
			"escalation %.1f %%. That is the right figure for the operating point. The grid's %s, cost share %.3f at escalation %.1f %%, is also right "+
			"for its own threshold, but it escalates the %s scored in between, so it is not the cheapest point.\n",
			evaldata.SourceTitle(s), formatThreshold(op.Threshold), op.Score, op.Score, op.Predicted.CostShare, 100*op.Predicted.Escalation,
			formatThreshold(res.Grid.Threshold), res.Grid.CostShare, 100*res.Grid.Escalation, drafts(res.Between))
	}

	b.WriteString("\n## Threshold sweep\n\n![quality against cost share](sweep.svg)\n\n")
	b.WriteString("[`sweep.csv`](sweep.csv): threshold (full precision), source, kind (`grid`, `score` = a gate score observed on the source, or both), quality, " +
		"quality_ratio_vs_verifier, cost_share, escalation_rate, random_quality_at_same_rate, random_router_quality_at_same_cost.\n\n")

	b.WriteString("## Checks\n\n")
	fmt.Fprintf(&b, "Full-precision gate scores: %d of %d rows scored (the rest had no draft score), %d whose `x-cascade-score` is not the full score rounded to 3 decimals.\n\n",
		r.Exact.Scored, r.Exact.Rows, r.Exact.HeaderDisagree)
	b.WriteString("| pass | threshold | operating point of | rows | outcome mismatches vs prediction | gate score changed | answer changed |\n|---|---:|---|---:|---:|---:|---:|\n")
	for _, c := range r.Checks {
		kind := "non-streaming re-run"
		if c.Stream {
			kind = "streaming (vs non-streaming)"
		}
		of := strings.TrimSuffix(strings.TrimPrefix(r.forLabel(c), " ("), ")")
		if of == "" {
			of = "(spot check)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d |\n", kind, formatThreshold(c.Threshold), of, c.Rows, c.Mismatches, c.ScoreChanged, c.TextChanged)
	}
	b.WriteString("\nA re-run's prediction is \"accept iff full-precision score ≥ threshold\" from the default pass. Every pass also checks that the answer " +
		"returned is exactly one recorded answer (never altered or mixed), that it matches the outcome header, that `x-cascade-cost-usd` equals the " +
		"rule's prices applied to the estimated usage, and that the replay upstream saw one draft call per row and one verifier call per escalation.")
	if len(r.Problems) == 0 {
		b.WriteString(" No check failed.\n\n")
	} else {
		fmt.Fprintf(&b, " **%d check(s) failed:**\n\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
		b.WriteString("\n")
	}
	b.WriteString(r.onlineMarkdown())
	b.WriteString("## Caveats\n\n")
	b.WriteString("- Token counts are estimates (the data has no usage); the same rule for every strategy keeps the comparison fair, not the absolute dollars exact.\n")
	b.WriteString("- MT-Bench turn 2: the prompt carries the draft's own turn-1 answer; the recorded verifier answer was generated after the verifier's own turn 1. " +
		"The replay sends the same prompt to both and prices the verifier on it.\n")
	b.WriteString("- The operating thresholds are chosen on these rows, each just below the lowest score it still accepts (the cheapest point always " +
		"sits at an observed score); figures on unseen answers will differ. Where scores cluster (the drafts-in-between column above), " +
		"a small change of the gate or of the threshold moves many decisions at once.\n")
	return b.String()
}

// othersText lists the other models a file serves.
func othersText(f *fileSetup) string {
	var b strings.Builder
	for i, m := range f.Others {
		fmt.Fprintf(&b, ", `%s` with `%s`'s", otherModel(i), m)
	}
	if len(f.Others) > 0 {
		b.WriteString(" recorded answers")
	}
	b.WriteString(" and `judge-model` with a pairwise verdict simulated from the labels")
	return b.String()
}

// pricesText lists a file's models with their prices.
func pricesText(f *fileSetup) string {
	served := []string{draftModel, verifierModel}
	models := append([]string{f.Draft, f.Verifier}, f.Others...)
	for i := range f.Others {
		served = append(served, otherModel(i))
	}
	var parts []string
	for i, m := range models {
		p := f.Prices[served[i]]
		parts = append(parts, fmt.Sprintf("%s $%.4g/$%.4g", shortModel(m), p.Input, p.Output))
	}
	text := strings.Join(parts, ", ") + "; the judge as the verifier"
	if f.PriceBasis != "" {
		text += " (" + f.PriceBasis + ")"
	}
	return text
}

// csv is sweep.csv.
func (r *report) csv() string {
	var b strings.Builder
	b.WriteString("threshold,source,kind,quality,quality_ratio_vs_verifier,cost_share,escalation_rate,random_quality_at_same_rate,random_router_quality_at_same_cost\n")
	for _, p := range r.Points {
		var kinds []string
		if p.OnGrid {
			kinds = append(kinds, "grid")
		}
		if p.AtScore {
			kinds = append(kinds, "score")
		}
		fmt.Fprintf(&b, "%s,%s,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", strconv.FormatFloat(p.Threshold, 'f', -1, 64), p.Source, strings.Join(kinds, "+"),
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
	if r.Online != nil {
		files["online.csv"], files["online-summary.csv"], files["online.svg"] = r.onlineCSV(), r.onlineSummaryCSV(), r.onlineSVG()
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
