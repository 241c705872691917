package render

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

const (
	defaultMinReplicas = 1
	defaultTargetCPU   = 70
	// Scale down by at most one pod a minute, after five minutes of lower
	// load: a removed pod's streams get the grace period to finish, and
	// capacity follows a falling load without dropping in steps.
	scaleDownWindowSeconds = 300
	scaleDownPeriodSeconds = 60
)

// Autoscaled reports whether a HorizontalPodAutoscaler sizes the proxy Deployment.
func Autoscaled(cr *v1alpha1.CascadeRoute) bool { return cr.Spec.Proxy.Autoscaling != nil }

// MinReplicas is the fewest proxy pods the route asks for: the autoscaler's
// minimum when autoscaled, otherwise spec.proxy.replicas.
func MinReplicas(cr *v1alpha1.CascadeRoute) int32 {
	if as := cr.Spec.Proxy.Autoscaling; as != nil {
		if as.MinReplicas != nil {
			return *as.MinReplicas
		}
		return defaultMinReplicas
	}
	return DesiredReplicas(cr)
}

// HorizontalPodAutoscaler scales the proxy Deployment on CPU utilisation
// (relative to the container's CPU request) between spec.proxy.autoscaling's bounds.
func HorizontalPodAutoscaler(cr *v1alpha1.CascadeRoute) *autoscalingv2.HorizontalPodAutoscaler {
	as := cr.Spec.Proxy.Autoscaling
	target := int32(defaultTargetCPU)
	if as.TargetCPUUtilizationPercentage != nil {
		target = *as.TargetCPUUtilizationPercentage
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(cr, ProxyName(cr)),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: ProxyName(cr)},
			MinReplicas:    ptr.To(MinReplicas(cr)),
			MaxReplicas:    as.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target},
				},
			}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr.To[int32](scaleDownWindowSeconds),
					Policies: []autoscalingv2.HPAScalingPolicy{{
						Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: scaleDownPeriodSeconds,
					}},
				},
			},
		},
	}
}

// NeedsDisruptionBudget reports whether the route runs, or may run, more than
// one proxy pod at its lowest: then a PodDisruptionBudget keeps voluntary
// evictions (node drains, cluster upgrades) to one pod at a time.
func NeedsDisruptionBudget(cr *v1alpha1.CascadeRoute) bool { return MinReplicas(cr) > 1 }

// PodDisruptionBudget allows one proxy pod at a time to be evicted.
//
// maxUnavailable: 1 rather than minAvailable: 1: with minAvailable 1 a drain
// may evict all pods but one at once, leaving a single pod to absorb every
// stream; maxUnavailable 1 keeps all but one serving whatever the replica
// count, which suits an autoscaled Deployment. Unhealthy pods may always be
// evicted, so a crash-looping proxy never blocks a node drain.
func PodDisruptionBudget(cr *v1alpha1.CascadeRoute) *policyv1.PodDisruptionBudget {
	alwaysAllow := policyv1.AlwaysAllow
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(cr, ProxyName(cr)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             ptr.To(intstr.FromInt32(1)),
			Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(cr)},
			UnhealthyPodEvictionPolicy: &alwaysAllow,
		},
	}
}
