package cascade_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
)

// The per-rule stats carry each stage's mean time over the requests that
// went through it: a draft taking 1s then a verifier taking 2s (escalated),
// and a draft taking 3s accepted, give draft 2s, verifier 2s, total 3s.
func TestStatsMeanStageTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.draft.reply = after(time.Second, refusal, fixedUsage, nil)
		r.verifier.reply = after(2*time.Second, verified, fixedUsage, nil)
		res, err := r.run(context.Background(), false)
		if err != nil || res.Outcome != cascade.Escalated {
			t.Fatalf("err %v, outcome %s; want escalated", err, res.Outcome)
		}
		r.finish(res)
		r.draft.reply = after(3*time.Second, goodAnswer, fixedUsage, nil)
		res, err = r.run(context.Background(), false)
		if err != nil || res.Outcome != cascade.Accepted {
			t.Fatalf("err %v, outcome %s; want accepted", err, res.Outcome)
		}
		r.finish(res)

		st := r.eng.Recorder.Stats()
		if len(st) != 1 {
			t.Fatalf("stats %+v", st)
		}
		want := map[string]float64{"draft": 2, "verifier": 2, "gate": 0, "total": 3}
		for stage, w := range want {
			if got, ok := st[0].Stages[stage]; !ok || got != w {
				t.Errorf("mean %s = %v (present %v), want %v", stage, got, ok, w)
			}
		}
		if _, ok := st[0].Stages["opinion"]; ok {
			t.Errorf("an opinion stage without second opinions: %v", st[0].Stages)
		}
	})
}
