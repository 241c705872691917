package cascade_test

import (
	"context"
	"math"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/logistic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tokencount"
)

// Second opinions run on the same in-memory providers and virtual clock as
// the engine's other tests: "exactly 4s" means exactly.

const (
	// draftText passes the gate (threshold 0.5) and states a final answer.
	draftText    = "Paris is the capital of France. It has been the seat of the French government for centuries.\n\nThe answer is Paris."
	agreeText    = "The answer is Paris."
	disagreeText = "The answer is Lyon."
)

var (
	peerUsage = llm.Usage{InputTokens: 400, OutputTokens: 30}
	peerCost  = (400*0.5 + 30*2.0) / 1e6
)

// withOpinions asks one second opinion (of peerModel) per provider name,
// waited for at most wait once the draft is ready.
func withOpinions(wait time.Duration, providers ...string) func(*rules.Rule) {
	return func(s *rules.Rule) {
		so := &rules.SecondOpinion{Timeout: rules.Duration{Duration: wait}}
		for _, p := range providers {
			so.Targets = append(so.Targets, rules.Target{Provider: p, Model: peerModel})
		}
		s.SecondOpinion = so
	}
}

// after answers text with usage once d has passed, or fails when the call's
// context ends first (reporting it on ended, when given).
func after(d time.Duration, text string, usage llm.Usage, ended chan<- error) func(context.Context, *llm.Request) (*llm.Response, error) {
	return func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
		select {
		case <-time.After(d):
			return answer(req.Model, text, usage), nil
		case <-ctx.Done():
			if ended != nil {
				ended <- ctx.Err()
			}
			return nil, canceled(ctx)
		}
	}
}

// learnedRoute puts a learned score in effect on the rig's route: the gate's
// score (as a logit), plus 3 when the opinions agree, minus 8 when all that
// were compared disagree; threshold 0.5.
func learnedRoute(r *rig) {
	names := routequality.FeatureNames()
	w := make([]float64, len(names))
	for i, n := range names {
		switch n {
		case "prior":
			w[i] = 1
		case "agree":
			w[i] = 3
		case "none_agree":
			w[i] = -8
		}
	}
	r.rule.Quality.SetCalibration(routequality.Calibration{Threshold: 0.5, Reason: string(calibrate.Calibrated),
		Model: &routequality.Model{Features: names, Model: logistic.Model{Weights: w}}})
}

// stageCount is the number of observations of a stage for an outcome.
func stageCount(t *testing.T, r *rig, stage string, outcome cascade.Outcome) uint64 {
	t.Helper()
	var m dto.Metric
	o, err := r.m.StageDuration.GetMetricWithLabelValues(stage, string(outcome))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

// A slow opinion is dropped once the wait has passed after the draft was
// ready: the verdict comes exactly then, the dropped call is canceled and
// billed at its estimated input, the one that answered is compared.
func TestSlowOpinionDroppedAtBudget(t *testing.T) {
	both(t, func(t *testing.T, stream bool) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t, withOpinions(3*time.Second, "peer-a", "peer-b"))
			r.draft.reply = after(time.Second, draftText, fixedUsage, nil)
			r.peerA.reply = after(500*time.Millisecond, agreeText, peerUsage, nil)
			slowEnded := make(chan error, 1)
			r.peerB.reply = after(time.Minute, agreeText, peerUsage, slowEnded)

			start := time.Now()
			res, err := r.run(context.Background(), stream)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took != 4*time.Second {
				t.Errorf("verdict after %s, want exactly 4s (draft 1s + 3s wait)", took)
			}
			if err := <-slowEnded; err == nil {
				t.Error("the dropped opinion's call was not canceled")
			}
			if res.Outcome != cascade.Accepted || res.Verdict == nil || !res.Verdict.Accept || res.Response == nil {
				t.Fatalf("outcome %s, verdict %+v", res.Outcome, res.Verdict)
			}
			if res.DraftResponse == nil || res.DraftResponse.Text() != draftText {
				t.Fatalf("draft response %v", res.DraftResponse)
			}
			want := routequality.Agreement{Asked: 2, Compared: 1, Agree: 1, DraftAnswer: true}
			if res.Agreement != want {
				t.Errorf("agreement %+v, want %+v", res.Agreement, want)
			}
			if len(res.Opinions) != 2 {
				t.Fatalf("opinions %v", res.Opinions)
			}
			a, b := res.Opinions[0], res.Opinions[1]
			if a.Provider != "peer-a" || a.Model != peerModel || a.End != cascade.CallAnswered || a.Usage != peerUsage || a.Took != 500*time.Millisecond {
				t.Errorf("answered opinion %+v", a)
			}
			reqs, streamed := r.peerB.requests()
			if len(reqs) != 1 || streamed != 0 {
				t.Fatalf("peer-b got %d requests, %d streamed", len(reqs), streamed)
			}
			estimate := tokencount.Estimate(reqs[0])
			if b.End != cascade.CallDropped || b.Usage != (llm.Usage{InputTokens: estimate}) || b.Took != 4*time.Second || estimate <= 0 {
				t.Errorf("dropped opinion %+v, want dropped after 4s with %d estimated input tokens", b, estimate)
			}

			acct := r.finish(res)
			dropped := float64(estimate) * 0.5 / 1e6
			wantCost := draftCost + peerCost + dropped
			base, _ := testPrices.EstimateBaseline(verifierModel, fixedUsage)
			if !acct.Known || !near(acct.ActualUSD, wantCost) || !near(acct.BaselineUSD, base) || !near(acct.SavingsUSD, base-wantCost) {
				t.Fatalf("accounting %+v, want cost %v (draft %v + opinions %v), baseline %v", acct, wantCost, draftCost, peerCost+dropped, base)
			}
			if got := testutil.ToFloat64(r.m.CostUSD.WithLabelValues("r", peerModel)); !near(got, peerCost+dropped) {
				t.Errorf("cost{%s} = %v, want %v", peerModel, got, peerCost+dropped)
			}
			if got := testutil.ToFloat64(r.m.Tokens.WithLabelValues(peerModel, "input")); got != float64(400+estimate) {
				t.Errorf("tokens{%s,input} = %v", peerModel, got)
			}
			for end, n := range map[cascade.CallEnd]float64{cascade.CallAnswered: 1, cascade.CallDropped: 1} {
				if got := testutil.ToFloat64(r.m.SecondOpinions.WithLabelValues("r", string(end))); got != n {
					t.Errorf("second opinions{%s} = %v, want %v", end, got, n)
				}
			}
			if n := stageCount(t, r, "opinion", cascade.Accepted); n != 2 {
				t.Errorf("opinion stage observed %d times, want 2", n)
			}
			st := r.eng.Recorder.Stats()
			if len(st) != 1 || !near(st[0].CostUSD, wantCost) ||
				!reflect.DeepEqual(st[0].SecondOpinions, map[cascade.CallEnd]int64{cascade.CallAnswered: 1, cascade.CallDropped: 1}) {
				t.Errorf("stats %+v", st)
			}
		})
	})
}

// The wait is a bound, not a delay: opinions that are all in end it.
func TestVerdictWaitsOnlyForPendingOpinions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opinionIn time.Duration
		want      time.Duration
	}{
		{"opinion before the draft", 200 * time.Millisecond, time.Second},
		{"opinion within the wait", 2 * time.Second, 2 * time.Second},
		{"opinion just past the wait", 4*time.Second + time.Millisecond, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, withOpinions(3*time.Second, "peer-a"))
				r.draft.reply = after(time.Second, draftText, fixedUsage, nil)
				r.peerA.reply = after(tc.opinionIn, agreeText, peerUsage, nil)
				start := time.Now()
				res, err := r.run(context.Background(), false)
				if err != nil {
					t.Fatal(err)
				}
				if took := time.Since(start); took != tc.want {
					t.Errorf("verdict after %s, want %s", took, tc.want)
				}
				answered := tc.opinionIn <= 4*time.Second
				if got := res.Opinions[0].End == cascade.CallAnswered; got != answered {
					t.Errorf("opinion ended %s", res.Opinions[0].End)
				}
				if res.OpinionWait != tc.want-time.Second {
					t.Errorf("opinion wait %s, want %s", res.OpinionWait, tc.want-time.Second)
				}
				r.finish(res)
			})
		})
	}
}

// A failing opinion is ignored: not compared, counted as an upstream error
// of its provider, costing nothing.
func TestFailingOpinionIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withOpinions(time.Second, "peer-a", "peer-b"))
		r.draft.reply = answers(draftText, fixedUsage)
		r.peerA.reply = fails(llm.ErrOverloaded)
		r.peerB.reply = answers(agreeText, peerUsage)
		res, err := r.run(context.Background(), false)
		if err != nil || res.Outcome != cascade.Accepted {
			t.Fatalf("err %v, outcome %s", err, res.Outcome)
		}
		if res.Opinions[0].End != cascade.CallFailed || res.Opinions[1].End != cascade.CallAnswered {
			t.Fatalf("opinions ended %s, %s", res.Opinions[0].End, res.Opinions[1].End)
		}
		if want := (routequality.Agreement{Asked: 2, Compared: 1, Agree: 1, DraftAnswer: true}); res.Agreement != want {
			t.Errorf("agreement %+v, want %+v", res.Agreement, want)
		}
		acct := r.finish(res)
		if !acct.Known || !near(acct.ActualUSD, draftCost+peerCost) {
			t.Errorf("accounting %+v, want %v", acct, draftCost+peerCost)
		}
		if got := r.upstreamErrors("peer-a", llm.ErrOverloaded); got != 1 {
			t.Errorf("upstream errors{peer-a,overloaded} = %v", got)
		}
		if got := testutil.ToFloat64(r.m.SecondOpinions.WithLabelValues("r", "failed")); got != 1 {
			t.Errorf("second opinions{failed} = %v", got)
		}
	})
}

// With a learned score that weighs agreement, a disagreeing opinion
// escalates a draft the gate alone accepts, and an agreeing one lets it
// through. A streaming client gets the escalation as the verifier's live
// stream and the accepted draft as a buffered answer; opinions are never
// streamed.
func TestOpinionsDecideWithLearnedScore(t *testing.T) {
	both(t, func(t *testing.T, stream bool) {
		for _, tc := range []struct {
			name    string
			opinion string
			outcome cascade.Outcome
			agree   int
		}{
			{"disagree", disagreeText, cascade.Escalated, 0},
			{"agree", agreeText, cascade.Accepted, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					r := newRig(t, withOpinions(time.Second, "peer-a"))
					learnedRoute(r)
					r.draft.reply = answers(draftText, fixedUsage)
					r.peerA.reply = answers(tc.opinion, peerUsage)
					res, err := r.run(context.Background(), stream)
					if err != nil {
						t.Fatal(err)
					}
					if !res.Decision.Accept {
						t.Fatalf("the gate alone rejects the draft (score %v): the test proves nothing", res.Decision.Score)
					}
					if res.Outcome != tc.outcome || res.Verdict == nil || res.Verdict.Accept != (tc.outcome == cascade.Accepted) {
						t.Fatalf("outcome %s, verdict %+v; want %s", res.Outcome, res.Verdict, tc.outcome)
					}
					if want := (routequality.Agreement{Asked: 1, Compared: 1, Agree: tc.agree, DraftAnswer: true}); res.Agreement != want {
						t.Errorf("agreement %+v, want %+v", res.Agreement, want)
					}
					if res.DraftResponse == nil || res.DraftResponse.Text() != draftText {
						t.Errorf("draft response %v", res.DraftResponse)
					}
					if reqs, streamed := r.peerA.requests(); len(reqs) != 1 || streamed != 0 || reqs[0].Stream || reqs[0].MaxTokens != 200 {
						t.Errorf("opinion requests %+v, %d streamed; want one, not streamed, max_tokens 200", reqs, streamed)
					}
					escalated := tc.outcome == cascade.Escalated
					if got := len(r.verifier.calls()); got != map[bool]int{true: 1, false: 0}[escalated] {
						t.Errorf("verifier called %d times", got)
					}
					if stream && escalated != (res.Stream != nil) {
						t.Errorf("stream %v for outcome %s", res.Stream, res.Outcome)
					}
					acct := r.finish(res)
					want := draftCost + peerCost
					if escalated {
						want += verifierCost
					}
					if !acct.Known || !near(acct.ActualUSD, want) {
						t.Errorf("accounting %+v, want cost %v", acct, want)
					}
					if escalated && (!near(acct.BaselineUSD, verifierCost) || !near(acct.SavingsUSD, verifierCost-want)) {
						t.Errorf("accounting %+v: the baseline is the verifier alone (%v)", acct, verifierCost)
					}
				})
			})
		}
	})
}

// A rule whose loop escalates everything (cold start "verifier", no
// exploration) sends the request to the verifier alone: no draft, no
// opinions, outcome bypassed.
func TestBypassSendsVerifierAlone(t *testing.T) {
	both(t, func(t *testing.T, stream bool) {
		target, explore := 0.9, 0.0
		r := newRig(t, func(s *rules.Rule) {
			withOpinions(time.Second, "peer-a")(s)
			s.Quality = &rules.Quality{Target: &target, ColdStart: rules.ColdStartVerifier, Explore: &explore}
		})
		res, err := r.run(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != cascade.Bypassed || res.Mass != 1 || res.Draft != nil || res.Opinions != nil || res.Verdict != nil {
			t.Fatalf("outcome %s, mass %v, draft %v, opinions %v, verdict %v", res.Outcome, res.Mass, res.Draft, res.Opinions, res.Verdict)
		}
		if d, p, v := len(r.draft.calls()), len(r.peerA.calls()), len(r.verifier.calls()); d != 0 || p != 0 || v != 1 {
			t.Fatalf("calls: draft %d, opinion %d, verifier %d", d, p, v)
		}
		if stream != (res.Stream != nil) {
			t.Fatalf("stream %v", res.Stream)
		}
		acct := r.finish(res)
		if res.Outcome != cascade.Bypassed || !acct.Known || !near(acct.ActualUSD, verifierCost) || acct.SavingsUSD != 0 {
			t.Fatalf("settled %s with %+v", res.Outcome, acct)
		}
		if r.requests(cascade.Bypassed) != 1 {
			t.Errorf("requests{bypassed} = %v", r.requests(cascade.Bypassed))
		}
		if n := stageCount(t, r, "verifier", cascade.Bypassed); n != 1 {
			t.Errorf("verifier stage observed %d times", n)
		}
	})
}

// While escalating everything, the explored share is drafted (and its
// opinions asked) but escalated; its sample stands for 1/explore requests.
func TestExploredDraftIsEscalated(t *testing.T) {
	target, explore := 0.9, 1.0
	r := newRig(t, func(s *rules.Rule) {
		withOpinions(time.Second, "peer-a")(s)
		s.Quality = &rules.Quality{Target: &target, ColdStart: rules.ColdStartVerifier, Explore: &explore}
	})
	r.draft.reply = answers(draftText, fixedUsage)
	r.peerA.reply = answers(agreeText, peerUsage)
	res, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != cascade.Escalated || res.Mass != 1 || res.Verdict == nil || res.Verdict.Accept || res.DraftResponse == nil {
		t.Fatalf("outcome %s, mass %v, verdict %+v", res.Outcome, res.Mass, res.Verdict)
	}
	if acct := r.finish(res); !near(acct.ActualUSD, draftCost+peerCost+verifierCost) {
		t.Fatalf("accounting %+v", acct)
	}
}

// A draft that fails leaves nothing to compare: the opinions in flight are
// dropped at once (their input still billed) and the verifier answers.
func TestDraftFailureDropsOpinions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withOpinions(3*time.Second, "peer-a"))
		r.draft.reply = func(context.Context, *llm.Request) (*llm.Response, error) {
			time.Sleep(time.Second)
			return nil, &llm.Error{Kind: llm.ErrOverloaded, Message: "overloaded"}
		}
		ended := make(chan error, 1)
		r.peerA.reply = after(time.Minute, agreeText, peerUsage, ended)
		start := time.Now()
		res, err := r.run(context.Background(), false)
		if err != nil || res.Outcome != cascade.Escalated {
			t.Fatalf("err %v, outcome %s", err, res.Outcome)
		}
		if took := time.Since(start); took != time.Second {
			t.Errorf("escalated after %s, want 1s (no wait for opinions)", took)
		}
		if <-ended == nil {
			t.Error("the opinion was not canceled")
		}
		op := res.Opinions[0]
		if op.End != cascade.CallDropped || op.Usage.InputTokens == 0 || res.Agreement.Asked != 0 {
			t.Fatalf("opinion %+v, agreement %+v", op, res.Agreement)
		}
		acct := r.finish(res)
		if want := verifierCost + float64(op.Usage.InputTokens)*0.5/1e6; !near(acct.ActualUSD, want) {
			t.Errorf("accounting %+v, want %v", acct, want)
		}
		if got := r.upstreamErrors("peer-a", llm.ErrCanceled) + r.upstreamErrors("peer-a", ""); got != 0 {
			t.Errorf("a dropped opinion counted as an upstream error")
		}
	})
}

// A client that goes away during the draft cancels its opinions too.
func TestClientGoneCancelsOpinions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, withOpinions(3*time.Second, "peer-a"))
		ctx, cancel := context.WithCancel(context.Background())
		r.draft.reply = func(dctx context.Context, _ *llm.Request) (*llm.Response, error) {
			cancel()
			<-dctx.Done()
			return nil, canceled(dctx)
		}
		r.peerA.reply = hangs
		res, err := r.run(ctx, false)
		if kindOf(err) != llm.ErrCanceled || len(res.Opinions) != 1 || res.Opinions[0].End != cascade.CallCanceled {
			t.Fatalf("err %v, opinions %+v", err, res.Opinions)
		}
		r.finish(res)
		if res.Outcome != cascade.Canceled || testutil.CollectAndCount(r.m.UpstreamErrors) != 0 {
			t.Fatalf("settled %s, upstream errors %d", res.Outcome, testutil.CollectAndCount(r.m.UpstreamErrors))
		}
		if got := testutil.ToFloat64(r.m.SecondOpinions.WithLabelValues("r", "canceled")); got != 1 {
			t.Errorf("second opinions{canceled} = %v", got)
		}
	})
}

// A rule without a quality loop runs as it always did: nothing of the loop
// is recorded.
func TestNoLoopNoVerdict(t *testing.T) {
	r := newRig(t, nil)
	res, err := r.run(context.Background(), false)
	if err != nil || res.Outcome != cascade.Accepted {
		t.Fatalf("err %v, outcome %s", err, res.Outcome)
	}
	if res.Verdict != nil || res.DraftResponse != nil || res.Mass != 0 || res.Opinions != nil || res.Agreement != (routequality.Agreement{}) {
		t.Fatalf("loop fields set without a loop: %+v", res)
	}
}
