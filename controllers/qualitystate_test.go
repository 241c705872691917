package controllers

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/logistic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func qsample(pod string, seq uint64, at time.Time, score float64, good bool) routequality.Sample {
	return routequality.Sample{
		Sample: calibrate.Sample{Score: score, Labelled: true, Good: good, LabelProb: 1},
		Time:   at, Pod: pod, Seq: seq, Outcome: "escalated",
	}
}

func state(rule string, samples ...routequality.Sample) routequality.State {
	return routequality.State{Version: routequality.StateVersion, Routes: map[string]routequality.RouteState{rule: {Samples: samples}}}
}

// A part from a pod is kept to the rules in effect and to samples of their
// epoch, without text, and marked with its pod when the pod did not say.
func TestCompactPart(t *testing.T) {
	eps := map[string]ruleEpoch{"opus": {Identity: "x", Since: t0}}
	old := qsample("", 1, t0.Add(-time.Minute), 0.5, true)
	s := qsample("", 2, t0.Add(time.Minute), 0.123456789, true)
	s.Prompt, s.DraftText, s.VerifierText, s.RequestHash = "secret prompt", "draft", "verifier", "abc"
	s.Features = []float64{0.123456, math.NaN()}
	st := state("opus", old, s)
	st.Routes["gone"] = routequality.RouteState{Samples: []routequality.Sample{qsample("p", 1, t0.Add(time.Minute), 0.5, true)}}
	got := compactPart(st, "pod-a", eps)
	if _, ok := got.Routes["gone"]; ok {
		t.Error("samples of a rule no longer in effect are kept")
	}
	rs := got.Routes["opus"]
	if len(rs.Samples) != 1 {
		t.Fatalf("kept %d samples, want the 1 of the current epoch", len(rs.Samples))
	}
	c := rs.Samples[0]
	if c.Pod != "pod-a" || c.Rule != "opus" || c.Prompt != "" || c.DraftText != "" || c.VerifierText != "" || c.RequestHash != "" {
		t.Errorf("compacted sample %+v", c)
	}
	if c.Score != 0.123457 || c.Features[0] != 0.1235 || c.Features[1] != 0 {
		t.Errorf("numbers not rounded or NaN kept: score %v features %v", c.Score, c.Features)
	}
	if s.Features[0] != 0.123456 {
		t.Error("compacting changed the pod's sample")
	}
}

// A rule keeps its epoch while what its samples mean is unchanged; a new
// draft model starts a new one.
func TestEpochs(t *testing.T) {
	r := rules.Rule{Name: "opus", Draft: rules.Target{Provider: "a", Model: "haiku"}, Verifier: rules.Target{Provider: "a", Model: "opus"}}
	q := []qualityRule{{rule: &r}}
	first := epochs(q, nil, t0)
	if !first["opus"].Since.IsZero() {
		t.Errorf("a rule new to the archive drops the pods' earlier samples: epoch %+v", first["opus"])
	}
	later := epochs(q, first, t0.Add(time.Hour))
	if later["opus"] != first["opus"] {
		t.Errorf("unchanged rule got a new epoch: %+v then %+v", first, later)
	}
	r.Draft.Model = "sonnet"
	changed := epochs(q, first, t0.Add(time.Hour))
	if changed["opus"].Identity == first["opus"].Identity || !changed["opus"].Since.Equal(t0.Add(time.Hour)) {
		t.Errorf("new draft model kept the epoch: %+v", changed)
	}
	// The threshold or the quality target do not change what a sample means.
	r.Draft.Model = "haiku"
	r.Threshold = ptrTo(0.5)
	r.Quality = &rules.Quality{Target: ptrTo(0.9)}
	if epochs(q, first, t0.Add(time.Hour))["opus"] != first["opus"] {
		t.Error("a threshold or target change started a new epoch")
	}
}

func ptrTo[T any](v T) *T { return &v }

// Merging twice changes nothing; a bigger archive than fits is trimmed,
// oldest first, and what was trimmed still counts as merged.
func TestMergeArchiveBoundsAndMerged(t *testing.T) {
	eps := map[string]ruleEpoch{"opus": {Since: t0.Add(-24 * time.Hour)}}
	a := state("opus", qsample("a", 1, t0, 0.9, true), qsample("a", 2, t0.Add(2*time.Second), 0.2, false))
	b := state("opus", qsample("b", 1, t0.Add(time.Second), 0.8, true))
	a, b = compactPart(a, "a", eps), compactPart(b, "b", eps)
	m1, body1, err := mergeArchive(routequality.State{}, []routequality.State{a, b}, eps)
	if err != nil {
		t.Fatal(err)
	}
	m2, body2, err := mergeArchive(m1, []routequality.State{a, b}, eps)
	if err != nil {
		t.Fatal(err)
	}
	if string(body1) != string(body2) || len(m2.Routes["opus"].Samples) != 3 {
		t.Errorf("merging the same parts again changed the archive: %d samples", len(m2.Routes["opus"].Samples))
	}
	if !fullyMerged(a, m2) || !fullyMerged(b, m2) {
		t.Error("merged parts are not reported merged")
	}
	c := compactPart(state("opus", qsample("c", 1, t0.Add(3*time.Second), 0.7, true)), "c", eps)
	if fullyMerged(c, m2) {
		t.Error("a part with a sample the archive lacks is reported merged")
	}

	// Big: many samples with long feature vectors from one pod.
	var many []routequality.Sample
	for i := range 6000 {
		s := qsample("big", uint64(i+1), t0.Add(time.Duration(i)*time.Second), float64(i%100)/100, i%3 > 0)
		s.Features = make([]float64, routequality.NumFeatures)
		for j := range s.Features {
			s.Features[j] = -1.234567 + float64(j)/7
		}
		many = append(many, s)
	}
	big := compactPart(state("opus", many...), "big", eps)
	m3, body3, err := mergeArchive(m2, []routequality.State{big}, eps)
	if err != nil {
		t.Fatal(err)
	}
	kept := m3.Routes["opus"].Samples
	if len(body3) > ArchiveMaxBytes || len(kept) > routequality.Window {
		t.Fatalf("archive of %d bytes, %d samples: above the bounds", len(body3), len(kept))
	}
	if last := kept[len(kept)-1]; last.Pod != "big" || last.Seq != 6000 {
		t.Errorf("newest sample dropped: last kept %s/%d", last.Pod, last.Seq)
	}
	t.Logf("archive keeps %d samples with %d features in %d bytes", len(kept), routequality.NumFeatures, len(body3))
	if !fullyMerged(big, m3) {
		t.Error("samples dropped for the bounds are not reported merged (their ConfigMap would never be cleaned up)")
	}
}

func model(bias float64, w ...float64) *routequality.Model {
	return &routequality.Model{Model: logistic.Model{Bias: bias, Weights: w}}
}

func TestDecisionChanged(t *testing.T) {
	base := routequality.Calibration{Threshold: 0.42, Reason: "calibrated", Model: model(0.5, 1, -2), Labels: 100}
	for _, tc := range []struct {
		name string
		edit func(*routequality.Calibration)
		want bool
	}{
		{"figures only", func(c *routequality.Calibration) {
			c.Labels, c.Samples, c.Estimate.Quality, c.UpdatedAt = 300, 900, 0.97, t0
		}, false},
		{"weights within tolerance", func(c *routequality.Calibration) { c.Model = model(0.52, 1.04, -2.05) }, false},
		{"threshold", func(c *routequality.Calibration) { c.Threshold = 0.43 }, true},
		{"reason", func(c *routequality.Calibration) { c.Reason = "escalate-all" }, true},
		{"model gone", func(c *routequality.Calibration) { c.Model = nil }, true},
		{"bias moved", func(c *routequality.Calibration) { c.Model = model(0.6, 1, -2) }, true},
		{"weight moved", func(c *routequality.Calibration) { c.Model = model(0.5, 1, -2.3) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			if got := decisionChanged(base, c); got != tc.want {
				t.Errorf("decisionChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

// Only a changed decision is written; an unchanged rule keeps the
// calibration in effect, a removed rule is a change; what is written
// encodes as JSON (no NaN).
func TestNextCalibrations(t *testing.T) {
	held := routequality.Calibration{Threshold: 0.7, Reason: "cold-start", Labels: 3, UpdatedAt: t0}
	fresh := routequality.Calibration{Threshold: 0.7, Reason: "cold-start", Labels: 9, UpdatedAt: t0.Add(time.Hour),
		Estimate: calibrate.Estimate{Quality: math.NaN()}}
	next, changed := nextCalibrations(map[string]routequality.Calibration{"opus": held}, map[string]routequality.Calibration{"opus": fresh})
	if changed || next["opus"].Labels != 3 {
		t.Errorf("figures alone rewrote the calibration: changed %v, %+v", changed, next["opus"])
	}
	if _, changed := nextCalibrations(map[string]routequality.Calibration{"opus": held, "gone": held}, map[string]routequality.Calibration{"opus": fresh}); !changed {
		t.Error("a removed rule is not a change")
	}
	next, changed = nextCalibrations(nil, map[string]routequality.Calibration{"opus": fresh})
	if !changed {
		t.Fatal("a new rule is not a change")
	}
	if _, err := json.Marshal(next); err != nil {
		t.Errorf("calibration.json does not encode: %v", err)
	}
}

func TestCostsAndStatusEntry(t *testing.T) {
	audited := qsample("a", 1, t0, 0.9, true)
	audited.Outcome, audited.LabelProb, audited.DraftCost, audited.AuditCost = "accepted", 0.5, 0.01, 0.1
	unaudited := qsample("a", 2, t0, 0.9, true)
	unaudited.Outcome, unaudited.Labelled, unaudited.DraftCost = "accepted", false, 0.01
	escalated := qsample("a", 3, t0, 0.1, false)
	escalated.DraftCost = 0.01
	audit, net, ok := costs([]routequality.Sample{audited, unaudited, escalated})
	// Avoided: 0.1 / 0.5 = 0.2; spent: 3 drafts 0.03 + audit 0.1.
	if !ok || math.Abs(audit-0.1) > 1e-12 || math.Abs(net-0.07) > 1e-12 {
		t.Errorf("costs = audit %v net %v ok %v, want 0.1, 0.07, true", audit, net, ok)
	}
	if _, _, ok := costs([]routequality.Sample{unaudited, escalated}); ok {
		t.Error("net savings known without an audited accepted draft")
	}

	c := routequality.Calibration{Threshold: 0.31, Reason: "calibrated", Target: 0.9, Met: true, Labels: 120, Samples: 150,
		Estimate: calibrate.Estimate{Quality: 0.954321, Lower: 0.91, Upper: 0.97, Accepted: 0.6}}
	q := ruleQuality("opus", c, []routequality.Sample{audited}, nil, t0)
	if *q.Estimate != 0.9543 || *q.Target != 0.9 || q.Labels != 120 || q.Samples != 150 || q.Threshold != 0.31 || !q.Met || *q.AuditCostUSD != 0.1 {
		t.Errorf("status entry %+v", q)
	}
	again := ruleQuality("opus", c, []routequality.Sample{audited}, &q, t0.Add(time.Hour))
	if !again.UpdatedAt.Equal(&q.UpdatedAt) {
		t.Error("updatedAt moved though no figure changed")
	}
	c.Labels++
	if moved := ruleQuality("opus", c, []routequality.Sample{audited}, &q, t0.Add(time.Hour)); moved.UpdatedAt.Equal(&q.UpdatedAt) {
		t.Error("updatedAt kept though a figure changed")
	}
	c.Estimate.Quality = math.NaN()
	if q := ruleQuality("opus", c, nil, nil, t0); q.Estimate != nil {
		t.Errorf("unknown estimate reported as %v", *q.Estimate)
	}
}

func TestQualityTargetCondition(t *testing.T) {
	target := ptrTo(0.9)
	lower := ptrTo(0.85)
	for _, tc := range []struct {
		name    string
		entries []v1alpha1.RuleQuality
		status  metav1.ConditionStatus
		reason  string
		present bool
	}{
		{"no target", []v1alpha1.RuleQuality{{Rule: "a", Reason: "configured", Met: true}}, "", "", false},
		{"met", []v1alpha1.RuleQuality{{Rule: "a", Target: target, Reason: "calibrated", Met: true}}, metav1.ConditionTrue, v1alpha1.ReasonTargetMet, true},
		{"cold start", []v1alpha1.RuleQuality{{Rule: "a", Target: target, Reason: "cold-start", Met: true}}, metav1.ConditionFalse, v1alpha1.ReasonColdStart, true},
		{"escalate all", []v1alpha1.RuleQuality{{Rule: "a", Target: target, Reason: "calibrated", Met: true}, {Rule: "b", Target: target, Reason: "escalate-all", Met: true}},
			metav1.ConditionFalse, v1alpha1.ReasonEscalateAll, true},
		{"missed", []v1alpha1.RuleQuality{{Rule: "a", Target: target, Reason: "calibrated", Lower: lower}}, metav1.ConditionFalse, v1alpha1.ReasonTargetMissed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, reason, msg, ok := qualityTargetCondition(tc.entries)
			if ok != tc.present || status != tc.status || reason != tc.reason {
				t.Errorf("condition %v %q %q (present %v), want %v %q (present %v)", status, reason, msg, ok, tc.status, tc.reason, tc.present)
			}
			if tc.status == metav1.ConditionFalse && !strings.Contains(msg, "rule ") {
				t.Errorf("message names no rule: %q", msg)
			}
		})
	}
}

// The kubectl get columns: one "rule figure" pair per rule, "-" while a
// figure is unknown.
func TestSummariesColumns(t *testing.T) {
	est, net := 0.9312, 12.5
	entries := []v1alpha1.RuleQuality{
		{Rule: "opus", Estimate: &est, Threshold: 0.42, NetSavingsUSD: &net},
		{Rule: "sonnet", Threshold: 1.01},
	}
	q, th, sv := summaries(entries)
	if q != "opus 0.9312, sonnet -" || th != "opus 0.42, sonnet 1.01" || sv != "opus 12.5, sonnet -" {
		t.Errorf("summaries = %q, %q, %q", q, th, sv)
	}
}
