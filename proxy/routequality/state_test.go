package routequality

import (
	"bytes"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
)

func sample(pod string, seq uint64, at time.Time, good bool) Sample {
	return Sample{Sample: calibrate.Sample{Score: 0.8, Labelled: true, Good: good}, Pod: pod, Seq: seq, Time: at}
}

func TestMergeKeepsOneCopyInTimeOrder(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	a := State{Version: StateVersion, Routes: map[string]RouteState{"r": {
		Samples: []Sample{sample("a", 1, t0, true), sample("a", 2, t0.Add(2*time.Second), false)}, Spend: 1, AuditSpend: 0.1}}}
	b := State{Version: StateVersion, Routes: map[string]RouteState{"r": {
		Samples: []Sample{sample("b", 1, t0.Add(time.Second), true)}, Spend: 2}}}
	m := Merge(State{}, a, b)
	m = Merge(m, a, b) // the same parts again change nothing
	rs := m.Routes["r"]
	if len(rs.Samples) != 3 {
		t.Fatalf("merged %d samples, want 3", len(rs.Samples))
	}
	for i, want := range []string{"a", "b", "a"} {
		if rs.Samples[i].Pod != want {
			t.Errorf("sample %d from pod %q, want %q (time order)", i, rs.Samples[i].Pod, want)
		}
	}
	if rs.Spend != 3 || rs.AuditSpend != 0.1 {
		t.Errorf("spend %v audit %v, want 3 and 0.1", rs.Spend, rs.AuditSpend)
	}
}

func TestSamplesRoundTripAsJSONLines(t *testing.T) {
	in := []Sample{sample("a", 1, time.Unix(1, 0).UTC(), true), sample("a", 2, time.Unix(2, 0).UTC(), false)}
	in[1].Features = []float64{0.5, -1}
	var buf bytes.Buffer
	if err := WriteSamples(&buf, in); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 2 {
		t.Fatalf("%d lines, want 2", n)
	}
	out, err := ReadSamples(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1].Good || !out[0].Good || out[1].Features[1] != -1 || !out[1].Time.Equal(in[1].Time) {
		t.Errorf("round trip: %+v", out)
	}
	if _, err := ReadSamples(bytes.NewBufferString("{\"score\": 1}\n{oops")); err == nil {
		t.Error("a broken line is not an error")
	}
}
