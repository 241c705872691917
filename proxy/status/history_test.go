package status_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/status"
)

// The chart history keeps the newest points of each loaded rule and forgets
// a rule once it is no longer loaded.
func TestHistoryIsBoundedAndFollowsTheRules(t *testing.T) {
	s := newStack(t)
	page := status.New(status.Sources{Store: s.proxy.Loader.Store, Recorder: s.proxy.Engine.Recorder}, time.Second, 3)
	t0 := time.Now()
	for i := range 5 {
		if i == 2 {
			s.ask(t, "claude-sonnet-5-5", "What is the capital of France?")
		}
		page.Sample(t0.Add(time.Duration(i) * time.Second))
	}
	h := page.History("plain")
	if len(h) != 3 || !h[2].Time.Equal(t0.Add(4*time.Second)) || !h[0].Time.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("history %+v; want the 3 newest points", h)
	}
	if h[0].NetSavingsUSD <= 0 {
		t.Errorf("net savings %v after an accepted request; want it positive", h[0].NetSavingsUSD)
	}
	if q := page.History("opus")[0].Quality; q == q {
		t.Errorf("quality %v before any audit; want NaN (unknown)", q)
	}
	without := strings.Replace(pageRules, "  - name: plain\n    models: [claude-sonnet-5-5]\n    draft: {provider: anth, model: claude-haiku-5-5}\n    verifier: {provider: anth, model: claude-sonnet-5-5}\n", "", 1)
	if without == pageRules {
		t.Fatal("the test's rules changed; update the edit")
	}
	if err := s.proxy.Load([]byte(without), "edit"); err != nil {
		t.Fatal(err)
	}
	page.Sample(t0.Add(5 * time.Second))
	if n := len(page.History("plain")); n != 0 {
		t.Errorf("a removed rule keeps %d points", n)
	}
	if n := len(page.History("opus")); n != 3 {
		t.Errorf("opus has %d points, want 3", n)
	}
	// The removed rule's requests still show, marked as such.
	v := page.View(time.Now())
	if last := v.Routes[len(v.Routes)-1]; last.Name != "plain" || !last.Removed || last.Requests != 1 {
		t.Errorf("last route %+v; want plain, removed, with its request", last)
	}
}
