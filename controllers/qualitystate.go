package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// The pure half of the quality aggregation: what the archive keeps, when a
// calibration is worth writing, what the status says. quality.go does the
// reading and writing.

const (
	// ArchiveMaxBytes bounds the archive's samples.json: a ConfigMap holds
	// at most 1 MiB. Beyond it the oldest samples of every rule are dropped.
	ArchiveMaxBytes = 900 << 10
	// ArchiveRulesKey holds, per rule, what its samples depend on and since
	// when (see ruleEpoch).
	ArchiveRulesKey = "rules.json"
	// CalibrationTolerance is how far a learned score's bias or weight may
	// move (relative, at least absolute) before a new calibration is written.
	CalibrationTolerance = 0.05
)

// ruleEpoch is what a rule's samples mean: the identity of its draft,
// verifier, gate and second opinions, and since when the archive has held
// samples of that identity. A rule whose identity changes starts afresh,
// as the proxy's routes do; samples older than Since are not merged again.
type ruleEpoch struct {
	Identity string    `json:"identity"`
	Since    time.Time `json:"since"`
}

// qualityRule is a rule that runs a quality loop, with its resolved settings.
type qualityRule struct {
	rule     *rules.Rule
	settings routequality.Settings
}

// qualityRules lists the rules of set that declare quality or secondOpinion.
func qualityRules(set *rules.Set) []qualityRule {
	var out []qualityRule
	for i := range set.Rules {
		r := &set.Rules[i]
		if r.Quality != nil || r.SecondOpinion != nil {
			out = append(out, qualityRule{rule: r, settings: routequality.Resolve(r)})
		}
	}
	return out
}

// ruleIdentity hashes what a rule's samples depend on, as the proxy's
// registry does: its draft, verifier, gate and second opinions.
func ruleIdentity(r *rules.Rule) string {
	b, _ := json.Marshal(struct {
		D, V rules.Target
		G    *rules.Gate
		S    *rules.SecondOpinion
	}{r.Draft, r.Verifier, r.Gate, r.SecondOpinion})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// epochs returns the epoch of every quality rule: the archived one while the
// rule's identity is unchanged, a new one starting now when it changed, and
// one without a start for a rule the archive does not know yet (every
// sample the pods hold of it counts).
func epochs(qrs []qualityRule, archived map[string]ruleEpoch, now time.Time) map[string]ruleEpoch {
	out := make(map[string]ruleEpoch, len(qrs))
	for _, q := range qrs {
		id := ruleIdentity(q.rule)
		e, ok := archived[q.rule.Name]
		switch {
		case !ok:
			out[q.rule.Name] = ruleEpoch{Identity: id}
		case e.Identity == id:
			out[q.rule.Name] = e
		default:
			out[q.rule.Name] = ruleEpoch{Identity: id, Since: now.UTC().Truncate(time.Second)}
		}
	}
	return out
}

// compactPart prepares one pod's published state for the archive: only
// rules of the current epochs and samples of their epoch, every sample
// marked with its pod, without text, request hash or pod-side calibration
// and spend (the archive's figures come from the samples themselves), and
// numbers rounded so that the archive stays small.
func compactPart(st routequality.State, pod string, eps map[string]ruleEpoch) routequality.State {
	out := routequality.State{Version: routequality.StateVersion, Routes: map[string]routequality.RouteState{}}
	for rule, rs := range st.Routes {
		ep, ok := eps[rule]
		if !ok {
			continue
		}
		var kept []routequality.Sample
		for _, s := range rs.Samples {
			if s.Time.Before(ep.Since) {
				continue
			}
			kept = append(kept, compactSample(s, rule, pod))
		}
		if len(kept) > 0 {
			out.Routes[rule] = routequality.RouteState{Samples: kept}
		}
	}
	return out
}

func compactSample(s routequality.Sample, rule, pod string) routequality.Sample {
	s.Rule = rule
	if s.Pod == "" {
		s.Pod = pod
	}
	s.Prompt, s.DraftText, s.VerifierText, s.RequestHash = "", "", "", ""
	s.Score = round(s.Score, 6)
	if len(s.Features) > 0 {
		f := make([]float64, len(s.Features))
		for i, v := range s.Features {
			f[i] = round(v, 4)
		}
		s.Features = f
	}
	s.Time = s.Time.UTC().Truncate(time.Millisecond)
	return s
}

// round keeps d decimals; NaN and infinities, which JSON cannot carry, become 0.
func round(v float64, d int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

// mergeArchive merges the pods' compacted parts into the archive, keeps only
// the current rules' samples of their epoch, and trims the oldest samples
// until the encoding fits ArchiveMaxBytes. It returns the new archive and
// its encoding.
func mergeArchive(archive routequality.State, parts []routequality.State, eps map[string]ruleEpoch) (routequality.State, []byte, error) {
	base := compactPart(archive, "", eps)
	merged := routequality.Merge(base, parts...)
	for rule, rs := range merged.Routes {
		if _, ok := eps[rule]; !ok || len(rs.Samples) == 0 {
			delete(merged.Routes, rule)
			continue
		}
		rs.Calibration, rs.Spend, rs.AuditSpend = nil, 0, 0
		merged.Routes[rule] = rs
	}
	for {
		b, err := json.Marshal(merged)
		if err != nil {
			return merged, nil, fmt.Errorf("encode quality archive: %w", err)
		}
		if len(b) <= ArchiveMaxBytes {
			return merged, b, nil
		}
		// Drop the oldest tenth of every rule's samples (at least one).
		for rule, rs := range merged.Routes {
			drop := max(len(rs.Samples)/10, 1)
			rs.Samples = rs.Samples[min(drop, len(rs.Samples)):]
			merged.Routes[rule] = rs
		}
	}
}

// fullyMerged reports whether every sample of a compacted part is in the
// archive, or older than the oldest sample the archive keeps of its rule
// (dropped for the window or the size bound): deleting the part then loses
// nothing.
func fullyMerged(part, archive routequality.State) bool {
	type id struct {
		pod string
		seq uint64
	}
	for rule, rs := range part.Routes {
		kept := archive.Routes[rule].Samples
		have := make(map[id]bool, len(kept))
		for _, s := range kept {
			have[id{s.Pod, s.Seq}] = true
		}
		for _, s := range rs.Samples {
			if have[id{s.Pod, s.Seq}] {
				continue
			}
			if len(kept) > 0 && s.Time.Before(kept[0].Time) {
				continue
			}
			return false
		}
	}
	return true
}

// finiteCalibration replaces what JSON cannot carry (an estimate of NaN:
// accepted drafts never compared) by 0, for calibration.json.
func finiteCalibration(c routequality.Calibration) routequality.Calibration {
	e := &c.Estimate
	for _, v := range []*float64{&e.Quality, &e.Lower, &e.Upper, &e.Accepted, &e.Effective, &e.Threshold} {
		if math.IsNaN(*v) || math.IsInf(*v, 0) {
			*v = 0
		}
	}
	if c.Model != nil {
		m := *c.Model
		m.Weights = append([]float64(nil), m.Weights...)
		m.Bias = round(m.Bias, 9)
		for i, w := range m.Weights {
			m.Weights[i] = round(w, 9)
		}
		c.Model = &m
	}
	c.UpdatedAt = c.UpdatedAt.UTC().Truncate(time.Second)
	return c
}

// decisionChanged reports whether running with b instead of a would decide
// differently: another threshold or reason, a learned score appearing or
// going, or one whose bias or weights moved beyond CalibrationTolerance.
// The figures (estimate, counts) alone do not count.
func decisionChanged(a, b routequality.Calibration) bool {
	if math.Abs(a.Threshold-b.Threshold) > 1e-9 || a.Reason != b.Reason || (a.Model == nil) != (b.Model == nil) {
		return true
	}
	if a.Model == nil {
		return false
	}
	if len(a.Model.Weights) != len(b.Model.Weights) || moved(a.Model.Bias, b.Model.Bias) {
		return true
	}
	for i := range a.Model.Weights {
		if moved(a.Model.Weights[i], b.Model.Weights[i]) {
			return true
		}
	}
	return false
}

func moved(a, b float64) bool {
	return math.Abs(a-b) > CalibrationTolerance*math.Max(1, math.Abs(a))
}

// nextCalibrations merges freshly computed calibrations into those in
// effect: a rule keeps its calibration in effect (figures, time and all)
// unless the decision changed. changed reports whether anything is to be
// written (a rule's decision, a rule added or removed).
func nextCalibrations(current, fresh map[string]routequality.Calibration) (next map[string]routequality.Calibration, changed bool) {
	next = make(map[string]routequality.Calibration, len(fresh))
	for rule, c := range fresh {
		old, ok := current[rule]
		if ok && !decisionChanged(old, c) {
			next[rule] = old
			continue
		}
		next[rule] = finiteCalibration(c)
		changed = true
	}
	for rule := range current {
		if _, ok := fresh[rule]; !ok {
			changed = true
		}
	}
	return next, changed
}

// outcomeAccepted is the outcome of a request answered by its draft (cascade.Accepted).
const outcomeAccepted = "accepted"

// costs sums a rule's archived samples' audit spend and estimates its net
// savings: for accepted drafts, the verifier cost they avoided (known only
// from audited ones, each weighted by the inverse of its audit
// probability) minus what the drafts, second opinions and audits cost. ok
// is false while no accepted draft was audited.
func costs(samples []routequality.Sample) (audit, net float64, ok bool) {
	var avoided, spent float64
	for _, s := range samples {
		audit += s.AuditCost
		spent += s.DraftCost + s.AuditCost
		if s.Outcome != outcomeAccepted || !s.Labelled || s.AuditCost <= 0 {
			continue
		}
		p := s.LabelProb
		if p <= 0 || p > 1 {
			p = 1
		}
		mass := s.Mass
		if mass <= 0 {
			mass = 1
		}
		avoided += s.AuditCost * mass / p
		ok = true
	}
	return audit, avoided - spent, ok
}

// ruleQuality is one rule's status entry. updatedAt is kept from prev when
// the figures are the same.
func ruleQuality(rule string, c routequality.Calibration, samples []routequality.Sample, prev *v1alpha1.RuleQuality, now time.Time) v1alpha1.RuleQuality {
	share := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		r := round(v, 4)
		return &r
	}
	q := v1alpha1.RuleQuality{
		Rule:          rule,
		Labels:        int32(c.Labels),
		Samples:       int32(c.Samples),
		Threshold:     round(c.Threshold, 4),
		Reason:        c.Reason,
		Met:           c.Met,
		Estimate:      share(c.Estimate.Quality),
		Lower:         share(c.Estimate.Lower),
		Upper:         share(c.Estimate.Upper),
		AcceptedShare: share(c.Estimate.Accepted),
		Requests:      requestsOf(samples),
		Acceptance:    share(c.Realised.Accepted),
		Realised:      share(c.Realised.Quality),
		RealisedLower: share(c.Realised.Lower),
		RealisedUpper: share(c.Realised.Upper),
	}
	if c.Target > 0 {
		q.Target = share(c.Target)
	}
	if audit, net, ok := costs(samples); audit > 0 || ok {
		q.AuditCostUSD = share(audit)
		if ok {
			q.NetSavingsUSD = share(net)
		}
	}
	q.UpdatedAt = metav1.NewTime(now.UTC().Truncate(time.Second))
	if prev != nil {
		p := prev.DeepCopy()
		p.UpdatedAt = q.UpdatedAt
		if equalRuleQuality(*p, q) {
			q.UpdatedAt = prev.UpdatedAt
		}
	}
	return q
}

func equalRuleQuality(a, b v1alpha1.RuleQuality) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

// qualityTargetCondition judges the rules with a target: True when every
// one holds it while drafting; otherwise False, with the reason of the
// first rule that does not and a message naming each. ok is false when no
// rule has a target (the condition is then removed).
func qualityTargetCondition(entries []v1alpha1.RuleQuality) (status metav1.ConditionStatus, reason, msg string, ok bool) {
	var problems []string
	for _, q := range entries {
		if q.Target == nil {
			continue
		}
		ok = true
		var why string
		switch {
		case q.Reason == string(calibrate.ColdStart):
			why = fmt.Sprintf("rule %s: cold start, %d labelled samples (too few to calibrate)", q.Rule, q.Labels)
			if reason == "" {
				reason = v1alpha1.ReasonColdStart
			}
		case q.Reason == string(calibrate.EscalateAll):
			why = fmt.Sprintf("rule %s: no threshold that accepts drafts meets the target %v; every request is escalated", q.Rule, *q.Target)
			if reason == "" {
				reason = v1alpha1.ReasonEscalateAll
			}
		case !q.Met:
			lower := "unknown"
			if q.Lower != nil {
				lower = fmt.Sprint(*q.Lower)
			}
			why = fmt.Sprintf("rule %s: quality lower bound %s below the target %v at threshold %v", q.Rule, lower, *q.Target, q.Threshold)
			if reason == "" {
				reason = v1alpha1.ReasonTargetMissed
			}
		}
		if why != "" {
			problems = append(problems, why)
		}
	}
	if !ok {
		return "", "", "", false
	}
	if len(problems) > 0 {
		return metav1.ConditionFalse, reason, strings.Join(problems, "; "), true
	}
	return metav1.ConditionTrue, v1alpha1.ReasonTargetMet, "every rule with a quality target holds it", true
}

// summaries are the one-line Quality, Threshold and Savings columns of
// kubectl get ("-" for a figure not known yet).
func summaries(entries []v1alpha1.RuleQuality) (quality, threshold, savings string) {
	var q, th, sv []string
	known := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	for _, e := range entries {
		q = append(q, e.Rule+" "+known(e.Estimate))
		th = append(th, e.Rule+" "+strconv.FormatFloat(e.Threshold, 'f', -1, 64))
		sv = append(sv, e.Rule+" "+known(e.NetSavingsUSD))
	}
	return strings.Join(q, ", "), strings.Join(th, ", "), strings.Join(sv, ", ")
}

// sortedRules lists a map's rule names in order, for deterministic output.
func sortedRules[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// requestsOf is the number of requests samples stand for: each its mass
// (1 when unset).
func requestsOf(samples []routequality.Sample) int64 {
	total := 0.0
	for _, s := range samples {
		m := s.Mass
		if !(m > 0) || math.IsInf(m, 0) {
			m = 1
		}
		total += m
	}
	return int64(math.Round(total))
}
