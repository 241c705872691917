package cascade_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// auditRig is a rule with a quality loop over fake providers, and an
// Auditor. The verifier answers "#### 72"; the judge prefers whichever
// answer says prefer (or ties).
type auditRig struct {
	*rig
	aud   *cascade.Auditor
	vcost float64 // what the verifier's answer costs
}

func ptrTo[T any](v T) *T { return &v }

// newAuditRig prices the verifier like the draft, so that the audit budget
// (a share of the spend) allows an audit from the first request on; an
// expensive verifier is the built-in price.
func newAuditRig(t *testing.T, edit func(*rules.Quality)) *auditRig {
	return newPricedAuditRig(t, false, edit)
}

func newPricedAuditRig(t *testing.T, expensive bool, edit func(*rules.Quality)) *auditRig {
	t.Helper()
	r := newRig(t, func(s *rules.Rule) {
		s.Quality = &rules.Quality{Audit: &rules.Audit{Rate: ptrTo(1.0), MaxCostShare: ptrTo(1.0)}}
		if !expensive {
			s.Prices = map[string]rules.Price{verifierModel: {Input: 1, Output: 5}}
		}
		if edit != nil {
			edit(s.Quality)
		}
	})
	r.verifier.reply = answers("48 + 24 = 72\n#### 72", fixedUsage)
	r.judge.reply = func(_ context.Context, req *llm.Request) (*llm.Response, error) {
		return answer(req.Model, "Both answers are equivalent. [[C]]", llm.Usage{InputTokens: 500, OutputTokens: 100}), nil
	}
	a := &auditRig{rig: r, aud: &cascade.Auditor{Log: slog.New(slog.DiscardHandler), Metrics: r.m, Pod: "pod-a"}, vcost: draftCost}
	if expensive {
		a.vcost = verifierCost
	}
	t.Cleanup(func() { _ = a.aud.Shutdown(context.Background()) })
	return a
}

func withJudge(q *rules.Quality) {
	q.Audit.Judge = &rules.AuditJudge{Target: rules.Target{Provider: "grader", Model: judgeModel}}
}

func question(stream bool) cascade.Request {
	return cascade.Request{Header: http.Header{"X-Test": {"1"}}, Req: &llm.Request{Model: requested, MaxTokens: 200, Stream: stream,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText,
			Text: "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?"}}}}}}
}

// accepted is the result of an accepted draft saying text, as the engine
// leaves it, and its accounting.
func accepted(text string) (*cascade.Result, cascade.Accounting) {
	d := answer(draftModel, text, fixedUsage)
	res := &cascade.Result{Rule: "r", Outcome: cascade.Accepted, Response: d, DraftResponse: d, Served: draftModel,
		Draft:    &cascade.Call{Model: draftModel, Usage: fixedUsage, End: cascade.CallAnswered},
		Decision: &quality.Decision{Score: 0.8, Accept: true},
		Verdict:  &routequality.Verdict{Score: 0.83, Threshold: 0.5, Accept: true, Features: []float64{1, 2, 3}}, Mass: 1}
	return res, cascade.Accounting{ActualUSD: draftCost, BaselineUSD: verifierCost, SavingsUSD: verifierCost - draftCost, Known: true}
}

// escalated is the result of an escalated draft: the client got the verifier's answer.
func escalated(draftText, verifierText string) (*cascade.Result, cascade.Accounting) {
	res := &cascade.Result{Rule: "r", Outcome: cascade.Escalated, Served: verifierModel,
		DraftResponse: answer(draftModel, draftText, fixedUsage), Response: answer(verifierModel, verifierText, fixedUsage),
		Draft:    &cascade.Call{Model: draftModel, Usage: fixedUsage, End: cascade.CallAnswered},
		Verifier: &cascade.Call{Model: verifierModel, Usage: fixedUsage, End: cascade.CallAnswered},
		Decision: &quality.Decision{Score: 0.3}}
	return res, cascade.Accounting{ActualUSD: draftCost + verifierCost, BaselineUSD: verifierCost, SavingsUSD: -draftCost, Known: true}
}

func (a *auditRig) answered(r cascade.Request, res *cascade.Result, acct cascade.Accounting) {
	a.aud.Answered(a.rule, r, res, acct, nil)
	a.aud.Wait()
}

func (a *auditRig) audits(source, comparer, verdict string) float64 {
	return testutil.ToFloat64(a.m.Audits.WithLabelValues("r", source, comparer, verdict))
}

func TestAuditAcceptedDraft(t *testing.T) {
	cases := []struct {
		name      string
		draft     string
		judge     bool
		labelled  bool
		good      bool
		comparer  string
		judgeCall bool
		disputed  bool
	}{
		{"same final answer", "She sold 48 and 24, so 72 in all.\n#### 72", false, true, true, "exact", false, false},
		{"different final answer, no judge", "She sold 48 and 96, so 144.\n#### 144", false, true, false, "exact", false, false},
		{"different final answer, the judge ties", "She sold 48 and 96, so 144.\n#### 144", true, true, true, "judge", true, true},
		{"no final answer, no judge", "Natalia had a busy spring selling clips to her friends, and May was a quieter month for her.", false, false, false, "exact", false, true},
	}
	for _, c := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(c.name, func(t *testing.T) {
				a := newAuditRig(t, func(q *rules.Quality) {
					if c.judge {
						withJudge(q)
					}
				})
				res, acct := accepted(c.draft)
				a.answered(question(stream), res, acct)
				if got := a.verifier.calls(); len(got) != 1 || got[0] != verifierModel {
					t.Fatalf("verifier calls %v, want one audit call", got)
				}
				if n := len(a.judge.calls()); (n == 2) != c.judgeCall || (n != 0 && n != 2) {
					t.Fatalf("%d judge calls (want both orders: %v)", n, c.judgeCall)
				}
				s := a.rule.Quality.Samples()
				if len(s) != 1 {
					t.Fatalf("%d samples, want 1", len(s))
				}
				got := s[0]
				if got.Labelled != c.labelled || got.Good != c.good || got.LabelProb != 1 || got.Comparer != c.comparer || got.Disputed != c.disputed {
					t.Errorf("sample labelled %v good %v labelProb %v comparer %q disputed %v; want %v %v 1 %q %v", got.Labelled, got.Good, got.LabelProb, got.Comparer, got.Disputed, c.labelled, c.good, c.comparer, c.disputed)
				}
				if got.Outcome != "accepted" || got.Score != 0.83 || len(got.Features) != 3 || got.Mass != 1 || got.Pod != "pod-a" || len(got.RequestHash) != 64 {
					t.Errorf("sample facts: %+v", got)
				}
				wantAudit := a.vcost
				if c.judgeCall {
					wantAudit += 2 * (500*1.0 + 100*1.0) / 1e6
				}
				if math.Abs(got.AuditCost-wantAudit) > 1e-12 || math.Abs(got.DraftCost-draftCost) > 1e-12 || got.VerifierCost != 0 {
					t.Errorf("sample costs draft %v verifier %v audit %v; want %v 0 %v", got.DraftCost, got.VerifierCost, got.AuditCost, draftCost, wantAudit)
				}
				if got.Prompt != "" || got.DraftText != "" || got.VerifierText != "" {
					t.Error("texts kept without keepText")
				}
				spend, auditSpend := a.rule.Quality.Costs()
				if math.Abs(spend-draftCost) > 1e-12 || math.Abs(auditSpend-wantAudit) > 1e-12 {
					t.Errorf("route spend %v audit %v; want %v %v", spend, auditSpend, draftCost, wantAudit)
				}
				if v := testutil.ToFloat64(a.m.AuditCostUSD.WithLabelValues("r")); math.Abs(v-wantAudit) > 1e-12 {
					t.Errorf("audit cost metric %v, want %v", v, wantAudit)
				}
				if v := testutil.ToFloat64(a.m.NetSavingsUSD.WithLabelValues("r")); math.Abs(v-(verifierCost-draftCost-wantAudit)) > 1e-12 {
					t.Errorf("net savings %v, want %v", v, verifierCost-draftCost-wantAudit)
				}
				verdict := "none"
				if c.labelled && c.good {
					verdict = "good"
				} else if c.labelled {
					verdict = "bad"
				}
				if v := a.audits(cascade.SourceAccepted, c.comparer, verdict); v != 1 {
					t.Errorf("audits{accepted,%s,%s} = %v, want 1", c.comparer, verdict, v)
				}
				st := a.aud.Stats()["r"]
				if st.Audits[cascade.SourceAccepted][c.comparer+"/"+verdict] != 1 || math.Abs(st.AuditCostUSD-wantAudit) > 1e-12 {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

func TestAuditKeepsTextOnlyWhenAsked(t *testing.T) {
	a := newAuditRig(t, func(q *rules.Quality) { q.Audit.KeepText = true })
	res, acct := accepted("#### 72")
	a.answered(question(false), res, acct)
	s := a.rule.Quality.Samples()[0]
	if !strings.Contains(s.Prompt, "Natalia sold clips") || s.DraftText != "#### 72" || !strings.Contains(s.VerifierText, "#### 72") {
		t.Errorf("kept texts: prompt %q draft %q verifier %q", s.Prompt, s.DraftText, s.VerifierText)
	}
}

func TestAuditNotDrawnIsAnUnlabelledSample(t *testing.T) {
	a := newAuditRig(t, func(q *rules.Quality) { q.Audit.Rate = ptrTo(0.0); q.Target = ptrTo(0.9) })
	res, acct := accepted("#### 72")
	a.answered(question(false), res, acct)
	if got := a.verifier.calls(); len(got) != 0 {
		t.Fatalf("verifier asked %v without an audit", got)
	}
	s := a.rule.Quality.Samples()
	if len(s) != 1 || s[0].Labelled || s[0].Score != 0.83 {
		t.Fatalf("samples %+v, want one unlabelled", s)
	}
	if v := testutil.ToFloat64(a.m.QualitySamples.WithLabelValues("r", "false")); v != 1 {
		t.Errorf("unlabelled samples metric %v", v)
	}
}

func TestAuditSpendCappedByMaxCostShare(t *testing.T) {
	// An audit (the verifier, 0.02 USD) costs ten drafts (0.002 USD each); at
	// a share of 0.5 one request in twenty can be audited.
	a := newPricedAuditRig(t, true, func(q *rules.Quality) { q.Audit.MaxCostShare = ptrTo(0.5) })
	const n = 100
	for range n {
		res, acct := accepted("#### 72")
		a.answered(question(false), res, acct)
	}
	spend, auditSpend := a.rule.Quality.Costs()
	if auditSpend > 0.5*spend+1e-12 {
		t.Errorf("audit spend %v passes half of the spend %v", auditSpend, spend)
	}
	audits := len(a.verifier.calls())
	if audits != 5 {
		t.Errorf("%d audits, want 5 (one per 20 requests)", audits)
	}
	if v := testutil.ToFloat64(a.m.AuditsSkipped.WithLabelValues("r", cascade.SkipBudget)); v != n-5 {
		t.Errorf("skipped for budget: %v, want %d", v, n-5)
	}
	if math.Abs(auditSpend-float64(audits)*verifierCost) > 1e-12 {
		t.Errorf("audit spend %v, want %d audits' cost", auditSpend, audits)
	}
	if s := a.rule.Quality.Samples(); len(s) != n {
		t.Errorf("%d samples, want one per request", len(s))
	}
}

func TestAuditBudgetHoldsWhileAuditsRun(t *testing.T) {
	// Audits drawn while others are still running see their estimated cost.
	a := newPricedAuditRig(t, true, func(q *rules.Quality) { q.Audit.MaxCostShare = ptrTo(0.5) })
	release := make(chan struct{})
	a.verifier.reply = func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, canceled(ctx)
		}
		return answer(req.Model, "#### 72", fixedUsage), nil
	}
	for range 40 {
		res, acct := accepted("#### 72")
		a.aud.Answered(a.rule, question(false), res, acct, nil)
	}
	close(release)
	a.aud.Wait()
	if n := len(a.verifier.calls()); n != 2 {
		t.Errorf("%d audits over 40 requests while they ran, want 2", n)
	}
	if _, auditSpend := a.rule.Quality.Costs(); math.Abs(auditSpend-2*verifierCost) > 1e-12 {
		t.Errorf("audit spend %v, want the two audits' cost %v", auditSpend, 2*verifierCost)
	}
}

func TestEscalatedDraftComparedWithTheClientsAnswer(t *testing.T) {
	t.Run("exact is free and always labels", func(t *testing.T) {
		a := newAuditRig(t, nil)
		res, acct := escalated("#### 72", "48 + 24 = 72. The answer is 72.")
		a.answered(question(false), res, acct)
		s := a.rule.Quality.Samples()
		if len(s) != 1 || !s[0].Labelled || !s[0].Good || s[0].LabelProb != 1 || s[0].Comparer != "exact" || s[0].Outcome != "escalated" || s[0].Disputed {
			t.Fatalf("samples %+v", s)
		}
		if math.Abs(s[0].VerifierCost-a.vcost) > 1e-12 || s[0].AuditCost != 0 || s[0].Score != 0.3 {
			t.Errorf("costs/score %+v", s[0])
		}
		if len(a.verifier.calls()) != 0 || len(a.judge.calls()) != 0 {
			t.Error("a model was called to compare an escalated draft exactly")
		}
		if v := a.audits(cascade.SourceEscalated, "exact", "good"); v != 1 {
			t.Errorf("audits{escalated,exact,good} = %v", v)
		}
	})
	t.Run("the judge at its rate", func(t *testing.T) {
		a := newAuditRig(t, func(q *rules.Quality) { withJudge(q); q.Audit.JudgeRate = ptrTo(1.0) })
		res, acct := escalated("#### 144", "#### 72")
		a.answered(question(false), res, acct)
		s := a.rule.Quality.Samples()
		if len(s) != 1 || !s[0].Labelled || !s[0].Good || s[0].Comparer != "judge" || s[0].LabelProb != 1 || !s[0].Disputed || s[0].AuditCost <= 0 {
			t.Fatalf("samples %+v", s)
		}
		if len(a.judge.calls()) != 2 {
			t.Errorf("judge calls %v", a.judge.calls())
		}
		if _, auditSpend := a.rule.Quality.Costs(); math.Abs(auditSpend-s[0].AuditCost) > 1e-12 {
			t.Errorf("audit spend %v, want the judge's %v", auditSpend, s[0].AuditCost)
		}
	})
	t.Run("not drawn for the judge: an undecided dispute", func(t *testing.T) {
		a := newAuditRig(t, func(q *rules.Quality) { withJudge(q); q.Audit.JudgeRate = ptrTo(0.0) })
		res, acct := escalated("#### 144", "#### 72")
		a.answered(question(false), res, acct)
		s := a.rule.Quality.Samples()
		if len(s) != 1 || s[0].Labelled || !s[0].Disputed || s[0].LabelProb != 1 || len(a.judge.calls()) != 0 {
			t.Fatalf("samples %+v, judge calls %v", s, a.judge.calls())
		}
	})
	t.Run("differing answers without a judge are bad", func(t *testing.T) {
		a := newAuditRig(t, nil)
		res, acct := escalated("#### 144", "#### 72")
		a.answered(question(false), res, acct)
		if s := a.rule.Quality.Samples(); len(s) != 1 || !s[0].Labelled || s[0].Good || s[0].Disputed {
			t.Fatalf("samples %+v", s)
		}
	})
	t.Run("no final answer and no judge: an undecided dispute", func(t *testing.T) {
		a := newAuditRig(t, nil)
		res, acct := escalated("I am not sure how to approach this.", "#### 72")
		a.answered(question(false), res, acct)
		if s := a.rule.Quality.Samples(); len(s) != 1 || s[0].Labelled || !s[0].Disputed {
			t.Fatalf("samples %+v", s)
		}
	})
	t.Run("the streamed answer the client received", func(t *testing.T) {
		a := newAuditRig(t, nil)
		res, acct := escalated("#### 72", "")
		res.Response = nil // streamed: the server accumulates what it relayed
		a.aud.Answered(a.rule, question(true), res, acct, answer(verifierModel, "#### 73", fixedUsage))
		a.aud.Wait()
		if s := a.rule.Quality.Samples(); len(s) != 1 || !s[0].Labelled || s[0].Good {
			t.Fatalf("samples %+v", s)
		}
	})
	t.Run("an escalated request without a draft answer is no sample", func(t *testing.T) {
		a := newAuditRig(t, nil)
		res, acct := escalated("", "#### 72")
		res.DraftResponse = nil
		a.answered(question(false), res, acct)
		if s := a.rule.Quality.Samples(); len(s) != 0 {
			t.Fatalf("samples %+v", s)
		}
		if spend, _ := a.rule.Quality.Costs(); math.Abs(spend-draftCost-verifierCost) > 1e-12 {
			t.Errorf("spend %v not counted", spend)
		}
	})
}

func TestAuditThroughTheEngine(t *testing.T) {
	a := newAuditRig(t, nil)
	a.draft.reply = answers("48 + 24 = 72, so she sold 72 clips.\n#### 72", fixedUsage)
	res, err := a.run(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != cascade.Accepted {
		t.Fatalf("outcome %s", res.Outcome)
	}
	acct := a.finish(res)
	a.aud.Answered(a.rule, cascade.Request{Req: &llm.Request{Model: requested, Stream: true, MaxTokens: 200,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "q"}}}}}, Header: http.Header{}}, res, acct, nil)
	a.aud.Wait()
	s := a.rule.Quality.Samples()
	if len(s) != 1 || !s[0].Labelled || !s[0].Good {
		t.Fatalf("samples %+v", s)
	}
	if got := a.verifier.calls(); len(got) != 1 {
		t.Fatalf("verifier calls %v", got)
	}
}

func TestAuditSaturatedAndShutdown(t *testing.T) {
	a := newAuditRig(t, nil)
	a.aud.MaxInFlight = 1
	var started atomic.Int32
	a.verifier.reply = func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
		started.Add(1)
		<-ctx.Done()
		return nil, canceled(ctx)
	}
	res, acct := accepted("#### 72")
	a.aud.Answered(a.rule, question(false), res, acct, nil)
	res2, acct2 := accepted("#### 72")
	a.aud.Answered(a.rule, question(false), res2, acct2, nil)
	if v := testutil.ToFloat64(a.m.AuditsSkipped.WithLabelValues("r", cascade.SkipSaturated)); v != 1 {
		t.Errorf("saturated skips %v, want 1", v)
	}
	if s := a.rule.Quality.Samples(); len(s) != 1 || s[0].Labelled {
		t.Errorf("the dropped audit's sample: %+v", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := a.aud.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a hung audit: %v, want the deadline", err)
	}
	if s := a.rule.Quality.Samples(); len(s) != 2 || s[1].Labelled {
		t.Errorf("the canceled audit's sample: %+v", s)
	}
	if v := a.audits(cascade.SourceAccepted, "none", "error"); v != 1 {
		t.Errorf("audits{none,error} = %v", v)
	}
	if _, auditSpend := a.rule.Quality.Costs(); auditSpend != 0 {
		t.Errorf("a canceled audit left %v in the audit spend", auditSpend)
	}
	res3, acct3 := accepted("#### 72")
	a.aud.Answered(a.rule, question(false), res3, acct3, nil)
	if v := testutil.ToFloat64(a.m.AuditsSkipped.WithLabelValues("r", cascade.SkipShutdown)); v != 1 {
		t.Errorf("audits after shutdown skipped %v, want 1", v)
	}
	if started.Load() != 1 {
		t.Errorf("%d verifier calls, want 1", started.Load())
	}
}

func TestRequestHashIgnoresDialectAndHidesText(t *testing.T) {
	a := question(false).Req
	b := question(true).Req
	b.Model = "other"
	if cascade.RequestHash(a) != cascade.RequestHash(b) {
		t.Error("the same messages hash differently")
	}
	c := question(false).Req
	c.System = []llm.Block{{Type: llm.BlockText, Text: "Be brief."}}
	if cascade.RequestHash(a) == cascade.RequestHash(c) {
		t.Error("a different system prompt hashes the same")
	}
	if strings.Contains(cascade.RequestHash(a), "Natalia") || len(cascade.RequestHash(a)) != 64 {
		t.Error("not a SHA-256 hex digest")
	}
}
