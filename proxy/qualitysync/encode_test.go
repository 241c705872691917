package qualitysync

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

func texted(rule string, seq int, at time.Time, text string) routequality.Sample {
	return routequality.Sample{Sample: calibrate.Sample{Score: 0.5, Features: make([]float64, routequality.NumFeatures), Labelled: true},
		Rule: rule, Pod: "p", Seq: uint64(seq), Time: at, Outcome: "accepted", Prompt: text, DraftText: text, VerifierText: text}
}

// Over the budget, the oldest samples lose their texts first, then the
// oldest samples go, across rules; the newest stay whole.
func TestEncodeFitsTheBudgetOldestFirst(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	text := strings.Repeat("x", 1000)
	st := routequality.State{Version: routequality.StateVersion, Routes: map[string]routequality.RouteState{}}
	for _, rule := range []string{"a", "b"} {
		var ss []routequality.Sample
		for i := range 100 {
			// a's samples are the even seconds, b's the odd ones.
			off := 2 * i
			if rule == "b" {
				off++
			}
			ss = append(ss, texted(rule, i+1, t0.Add(time.Duration(off)*time.Second), text))
		}
		st.Routes[rule] = routequality.RouteState{Samples: ss, Spend: 2}
	}
	full, _ := json.Marshal(st)

	// Room for every sample without texts and some texts: only texts go.
	doc, stripped, dropped, err := encode(st, len(full)/2)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) > len(full)/2 || stripped == 0 || dropped != 0 {
		t.Fatalf("%d bytes of %d allowed, %d stripped, %d dropped", len(doc), len(full)/2, stripped, dropped)
	}
	var got routequality.State
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	a := got.Routes["a"].Samples
	if len(a) != 100 || a[0].Prompt != "" || a[99].Prompt != text || a[99].DraftText != text {
		t.Errorf("texts left out of the wrong samples: first %q.., last %d chars", a[0].Prompt, len(a[99].Prompt))
	}
	if got.Routes["b"].Spend != 2 {
		t.Errorf("spend %v, want 2", got.Routes["b"].Spend)
	}
	// The caller's state is untouched.
	if st.Routes["a"].Samples[0].Prompt != text {
		t.Error("encode changed the caller's samples")
	}

	// Room for about 20 bare samples: the oldest go too.
	bare := texted("a", 1, t0, "")
	one, _ := json.Marshal(bare)
	limit := 20 * len(one)
	doc, _, dropped, err = encode(st, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) > limit || dropped < 170 {
		t.Fatalf("%d bytes of %d allowed, %d dropped", len(doc), limit, dropped)
	}
	got = routequality.State{}
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	a, b := got.Routes["a"].Samples, got.Routes["b"].Samples
	if len(a) == 0 || len(b) == 0 || a[len(a)-1].Seq != 100 || b[len(b)-1].Seq != 100 {
		t.Fatalf("the newest samples of each rule were not kept: a %d, b %d", len(a), len(b))
	}
	if len(a)+len(b) != 200-dropped {
		t.Errorf("%d samples kept, %d dropped, of 200", len(a)+len(b), dropped)
	}
	for _, s := range append(a, b...) {
		if s.Time.Before(t0.Add(time.Duration(dropped) * time.Second)) {
			t.Errorf("sample at %s kept though older ones were dropped", s.Time)
		}
	}

	// Not even the envelope fits: an error, not a document over the limit.
	if _, _, _, err := encode(st, 10); err == nil {
		t.Error("a document over the limit was accepted")
	}
}

// A full window of every rule with texts still yields a document under
// the ConfigMap limit.
func TestEncodeFullWindowsStayUnderTheConfigMapLimit(t *testing.T) {
	t0 := time.Now()
	st := routequality.State{Version: routequality.StateVersion, Routes: map[string]routequality.RouteState{}}
	for _, rule := range []string{"a", "b", "c"} {
		ss := make([]routequality.Sample, routequality.Window)
		for i := range ss {
			ss[i] = texted(rule, i+1, t0.Add(time.Duration(i)*time.Millisecond), "some prompt text")
		}
		st.Routes[rule] = routequality.RouteState{Samples: ss}
	}
	doc, _, _, err := encode(st, DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) > DefaultMaxBytes || DefaultMaxBytes >= 1<<20 {
		t.Errorf("%d bytes, limit %d", len(doc), DefaultMaxBytes)
	}
}
