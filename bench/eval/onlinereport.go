package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
)

// onlineTable is one run's figures: per group, over every row and after the
// warm-up, with the marks.
type onlineTable struct {
	Run   *onlineRun
	All   []onlineStats // by group (groupsOf)
	After []onlineStats
	Marks []targetMarks
}

// onlineTables computes every run's table.
func (r *report) onlineTables() []onlineTable {
	if r.Online == nil {
		return nil
	}
	var out []onlineTable
	for _, run := range r.Online.Runs {
		t := onlineTable{Run: run}
		for _, g := range groupsOf(r.Sources) {
			all := summarizeOnline(run, r.Results, g, 0)
			after := summarizeOnline(run, r.Results, g, evaldata.WarmUp)
			t.All = append(t.All, all)
			t.After = append(t.After, after)
			t.Marks = append(t.Marks, judge(run, all, after, g == groupAll))
		}
		out = append(out, t)
	}
	return out
}

// groupTitle names a group in reports.
func groupTitle(g string) string {
	if g == groupAll {
		return "all (the route)"
	}
	return evaldata.SourceTitle(g)
}

// pct formats a share as a percentage with one decimal.
func pct(f float64) string {
	if math.IsNaN(f) {
		return "—"
	}
	return strconv.FormatFloat(100*f, 'f', 1, 64) + " %"
}

// num3 formats a figure with 3 decimals, "—" for NaN.
func num3(f float64) string {
	if math.IsNaN(f) {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}

// staticLabel describes a static point.
func staticLabel(p staticPoint) string {
	if p.VerifierAlone {
		return "verifier alone (1.000)"
	}
	if p.Threshold >= 1.01 {
		return fmt.Sprintf("escalate all (%.3f)", p.Cost)
	}
	return fmt.Sprintf("@%.3f (%.3f)", p.Threshold, p.Cost)
}

// finalLabel describes a run's final calibration.
func finalLabel(run *onlineRun) string {
	if !run.HasRoute {
		return "the proxy keeps no quality loop for the rule"
	}
	c := run.Final
	th := num3(c.Threshold)
	if escalatesAll(c) {
		th = "never (escalate all)"
	}
	return fmt.Sprintf("reason %s, threshold %s, estimate at it %s (lower bound %s), realised %s, %d labels of %d samples, target met at the declared confidence: %s",
		orDash(c.Reason), th, num3(c.Estimate.Quality), num3(c.Estimate.Lower), num3(c.Realised.Quality), c.Labels, c.Samples, yesNo(c.Met))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// onlineMarkdown is the online section of a file's results.md.
func (r *report) onlineMarkdown() string {
	if r.Online == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("## Online: the quality loop\n\n")
	fmt.Fprintf(&b, "One rule, the same for every file: `quality: {target: %.2f, coldStart: threshold, audit: {rate: %.2f, comparer: auto, "+
		"judge: {provider: replay, model: judge-model}}}`, threshold left at the default (%s); \"+ 1 opinion\" adds `secondOpinion: "+
		"{targets: [{provider: replay, model: other-model-1}]}` (%s). Rows go in a seeded random order (seed %d), one at a time, each once. "+
		"*online-learned*: a single pass from a cold start. *offline-learned*: a learning pass in another order, then the proxy restarts "+
		"with the learning pass's state (`Registry.Export`/`Import`, as `--quality-state` does) and the measured pass runs in the same order as "+
		"online-learned; only the measured pass is reported.\n\n",
		onlineTarget, onlineAuditRate, formatThreshold(r.DefaultThreshold), otherLabel(r.File), r.Online.Seed)
	b.WriteString("Retained = served answers' mean label / always-verifier's (the offline definition); parity = share of answers at least as " +
		"good as the verifier's (what the route estimates: its estimate is `Calibration.Realised`, the quality its served answers delivered over " +
		"the samples it keeps, compared with the parity of those requests, the learning pass included for offline-learned); cost = every upstream call of the pass, audits and judge calls made after the " +
		"client's answer included (the pass waits for them), over always-verifier; audit and opinion are parts of it. Escalated = the verifier " +
		"answered after a draft; bypassed = the verifier answered without one. Best static = cheapest threshold on the gate's score keeping " +
		"95 % on the same rows in hindsight (or the verifier alone; without a second opinion in every variant); oracle and random router " +
		"(one model per row) at 95 % on the same rows. The judge is simulated from the recorded labels, a perfect judge: a real one errs.\n\n")
	for _, t := range r.onlineTables() {
		run := t.Run
		fmt.Fprintf(&b, "### %s\n\n", run.Variant.Name)
		fmt.Fprintf(&b, "Final calibration: %s. Upstream calls priced: %s USD; the route counted %s USD spend and %s USD audits; "+
			"%d call(s) only to compare (audits, judge), %d of them after the pass's last answer (waited %.1fs for them); judge verdicts A/B/C: %d/%d/%d.\n\n",
			finalLabel(run), usd(run.UpstreamUSD), usd(run.RouteSpend), usd(run.RouteAudit), compareCalls(run), run.AfterLast, run.Drain.Seconds(),
			run.Verdicts["A"], run.Verdicts["B"], run.Verdicts["C"])
		b.WriteString("| group | rows | retained | parity | estimate | cost | audit | opinion | escalated | bypassed | best static | oracle | random |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
		for i, all := range t.All {
			after := t.After[i]
			est := "—"
			if all.Group == groupAll && run.HasRoute {
				e, truth, _ := routeEstimate(run, t.After[i])
				est = fmt.Sprintf("%s (vs %s)", num3(e), num3(truth))
			}
			for _, s := range []onlineStats{all, after} {
				name := groupTitle(s.Group)
				if s.From > 0 {
					name = fmt.Sprintf("↳ after %d", s.From)
				}
				fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, s.Rows, num3(s.Retained), num3(s.Parity),
					est, num3(s.Cost), num3(s.Audit), num3(s.Opinion), pct(s.Escalation), pct(s.Bypass), staticLabel(s.Static),
					num3(s.Oracle.CostShare), num3(s.RandomCost))
			}
		}
		b.WriteString("\n")
		b.WriteString(marksTable(t))
	}
	b.WriteString(r.spreadMarkdown())
	if len(r.Online.Warnings) > 0 {
		b.WriteString("Warnings:\n\n")
		for _, w := range r.Online.Warnings {
			fmt.Fprintf(&b, "- %s\n", w)
		}
		b.WriteString("\n")
	}
	b.WriteString("![online quality, cost and threshold over the pass](online.svg)\n\n")
	b.WriteString("[`online.csv`](online.csv): one line per request of each measured pass (variant, step, row id, source, outcome, served, drafted, " +
		"labels, costs in USD, calls made only to compare, the calibration right after it). [`online-summary.csv`](online-summary.csv): the tables above.\n\n")
	return b.String()
}

// marksTable lists a run's targets per group.
func marksTable(t onlineTable) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| group | retained ≥ %.2f | estimate ±%.0f pts | cost after %d ≤ %.1f× best static, retained ≥ %.2f | source cost target at 95 %% | ≤ oracle + %.2f | escalates where nothing saves |\n",
		evaldata.RetainedFloor, 100*evaldata.EstimateTolerance, evaldata.WarmUp, evaldata.HindsightRatio, evaldata.RetainedFloor, evaldata.OracleMargin)
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for i, m := range t.Marks {
		g := t.All[i].Group
		ct := m.CostTarget.String()
		if c, ok := evaldata.CostTargets[g]; ok {
			ct += fmt.Sprintf(" (≤ %.2f)", c)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", groupTitle(g), m.Retained, m.Estimate, m.Hindsight, ct, m.Oracle, m.Escalates)
	}
	b.WriteString("\n")
	return b.String()
}

func compareCalls(run *onlineRun) int {
	n := 0
	for _, r := range run.Rows {
		n += r.Compares
	}
	return n
}

func usd(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }

// otherLabel names other-model-1 of a file.
func otherLabel(f *fileSetup) string {
	if f == nil || len(f.Others) == 0 {
		return "this file has no other models' answers, so no opinion variant"
	}
	return "other-model-1 is " + shortModel(f.Others[0])
}

// onlineText is the online part of the printed report.
func (r *report) onlineText() string {
	if r.Online == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nonline (target %.2f, audits %.2f, seed %d):\n", onlineTarget, onlineAuditRate, r.Online.Seed)
	fmt.Fprintf(&b, "%-30s %-18s %6s %8s %8s %8s %8s %7s %7s %9s\n", "variant", "group", "rows", "retained", "parity", "cost", "audit", "esc", "bypass", "static")
	for _, t := range r.onlineTables() {
		for i := range t.All {
			for _, s := range []onlineStats{t.All[i], t.After[i]} {
				g := s.Group
				if s.From > 0 {
					g += fmt.Sprintf(" >%d", s.From)
				}
				fmt.Fprintf(&b, "%-30s %-18s %6d %8s %8s %8s %8s %7s %7s %9s\n", t.Run.Variant.Name, g, s.Rows, num3(s.Retained), num3(s.Parity),
					num3(s.Cost), num3(s.Audit), pct(s.Escalation), pct(s.Bypass), num3(s.Static.Cost))
			}
		}
		fmt.Fprintf(&b, "  final: %s\n", finalLabel(t.Run))
	}
	for _, w := range r.Online.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	return b.String()
}

// onlineCSV is online.csv: every request of every measured pass.
func (r *report) onlineCSV() string {
	var b strings.Builder
	b.WriteString("variant,step,row_id,source,outcome,served,drafted,label,verifier_label,good,answer_usd,audit_usd,opinion_usd,baseline_usd,compare_calls,threshold,reason,estimate,labels\n")
	if r.Online == nil {
		return b.String()
	}
	for _, run := range r.Online.Runs {
		for _, x := range run.Rows {
			fmt.Fprintf(&b, "%s,%d,%s,%s,%s,%s,%t,%.4f,%.4f,%t,%.8f,%.8f,%.8f,%.8f,%d,%s,%s,%s,%d\n", run.Variant.Name, x.Step,
				csvField(r.File.Rows[x.Row].ID), x.Source, x.Outcome, x.Served, x.Drafted, x.Label, x.VerifierLabel, x.Good,
				x.AnswerUSD, x.AuditUSD, x.OpinionUSD, x.BaselineUSD, x.Compares, csvNum(x.Threshold), x.Reason, csvNum(x.Estimate), x.Labels)
		}
	}
	return b.String()
}

// onlineSummaryCSV is online-summary.csv: the tables of results.md.
func (r *report) onlineSummaryCSV() string {
	var b strings.Builder
	b.WriteString("variant,group,from_step,rows,retained,parity,estimate,cost_share,audit_share,opinion_share,escalation,bypass," +
		"best_static_threshold,best_static_cost,oracle_cost,random_cost,final_reason,final_threshold," +
		"mark_retained,mark_estimate,mark_hindsight,mark_cost_target,mark_oracle,mark_escalates\n")
	for _, t := range r.onlineTables() {
		for i := range t.All {
			m := t.Marks[i]
			for _, s := range []onlineStats{t.All[i], t.After[i]} {
				est := math.NaN()
				if s.Group == groupAll && t.Run.HasRoute {
					est, _, _ = routeEstimate(t.Run, t.After[i])
				}
				fmt.Fprintf(&b, "%s,%s,%d,%d,%.4f,%.4f,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%s,%.4f,%.4f,%.4f,%s,%s,%s,%s,%s,%s,%s,%s\n",
					t.Run.Variant.Name, s.Group, s.From, s.Rows, s.Retained, s.Parity, csvNum(est), s.Cost, s.Audit, s.Opinion, s.Escalation, s.Bypass,
					csvNum(s.Static.Threshold), s.Static.Cost, s.Oracle.CostShare, s.RandomCost, t.Run.Final.Reason, csvNum(t.Run.Final.Threshold),
					markWord(m.Retained), markWord(m.Estimate), markWord(m.Hindsight), markWord(m.CostTarget), markWord(m.Oracle), markWord(m.Escalates))
			}
		}
	}
	return b.String()
}

func markWord(m mark) string { return [...]string{"na", "met", "missed"}[m] }

func csvNum(f float64) string {
	if math.IsNaN(f) {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// csvField quotes a field when it needs it.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// routeFigures are a pass's figures over the whole route: every row, after
// the warm-up, and the route-level marks.
func (r *report) routeFigures(run *onlineRun) (all, after onlineStats, m targetMarks) {
	all = summarizeOnline(run, r.Results, groupAll, 0)
	after = summarizeOnline(run, r.Results, groupAll, evaldata.WarmUp)
	return all, after, judge(run, all, after, true)
}

// variantSpread sums up every repeat of one variant.
type variantSpread struct {
	Variant                       string
	Repeats                       int
	Retained, ParityAfter, Cost   span
	AuditAfter                    span
	Ends                          map[string]int // final reason → passes
	Retain, Est, Hind, Orc, Escal tally
}

// tally counts the passes a target applies to and those that met it.
type tally struct{ met, of int }

func (t *tally) count(m mark) {
	if m != notApplicable {
		t.of++
		if m == met {
			t.met++
		}
	}
}

func (t tally) String() string {
	if t.of == 0 {
		return "—"
	}
	return fmt.Sprintf("%d/%d", t.met, t.of)
}

// spreads sums up each variant's repeats.
func (r *report) spreads() []variantSpread {
	if r.Online == nil {
		return nil
	}
	var out []variantSpread
	for _, runs := range r.Online.Repeats {
		if len(runs) == 0 {
			continue
		}
		s := variantSpread{Variant: runs[0].Variant.Name, Repeats: len(runs), Ends: map[string]int{}}
		for _, run := range runs {
			all, after, m := r.routeFigures(run)
			s.Retained.add(all.Retained)
			s.ParityAfter.add(after.Parity)
			s.Cost.add(after.Cost)
			s.AuditAfter.add(after.Audit)
			end := "no loop"
			if run.HasRoute {
				end = orDash(run.Final.Reason)
			}
			s.Ends[end]++
			s.Retain.count(m.Retained)
			s.Est.count(m.Estimate)
			s.Hind.count(m.Hindsight)
			s.Orc.count(m.Oracle)
			s.Escal.count(m.Escalates)
		}
		out = append(out, s)
	}
	return out
}

// endsText lists how a variant's repeats ended.
func endsText(ends map[string]int) string {
	keys := make([]string, 0, len(ends))
	for k := range ends {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, ends[k]))
	}
	return strings.Join(parts, ", ")
}

// spreadMarkdown is the repeats table of a file's results.md.
func (r *report) spreadMarkdown() string {
	sp := r.spreads()
	if len(sp) == 0 || sp[0].Repeats < 2 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### Run to run\n\nThe proxy draws audits, judged comparisons and exploration at random (unseeded), so each variant ran %d times "+
		"on the same rows in the same order; the tables above are the first run. Whole route; ranges over the runs; targets met per run.\n\n", sp[0].Repeats)
	b.WriteString("| variant | retained | parity after | cost after | audit after | ended | retained ≥ floor | estimate | vs static | vs oracle | escalates |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sp {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Variant, s.Retained, s.ParityAfter, s.Cost, s.AuditAfter,
			endsText(s.Ends), s.Retain, s.Est, s.Hind, s.Orc, s.Escal)
	}
	b.WriteString("\n")
	return b.String()
}
