package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// The online configuration, the same for every file: the quality target,
// the audit rate, the comparer and its judge. The threshold starts at the
// rule's default (cold start "threshold").
const (
	onlineTarget    = evaldata.QualityTarget
	onlineAuditRate = 0.10
)

// onlineVariant is one way of running the quality loop.
type onlineVariant struct {
	Name string
	// Opinion asks other-model-1 for a second opinion on every draft.
	Opinion bool
	// Offline runs a learning pass first (another order) and measures a
	// second pass that starts from the calibration it left.
	Offline bool
}

// variantsFor lists the variants a file can run: with a second opinion
// only when its rows have other models' answers.
func variantsFor(f *fileSetup) []onlineVariant {
	v := []onlineVariant{{Name: "online-learned"}, {Name: "offline-learned", Offline: true}}
	if len(f.Others) > 0 {
		v = append(v, onlineVariant{Name: "online-learned + 1 opinion", Opinion: true},
			onlineVariant{Name: "offline-learned + 1 opinion", Opinion: true, Offline: true})
	}
	return v
}

// onlineRules is the rule of an online pass.
func onlineRules(f *fileSetup, upURL string, v onlineVariant) *rules.Set {
	target, rate := onlineTarget, onlineAuditRate
	o := ruleOptions{Mode: rules.ModeCascade, Quality: &rules.Quality{
		Target:    &target,
		ColdStart: rules.ColdStartThreshold,
		Audit: &rules.Audit{Rate: &rate, Comparer: rules.ComparerAuto,
			Judge: &rules.AuditJudge{Target: rules.Target{Provider: "replay", Model: judgeModel}}, KeepText: samplesOut != ""},
	}}
	if v.Opinion {
		o.SecondOpinion = &rules.SecondOpinion{Targets: []rules.Target{{Provider: "replay", Model: otherModel(0)}}}
	}
	return evalRules(f, upURL, o)
}

// onlineRow is one request of an online pass and everything it cost.
type onlineRow struct {
	Step, Row int
	Source    string
	Outcome   string
	Served    string
	// Drafted says the draft model was called for the row (false: bypassed
	// or skipped).
	Drafted bool
	// Label is the served answer's label; Good says it is at least as good
	// as the verifier's (parity).
	Label, VerifierLabel float64
	Good                 bool
	HeaderUSD            float64
	HasCost              bool
	// AnswerUSD is what answering the client cost (draft, opinions, the
	// verifier when it answered); AuditUSD the calls made only to compare
	// (verifier calls on a served draft, judge calls); OpinionUSD the
	// opinions' part of AnswerUSD; BaselineUSD the verifier alone.
	AnswerUSD, AuditUSD, OpinionUSD, BaselineUSD float64
	// Calls counts the row's upstream calls; Compares those made only to
	// compare (audit verifier calls, judge calls), after the client's answer.
	Calls, Compares int
	// Threshold, Reason, Estimate and Labels are the route's calibration
	// right after the row was answered.
	Threshold float64
	Reason    string
	Estimate  float64
	Labels    int
}

// onlineRun is one variant's measured pass.
type onlineRun struct {
	Variant onlineVariant
	Rows    []onlineRow
	// Final is the route's calibration once every background call ended;
	// HasRoute false when the proxy keeps no quality loop for the rule.
	Final    routequality.Calibration
	HasRoute bool
	Samples  int
	// RouteSpend and RouteAudit are what the route counted during the pass.
	RouteSpend, RouteAudit float64
	// UpstreamUSD is the price of every upstream call of the pass.
	UpstreamUSD float64
	// Unattributed counts calls for rows not sent in the pass.
	Unattributed int
	// AfterLast counts the calls that started after the pass's last answer
	// reached the client: background work the wait caught.
	AfterLast int
	// Verdicts counts the judge's verdicts by letter.
	Verdicts map[string]int
	Drain    time.Duration
	Learning *onlineRun // the learning pass (offline-learned)
}

// onlineReport is a file's online passes.
type onlineReport struct {
	Seed uint64
	// JudgeNoise is the simulated judge's error rate (-judge-noise).
	JudgeNoise float64
	// Runs are the first repeat's passes, one per variant: the tables,
	// plots and CSV show them.
	Runs []*onlineRun
	// Repeats holds, per variant (in Runs' order), every repeat's pass: the
	// same rows in the same order, run again, since the proxy draws audits
	// and exploration at random.
	Repeats [][]*onlineRun
	// Warnings are things to know that are no contradiction (e.g. judge
	// prompts the replay could not read).
	Warnings []string
}

// orderOf is a seeded permutation of n rows; salt separates the files and
// the passes.
func orderOf(n int, seed uint64, salt string) []int {
	h := fnv.New64a()
	io.WriteString(h, salt)
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	return r.Perm(n)
}

// measureOnline runs every variant of f's online mode. base holds the
// offline pass's per-row results (labels, gate scores, costs).
func measureOnline(ctx context.Context, f *fileSetup, seed uint64, repeats int, proxyLog io.Writer, prog *progress, problem func(string, ...any)) (*onlineReport, error) {
	up, err := newReplayUpstream(f.Rows, f.Prices, replayKey)
	if err != nil {
		return nil, err
	}
	upURL, stopUp, err := startUpstream(up)
	if err != nil {
		return nil, err
	}
	defer stopUp()
	up.noise, up.rng = judgeNoise, rand.New(rand.NewPCG(seed, 0x6a75646765))
	rep := &onlineReport{Seed: seed, JudgeNoise: judgeNoise}
	warn := func(format string, a ...any) {
		if len(rep.Warnings) < 30 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf(format, a...))
		}
	}
	measured := orderOf(len(f.Rows), seed, f.Name+"/measured")
	learning := orderOf(len(f.Rows), seed, f.Name+"/learning")
	variants := variantsFor(f)
	rep.Repeats = make([][]*onlineRun, len(variants))
	for k := range max(repeats, 1) {
		for vi, v := range variants {
			run, err := onlineVariantRun(ctx, f, up, upURL, v, measured, learning, fmt.Sprintf("repeat %d/%d", k+1, max(repeats, 1)), proxyLog, prog, problem, warn)
			if err != nil {
				return nil, err
			}
			if k == 0 {
				rep.Runs = append(rep.Runs, run)
			}
			rep.Repeats[vi] = append(rep.Repeats[vi], run)
		}
	}
	return rep, nil
}

// onlineVariantRun runs one variant once on a fresh proxy: a learning pass
// and a restart from its state first when the variant learns offline.
func onlineVariantRun(ctx context.Context, f *fileSetup, up *replayUpstream, upURL string, v onlineVariant, measured, learning []int,
	repeat string, proxyLog io.Writer, prog *progress, problem, warn func(string, ...any)) (*onlineRun, error) {
	set := onlineRules(f, upURL, v)
	px, err := startProxy(ctx, set, quietLogger(proxyLog))
	if err != nil {
		return nil, err
	}
	var learned *onlineRun
	if v.Offline {
		prog.Phase(f.Slug, "online "+repeat+": "+v.Name+" (learning pass)", len(f.Rows))
		learned, err = onlinePass(ctx, f, up, px, learning, v, prog, problem, warn)
		if err != nil {
			px.Close()
			return nil, err
		}
		// A restart with the state file: a new proxy that imports the
		// learning pass's samples and calibrates from them.
		st := px.quality.Export()
		px.Close()
		if px, err = startProxy(ctx, set, quietLogger(proxyLog)); err != nil {
			return nil, err
		}
		if err := px.quality.Import(st); err != nil {
			px.Close()
			return nil, fmt.Errorf("%s: import the learning pass's state: %w", v.Name, err)
		}
	}
	prog.Phase(f.Slug, "online "+repeat+": "+v.Name, len(f.Rows))
	run, err := onlinePass(ctx, f, up, px, measured, v, prog, problem, warn)
	if samplesOut != "" {
		if err := writeSamples(samplesOut, f, v, repeat, px.quality); err != nil {
			warn("samples: %v", err)
		}
	}
	px.Close()
	if err != nil {
		return nil, err
	}
	run.Learning = learned
	return run, nil
}

// routeProbe reads the eval rule's quality loop; ok false when there is
// none. samples is counted only when asked (it copies the route's window).
type routeProbe func(count bool) (cal routequality.Calibration, samples int, spend, audit float64, ok bool)

func probeOf(px *proxyUnderTest) routeProbe {
	return func(count bool) (routequality.Calibration, int, float64, float64, bool) {
		r := px.route()
		if r == nil {
			return routequality.Calibration{}, 0, 0, 0, false
		}
		n := 0
		if count {
			n = len(r.Samples())
		}
		s, a := r.Costs()
		return r.Calibration(), n, s, a, true
	}
}

// onlinePass sends each row once, in order, one at a time, then waits for
// the proxy's background work (audits) to end and prices every call.
func onlinePass(ctx context.Context, f *fileSetup, up *replayUpstream, px *proxyUnderTest, order []int, v onlineVariant,
	prog *progress, problem func(string, ...any), warn func(string, ...any)) (*onlineRun, error) {
	return runOnline(ctx, f, up, px.URL, probeOf(px), order, v, prog, problem, warn)
}

// drainQuiet is how long the upstream and the route must stay still before
// a pass's background work counts as finished; drainPatience replaces it
// while the route holds fewer new samples than rows were drafted (audits
// still to come); drainTimeout bounds the wait.
const (
	drainQuiet    = 400 * time.Millisecond
	drainPatience = 3 * time.Second
	drainTimeout  = 3 * time.Minute
)

// runOnline is onlinePass against any proxy URL and route probe.
func runOnline(ctx context.Context, f *fileSetup, up *replayUpstream, proxyURL string, probe routeProbe, order []int, v onlineVariant,
	prog *progress, problem func(string, ...any), warn func(string, ...any)) (*onlineRun, error) {
	up.take() // forget earlier passes' calls
	_, samples0, spend0, audit0, _ := probe(true)
	transport := &http.Transport{MaxIdleConns: 2, MaxIdleConnsPerHost: 2}
	defer transport.CloseIdleConnections()
	client := openai.NewClient(option.WithBaseURL(proxyURL+"/v1"), option.WithAPIKey("eval-client"),
		option.WithHTTPClient(&http.Client{Transport: transport}),
		option.WithMaxRetries(0), option.WithRequestTimeout(120*time.Second))
	run := &onlineRun{Variant: v, Verdicts: map[string]int{}}
	doneAt := make(map[int]time.Time, len(order))
	for step, i := range order {
		r := &f.Rows[i]
		o := sendRow(ctx, &client, r, false)
		if o.Err != nil {
			return nil, fmt.Errorf("%s: %w", v.Name, o.Err)
		}
		doneAt[i] = time.Now()
		prog.Row()
		if o.Served == servedOther {
			problem("online %s: row %s: the answer returned is neither recorded answer (altered or mixed)", v.Name, r.ID)
		}
		row := onlineRow{Step: step, Row: i, Source: r.Source, Outcome: o.Outcome, Served: o.Served,
			VerifierLabel: r.Verifier.Score, HeaderUSD: o.CostUSD, HasCost: o.HasCost, BaselineUSD: f.verifierUSD(i),
			Threshold: math.NaN(), Estimate: math.NaN()}
		row.Label, row.Good = r.Verifier.Score, true
		if o.Served == servedDraft {
			row.Label, row.Good = r.Draft.Score, r.Draft.Score >= r.Verifier.Score
		}
		if cal, _, _, _, ok := probe(false); ok {
			row.Threshold, row.Reason, row.Estimate, row.Labels = cal.Threshold, cal.Reason, cal.Estimate.Quality, cal.Labels
		}
		run.Rows = append(run.Rows, row)
	}
	start := time.Now()
	if !waitQuiet(ctx, up, probe, samples0) {
		warn("online %s: background calls were still running %s after the last answer; the figures miss them", v.Name, drainTimeout)
	}
	run.Drain = time.Since(start)
	calls, misses, judgeMisses, why := up.takeAll()
	if misses > judgeMisses {
		problem("online %s: the replay upstream got %d request(s) it could not answer from the data, e.g. %q", v.Name, misses-judgeMisses, why)
	}
	if judgeMisses > 0 {
		// The judge's prompt is the comparer's to shape; a prompt the
		// simulation cannot read is the harness's limit, not a contradiction.
		warn("online %s: %d judge prompt(s) the replay could not read (the comparisons failed), e.g. %q", v.Name, judgeMisses, why)
	}
	attribute(run, calls, doneAt)
	if cal, n, spend, audit, ok := probe(true); ok {
		run.HasRoute, run.Final, run.Samples = true, cal, n
		run.RouteSpend, run.RouteAudit = spend-spend0, audit-audit0
	}
	for _, r := range run.Rows {
		if r.HasCost && !near(r.HeaderUSD, r.AnswerUSD) {
			problem("online %s: row %s: x-cascade-cost-usd %.8f, but its draft, opinion and answering verifier calls cost %.8f",
				v.Name, f.Rows[r.Row].ID, r.HeaderUSD, r.AnswerUSD)
		}
	}
	if run.HasRoute && run.RouteSpend+run.RouteAudit > 0 {
		if d := math.Abs(run.RouteSpend + run.RouteAudit - run.UpstreamUSD); d > 1e-6+1e-3*run.UpstreamUSD {
			problem("online %s: the route counted %.6f USD (audits %.6f), the upstream was asked for %.6f USD", v.Name,
				run.RouteSpend+run.RouteAudit, run.RouteAudit, run.UpstreamUSD)
		}
	}
	return run, nil
}

// waitQuiet waits until no upstream call is in flight or has happened, and
// the route's samples and spend have not moved, for drainQuiet. A route that
// records samples gets one per drafted request once its fate is known (an
// audited draft's after the audit): while it holds fewer than the pass
// drafted, the wait needs drainPatience of quiet instead.
func waitQuiet(ctx context.Context, up *replayUpstream, probe routeProbe, samples0 int) bool {
	deadline := time.Now().Add(drainTimeout)
	last, changed := "", time.Now()
	for time.Now().Before(deadline) {
		_, n, spend, audit, _ := probe(true)
		if cur := fmt.Sprint(n, spend, audit); cur != last {
			last, changed = cur, time.Now()
		}
		quiet := drainQuiet
		if n > samples0 && n-samples0 < up.drafts() {
			quiet = drainPatience
		}
		if up.quiet(quiet) && time.Since(changed) >= quiet {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// attribute prices a pass's upstream calls onto its rows: draft and
// opinions answer the client; the first verifier call answers it when the
// client got the verifier's answer, any other verifier call and every judge
// call only compare (audit). A call that started after its row's answer
// reached the client came after the pass's last answer.
func attribute(run *onlineRun, calls []upstreamCall, doneAt map[int]time.Time) {
	byRow := make(map[int]*onlineRow, len(run.Rows))
	for i := range run.Rows {
		byRow[run.Rows[i].Row] = &run.Rows[i]
	}
	answered := map[int]bool{}
	var last time.Time
	for _, t := range doneAt {
		if t.After(last) {
			last = t
		}
	}
	for _, c := range calls {
		if !last.IsZero() && c.Start.After(last) {
			run.AfterLast++
		}
		run.UpstreamUSD += c.USD
		if c.Verdict != "" {
			run.Verdicts[c.Verdict]++
		}
		r, ok := byRow[c.Row]
		if !ok {
			run.Unattributed++
			continue
		}
		r.Calls++
		switch c.Role {
		case roleDraft:
			r.Drafted = true
			r.AnswerUSD += c.USD
		case roleOther:
			r.OpinionUSD += c.USD
			r.AnswerUSD += c.USD
		case roleVerifier:
			if r.Served == servedVerifier && !answered[c.Row] {
				answered[c.Row] = true
				r.AnswerUSD += c.USD
			} else {
				r.AuditUSD += c.USD
				r.Compares++
			}
		default:
			r.AuditUSD += c.USD
			r.Compares++
		}
	}
}

// Escalated and bypassed rows: the verifier answered, after a draft or
// without one.
func (r *onlineRow) escalated() bool { return r.Served == servedVerifier && r.Drafted }
func (r *onlineRow) bypassed() bool  { return r.Served == servedVerifier && !r.Drafted }

// escalatesAll reports whether a calibration escalates every draft.
func escalatesAll(c routequality.Calibration) bool {
	return c.Reason == string(calibrate.EscalateAll) || c.Threshold >= calibrate.Never
}
