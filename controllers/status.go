package controllers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// setCondition sets one condition of the route's status, for the route's
// current generation.
func setCondition(cr *v1alpha1.CascadeRoute, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&cr.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: cr.Generation,
	})
}

// observe starts the status of a reconcile with what the spec alone says.
func observe(cr *v1alpha1.CascadeRoute) {
	cr.Status.ObservedGeneration = cr.Generation
	cr.Status.Endpoint = render.Endpoint(cr)
	cr.Status.Replicas = render.MinReplicas(cr)
}

// rejectRules records a spec that does not translate into valid rules.
func rejectRules(cr *v1alpha1.CascadeRoute, err error) {
	msg := "rules not written, the proxy keeps the last accepted rules: " + err.Error()
	setCondition(cr, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonInvalidRule, msg)
	setCondition(cr, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidRule, "the spec does not translate into valid rules")
	setCondition(cr, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInvalidRule, msg)
}

// recordFailure records a step that failed: looking up, rendering,
// deleting or applying.
func recordFailure(cr *v1alpha1.CascadeRoute, err error) {
	msg := err.Error()
	setCondition(cr, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonApplyFailed, msg)
	setCondition(cr, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonApplyFailed, msg)
}

// recordRules records what became of the rules: written to the ConfigMap
// (Accepted, with their hash and count), or kept out of it by a name
// conflict. Otherwise (not reached, or failed) Accepted stays as it was.
func recordRules(cr *v1alpha1.CascadeRoute, set *rules.Set, res applyResult) {
	switch {
	case res.rulesConfigMap != "":
		cr.Status.RulesHash = set.Hash()
		cr.Status.RuleCount = int32(len(set.Rules))
		cr.Status.ClientKeyCount = int32(len(set.ClientKeys))
		setCondition(cr, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid,
			fmt.Sprintf("%d rules written to ConfigMap %s", len(set.Rules), res.rulesConfigMap))
	case res.rulesConflict != nil:
		setCondition(cr, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonNameConflict,
			"rules not written, the proxy keeps the last accepted rules: "+res.rulesConflict.Error())
	}
}

// recordServing records, once every object is applied, the proxy's
// replicas and the Degraded and Ready conditions.
func recordServing(cr *v1alpha1.CascadeRoute, res applyResult, missing []string) {
	st := &cr.Status
	dep := &res.deployment
	// The autoscaler owns an autoscaled Deployment's count; the API server
	// defaults an unset count to 1.
	if dep.Spec.Replicas != nil {
		st.Replicas = *dep.Spec.Replicas
	}
	st.ReadyReplicas = dep.Status.AvailableReplicas
	ro := rolloutOf(dep, st.Replicas)
	if len(res.heldBack) > 0 {
		if ro.Available {
			ro.Available, ro.Reason = false, v1alpha1.ReasonReplicasUnavailable
		}
		ro.Message += "; " + strings.Join(res.heldBack, " and ") + " once every proxy pod runs the current configuration"
	}
	for _, c := range servingConditions(render.ExposureOf(cr), missing, res.conflicts, cr.Namespace, ro) {
		setCondition(cr, c.Type, c.Status, c.Reason, c.Message)
	}
}

// servingConditions decides Degraded and Ready once the objects are applied.
// An unauthenticated exposure is the worst news, then an object left alone
// for a name conflict, then a missing Secret, then pods that are not
// available yet.
func servingConditions(exposure render.Exposure, missing, conflicts []string, namespace string, ro rollout) []metav1.Condition {
	c := func(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
	}
	var missingMsg string
	if len(missing) > 0 {
		missingMsg = fmt.Sprintf("Secret %s not found in namespace %s; proxy pods cannot start until it exists",
			strings.Join(missing, ", "), namespace)
	}
	var conflictMsg string
	if len(conflicts) > 0 {
		conflictMsg = strings.Join(conflicts, "; ") + ". Rename or delete the existing object, or rename the CascadeRoute"
	}
	var ready metav1.Condition
	switch {
	case exposure.Insecure() && len(exposure.Refused()) > 0:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInsecureExposure,
			"the "+strings.Join(exposure.Refused(), " and the ")+" was refused: see the Degraded condition")
	case conflictMsg != "":
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNameConflict, conflictMsg)
	case missingMsg != "":
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound, missingMsg)
	case !ro.Available:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, ro.Reason, ro.Message)
	default:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable, ro.Message)
	}
	var degraded metav1.Condition
	switch {
	case exposure.Insecure():
		var parts []string
		if refused := exposure.Refused(); len(refused) > 0 {
			what := strings.Join(refused, " and ")
			if exposure.Service.Requested && !exposure.Service.Allowed {
				what += " (the Service is ClusterIP meanwhile)"
			}
			parts = append(parts, what+" refused: "+exposure.Problem+". Set spec.proxy.clientKeysSecretRef (or passthroughAuth on every provider), "+
				"or set "+strings.Join(exposure.OptInFields(refused), " and ")+": true to expose it anyway")
		}
		if opted := exposure.OptedIn(); len(opted) > 0 {
			parts = append(parts, strings.Join(opted, " and ")+" created without client authentication because "+
				strings.Join(exposure.OptInFields(opted), " and ")+" is true: "+exposure.Problem)
		}
		msg := strings.Join(parts, ". ")
		for _, also := range []string{conflictMsg, missingMsg} {
			if also != "" {
				msg += ". Also: " + also
			}
		}
		degraded = c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInsecureExposure, msg)
	case conflictMsg != "":
		msg := conflictMsg
		if missingMsg != "" {
			msg += ". Also: " + missingMsg
		}
		degraded = c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonNameConflict, msg)
	case missingMsg != "":
		degraded = c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSecretNotFound, missingMsg)
	default:
		degraded = c(v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected, "all dependencies present")
	}
	return []metav1.Condition{degraded, ready}
}

// rollout is how far the proxy Deployment has rolled out.
type rollout struct {
	// Available is true when every desired replica runs the current pod
	// template and is available, and no pod of an earlier one is left.
	Available bool
	// Reason is the Ready condition's reason while not Available:
	// ReplicasUnavailable, or ProgressDeadlineExceeded.
	Reason  string
	Message string
}

// rolloutOf judges a Deployment the way `kubectl rollout status` does: the
// Deployment controller has seen the current spec, every desired replica is
// updated, no old replica is left, and every updated replica is available.
// Available replicas alone would count pods of the previous template, so a
// rollout stuck on a broken image would look ready. Without a Deployment
// controller (a bare API server, as in envtest) the status stays empty, so
// this stays not available.
func rolloutOf(d *appsv1.Deployment, desired int32) rollout {
	s := d.Status
	waiting := func(format string, args ...any) rollout {
		return rollout{Reason: v1alpha1.ReasonReplicasUnavailable, Message: fmt.Sprintf(format, args...)}
	}
	var r rollout
	switch {
	case s.ObservedGeneration < d.Generation:
		r = waiting("waiting for the Deployment controller to observe generation %d", d.Generation)
	case s.UpdatedReplicas < desired:
		r = waiting("%d of %d replicas updated", s.UpdatedReplicas, desired)
	case s.Replicas > s.UpdatedReplicas:
		r = waiting("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < s.UpdatedReplicas || s.AvailableReplicas < desired:
		r = waiting("%d of %d updated replicas available", s.AvailableReplicas, max(s.UpdatedReplicas, desired))
	default:
		return rollout{Available: true, Message: fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, desired)}
	}
	// The Deployment controller gave up waiting for progress: say so, the
	// rollout will not finish by itself.
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			r.Reason = v1alpha1.ReasonProgressDeadlineExceeded
			r.Message = fmt.Sprintf("Deployment %s: %s (%s)", d.Name, c.Message, r.Message)
		}
	}
	return r
}
