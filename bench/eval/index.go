package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// index is docs/eval/README.md: every file's figures against the targets,
// and where the gate still fails.
type index struct {
	Reports []*report
	Elapsed time.Duration
	Seed    uint64
	Online  bool
}

func (x *index) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(x.markdown()), 0o644); err != nil {
		return fmt.Errorf("write README.md: %w", err)
	}
	return nil
}

// text is the summary printed at the end.
func (x *index) text() string {
	var b strings.Builder
	b.WriteString("== summary ==\n")
	for _, f := range x.findings() {
		fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(f, "**", ""))
	}
	return b.String()
}

func (x *index) markdown() string {
	var b strings.Builder
	b.WriteString("# Cascade evaluation\n\n")
	b.WriteString("Made by `make eval` (`go run ./bench/eval`), which replays every file of the cascade-eval data " +
		"(`../shared/data/cascade-eval/`: `pairs-dev.jsonl` and the three `zeroeval/` files; not in this repository) through the real proxy, " +
		"assembled in-process as `cmd/proxy` assembles it, and writes this file and one folder per data file. One configuration for every " +
		"file: nothing is keyed to a data set's prompts, wording or sources.")
	if len(x.Reports) > 0 && x.Reports[0].GateHash != "" {
		fmt.Fprintf(&b, " Gate and quality-loop source fingerprint `%s` (SHA-256 of the non-test Go files of %s).", x.Reports[0].GateHash, fingerprintDirsText())
	}
	fmt.Fprintf(&b, " Online seed %d.\n\n", x.Seed)
	b.WriteString("The replay upstream answers `draft-model`, `verifier-model`, `other-model-1`, `other-model-2` with each row's recorded answers " +
		"(found by the request's messages) and `judge-model` with a pairwise verdict simulated from the recorded labels: it reads the two " +
		"answers between the markers of `audit.PairwisePrompt`, finds which recorded answers they are, prefers the higher-labelled one (equal " +
		"labels tie) and ends with `[[A]]`, `[[B]]` or `[[C]]` in the order the answers appear. Each name is priced at its real model's price " +
		"(`evaldata.Prices`; the judge as the verifier); tokens = ceil(UTF-8 bytes / 4). Every upstream call is logged and priced, " +
		"including audit and judge calls made after the client has its answer.\n\n")
	b.WriteString("Your own traffic replays the same way: a rule's quality samples export (`GET /api/quality/samples?rule=NAME`, " +
		"recorded with `quality.audit.keepText: true`; see [docs/quality.md](../quality.md#the-samples)) given as `-data` " +
		"(`make eval EVAL_DATA=samples.jsonl EVAL_OUT=DIR`) is recognised as such. Each labelled sample with its prompt and both answers " +
		"is a row of source `samples` (the verifier's answer labelled 1, the draft's 1 when its audit found it as good, else 0); " +
		"unlabelled samples, samples without texts and repeated prompts are skipped and counted. The draft and verifier are priced per " +
		"estimated token at the samples' recorded costs (the dev pair's prices when none are recorded). The prompt is parsed back from " +
		"its recorded rendering: the system prompt is not recorded, and tool calls stay as text.\n\n")

	b.WriteString("## Files\n\n| file | pairing | rows | sources | results |\n|---|---|---:|---|---|\n")
	for _, r := range x.Reports {
		var src []string
		for _, s := range r.Sources {
			src = append(src, fmt.Sprintf("%s %d", evaldata.SourceTitle(s), r.Base[s].Rows))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %d | %s | [%s/results.md](%s/results.md) |\n", r.DataFile, r.File.title(), r.Rows, strings.Join(src, ", "), r.File.Slug, r.File.Slug)
	}

	b.WriteString("\n## Offline: the static gate\n\n")
	b.WriteString("Per source, the gate at the proxy's default threshold and at the source's own cheapest threshold keeping 95 % (tuned on the " +
		"rows themselves, re-run through the proxy), beside the oracle cascade and a random router at 95 %. Cost = cost share of always-verifier.\n\n")
	b.WriteString("| file | source | default: retained / cost | tuned: threshold, retained / cost | oracle cost | random router at 95 % | cost target |\n|---|---|---|---|---:|---:|---|\n")
	for _, r := range x.Reports {
		for _, s := range r.Sources {
			d := r.Default[s]
			tuned := "none keeps 95 %"
			if st, op, ok := r.operating(s); ok {
				tuned = fmt.Sprintf("%s, %.3f / %.3f", formatThreshold(op.Threshold), st.QualityRatio, st.CostShare)
			}
			ct := "—"
			if c, ok := evaldata.CostTargets[s]; ok {
				st, _, ok := r.operating(s)
				ct = fmt.Sprintf("≤ %.2f: %s", c, markOf(ok && st.CostShare <= c))
			}
			fmt.Fprintf(&b, "| %s | %s | %.3f / %.3f | %s | %.3f | %.3f | %s |\n", r.File.Slug, evaldata.SourceTitle(s), d.QualityRatio, d.CostShare,
				tuned, r.Base[s].Oracle.CostShare, randomRouterCost(r.Base[s], evaldata.QualityTarget), ct)
		}
	}

	if x.Online {
		b.WriteString("\n## Online: the quality loop\n\n")
		fmt.Fprintf(&b, "Rule: `quality: {target: %.2f, coldStart: threshold, audit: {rate: %.2f, comparer: auto, judge: judge-model}}`, "+
			"default threshold; \"+ 1 opinion\": `secondOpinion` other-model-1. Rows in a seeded random order, one at a time, each once; "+
			"offline-learned = a learning pass in another order, then a restart from its state and the measured pass. Figures of the whole "+
			"route (every source of the file); \"after %d\" leaves out the first %d requests. Per-source tables in each file's results.md.\n\n",
			onlineTarget, onlineAuditRate, evaldata.WarmUp, evaldata.WarmUp)
		fmt.Fprintf(&b, "Targets: retained ≥ %.2f (all rows); the route's own estimate of the quality it delivered "+
			"(`Calibration.Realised`) within ±%.0f points of the parity of the requests it covers (after %d when the route has no realised estimate); cost after %d ≤ %.1f× "+
			"the best static threshold in hindsight while keeping the retained floor; MT-Bench ≤ %.2f and GSM8K ≤ %.2f cost share at 95 %%; ≤ oracle + %.2f at 95 %%; where no "+
			"static threshold saves, the route escalates everything and says so (calibration reason `escalate-all`).\n\n",
			evaldata.RetainedFloor, 100*evaldata.EstimateTolerance, evaldata.WarmUp, evaldata.WarmUp, evaldata.HindsightRatio,
			evaldata.CostTargets["mt_bench"], evaldata.CostTargets["gsm8k"], evaldata.OracleMargin)
		b.WriteString("| file | variant | retained | parity after | estimate | cost after (audit) | best static after | oracle after | escalated / bypassed after | final | retained | estimate | vs static | source cost targets | vs oracle | escalates |\n")
		b.WriteString("|---|---|---:|---:|---:|---|---|---:|---|---|---|---|---|---|---|---|\n")
		for _, r := range x.Reports {
			for _, t := range r.onlineTables() {
				k := len(t.All) - 1 // groupAll
				all, after, m := t.All[k], t.After[k], t.Marks[k]
				est := "—"
				if t.Run.HasRoute {
					e, truth, _ := routeEstimate(t.Run, after)
					est = fmt.Sprintf("%s (vs %s)", num3(e), num3(truth))
				}
				var srcMarks []string
				for i := 0; i < k; i++ {
					if t.Marks[i].CostTarget != notApplicable {
						srcMarks = append(srcMarks, fmt.Sprintf("%s %s (%.3f)", evaldata.SourceTitle(t.All[i].Group), t.Marks[i].CostTarget, t.After[i].Cost))
					}
				}
				if len(srcMarks) == 0 {
					srcMarks = []string{"—"}
				}
				oracle := m.Oracle.String()
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |\n",
					r.File.Slug, t.Run.Variant.Name, num3(all.Retained), num3(after.Parity), est, num3(after.Cost), num3(after.Audit),
					staticLabel(after.Static), num3(after.Oracle.CostShare), pct(after.Escalation), pct(after.Bypass), finalShort(t.Run),
					m.Retained, m.Estimate, m.Hindsight, strings.Join(srcMarks, ", "), oracle, m.Escalates)
			}
		}
	}

	if x.Online && len(x.Reports) > 0 && len(x.Reports[0].spreads()) > 0 && x.Reports[0].spreads()[0].Repeats > 1 {
		fmt.Fprintf(&b, "\n### Run to run\n\nEach variant ran %d times on the same rows in the same order (the proxy draws audits, judged "+
			"comparisons and exploration at random); the table above is the first run. Whole route; ranges over the runs; targets met per run.\n\n",
			x.Reports[0].spreads()[0].Repeats)
		b.WriteString("| file | variant | retained | parity after | cost after | ended | retained ≥ floor | estimate | vs static | vs oracle | escalates |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range x.Reports {
			for _, sp := range r.spreads() {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.File.Slug, sp.Variant, sp.Retained, sp.ParityAfter,
					sp.Cost, endsText(sp.Ends), sp.Retain, sp.Est, sp.Hind, sp.Orc, sp.Escal)
			}
		}
	}
	if noise := x.judgeNoise(); noise > 0 {
		fmt.Fprintf(&b, "\nThe simulated judge errs: %.0f %% of its verdicts are drawn at random from `[[A]]`, `[[B]]` and `[[C]]` "+
			"(`-judge-noise %g`), the rest follow the recorded labels; the exact comparer is the proxy's own. A draft is bad only when the "+
			"verifier is preferred in both orders, so the judge's errors mostly make bad drafts look good.\n", noise*100, noise)
	} else {
		b.WriteString("\nThe simulated judge is a perfect one (it follows the recorded labels), so the judged comparisons here are more " +
			"reliable than a real judge's; the exact comparer is the proxy's own. The online figures therefore show the loop with ideal " +
			"judged labels; a real judge's errors add noise to its estimate and threshold (`-judge-noise` simulates them).\n")
	}
	b.WriteString("\nReproducibility: row orders are seeded, offline figures are exact. The proxy draws audits, judged comparisons and " +
		"exploration from its own unseeded random source, so the online figures move between runs (see Run to run).\n")
	b.WriteString("\n## Where the gate still fails, and why\n\n")
	b.WriteString("Generated from the figures above by the same run. `bench/gateresearch/FINDINGS.md` studies the same data offline " +
		"(signals' separating power per source, a simulated controller): read it for why a signal or a route behaves as it does.\n\n")
	if x.Online {
		b.WriteString("### In short\n\n")
		for _, f := range x.summary() {
			fmt.Fprintf(&b, "- %s\n", f)
		}
		b.WriteString("\n### Every miss\n\n")
	}
	for _, f := range x.findings() {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Run time: %.0fs.\n", x.Elapsed.Seconds())
	return b.String()
}

// finalShort is a run's final calibration in a few words.
func finalShort(run *onlineRun) string {
	if !run.HasRoute {
		return "no loop"
	}
	c := run.Final
	if escalatesAll(c) {
		return fmt.Sprintf("escalating everything (%s, %d labels)", orDash(c.Reason), c.Labels)
	}
	if c.Reason == string(calibrate.ColdStart) {
		return fmt.Sprintf("in cold start @%s, %d labels of the %d needed", num3(c.Threshold), c.Labels, routequality.DefaultMinSamples)
	}
	return fmt.Sprintf("%s @%s, %d labels", orDash(c.Reason), num3(c.Threshold), c.Labels)
}

// findings are the honest summary: what failed where, with the figures
// that say why.
func (x *index) findings() []string {
	var out []string
	// Offline: the static gate against random routing and the cost targets.
	for _, r := range x.Reports {
		for _, s := range r.Sources {
			b := r.Base[s]
			st, op, ok := r.operating(s)
			name := fmt.Sprintf("%s %s", r.File.Slug, evaldata.SourceTitle(s))
			rnd := randomRouterCost(b, evaldata.QualityTarget)
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s, static gate: no threshold keeps 95 %% (the draft keeps %.1f %% of the verifier's quality; the oracle needs %.3f).",
					name, 100*b.Draft.QualityRatio, b.Oracle.CostShare))
			case st.CostShare >= 1:
				out = append(out, fmt.Sprintf("%s, static gate: the cheapest threshold keeping 95 %% (%s) costs %.3f, more than the verifier alone: "+
					"the gate does not separate good drafts from bad here (oracle %.3f, random router %.3f).", name, formatThreshold(op.Threshold), st.CostShare, b.Oracle.CostShare, rnd))
			case st.CostShare > rnd:
				out = append(out, fmt.Sprintf("%s, static gate: at 95 %% it costs %.3f, more than a random router (%.3f): the score ranks drafts no better than chance here (oracle %.3f).",
					name, st.CostShare, rnd, b.Oracle.CostShare))
			}
			if c, has := evaldata.CostTargets[s]; has && (!ok || st.CostShare > c) {
				why := ""
				if b.DraftCostShare > c {
					why = fmt.Sprintf("; the draft alone costs %.3f, so no cascade can meet it", b.DraftCostShare)
				} else if b.Oracle.CostShare > c {
					why = fmt.Sprintf("; even the oracle needs %.3f", b.Oracle.CostShare)
				}
				cost := "no threshold"
				if ok {
					cost = fmt.Sprintf("%.3f", st.CostShare)
				}
				out = append(out, fmt.Sprintf("%s: cost target ≤ %.2f at 95 %% missed by the static gate (%s%s).", name, c, cost, why))
			}
		}
	}
	if !x.Online {
		return out
	}
	// Online: is the loop doing anything at all?
	audits, opinions, judged, runs, cold := 0.0, 0.0, 0, 0, 0
	opinionRuns, opinionCalls := 0, 0.0
	for _, r := range x.Reports {
		for _, run := range r.Online.Runs {
			runs++
			for _, row := range run.Rows {
				audits += row.AuditUSD
				opinions += row.OpinionUSD
			}
			judged += run.Verdicts["A"] + run.Verdicts["B"] + run.Verdicts["C"]
			if run.Final.Reason == "" || run.Final.Reason == "cold-start" {
				cold++
			}
			if run.Variant.Opinion {
				opinionRuns++
				for _, row := range run.Rows {
					opinionCalls += row.OpinionUSD
				}
			}
		}
	}
	if audits == 0 {
		out = append(out, "**The proxy made no audit call in any online pass** (no verifier call on a served draft, no judge call): "+
			"with audits configured, the build measured does not run them, so the routes never get labels on accepted drafts.")
	}
	if opinionRuns > 0 && opinionCalls == 0 {
		out = append(out, "**Second opinions were configured but never asked** (no other-model-1 call): the opinion variants measure the same gate as the others.")
	}
	if cold == runs && runs > 0 {
		out = append(out, fmt.Sprintf("Every online pass (%d) ended at the cold start: the threshold never left the configured %.2f, so online figures are the static gate's at the default threshold, learned nothing.", runs, x.Reports[0].DefaultThreshold))
	}
	var runBodies []runBody
	for _, r := range x.Reports {
		for _, t := range r.onlineTables() {
			k := len(t.All) - 1
			var miss []string
			for i, m := range t.Marks {
				g := groupTitle(t.All[i].Group)
				if m.Retained == missed {
					miss = append(miss, fmt.Sprintf("%s retained %.3f < %.2f", g, t.All[i].Retained, evaldata.RetainedFloor))
				}
				if m.CostTarget == missed {
					miss = append(miss, fmt.Sprintf("%s cost %.3f at retained %.3f (target ≤ %.2f at 95 %%)", g, t.After[i].Cost, t.After[i].Retained, evaldata.CostTargets[t.All[i].Group]))
				}
			}
			all, after, m := t.All[k], t.After[k], t.Marks[k]
			if m.Estimate == missed {
				est, truth, realised := routeEstimate(t.Run, after)
				switch {
				case math.IsNaN(est) || !t.Run.HasRoute:
					miss = append(miss, "no estimate from the route")
				case realised:
					miss = append(miss, fmt.Sprintf("realised estimate %.3f (from %d labels) vs parity %.3f delivered", est, t.Run.Final.Labels, truth))
				default:
					miss = append(miss, fmt.Sprintf("estimate %.3f (from %d labels) vs parity %.3f delivered after %d", est, t.Run.Final.Labels, truth, evaldata.WarmUp))
				}
			}
			if m.Hindsight == missed {
				miss = append(miss, fmt.Sprintf("cost after %d %.3f vs best static %.3f (%.2f×)", evaldata.WarmUp, after.Cost, after.Static.Cost, ratio(after.Cost, after.Static.Cost)))
			}
			if m.Oracle == missed {
				miss = append(miss, fmt.Sprintf("cost %.3f at retained %.3f vs oracle %.3f + %.2f", after.Cost, after.Retained, after.Oracle.CostShare, evaldata.OracleMargin))
			}
			if m.Escalates == missed {
				miss = append(miss, fmt.Sprintf("no static threshold saves on this route, but it ended %s instead of escalating everything", finalShort(t.Run)))
			}
			if after.Audit > 0 {
				miss = append(miss, fmt.Sprintf("(audits cost %.3f of always-verifier after %d)", after.Audit, evaldata.WarmUp))
			}
			if after.Opinion > 0 {
				miss = append(miss, fmt.Sprintf("(the opinion alone costs %.3f)", after.Opinion))
			}
			if len(miss) > 0 {
				body := fmt.Sprintf("(retained %.3f, cost after %d %.3f, ended %s): %s.", all.Retained, evaldata.WarmUp, after.Cost, finalShort(t.Run), strings.Join(miss, "; "))
				if n := len(runBodies); n > 0 && runBodies[n-1].file == r.File.Slug && runBodies[n-1].body == body {
					runBodies[n-1].variants = append(runBodies[n-1].variants, t.Run.Variant.Name)
				} else {
					runBodies = append(runBodies, runBody{file: r.File.Slug, body: body, variants: []string{t.Run.Variant.Name}})
				}
			}
		}
	}
	for _, rb := range runBodies {
		out = append(out, fmt.Sprintf("%s, %s %s", rb.file, strings.Join(rb.variants, " and "), rb.body))
	}
	// Sources no static threshold saves on, inside a route shared with others.
	for _, r := range x.Reports {
		if len(r.Sources) < 2 {
			continue
		}
		tables := r.onlineTables()
		for i, src := range r.Sources {
			var parts []string
			for _, t := range tables {
				all, after := t.All[i], t.After[i]
				if !all.Static.VerifierAlone || after.Rows == 0 {
					continue
				}
				parts = append(parts, fmt.Sprintf("%s escalated %s, bypassed %s, cost %.3f, retained %.3f", t.Run.Variant.Name,
					pct(after.Escalation), pct(after.Bypass), after.Cost, after.Retained))
			}
			if len(parts) > 0 {
				out = append(out, fmt.Sprintf("%s %s: no static threshold saves on this source, but one route serves every source of the file "+
					"and cannot escalate this one alone. After %d: %s.", r.File.Slug, evaldata.SourceTitle(src), evaldata.WarmUp, strings.Join(parts, "; ")))
			}
		}
	}
	return out
}

// runBody is a finding shared by consecutive runs of one file (variants
// that behaved the same are listed once).
type runBody struct {
	file, body string
	variants   []string
}

// summary sums the online runs up: how many met each target, how the
// routes ended, and the structural limits the figures show.
func (x *index) summary() []string {
	var ret, est, hind, cost, orc, esc tally
	runs, escalating, cold := 0, 0, 0
	minLabels, maxLabels := math.MaxInt, 0
	trivialEst, escSaves := 0, 0
	escCost, coldRet := span{}, span{}
	calibrated := 0
	calRet, calParity, calEst, calCost, calTh := span{}, span{}, span{}, span{}, span{}
	var opinionShares []string
	var impossible []string
	seenImpossible := map[string]bool{}
	for _, r := range x.Reports {
		// Source cost targets, opinions and the oracle: the first run.
		for _, t := range r.onlineTables() {
			k := len(t.All) - 1
			for i := 0; i < k; i++ {
				cost.count(t.Marks[i].CostTarget)
				g := t.All[i].Group
				if c, ok := evaldata.CostTargets[g]; ok && t.After[i].Oracle.CostShare > c && !seenImpossible[r.File.Slug+g] {
					seenImpossible[r.File.Slug+g] = true
					impossible = append(impossible, fmt.Sprintf("%s %s (oracle %.3f > %.2f)", r.File.Slug, evaldata.SourceTitle(g), t.After[i].Oracle.CostShare, c))
				}
			}
			if t.Run.Variant.Opinion && t.After[k].Opinion > 0 {
				opinionShares = append(opinionShares, fmt.Sprintf("%s, %s: %.3f (the draft: %.3f)", r.File.Slug, t.Run.Variant.Name,
					t.After[k].Opinion, t.After[k].DraftShare))
			}
		}
		// The route-level targets and how routes ended: every repeat.
		for _, reps := range r.Online.Repeats {
			for _, run := range reps {
				runs++
				all, after, m := r.routeFigures(run)
				ret.count(m.Retained)
				est.count(m.Estimate)
				hind.count(m.Hindsight)
				orc.count(m.Oracle)
				esc.count(m.Escalates)
				c := run.Final
				switch {
				case !run.HasRoute:
				case escalatesAll(c):
					escalating++
					escCost.add(after.Cost)
					if !all.Static.VerifierAlone {
						escSaves++
					}
					if e, _, realised := routeEstimate(run, after); m.Estimate == met && !realised && e >= 0.999 {
						trivialEst++
					}
				case c.Reason == string(calibrate.Calibrated):
					calibrated++
					calRet.add(all.Retained)
					calParity.add(after.Parity)
					e, _, _ := routeEstimate(run, after)
					calEst.add(e)
					calCost.add(after.Cost)
					calTh.add(c.Threshold)
				case c.Reason == string(calibrate.ColdStart):
					cold++
					coldRet.add(all.Retained)
					minLabels, maxLabels = min(minLabels, c.Labels), max(maxLabels, c.Labels)
				}
			}
		}
	}
	frac := func(t tally) string { return fmt.Sprintf("%d of %d", t.met, t.of) }
	out := []string{fmt.Sprintf("Targets met, route level over %d online passes (every variant of every file, every repeat): retained ≥ %.2f %s; estimate within ±%.0f points %s; "+
		"cost ≤ %.1f× best static (retained kept) %s; ≤ oracle + %.2f at 95 %% %s; escalates where nothing saves %s. Source cost targets "+
		"(MT-Bench ≤ %.2f, GSM8K ≤ %.2f at 95 %%, first run of each variant): %s.", runs, evaldata.RetainedFloor, frac(ret), 100*evaldata.EstimateTolerance, frac(est),
		evaldata.HindsightRatio, frac(hind), evaldata.OracleMargin, frac(orc), frac(esc), evaldata.CostTargets["mt_bench"], evaldata.CostTargets["gsm8k"], frac(cost))}
	if escalating > 0 {
		line := fmt.Sprintf("%d of %d passes ended escalating everything: the loop certified no threshold at 95 %% with its labels, "+
			"so it sends the verifier alone (and drafts only its explore share). That holds the quality target; after the warm-up those "+
			"passes cost %s of always-verifier (the verifier plus audits and explored drafts), %d of them on routes where a static threshold "+
			"saves in hindsight.", escalating, runs, escCost, escSaves)
		if trivialEst > 0 {
			line += fmt.Sprintf(" Without a realised estimate their estimate is 1.000 by construction (nothing accepted): %d of them meet the "+
				"estimate target that way.", trivialEst)
		}
		out = append(out, line)
	}
	if calibrated > 0 {
		out = append(out, fmt.Sprintf("%d of %d passes ended with a calibrated threshold (%s): retained %s, parity after the warm-up %s, "+
			"the route's own estimate %s, cost after the warm-up %s.", calibrated, runs, calTh, calRet, calParity, calEst, calCost))
	}
	if cold > 0 {
		out = append(out, fmt.Sprintf("%d of %d passes ended still in cold start (%d–%d labels, %d needed): labels come only from audits of "+
			"accepted drafts (rate %.2f, within the audit budget) and compared escalations, too few in %d–%d requests; meanwhile the "+
			"configured threshold %.2f decides (retained %s on those passes).",
			cold, runs, minLabels, maxLabels, routequality.DefaultMinSamples, onlineAuditRate, x.minRows(), x.maxRows(),
			x.Reports[0].DefaultThreshold, coldRet))
	}
	if len(impossible) > 0 {
		out = append(out, "Cost targets no cascade can meet at these prices, since even the oracle (which pays the draft on every row) is above "+
			"them on the rows after the warm-up: "+strings.Join(impossible, ", ")+".")
	}
	if len(opinionShares) > 0 {
		out = append(out, "A second opinion is paid on every drafted request; its share of always-verifier after the warm-up: "+
			strings.Join(opinionShares, "; ")+".")
	}
	return out
}

func (x *index) minRows() int {
	n := math.MaxInt
	for _, r := range x.Reports {
		n = min(n, r.Rows)
	}
	return n
}

func (x *index) maxRows() int {
	n := 0
	for _, r := range x.Reports {
		n = max(n, r.Rows)
	}
	return n
}

// span is the range of some figures, for a summary.
type span struct {
	lo, hi float64
	n      int
}

func (s *span) add(v float64) {
	if math.IsNaN(v) {
		return
	}
	if s.n == 0 || v < s.lo {
		s.lo = v
	}
	if s.n == 0 || v > s.hi {
		s.hi = v
	}
	s.n++
}

func (s span) String() string {
	if s.n == 0 {
		return "—"
	}
	if s.lo == s.hi {
		return fmt.Sprintf("%.3f", s.lo)
	}
	return fmt.Sprintf("%.3f–%.3f", s.lo, s.hi)
}

// judgeNoise is the simulated judge's error rate of the online passes.
func (x *index) judgeNoise() float64 {
	for _, r := range x.Reports {
		if r.Online != nil && r.Online.JudgeNoise > 0 {
			return r.Online.JudgeNoise
		}
	}
	return 0
}
