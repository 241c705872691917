package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

func TestAttributeSplitsAnswerAndAuditCalls(t *testing.T) {
	t0 := time.Now()
	run := &onlineRun{Verdicts: map[string]int{}, Rows: []onlineRow{
		{Step: 0, Row: 0, Served: servedDraft},    // accepted, audited after the answer
		{Step: 1, Row: 1, Served: servedVerifier}, // escalated
		{Step: 2, Row: 2, Served: servedVerifier}, // bypassed: no draft
	}}
	done := map[int]time.Time{0: t0, 1: t0, 2: t0}
	before, after := t0.Add(-time.Millisecond), t0.Add(time.Millisecond)
	calls := []upstreamCall{
		{Row: 0, Role: roleDraft, USD: 1, Start: before},
		{Row: 0, Role: roleOther, USD: 0.5, Start: before},
		{Row: 0, Role: roleVerifier, USD: 10, Start: after},
		{Row: 0, Role: roleJudge, USD: 12, Start: after, Verdict: "B"},
		{Row: 0, Role: roleJudge, USD: 12, Start: after, Verdict: "A"},
		{Row: 1, Role: roleDraft, USD: 2, Start: before},
		{Row: 1, Role: roleVerifier, USD: 20, Start: before},
		{Row: 1, Role: roleJudge, USD: 25, Start: after, Verdict: "C"},
		{Row: 2, Role: roleVerifier, USD: 30, Start: before},
		{Row: 7, Role: roleDraft, USD: 3, Start: before}, // a row not in the pass
	}
	attribute(run, calls, done)
	want := []struct {
		answer, audit, opinion float64
		compares               int
		esc, byp               bool
	}{
		{1.5, 34, 0.5, 3, false, false},
		{22, 25, 0, 1, true, false},
		{30, 0, 0, 0, false, true},
	}
	for i, w := range want {
		r := run.Rows[i]
		if r.AnswerUSD != w.answer || r.AuditUSD != w.audit || r.OpinionUSD != w.opinion || r.Compares != w.compares || r.escalated() != w.esc || r.bypassed() != w.byp {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
	}
	if run.UpstreamUSD != 115.5 || run.Unattributed != 1 || run.AfterLast != 4 {
		t.Errorf("upstream %v USD, %d unattributed, %d after the last answer; want 115.5, 1 and 4", run.UpstreamUSD, run.Unattributed, run.AfterLast)
	}
	if run.Verdicts["A"] != 1 || run.Verdicts["B"] != 1 || run.Verdicts["C"] != 1 {
		t.Errorf("verdicts %v", run.Verdicts)
	}
}

func TestSummarizeOnlineCountsAuditsInTheCost(t *testing.T) {
	run := &onlineRun{Rows: []onlineRow{
		{Step: 0, Row: 0, Source: "a", Served: servedDraft, Drafted: true, Label: 1, VerifierLabel: 1, Good: true, AnswerUSD: 1, AuditUSD: 10, BaselineUSD: 10},
		{Step: 1, Row: 1, Source: "a", Served: servedVerifier, Drafted: true, Label: 1, VerifierLabel: 1, Good: true, AnswerUSD: 11, BaselineUSD: 10},
		{Step: 2, Row: 2, Source: "b", Served: servedDraft, Drafted: true, Label: 0, VerifierLabel: 1, AnswerUSD: 1, BaselineUSD: 10},
	}}
	results := []rowResult{
		{Source: "a", DraftScore: 1, VerifierScore: 1, Gate: 0.9, DraftUSD: 1, VerifierUSD: 10},
		{Source: "a", DraftScore: 0, VerifierScore: 1, Gate: 0.2, DraftUSD: 1, VerifierUSD: 10},
		{Source: "b", DraftScore: 0, VerifierScore: 1, Gate: 0.8, DraftUSD: 1, VerifierUSD: 10},
	}
	a := summarizeOnline(run, results, "a", 0)
	approx(t, "cost with the audit", a.Cost, 22.0/20)
	approx(t, "audit share", a.Audit, 0.5)
	approx(t, "retained", a.Retained, 1)
	approx(t, "escalation", a.Escalation, 0.5)
	// In hindsight a threshold between 0.2 and 0.9 keeps everything at 12/20.
	if a.Static.VerifierAlone || !near(a.Static.Cost, 0.6) || a.Static.Threshold != 0.9 {
		t.Errorf("best static %+v, want 0.9 at 0.6", a.Static)
	}
	all := summarizeOnline(run, results, groupAll, 1)
	if all.Rows != 2 {
		t.Errorf("after step 1: %d rows, want 2", all.Rows)
	}
	approx(t, "parity after step 1", all.Parity, 0.5)
	b := summarizeOnline(run, results, "b", 0)
	if !b.Static.VerifierAlone {
		t.Errorf("source b: a static threshold %+v keeps 95 %% although the draft is always wrong", b.Static)
	}
	// Route-level marks: b's rows alone would need the verifier everywhere.
	m := judge(&onlineRun{HasRoute: true, Final: routequality.Calibration{Reason: string(calibrate.EscalateAll), Threshold: calibrate.Never,
		Estimate: calibrate.Estimate{Quality: 0.5}}}, b, b, true)
	if m.Escalates != met || m.Retained != missed || m.Estimate != missed {
		t.Errorf("marks %+v", m)
	}
}

// fakeQualityProxy answers every request with the draft at once and audits
// one row in the background, long after the answer: a verifier call and a
// judge call, then the sample. It counts samples and spend like a route.
type fakeQualityProxy struct {
	upstream string
	auditRow string // the row id whose draft is audited
	delay    time.Duration
	f        *fileSetup

	mu           sync.Mutex
	samples      int
	spend, audit float64
	wg           sync.WaitGroup
}

func (p *fakeQualityProxy) call(model string, msgs []evaldata.Message) (string, error) {
	body, _ := json.Marshal(map[string]any{"model": model, "messages": msgs})
	req, _ := http.NewRequest(http.MethodPost, p.upstream+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+replayKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("%s: HTTP %d %s", model, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	return out.Choices[0].Message.Content, nil
}

func (p *fakeQualityProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	msgs, _ := req.messages()
	draft, err := p.call(draftModel, msgs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var row int
	for i := range p.f.Rows {
		if promptKey(p.f.Rows[i].Messages) == promptKey(msgs) {
			row = i
		}
	}
	cost := p.f.draftUSD(row)
	p.mu.Lock()
	p.spend += cost
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Cascade-Outcome", outcomeAccepted)
	w.Header().Set("X-Cascade-Cost-Usd", fmt.Sprintf("%.8f", cost))
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "created": 0, "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": draft}, "finish_reason": "stop"}},
		"usage":   map[string]int{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
	if p.f.Rows[row].ID != p.auditRow {
		p.mu.Lock()
		p.samples++
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		time.Sleep(p.delay)
		ver, err := p.call(verifierModel, msgs)
		if err != nil {
			panic(err)
		}
		system, user := audit.PairwisePrompt("[user]\n"+msgs[len(msgs)-1].Content, draft, ver)
		if _, err := p.call(judgeModel, []evaldata.Message{{Role: "system", Content: system}, {Role: "user", Content: user}}); err != nil {
			panic(err)
		}
		p.mu.Lock()
		p.samples++
		p.audit += p.f.verifierUSD(row) + judgeUSDFor(p.f, system, user, draft, ver)
		p.mu.Unlock()
	}()
}

// judgeUSDFor prices the simulated judge's call on the judge's prompt.
func judgeUSDFor(f *fileSetup, system, user, first, second string) float64 {
	in := evaldata.PromptTokens([]evaldata.Message{{Content: system}, {Content: user}})
	reply := fmt.Sprintf("Replay judge: assistant A's answer is labelled %.3f, assistant B's %.3f. [[%s]]", 0.0, 1.0, "B")
	return priceOf(f.Prices[judgeModel], in, evaldata.EstimateTokens(reply))
}

func (p *fakeQualityProxy) probe(bool) (routequality.Calibration, int, float64, float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return routequality.Calibration{Reason: string(calibrate.Calibrated), Threshold: 0.5, Estimate: calibrate.Estimate{Quality: 0.97}}, p.samples, p.spend, p.audit, true
}

func TestOnlinePassWaitsForAndPricesLateAudits(t *testing.T) {
	second := opinionRow
	second.ID = "math-2"
	second.Messages = []evaldata.Message{{Role: "user", Content: "What is 5 times 5? Answer in JSON."}}
	second.Draft.Text, second.Verifier.Text = `{"answer": "25"}`, `{"answer": "25.0"}`
	f, err := newFileSetup("online.jsonl", []evaldata.Row{opinionRow, second}, evaldata.Prices)
	if err != nil {
		t.Fatal(err)
	}
	up, err := newReplayUpstream(f.Rows, f.Prices, replayKey)
	if err != nil {
		t.Fatal(err)
	}
	upURL, stop, err := startUpstream(up)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// The audit comes well after drainQuiet: only the wait for the route's
	// missing sample catches it.
	px := &fakeQualityProxy{upstream: upURL, auditRow: opinionRow.ID, delay: drainQuiet + 500*time.Millisecond, f: f}
	srv := httptest.NewServer(px)
	defer srv.Close()
	var problems, warnings []string
	problem := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	warn := func(format string, a ...any) { warnings = append(warnings, fmt.Sprintf(format, a...)) }

	run, err := runOnline(context.Background(), f, up, srv.URL, px.probe, []int{1, 0}, onlineVariant{Name: "test"}, nil, problem, warn)
	if err != nil {
		t.Fatal(err)
	}
	px.wg.Wait()
	if len(problems) > 0 || len(warnings) > 0 {
		t.Fatalf("problems %q, warnings %q", problems, warnings)
	}
	if len(run.Rows) != 2 || run.Rows[0].Row != 1 || run.Rows[1].Row != 0 {
		t.Fatalf("rows not in the order given: %+v", run.Rows)
	}
	audited := run.Rows[1]
	_, user := audit.PairwisePrompt("[user]\n"+opinionRow.Messages[0].Content, opinionRow.Draft.Text, opinionRow.Verifier.Text)
	system, _ := audit.PairwisePrompt("", "", "")
	wantAudit := f.verifierUSD(0) + judgeUSDFor(f, system, user, "", "")
	if !near(audited.AuditUSD, wantAudit) || audited.Compares != 2 || audited.Calls != 3 || run.AfterLast != 2 {
		t.Errorf("audited row: audit %.10f USD, %d compare calls of %d, %d after the last answer; want %.10f, 2 of 3, 2",
			audited.AuditUSD, audited.Compares, audited.Calls, run.AfterLast, wantAudit)
	}
	if r := run.Rows[0]; r.AuditUSD != 0 || r.Compares != 0 || !near(r.AnswerUSD, f.draftUSD(1)) {
		t.Errorf("unaudited row: %+v", r)
	}
	if run.Verdicts["B"] != 1 {
		t.Errorf("verdicts %v: the draft (label 0) shown first against the verifier (1) is B", run.Verdicts)
	}
	total := f.draftUSD(0) + f.draftUSD(1) + wantAudit
	if !near(run.UpstreamUSD, total) || math.Abs(run.RouteSpend+run.RouteAudit-total) > 1e-9 {
		t.Errorf("upstream %.10f, route %.10f + %.10f; want %.10f", run.UpstreamUSD, run.RouteSpend, run.RouteAudit, total)
	}
	if run.Drain < px.delay-drainQuiet {
		t.Errorf("waited %v for background calls, the audit came after %v", run.Drain, px.delay)
	}
	results := []rowResult{
		{Source: "math", DraftScore: 0, VerifierScore: 1, Gate: 0.9, DraftUSD: f.draftUSD(0), VerifierUSD: f.verifierUSD(0)},
		{Source: "math", DraftScore: 0, VerifierScore: 1, Gate: 0.9, DraftUSD: f.draftUSD(1), VerifierUSD: f.verifierUSD(1)},
	}
	s := summarizeOnline(run, results, groupAll, 0)
	approx(t, "cost share with the late audit", s.Cost, total/(f.verifierUSD(0)+f.verifierUSD(1)))
	approx(t, "audit share", s.Audit, wantAudit/(f.verifierUSD(0)+f.verifierUSD(1)))
	if s.Compares != 2 {
		t.Errorf("%d compare calls, want 2", s.Compares)
	}
	if !strings.Contains(finalLabel(run), "calibrated") {
		t.Errorf("final calibration %q", finalLabel(run))
	}
}

func TestOrderIsSeededAndSalted(t *testing.T) {
	a, b := orderOf(50, 1, "x"), orderOf(50, 1, "x")
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("the same seed and salt gave two orders")
	}
	if fmt.Sprint(a) == fmt.Sprint(orderOf(50, 1, "y")) || fmt.Sprint(a) == fmt.Sprint(orderOf(50, 2, "x")) {
		t.Error("another salt or seed gave the same order")
	}
	seen := map[int]bool{}
	for _, i := range a {
		seen[i] = true
	}
	if len(seen) != 50 {
		t.Errorf("not a permutation: %v", a)
	}
}

func TestRandomRouterCost(t *testing.T) {
	b := baselines{Draft: strategy{Quality: 0.5}, Verifier: strategy{Quality: 1}, DraftCostShare: 0.1}
	// 95 % of 1 from 0.5 and 1: e = 0.9; cost 0.1·0.1 + 0.9 = 0.91.
	approx(t, "random router at 95 %", randomRouterCost(b, 0.95), 0.91)
	b.Draft.Quality = 0.97
	approx(t, "draft alone enough", randomRouterCost(b, 0.95), 0.1)
}

func TestHindsightNeedsTheQualityToo(t *testing.T) {
	cheap := onlineStats{Group: "a", Rows: 10, Retained: 0.90, Cost: 0.2, Static: staticPoint{Cost: 0.5}, Oracle: strategy{CostShare: 0.3}}
	m := judge(&onlineRun{}, cheap, cheap, false)
	if m.Hindsight != missed || m.Retained != missed || m.Oracle != missed {
		t.Errorf("a cheap route that lost quality: %+v", m)
	}
	good := cheap
	good.Retained = 0.96
	m = judge(&onlineRun{}, good, good, false)
	if m.Hindsight != met || m.Retained != met || m.Oracle != met || m.Estimate != notApplicable || m.Escalates != notApplicable {
		t.Errorf("a route within every bound: %+v", m)
	}
}

func TestOnlineRulesAreOneConfigurationForEveryFile(t *testing.T) {
	withOthers, err := newFileSetup("o.jsonl", []evaldata.Row{opinionRow}, evaldata.Prices)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := newFileSetup("p.jsonl", []evaldata.Row{greetingRow}, evaldata.Prices)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(variantsFor(plain)); n != 2 {
		t.Errorf("a file without other models runs %d variants, want 2", n)
	}
	vs := variantsFor(withOthers)
	if len(vs) != 4 {
		t.Fatalf("a file with other models runs %d variants, want 4", len(vs))
	}
	for _, f := range []*fileSetup{plain, withOthers} {
		for _, v := range variantsFor(f) {
			r := onlineRules(f, "http://127.0.0.1:1", v).Rules[0]
			q := r.Quality
			if q == nil || *q.Target != 0.95 || r.Threshold != nil || q.ColdStart != "threshold" ||
				q.Audit == nil || *q.Audit.Rate < 0.05 || *q.Audit.Rate > 0.10 || q.Audit.Comparer != "auto" || q.Audit.Judge.Model != judgeModel {
				t.Errorf("%s %s: quality %+v", f.Name, v.Name, q)
			}
			if v.Opinion != (r.SecondOpinion != nil) || (v.Opinion && r.SecondOpinion.Targets[0].Model != otherModel(0)) {
				t.Errorf("%s %s: second opinion %+v", f.Name, v.Name, r.SecondOpinion)
			}
			if p, ok := r.Prices[judgeModel]; !ok || p != r.Prices[verifierModel] {
				t.Errorf("%s: the judge is priced %+v, the verifier %+v", f.Name, p, r.Prices[verifierModel])
			}
		}
	}
}

func TestSpanSkipsUnknownFigures(t *testing.T) {
	var s span
	if s.String() != "—" {
		t.Errorf("empty span %q", s)
	}
	s.add(math.NaN())
	s.add(0.5)
	s.add(0.25)
	if s.String() != "0.250–0.500" {
		t.Errorf("span %q, want 0.250–0.500", s)
	}
}

func TestRouteEstimateIsHeldToTheRequestsItCovers(t *testing.T) {
	rows := func(good ...bool) []onlineRow {
		var out []onlineRow
		for i, g := range good {
			out = append(out, onlineRow{Step: i, Good: g})
		}
		return out
	}
	learning := &onlineRun{Rows: rows(true, true, true, true)}
	run := &onlineRun{HasRoute: true, Rows: rows(true, false, true, false), Learning: learning,
		Final: routequality.Calibration{Samples: 8, Realised: calibrate.Estimate{Quality: 0.74}, Estimate: calibrate.Estimate{Quality: 1}}}
	after := onlineStats{Rows: 2, Parity: 0.5}
	est, truth, realised := routeEstimate(run, after)
	// The samples cover both passes: 6 good of 8.
	if !realised || est != 0.74 || truth != 0.75 {
		t.Errorf("realised: %v, %v, %v; want 0.74 against 0.75", est, truth, realised)
	}
	if m := judge(run, onlineStats{Group: groupAll, Rows: 4}, after, true); m.Estimate != met {
		t.Errorf("a realised estimate 1 point off is marked %v", m.Estimate)
	}
	run.Final.Samples = 0 // no realised estimate: the estimate at the threshold against the parity after the warm-up
	est, truth, realised = routeEstimate(run, after)
	if realised || est != 1 || truth != 0.5 {
		t.Errorf("fallback: %v, %v, %v; want 1 against 0.5", est, truth, realised)
	}
}
