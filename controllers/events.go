package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

// maxNote keeps an Event's note under the API server's 1 KiB limit.
const maxNote = 1000

// recordTransitions emits an Event (shown by kubectl describe) for each
// condition whose status or reason changed and when new rules were written.
// Events mark changes only, so a steady state emits nothing.
func (r *CascadeRouteReconciler) recordTransitions(cr *v1alpha1.CascadeRoute, before *v1alpha1.CascadeRouteStatus) {
	if r.Recorder == nil {
		return
	}
	for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionDegraded, v1alpha1.ConditionReady, v1alpha1.ConditionQualityTargetMet, v1alpha1.ConditionBudgetsWithinLimits} {
		now := meta.FindStatusCondition(cr.Status.Conditions, typ)
		was := meta.FindStatusCondition(before.Conditions, typ)
		if now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
			continue
		}
		eventType := "Normal"
		switch {
		case typ == v1alpha1.ConditionAccepted && now.Status == metav1.ConditionTrue:
			continue // the RulesWritten event below says more
		case typ == v1alpha1.ConditionReady && now.Status == metav1.ConditionFalse && now.Reason != v1alpha1.ReasonReplicasUnavailable:
			continue // the Accepted or Degraded warning names the problem once
		case typ == v1alpha1.ConditionAccepted, typ == v1alpha1.ConditionDegraded && now.Status == metav1.ConditionTrue:
			eventType = "Warning"
		case typ == v1alpha1.ConditionQualityTargetMet && now.Status == metav1.ConditionFalse && now.Reason != v1alpha1.ReasonColdStart:
			eventType = "Warning" // escalating everything, or below target
		case typ == v1alpha1.ConditionBudgetsWithinLimits && now.Status == metav1.ConditionFalse:
			eventType = "Warning" // a hard budget is spent: requests are refused
		case was == nil:
			continue // a first, healthy condition is not news
		}
		r.Recorder.Eventf(cr, nil, eventType, now.Reason, typ, "%s=%s: %s", typ, now.Status, truncate(now.Message))
	}
	r.recordSoftCrossings(cr, before)
	if cr.Status.RulesHash != "" && cr.Status.RulesHash != before.RulesHash {
		r.Recorder.Eventf(cr, nil, "Normal", "RulesWritten", "Apply", "%d rules written, hash %s", cr.Status.RuleCount, cr.Status.RulesHash)
	}
}

func truncate(s string) string {
	if len(s) <= maxNote {
		return s
	}
	return s[:maxNote] + "…"
}
