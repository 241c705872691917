package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

// CacheOptions keeps the manager's memory bounded in big clusters: owned kinds
// are cached only when they carry the operator's managed-by label (not every
// ConfigMap and Deployment of the cluster), managed fields are dropped, and
// Secrets are cached as metadata without annotations (kubectl's
// last-applied-configuration annotation would otherwise carry the key).
func CacheOptions() cache.Options {
	owned := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{render.ManagedByLabel: render.ManagedByValue})}
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}:                      owned,
			&corev1.Service{}:                        owned,
			&corev1.ServiceAccount{}:                 owned,
			&appsv1.Deployment{}:                     owned,
			&rbacv1.Role{}:                           owned,
			&rbacv1.RoleBinding{}:                    owned,
			&networkingv1.Ingress{}:                  owned,
			&autoscalingv2.HorizontalPodAutoscaler{}: owned,
			&policyv1.PodDisruptionBudget{}:          owned,
			// Proxy pods (metadata only), to tell whose quality samples are left over.
			&corev1.Pod{}:    owned,
			&corev1.Secret{}: {Transform: stripSecretMetadata},
		},
	}
}

func stripSecretMetadata(in any) (any, error) {
	if obj, err := meta.Accessor(in); err == nil {
		obj.SetManagedFields(nil)
		obj.SetAnnotations(nil)
	}
	return in, nil
}
