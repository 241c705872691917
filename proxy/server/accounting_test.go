package server_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"testing"

	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// After a known sequence of requests the metrics, the stats endpoint and the
// per-request cost headers all tell the same story, computed here from the
// rule's prices and the fake's usage.
func TestAccountingAfterKnownSequence(t *testing.T) {
	h := newHarness(t, cascadeRules(`prices:
  claude-haiku-5-5: {input: 1, output: 5}
  claude-opus-5-5: {input: 10, output: 50}
`), harnessOptions{})
	c := h.anthropic()
	fixed := &fakeupstream.Usage{InputTokens: 1000, OutputTokens: 200}
	good := fakeupstream.Reply{Text: goodAnswer, Usage: fixed}
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: "Verified answer: Paris is the capital of France.", Usage: fixed})

	type step struct {
		draft   fakeupstream.Reply
		outcome string
		cost    float64 // USD, from the prices above
		savings float64
	}
	draftCost := (1000*1.0 + 200*5.0) / 1e6      // 0.002
	verifierCost := (1000*10.0 + 200*50.0) / 1e6 // 0.02
	steps := []step{
		{good, "accepted", draftCost, verifierCost - draftCost},
		{good, "accepted", draftCost, verifierCost - draftCost},
		{fakeupstream.Reply{Text: refusal, Usage: fixed}, "escalated", draftCost + verifierCost, -draftCost},
		{fakeupstream.Reply{Status: 500}, "escalated", verifierCost, 0},
	}
	var sumCost, sumSavings float64
	for i, s := range steps {
		h.fake.SetReply("claude-haiku-5-5", s.draft)
		var raw *http.Response
		if _, err := c.Messages.New(context.Background(), capitalParams("claude-opus-5-5"), aoption.WithResponseInto(&raw)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := raw.Header.Get("X-Cascade-Outcome"); got != s.outcome {
			t.Fatalf("step %d: outcome %s, want %s", i, got, s.outcome)
		}
		cost, _ := strconv.ParseFloat(raw.Header.Get("X-Cascade-Cost-Usd"), 64)
		sav, _ := strconv.ParseFloat(raw.Header.Get("X-Cascade-Savings-Usd"), 64)
		if math.Abs(cost-s.cost) > 1e-9 || math.Abs(sav-s.savings) > 1e-9 {
			t.Fatalf("step %d: cost %v savings %v, want %v %v", i, cost, sav, s.cost, s.savings)
		}
		sumCost += s.cost
		sumSavings += s.savings
	}
	m := h.metrics
	for outcome, want := range map[string]float64{"accepted": 2, "escalated": 2} {
		if got := testutil.ToFloat64(m.RouteRequests.WithLabelValues("opus", outcome)); got != want {
			t.Errorf("requests{%s} = %v, want %v", outcome, got, want)
		}
	}
	if got := testutil.ToFloat64(m.DraftFailures.WithLabelValues("opus", "error")); got != 1 {
		t.Errorf("draft failures %v", got)
	}
	// Tokens: 3 draft answers and 2 verifier answers of 1000 in / 200 out.
	for model, n := range map[string]float64{"claude-haiku-5-5": 3, "claude-opus-5-5": 2} {
		if got := testutil.ToFloat64(m.Tokens.WithLabelValues(model, "input")); got != 1000*n {
			t.Errorf("%s input tokens %v", model, got)
		}
		if got := testutil.ToFloat64(m.Tokens.WithLabelValues(model, "output")); got != 200*n {
			t.Errorf("%s output tokens %v", model, got)
		}
	}
	cost := testutil.ToFloat64(m.CostUSD.WithLabelValues("opus", "claude-haiku-5-5")) + testutil.ToFloat64(m.CostUSD.WithLabelValues("opus", "claude-opus-5-5"))
	net := testutil.ToFloat64(m.SavingsUSD.WithLabelValues("opus")) - testutil.ToFloat64(m.ExtraCostUSD.WithLabelValues("opus"))
	if math.Abs(cost-sumCost) > 1e-9 || math.Abs(net-sumSavings) > 1e-9 {
		t.Errorf("metrics cost %v net savings %v, want %v %v", cost, net, sumCost, sumSavings)
	}
	if got := testutil.ToFloat64(m.BaselineUSD.WithLabelValues("opus")); math.Abs(got-4*verifierCost) > 1e-9 {
		t.Errorf("baseline %v, want %v", got, 4*verifierCost)
	}
	_, body := h.get("/api/stats", nil)
	var st struct {
		Rules []struct {
			Rule        string           `json:"rule"`
			Requests    int              `json:"requests"`
			Outcomes    map[string]int   `json:"outcomes"`
			DraftErrors int              `json:"draftErrors"`
			CostUSD     float64          `json:"costUSD"`
			SavingsUSD  float64          `json:"savingsUSD"`
			Served      map[string]int   `json:"served"`
			Tokens      map[string]int64 `json:"tokens"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.Rules) != 1 {
		t.Fatalf("stats %s", body)
	}
	r := st.Rules[0]
	if r.Requests != 4 || r.Outcomes["accepted"] != 2 || r.Outcomes["escalated"] != 2 || r.DraftErrors != 1 ||
		r.Served["claude-haiku-5-5"] != 2 || r.Served["claude-opus-5-5"] != 2 ||
		math.Abs(r.CostUSD-sumCost) > 1e-9 || math.Abs(r.SavingsUSD-sumSavings) > 1e-9 {
		t.Fatalf("stats rule %+v", r)
	}
}
