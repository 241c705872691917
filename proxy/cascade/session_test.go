package cascade_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func replies(text string, u llm.Usage) func(context.Context, *llm.Request) (*llm.Response, error) {
	return func(_ context.Context, req *llm.Request) (*llm.Response, error) {
		return answer(req.Model, text, u), nil
	}
}

// The baseline of an escalation whose verifier found its cache cold is
// the requested model reading the prefix it would have kept warm, so the
// escalation's savings show the cold write it paid.
func TestSessionBaselineWithWarmCache(t *testing.T) {
	cachePrices := map[string]pricing.Price{
		draftModel:    {Input: 1, Output: 5, CacheWrite: 1.25, CacheRead: 0.1},
		verifierModel: {Input: 10, Output: 50, CacheWrite: 12.5, CacheRead: 1},
	}
	r := newRig(t, func(s *rules.Rule) { s.Prices = cachePrices })
	clock := time.Unix(1_000_000, 0)
	r.eng.Recorder.Now = func() time.Time { return clock }
	cost := func(p pricing.Price, u llm.Usage) float64 { return pricing.CostOf(p, u) }

	a := &agent{t: t, user: "u1"}
	startDraft := llm.Usage{InputTokens: 50, CacheCreationInputTokens: 20000, OutputTokens: 100}
	r.draft.reply = replies(goodAnswer, startDraft)
	first, acct1 := r.runBodyAccount(a.say("List the files."), false)
	// The first request of a conversation is priced on its own.
	if want := cost(cachePrices[verifierModel], startDraft); math.Abs(acct1.BaselineUSD-want) > 1e-12 {
		t.Fatalf("first baseline %v, want %v", acct1.BaselineUSD, want)
	}

	clock = clock.Add(time.Minute)
	stepDraft := llm.Usage{InputTokens: 50, CacheReadInputTokens: 20000, CacheCreationInputTokens: 1000, OutputTokens: 20}
	coldVerifier := llm.Usage{InputTokens: 50, CacheCreationInputTokens: 21000, OutputTokens: 100}
	r.draft.reply = replies(refusal, stepDraft)
	r.verifier.reply = replies(verified, coldVerifier)
	second, acct := r.runBodyAccount(a.result("a.go"), false)
	if second.Outcome != cascade.Escalated {
		t.Fatalf("outcome %s", second.Outcome)
	}
	warm := llm.Usage{InputTokens: 50, CacheReadInputTokens: 20000, CacheCreationInputTokens: 1000, OutputTokens: 100}
	wantBase := cost(cachePrices[verifierModel], warm)
	wantActual := cost(cachePrices[draftModel], stepDraft) + cost(cachePrices[verifierModel], coldVerifier)
	if !acct.Known || math.Abs(acct.BaselineUSD-wantBase) > 1e-12 || math.Abs(acct.ActualUSD-wantActual) > 1e-12 ||
		math.Abs(acct.SavingsUSD-(wantBase-wantActual)) > 1e-12 {
		t.Fatalf("escalation %+v, want baseline %v actual %v", acct, wantBase, wantActual)
	}
	// Per request, the same escalation claimed the cold write as baseline too.
	if perRequest := cost(cachePrices[verifierModel], coldVerifier); !(perRequest > wantBase+0.1) {
		t.Fatalf("per-request baseline %v should exceed the session's %v", perRequest, wantBase)
	}

	ss := r.eng.Recorder.Sessions(0)
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	s := ss[0]
	if s.Rule != "r" || s.Requests != 2 || s.Turns != 1 || s.Outcomes[cascade.Escalated] != 1 || s.Conversation != first.Turn.Conversation.Short() {
		t.Errorf("session %+v", s)
	}
	v := s.Cache[verifierModel]
	if v.CacheWriteTokens != 21000 || v.CacheReadTokens != 0 || v.HitRatio != 0 {
		t.Errorf("verifier cache %+v", v)
	}
	d := s.Cache[draftModel]
	if want := 20000.0 / float64(2*50+20000+1000+20000); d.CacheReadTokens != 20000 || math.Abs(d.HitRatio-want) > 1e-12 {
		t.Errorf("draft cache %+v, want hit ratio %v", d, want)
	}
	rs := r.eng.Recorder.Stats()
	if got := rs[0].Cache[draftModel]; got != d {
		t.Errorf("rule cache stats %+v, want the session's %+v", got, d)
	}
}

// Conversations are accounted apart; a request of another dialect (no
// conversation) is in no session.
func TestSessionsApart(t *testing.T) {
	r := newRig(t, nil)
	for _, user := range []string{"u1", "u2", "u1"} {
		a := &agent{t: t, user: user}
		r.runBody(a.say("List the files."), false)
	}
	res, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	r.finish(res)
	ss := r.eng.Recorder.Sessions(0)
	if len(ss) != 2 || ss[0].Requests+ss[1].Requests != 3 {
		t.Fatalf("sessions %+v", ss)
	}
	if got := r.eng.Recorder.Sessions(1); len(got) != 1 {
		t.Errorf("limit 1: %d sessions", len(got))
	}
	r.eng.Recorder.Reset()
	if got := r.eng.Recorder.Sessions(0); len(got) != 0 {
		t.Errorf("after reset: %d sessions", len(got))
	}
}
