package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

func impersonate(t *testing.T, ns, serviceAccount string) *rest.Config {
	t.Helper()
	cfg := rest.CopyConfig(apiServer)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + serviceAccount}
	return cfg
}

// The ClusterRole generated from the +kubebuilder:rbac markers is all the
// reconciler needs: run a reconcile as a ServiceAccount bound to nothing else.
func TestGeneratedClusterRoleIsEnough(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	data, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict([]byte(strings.TrimPrefix(string(data), "---\n")), &role); err != nil {
		t.Fatal(err)
	}
	role.Name = ns + "-manager"
	mustCreate(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "operator"}})
	cr := exposedRoute(ns, "rbac")
	cr.Spec.Proxy.Replicas = ptr.To[int32](2)
	mustCreate(t, vendorSecret(ns), cr)

	asOperator, err := client.New(impersonate(t, ns, "operator"), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	r := &CascadeRouteReconciler{Client: asOperator, Render: render.Options{ProxyImage: testImage}}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cr)}
	// Control: without the binding the API server refuses, so the check below means something.
	if _, err := r.Reconcile(ctx, req); !apierrors.IsForbidden(err) {
		t.Fatalf("reconcile without RBAC: want Forbidden, got %v", err)
	}

	mustCreate(t, &role, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-manager"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "operator"}},
	})
	eventually(t, wait, func() error {
		_, err := r.Reconcile(ctx, req)
		return err
	})
	named := metav1.ObjectMeta{Namespace: ns, Name: render.ProxyName(cr)}
	for _, o := range []client.Object{&networkingv1.Ingress{ObjectMeta: named}, &policyv1.PodDisruptionBudget{ObjectMeta: named}} {
		if err := exists(o); err != nil {
			t.Errorf("%T not created by the operator: %v", o, err)
		}
	}
	// Hand the replica count to an autoscaler (reads managed fields, applies
	// as a second field manager), then delete every optional object.
	updateRoute(t, req.NamespacedName, func(cr *v1alpha1.CascadeRoute) {
		cr.Spec.Proxy.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 4}
	})
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("reconcile to an autoscaler as the operator: %v", err)
	}
	if err := exists(&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: named}); err != nil {
		t.Errorf("HorizontalPodAutoscaler not created by the operator: %v", err)
	}
	updateRoute(t, req.NamespacedName, func(cr *v1alpha1.CascadeRoute) {
		cr.Spec.Proxy.Autoscaling = nil
		cr.Spec.Proxy.Ingress = nil
		cr.Spec.Proxy.Replicas = ptr.To[int32](1)
	})
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("reconcile deleting optional objects as the operator: %v", err)
	}
	for _, o := range []client.Object{&networkingv1.Ingress{ObjectMeta: named}, &policyv1.PodDisruptionBudget{ObjectMeta: named},
		&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: named}} {
		if err := gone(o); err != nil {
			t.Error(err)
		}
	}
	// The manager in this test process reconciles the route too and may have
	// written or deleted first, so ask the authorizer directly as well.
	for _, res := range []struct{ group, resource string }{
		{"networking.k8s.io", "ingresses"}, {"autoscaling", "horizontalpodautoscalers"}, {"policy", "poddisruptionbudgets"},
	} {
		for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete"} {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "system:serviceaccount:" + ns + ":operator",
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "elsewhere", Verb: verb, Group: res.group, Resource: res.resource},
			}}
			if err := k8s.Create(ctx, sar); err != nil {
				t.Fatal(err)
			}
			if !sar.Status.Allowed {
				t.Errorf("the operator may not %s %s.%s: %s", verb, res.resource, res.group, sar.Status.Reason)
			}
		}
	}
	// What the manager's informers do: list and watch every kind it caches.
	for _, list := range []client.ObjectList{
		&v1alpha1.CascadeRouteList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{},
		&rbacv1.RoleList{}, &rbacv1.RoleBindingList{}, &networkingv1.IngressList{}, &autoscalingv2.HorizontalPodAutoscalerList{},
		&policyv1.PodDisruptionBudgetList{}, &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "SecretList"}},
	} {
		if err := asOperator.List(ctx, list); err != nil {
			t.Errorf("list %T as the operator: %v", list, err)
		}
	}
	cs, err := kubernetes.NewForConfig(impersonate(t, ns, "operator"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.AppsV1().Deployments("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("watch Deployments as the operator: %v", err)
	} else {
		w.Stop()
	}
}

// The proxy's ServiceAccount may read and watch its own rules ConfigMap — by
// name, as the proxy's watch must ask for it — and write the ConfigMap it
// publishes its samples and usage in. Since that ConfigMap's name is not
// known in advance, it may get, create and patch ConfigMaps of its
// namespace, but not list or watch them, delete them, read Secrets, or act
// in another namespace.
func TestProxyRoleCoversOnlyItsConfigMap(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "watcher")
	mustCreate(t, vendorSecret(ns), cr,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-elses"}})
	waitCondition(t, client.ObjectKeyFromObject(cr), v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)

	cs, err := kubernetes.NewForConfig(impersonate(t, ns, render.ProxyName(cr)))
	if err != nil {
		t.Fatal(err)
	}
	cms := cs.CoreV1().ConfigMaps(ns)
	byName := metav1.ListOptions{FieldSelector: "metadata.name=" + render.ConfigMapName(cr)}
	eventually(t, wait, func() error { // RBAC caches catch up with the new RoleBinding
		_, err := cms.Get(ctx, render.ConfigMapName(cr), metav1.GetOptions{})
		return err
	})
	list, err := cms.List(ctx, byName)
	if err != nil || len(list.Items) != 1 || list.Items[0].Data[render.RulesKey] == "" {
		t.Errorf("list own ConfigMap by name: %v", err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{FieldSelector: byName.FieldSelector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Errorf("watch own ConfigMap by name: %v", err)
	} else {
		w.Stop()
	}
	for what, call := range map[string]func() error{
		"list all ConfigMaps": func() error { _, err := cms.List(ctx, metav1.ListOptions{}); return err },
		"delete another ConfigMap": func() error {
			return cms.Delete(ctx, "someone-elses", metav1.DeleteOptions{})
		},
		"get the vendor key Secret": func() error {
			_, err := cs.CoreV1().Secrets(ns).Get(ctx, "vendor-keys", metav1.GetOptions{})
			return err
		},
		"watch ConfigMaps in another namespace": func() error {
			_, err := cs.CoreV1().ConfigMaps("default").Watch(ctx, byName)
			return err
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: want Forbidden, got %v", what, err)
		}
	}
}

// The shipped samples are accepted by the API server and reconciled.
func TestSamplesAreAccepted(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	paths, err := filepath.Glob(filepath.Join("..", "config", "samples", "routing_v1alpha1_cascaderoute_*.yaml"))
	if err != nil || len(paths) < 3 {
		t.Fatalf("samples: %v %v", paths, err)
	}
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "anthropic-api-key"},
		StringData: map[string]string{"api-key": "sk-ant-sample"}})
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "claude-code-client-keys"},
		StringData: map[string]string{"alice": "sample-client-key"}})
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var cr v1alpha1.CascadeRoute
		if err := yaml.UnmarshalStrict(data, &cr); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		cr.Namespace = ns
		if err := k8s.Create(ctx, &cr, client.FieldValidation("Strict")); err != nil {
			t.Fatalf("%s rejected: %v", p, err)
		}
		got := waitCondition(t, client.ObjectKeyFromObject(&cr), v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
		if int(got.Status.RuleCount) != len(cr.Spec.Rules) {
			t.Errorf("%s: ruleCount %d, want %d", p, got.Status.RuleCount, len(cr.Spec.Rules))
		}
		waitCondition(t, client.ObjectKeyFromObject(&cr), v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)
		if cr.Spec.Proxy.Ingress != nil {
			eventually(t, wait, func() error { _, err := getIngress(&cr); return err })
		}
		fmt.Fprintf(os.Stderr, "sample %s: accepted, rules hash %s\n", filepath.Base(p), got.Status.RulesHash[:12])
	}
}
