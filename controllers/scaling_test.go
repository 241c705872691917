package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

// replicaOwners lists the field managers that own spec.replicas of a Deployment.
func replicaOwners(t *testing.T, d *appsv1.Deployment) []string {
	t.Helper()
	var owners []string
	for _, mf := range d.ManagedFields {
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if mf.FieldsV1 == nil {
			continue
		}
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			t.Fatal(err)
		}
		if _, ok := fields.Spec["f:replicas"]; ok {
			owners = append(owners, mf.Manager)
		}
	}
	return owners
}

func deploymentReplicas(t *testing.T, cr *v1alpha1.CascadeRoute) (*appsv1.Deployment, int32) {
	t.Helper()
	var d appsv1.Deployment
	if err := k8s.Get(context.Background(), proxyKey(cr), &d); err != nil {
		t.Fatal(err)
	}
	return &d, *d.Spec.Replicas
}

func exists(obj client.Object) error {
	return k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
}

func gone(obj client.Object) error {
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("%T %s still exists (%v)", obj, obj.GetName(), err)
}

// Replicas, then an autoscaler, then replicas again: the Deployment's count
// passes to the autoscaler without a reset to 1, the autoscaler's choices are
// not undone, and the disruption budget follows the minimum.
func TestAutoscalingTakesOverReplicas(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "scaled")
	cr.Spec.Proxy.Replicas = ptr.To[int32](3)
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	named := metav1.ObjectMeta{Namespace: ns, Name: "scaled-proxy"}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: named}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: named}

	eventually(t, wait, func() error { return exists(pdb) })
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil ||
		pdb.Spec.Selector.MatchLabels["app.kubernetes.io/instance"] != "scaled" {
		t.Errorf("pdb spec = %+v", pdb.Spec)
	}
	if err := gone(hpa); err != nil {
		t.Error(err)
	}
	if _, n := deploymentReplicas(t, cr); n != 3 {
		t.Fatalf("replicas %d", n)
	}

	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) {
		cr.Spec.Proxy.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 6, TargetCPUUtilizationPercentage: ptr.To[int32](50)}
	})
	eventually(t, wait, func() error { return exists(hpa) })
	if s := hpa.Spec; *s.MinReplicas != 2 || s.MaxReplicas != 6 || s.ScaleTargetRef.Name != "scaled-proxy" ||
		*s.Metrics[0].Resource.Target.AverageUtilization != 50 {
		t.Errorf("hpa spec = %+v", s)
	}
	eventually(t, wait, func() error {
		d, n := deploymentReplicas(t, cr)
		owners := replicaOwners(t, d)
		for _, o := range owners {
			if o == FieldOwner {
				return fmt.Errorf("the operator still owns spec.replicas (owners %v)", owners)
			}
		}
		if n != 3 {
			return fmt.Errorf("replicas reset to %d when the autoscaler took over, want 3 kept", n)
		}
		return nil
	})
	got := waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	if got.Status.Replicas != 3 {
		t.Errorf("status.replicas %d, want the Deployment's 3", got.Status.Replicas)
	}
	if err := exists(pdb); err != nil {
		t.Errorf("min 2 without a disruption budget: %v", err)
	}

	// The autoscaler scales through the scale subresource, as the HPA controller does.
	d, _ := deploymentReplicas(t, cr)
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: d.Name}, Spec: autoscalingv1.ScaleSpec{Replicas: 5}}
	if err := k8s.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(scale), client.FieldOwner("horizontal-pod-autoscaler")); err != nil {
		t.Fatal(err)
	}
	// A rule edit makes the operator apply the Deployment again; the count stays the autoscaler's.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Rules[0].Threshold = ptr.To(0.6) })
	waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Image = "cascadeflow/proxy:other" })
	eventually(t, wait, func() error {
		d, n := deploymentReplicas(t, cr)
		if d.Spec.Template.Spec.Containers[0].Image != "cascadeflow/proxy:other" {
			return fmt.Errorf("image not applied yet")
		}
		if n != 5 {
			return fmt.Errorf("replicas %d after an apply, want the autoscaler's 5", n)
		}
		return nil
	})
	eventually(t, wait, func() error {
		if cr := getRoute(t, key); cr.Status.Replicas != 5 {
			return fmt.Errorf("status.replicas %d, want 5", cr.Status.Replicas)
		}
		return nil
	})

	// Minimum 1: no disruption budget.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Autoscaling.MinReplicas = ptr.To[int32](1) })
	eventually(t, wait, func() error { return gone(&policyv1.PodDisruptionBudget{ObjectMeta: named}) })

	// Autoscaling off: the autoscaler is deleted and spec.proxy.replicas applies again.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Autoscaling = nil })
	eventually(t, wait, func() error { return gone(&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: named}) })
	eventually(t, wait, func() error {
		if _, n := deploymentReplicas(t, cr); n != 3 {
			return fmt.Errorf("replicas %d, want spec.proxy.replicas 3", n)
		}
		return exists(&policyv1.PodDisruptionBudget{ObjectMeta: named})
	})

	// One replica: no budget (it would block node drains).
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Replicas = ptr.To[int32](1) })
	eventually(t, wait, func() error { return gone(&policyv1.PodDisruptionBudget{ObjectMeta: named}) })
}

// A route autoscaled from the start never sets replicas, so the operator
// never owns the count and nothing needs handing over.
func TestAutoscaledFromTheStart(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "born-scaled")
	cr.Spec.Proxy.Autoscaling = &v1alpha1.AutoscalingSpec{MaxReplicas: 3}
	mustCreate(t, vendorSecret(ns), cr)
	got := waitCondition(t, client.ObjectKeyFromObject(cr), v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	named := metav1.ObjectMeta{Namespace: ns, Name: "born-scaled-proxy"}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: named}
	eventually(t, wait, func() error { return exists(hpa) })
	if *hpa.Spec.MinReplicas != 1 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
		t.Errorf("defaults not applied: %+v", hpa.Spec)
	}
	d, n := deploymentReplicas(t, cr)
	if owners := replicaOwners(t, d); len(owners) != 0 || n != 1 {
		t.Errorf("replicas %d owned by %v; want the API server's default 1, owned by no one", n, owners)
	}
	if got.Status.Replicas != 1 {
		t.Errorf("status.replicas %d", got.Status.Replicas)
	}
	if err := gone(&policyv1.PodDisruptionBudget{ObjectMeta: named}); err != nil {
		t.Error(err)
	}
}

// An exposed, autoscaled route at rest: reconciling it again writes nothing.
func TestExposedAutoscaledRouteReconcileIsIdempotent(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := exposedRoute(ns, "idem-exposed")
	cr.Spec.Proxy.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 4}
	mustCreate(t, vendorSecret(ns), clientKeysSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	named := metav1.ObjectMeta{Namespace: ns, Name: render.ProxyName(cr)}
	objs := map[string]client.Object{
		"Ingress":    &networkingv1.Ingress{ObjectMeta: named},
		"HPA":        &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: named},
		"PDB":        &policyv1.PodDisruptionBudget{ObjectMeta: named},
		"Deployment": &appsv1.Deployment{ObjectMeta: named},
		"Route":      &v1alpha1.CascadeRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cr.Name}},
	}
	for _, o := range objs {
		eventually(t, wait, func() error { return exists(o) })
	}
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReplicasUnavailable)
	versions := func() map[string]string {
		out := map[string]string{}
		for name, o := range objs {
			if err := exists(o); err != nil {
				t.Fatal(err)
			}
			out[name] = o.GetResourceVersion()
		}
		return out
	}
	v0 := versions()
	r := &CascadeRouteReconciler{Client: k8s, Render: render.Options{ProxyImage: testImage}}
	for i := 0; i < 3; i++ {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatal(err)
		}
	}
	if v1 := versions(); !reflect.DeepEqual(v0, v1) {
		t.Errorf("a no-op reconcile wrote objects: before %v, after %v", v0, v1)
	}
}
