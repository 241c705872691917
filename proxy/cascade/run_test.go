package cascade_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// The engine's timeout and failure tests run against in-memory providers,
// inside synctest bubbles where time is virtual: a timeout fires exactly when
// it is due, however loaded the machine, and the tests can say so exactly.

const (
	draftModel    = "small-1"
	verifierModel = "big-1"
	judgeModel    = "grader-1"
	peerModel     = "peer-1"
	requested     = "big"

	goodAnswer = "The capital of France is Paris. It has been the seat of the French government for centuries, and it is also the country's largest city."
	refusal    = "I'm sorry, but I can't help with that request."
	verified   = "Paris is the capital of France."
)

var (
	fixedUsage = llm.Usage{InputTokens: 1000, OutputTokens: 200}
	testPrices = pricing.New(map[string]pricing.Price{
		draftModel:    {Input: 1, Output: 5},
		verifierModel: {Input: 10, Output: 50},
		judgeModel:    {Input: 1, Output: 1},
		peerModel:     {Input: 0.5, Output: 2},
	})
	draftCost    = (1000*1.0 + 200*5.0) / 1e6
	verifierCost = (1000*10.0 + 200*50.0) / 1e6
)

// rig is a compiled rule over fake providers: "cheap" (the draft),
// "strong" (the verifier), "grader" (a judge, when the rule has one) and
// "peer-a", "peer-b" (second opinions, when the rule asks them).
type rig struct {
	t                      *testing.T
	draft, verifier, judge *fakeProvider
	peerA, peerB           *fakeProvider
	rule                   *cascade.CompiledRule
	eng                    *cascade.Engine
	m                      *metrics.Metrics
}

func newRig(t *testing.T, edit func(*rules.Rule)) *rig {
	t.Helper()
	r := &rig{
		t:        t,
		draft:    &fakeProvider{name: "cheap", reply: answers(goodAnswer, fixedUsage)},
		verifier: &fakeProvider{name: "strong", reply: answers(verified, fixedUsage)},
		judge:    &fakeProvider{name: "grader", reply: answers("9", llm.Usage{InputTokens: 50, OutputTokens: 1})},
		peerA:    &fakeProvider{name: "peer-a", reply: answers(goodAnswer, fixedUsage)},
		peerB:    &fakeProvider{name: "peer-b", reply: answers(goodAnswer, fixedUsage)},
		m:        metrics.New(),
	}
	th := 0.5
	spec := &rules.Rule{Name: "r", Models: []string{requested}, Threshold: &th,
		Draft:    rules.Target{Provider: "cheap", Model: draftModel},
		Verifier: rules.Target{Provider: "strong", Model: verifierModel}}
	if edit != nil {
		edit(spec)
	}
	byName := map[string]cascade.Provider{"cheap": r.draft, "strong": r.verifier, "grader": r.judge, "peer-a": r.peerA, "peer-b": r.peerB}
	rule, err := cascade.CompileRule(spec, testPrices, func(name string) cascade.Provider { return byName[name] })
	if err != nil {
		t.Fatal(err)
	}
	r.rule = rule
	r.eng = &cascade.Engine{Log: slog.New(slog.DiscardHandler), Recorder: &cascade.Recorder{Metrics: r.m}}
	return r
}

func (r *rig) run(ctx context.Context, stream bool) (*cascade.Result, error) {
	req := &llm.Request{Model: requested, MaxTokens: 200, Stream: stream, Messages: []llm.Message{{Role: llm.RoleUser,
		Content: []llm.Block{{Type: llm.BlockText, Text: "What is the capital of France? Answer in two sentences."}}}}}
	return r.eng.Run(ctx, r.rule, cascade.Request{Req: req, Header: http.Header{}})
}

// finish reads a live stream to its end (or its error) and settles the result.
func (r *rig) finish(res *cascade.Result) cascade.Accounting {
	var err error
	if res.Stream != nil {
		defer res.Stream.Close()
		for err == nil {
			_, err = res.Stream.Next(context.Background())
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	return r.eng.Recorder.Finish(r.rule, requested, res, err)
}

func (r *rig) requests(outcome cascade.Outcome) float64 {
	return testutil.ToFloat64(r.m.RouteRequests.WithLabelValues("r", string(outcome)))
}

func (r *rig) upstreamErrors(provider string, kind llm.ErrorKind) float64 {
	return testutil.ToFloat64(r.m.UpstreamErrors.WithLabelValues(provider, string(kind)))
}

func both(t *testing.T, f func(t *testing.T, stream bool)) {
	for _, stream := range []bool{false, true} {
		name := "complete"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) { f(t, stream) })
	}
}

func kindOf(err error) llm.ErrorKind {
	if err == nil {
		return ""
	}
	return llm.AsError(err).Kind
}

func TestDraftTimeoutEscalates(t *testing.T) {
	both(t, func(t *testing.T, stream bool) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t, func(s *rules.Rule) { s.DraftTimeout = rules.Duration{Duration: 2 * time.Second} })
			r.draft.reply = hangs
			start := time.Now()
			res, err := r.run(context.Background(), stream)
			if err != nil {
				t.Fatal(err)
			}
			if waited := res.Draft.Took; waited != 2*time.Second || time.Since(start) != 2*time.Second {
				t.Errorf("draft abandoned after %s (run %s), want exactly the 2s draft timeout", waited, time.Since(start))
			}
			if res.Outcome != cascade.Escalated || res.Draft.End != cascade.CallFailed || kindOf(res.Draft.Err) != llm.ErrTimeout {
				t.Fatalf("outcome %s, draft %s (%v); want escalated after a draft timeout", res.Outcome, res.Draft.End, res.Draft.Err)
			}
			acct := r.finish(res)
			if res.Outcome != cascade.Escalated || res.Verifier.End != cascade.CallAnswered {
				t.Fatalf("settled %s, verifier %s", res.Outcome, res.Verifier.End)
			}
			if !acct.Known || math.Abs(acct.ActualUSD-verifierCost) > 1e-12 {
				t.Errorf("accounting %+v, want the verifier's cost %v", acct, verifierCost)
			}
			if got := testutil.ToFloat64(r.m.DraftFailures.WithLabelValues("r", "timeout")); got != 1 {
				t.Errorf("draft failures{timeout} = %v", got)
			}
			if got := r.upstreamErrors("cheap", llm.ErrTimeout); got != 1 {
				t.Errorf("upstream errors{cheap,timeout} = %v", got)
			}
		})
	})
}

func TestDraftTimeoutDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.draft.reply = hangs
		res, err := r.run(context.Background(), false)
		if err != nil || res.Draft.Took != cascade.DefaultDraftTimeout || kindOf(res.Draft.Err) != llm.ErrTimeout {
			t.Fatalf("err %v, draft waited %s (%v); want a timeout after %s", err, res.Draft.Took, res.Draft.Err, cascade.DefaultDraftTimeout)
		}
	})
}

// A draft that answers just inside its timeout is judged, not abandoned.
func TestDraftJustInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(s *rules.Rule) { s.DraftTimeout = rules.Duration{Duration: 2 * time.Second} })
		r.draft.reply = func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			time.Sleep(2*time.Second - time.Millisecond)
			return answer(req.Model, goodAnswer, fixedUsage), nil
		}
		res, err := r.run(context.Background(), false)
		if err != nil || res.Outcome != cascade.Accepted || res.Draft.End != cascade.CallAnswered {
			t.Fatalf("err %v, outcome %s, draft %s (%v)", err, res.Outcome, res.Draft.End, res.Draft.Err)
		}
		if acct := r.finish(res); !acct.Known || math.Abs(acct.ActualUSD-draftCost) > 1e-12 || len(r.verifier.calls()) != 0 {
			t.Fatalf("accounting %+v, verifier calls %v", acct, r.verifier.calls())
		}
	})
}

func TestVerifierTimeout(t *testing.T) {
	both(t, func(t *testing.T, stream bool) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t, func(s *rules.Rule) { s.VerifierTimeout = rules.Duration{Duration: 5 * time.Second} })
			r.draft.reply = answers(refusal, fixedUsage)
			r.verifier.reply = hangs
			start := time.Now()
			res, err := r.run(context.Background(), stream)
			if time.Since(start) != 5*time.Second {
				t.Errorf("gave up after %s, want exactly the 5s verifier timeout", time.Since(start))
			}
			if e := llm.AsError(err); e.Kind != llm.ErrTimeout || !e.Retryable {
				t.Fatalf("err %v, want a retryable timeout", err)
			}
			if res.Verifier.End != cascade.CallFailed {
				t.Fatalf("verifier call %s", res.Verifier.End)
			}
			acct := r.finish(res)
			if res.Outcome != cascade.Failed || acct.Known || acct.SavingsUSD != 0 {
				t.Fatalf("settled %s with %+v; want an error claiming no savings", res.Outcome, acct)
			}
			if got := r.upstreamErrors("strong", llm.ErrTimeout); got != 1 {
				t.Errorf("upstream errors{strong,timeout} = %v", got)
			}
			// The draft was paid for.
			if got := testutil.ToFloat64(r.m.CostUSD.WithLabelValues("r", draftModel)); math.Abs(got-draftCost) > 1e-12 {
				t.Errorf("draft cost %v, want %v", got, draftCost)
			}
		})
	})
}

// verifierTimeout bounds the wait for the answer to start: once the stream
// is open, however long it takes is not cut.
func TestVerifierTimeoutSparesAStartedStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, func(s *rules.Rule) {
			s.Mode = rules.ModeVerifierOnly
			s.VerifierTimeout = rules.Duration{Duration: 5 * time.Second}
		})
		release := make(chan struct{})
		var streamCtx context.Context
		st := &scriptedStream{events: answer(verifierModel, verified, fixedUsage).Events(), hold: release}
		r.verifier.stream = func(ctx context.Context, _ *llm.Request) (llm.Stream, error) {
			streamCtx = ctx
			return st, nil
		}
		res, err := r.run(context.Background(), true)
		if err != nil || res.Stream == nil {
			t.Fatalf("err %v, stream %v", err, res.Stream)
		}
		time.Sleep(time.Hour) // far past the verifier timeout
		if streamCtx.Err() != nil {
			t.Fatalf("the verifier timeout canceled a stream that had started: %v", context.Cause(streamCtx))
		}
		close(release)
		acct := r.finish(res)
		if res.Outcome != cascade.VerifierOnly || res.Verifier.End != cascade.CallAnswered || res.Verifier.Usage != fixedUsage {
			t.Fatalf("settled %s, verifier %s usage %+v", res.Outcome, res.Verifier.End, res.Verifier.Usage)
		}
		if !acct.Known || math.Abs(acct.ActualUSD-verifierCost) > 1e-12 {
			t.Fatalf("accounting %+v", acct)
		}
		if !st.isClosed() || streamCtx.Err() == nil {
			t.Fatal("closing the result's stream must close the upstream stream and release its context")
		}
	})
}

// A client that goes away during the draft ends the request: no verifier
// call, no upstream error, outcome canceled.
func TestClientGoneDuringDraft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		r.draft.reply = func(dctx context.Context, _ *llm.Request) (*llm.Response, error) {
			cancel()
			<-dctx.Done()
			return nil, canceled(dctx)
		}
		res, err := r.run(ctx, false)
		if kindOf(err) != llm.ErrCanceled || res.Draft.End != cascade.CallCanceled || res.Verifier != nil {
			t.Fatalf("err %v, draft %s, verifier %v", err, res.Draft.End, res.Verifier)
		}
		r.finish(res)
		if res.Outcome != cascade.Canceled || r.requests(cascade.Canceled) != 1 {
			t.Fatalf("settled %s", res.Outcome)
		}
		if n := testutil.CollectAndCount(r.m.UpstreamErrors) + testutil.CollectAndCount(r.m.DraftFailures); n != 0 {
			t.Fatalf("a client cancel counted as %d upstream or draft failures", n)
		}
	})
}

func TestDraftFailureEscalates(t *testing.T) {
	both(t, func(t *testing.T, stream bool) {
		r := newRig(t, nil)
		r.draft.reply = fails(llm.ErrOverloaded)
		res, err := r.run(context.Background(), stream)
		if err != nil || res.Outcome != cascade.Escalated || res.Draft.End != cascade.CallFailed {
			t.Fatalf("err %v, outcome %s, draft %s", err, res.Outcome, res.Draft.End)
		}
		acct := r.finish(res)
		if res.Outcome != cascade.Escalated || !acct.Known || math.Abs(acct.ActualUSD-verifierCost) > 1e-12 || acct.SavingsUSD != 0 {
			t.Fatalf("settled %s with %+v", res.Outcome, acct)
		}
		if got := testutil.ToFloat64(r.m.DraftFailures.WithLabelValues("r", "error")); got != 1 {
			t.Errorf("draft failures{error} = %v", got)
		}
		if got := r.upstreamErrors("cheap", llm.ErrOverloaded); got != 1 {
			t.Errorf("upstream errors{cheap,overloaded} = %v", got)
		}
	})
}

// A draft stream that ends before its last event, or holds garbage, is
// escalated and counted as an upstream error of the draft's provider.
func TestBadDraftStreamEscalates(t *testing.T) {
	events := answer(draftModel, goodAnswer, fixedUsage).Events()
	for name, st := range map[string]func() llm.Stream{
		"truncated": func() llm.Stream { return &scriptedStream{events: events[:3]} },
		"garbage": func() llm.Stream {
			return &scriptedStream{events: []llm.Event{events[0], {Type: llm.EventBlockDelta, Index: 7, Delta: &llm.Delta{Type: llm.DeltaText, Text: "x"}}}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, nil)
			r.draft.stream = func(context.Context, *llm.Request) (llm.Stream, error) { return st(), nil }
			res, err := r.run(context.Background(), true)
			if err != nil || res.Outcome != cascade.Escalated || kindOf(res.Draft.Err) != llm.ErrBadGateway {
				t.Fatalf("err %v, outcome %s, draft error %v", err, res.Outcome, res.Draft.Err)
			}
			r.finish(res)
			if got := r.upstreamErrors("cheap", llm.ErrBadGateway); got != 1 {
				t.Errorf("upstream errors{cheap,bad_gateway} = %v", got)
			}
		})
	}
}

func TestDraftOnlyFailureIsAnError(t *testing.T) {
	r := newRig(t, func(s *rules.Rule) { s.Mode = rules.ModeDraftOnly })
	r.draft.reply = fails(llm.ErrAPI)
	res, err := r.run(context.Background(), false)
	if kindOf(err) != llm.ErrAPI || len(r.verifier.calls()) != 0 {
		t.Fatalf("err %v, verifier calls %v", err, r.verifier.calls())
	}
	r.finish(res)
	if res.Outcome != cascade.Failed || r.requests(cascade.Failed) != 1 {
		t.Fatalf("settled %s", res.Outcome)
	}
	if got := r.upstreamErrors("cheap", llm.ErrAPI); got != 1 {
		t.Errorf("upstream errors{cheap,api_error} = %v", got)
	}
	if n := testutil.CollectAndCount(r.m.DraftFailures); n != 0 {
		t.Errorf("a draft-only failure was counted as an escalated draft failure")
	}
}

// A verifier stream that breaks after its first event is an error: spend is
// counted as far as the stream reported it, no savings are claimed, and the
// verifier's provider gets an upstream error.
func TestBrokenVerifierStreamIsAnError(t *testing.T) {
	r := newRig(t, func(s *rules.Rule) { s.Mode = rules.ModeVerifierOnly })
	events := answer(verifierModel, verified, fixedUsage).Events()
	cut := &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream strong stream was interrupted"}
	r.verifier.stream = func(context.Context, *llm.Request) (llm.Stream, error) {
		return &scriptedStream{events: events[:3], err: cut}, nil
	}
	res, err := r.run(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	acct := r.finish(res)
	if res.Outcome != cascade.Failed || res.Verifier.End != cascade.CallBroken || !errors.Is(res.Verifier.Err, cut) {
		t.Fatalf("settled %s, verifier %s (%v)", res.Outcome, res.Verifier.End, res.Verifier.Err)
	}
	if acct.Known || acct.BaselineUSD != 0 || acct.SavingsUSD != 0 {
		t.Fatalf("accounting %+v claims a comparison", acct)
	}
	// message_start reported the input tokens and one output token.
	partial := (1000*10.0 + 1*50.0) / 1e6
	if got := testutil.ToFloat64(r.m.CostUSD.WithLabelValues("r", verifierModel)); math.Abs(got-partial) > 1e-12 {
		t.Errorf("verifier spend %v, want %v", got, partial)
	}
	if n := testutil.CollectAndCount(r.m.SavingsUSD) + testutil.CollectAndCount(r.m.BaselineUSD); n != 0 {
		t.Errorf("savings or baseline recorded for a broken answer")
	}
	if got := r.upstreamErrors("strong", llm.ErrBadGateway); got != 1 {
		t.Errorf("upstream errors{strong,bad_gateway} = %v", got)
	}
	if r.requests(cascade.Failed) != 1 || r.requests(cascade.VerifierOnly) != 0 {
		t.Errorf("requests: error %v, verifier_only %v", r.requests(cascade.Failed), r.requests(cascade.VerifierOnly))
	}
}

// A verifier stream whose first read fails never started: an error too.
func TestVerifierStreamFailingAtOnce(t *testing.T) {
	r := newRig(t, func(s *rules.Rule) { s.Mode = rules.ModeVerifierOnly })
	r.verifier.stream = func(context.Context, *llm.Request) (llm.Stream, error) {
		return &scriptedStream{err: &llm.Error{Kind: llm.ErrBadGateway, Message: "garbage"}}, nil
	}
	res, err := r.run(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	r.finish(res)
	if res.Outcome != cascade.Failed || res.Verifier.End != cascade.CallFailed || r.upstreamErrors("strong", llm.ErrBadGateway) != 1 {
		t.Fatalf("settled %s, verifier %s", res.Outcome, res.Verifier.End)
	}
}

// The client going away mid-stream is not the upstream's failure.
func TestClientGoneMidStream(t *testing.T) {
	r := newRig(t, func(s *rules.Rule) { s.Mode = rules.ModeVerifierOnly })
	res, err := r.run(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Stream.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	res.Stream.Close()
	acct := r.eng.Recorder.Finish(r.rule, requested, res, &llm.Error{Kind: llm.ErrCanceled, Message: "client went away"})
	if res.Outcome != cascade.Canceled || res.Verifier.End != cascade.CallCanceled || acct.Known {
		t.Fatalf("settled %s, verifier %s, %+v", res.Outcome, res.Verifier.End, acct)
	}
	if n := testutil.CollectAndCount(r.m.UpstreamErrors); n != 0 {
		t.Fatal("a client going away counted as an upstream error")
	}
	if got := testutil.ToFloat64(r.m.Tokens.WithLabelValues(verifierModel, "input")); got != 1000 {
		t.Errorf("verifier input tokens %v: the spend so far must be counted", got)
	}
}

// A failed judge call is left out of the score, and counted against the
// judge's provider; a judge that answered is priced.
func TestJudgeCalls(t *testing.T) {
	withJudge := func(s *rules.Rule) {
		s.Gate = &rules.Gate{Judge: &rules.Judge{Target: rules.Target{Provider: "grader", Model: judgeModel}}}
	}
	r := newRig(t, withJudge)
	res, err := r.run(context.Background(), false)
	if err != nil || res.Judge == nil || res.Judge.End != cascade.CallAnswered || res.Judge.Provider != "grader" {
		t.Fatalf("err %v, judge call %+v", err, res.Judge)
	}
	if acct := r.finish(res); math.Abs(acct.ActualUSD-(draftCost+51.0/1e6)) > 1e-12 {
		t.Errorf("cost %v does not include the judge's", acct.ActualUSD)
	}

	r = newRig(t, withJudge)
	r.judge.reply = fails(llm.ErrRateLimit)
	res, err = r.run(context.Background(), false)
	if err != nil || res.Judge == nil || res.Judge.End != cascade.CallFailed {
		t.Fatalf("err %v, judge call %+v", err, res.Judge)
	}
	r.finish(res)
	if got := r.upstreamErrors("grader", llm.ErrRateLimit); got != 1 {
		t.Errorf("upstream errors{grader,rate_limit} = %v", got)
	}
}

// Verifier-only on request (the native API's force_direct) skips the draft
// of a cascade rule.
func TestRequestVerifierOnly(t *testing.T) {
	r := newRig(t, nil)
	req := &llm.Request{Model: requested, MaxTokens: 10, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}}
	res, err := r.eng.Run(context.Background(), r.rule, cascade.Request{Req: req, Header: http.Header{}, VerifierOnly: true})
	if err != nil || res.Outcome != cascade.VerifierOnly || res.Draft != nil || len(r.draft.calls()) != 0 {
		t.Fatalf("err %v, outcome %s, draft calls %v", err, res.Outcome, r.draft.calls())
	}
}
