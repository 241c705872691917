package controllers

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

func clientKeysSecret(ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "client-keys"},
		StringData: map[string]string{"alice": "cf-client-alice-not-real", "bob": "cf-client-bob-not-real"},
	}
}

// exposedRoute is claudeCodeRoute behind an Ingress, with client keys.
func exposedRoute(ns, name string) *v1alpha1.CascadeRoute {
	cr := claudeCodeRoute(ns, name)
	cr.Spec.Proxy.ClientKeysSecretRef = &v1alpha1.LocalSecretRef{Name: "client-keys"}
	cr.Spec.Proxy.Service.Port = 80
	cr.Spec.Proxy.Ingress = &v1alpha1.IngressSpec{
		ClassName: ptr.To("nginx"),
		Host:      "llm.example.com",
		TLS:       &v1alpha1.IngressTLS{SecretName: "llm-tls"},
		Annotations: map[string]string{
			"nginx.ingress.kubernetes.io/proxy-read-timeout": "7200",
			"cert-manager.io/cluster-issuer":                 "letsencrypt",
		},
	}
	return cr
}

func getIngress(cr *v1alpha1.CascadeRoute) (*networkingv1.Ingress, error) {
	var ing networkingv1.Ingress
	err := k8s.Get(context.Background(), proxyKey(cr), &ing)
	return &ing, err
}

func waitIngressGone(t *testing.T, cr *v1alpha1.CascadeRoute) {
	t.Helper()
	eventually(t, wait, func() error {
		if _, err := getIngress(cr); !apierrors.IsNotFound(err) {
			return fmt.Errorf("Ingress still there (%v)", err)
		}
		return nil
	})
}

func updateRoute(t *testing.T, key types.NamespacedName, edit func(*v1alpha1.CascadeRoute)) {
	t.Helper()
	eventually(t, wait, func() error { // retried on a conflict with the operator's status writes
		cr := getRoute(t, key)
		edit(cr)
		return k8s.Update(context.Background(), cr)
	})
}

// eventsFor returns "reason/action/type" of every Event about the route.
func eventsFor(t *testing.T, ns, name string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "CascadeRoute" && e.Regarding.Name == name {
			out = append(out, e.Reason+"/"+e.Action+"/"+e.Type)
		}
	}
	return out
}

func TestIngressWithClientKeys(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := exposedRoute(ns, "exposed")
	mustCreate(t, vendorSecret(ns), clientKeysSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	got := waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)

	var ing *networkingv1.Ingress
	eventually(t, wait, func() (err error) { ing, err = getIngress(cr); return err })
	wantAnnotations := map[string]string{
		"nginx.ingress.kubernetes.io/proxy-buffering":    "off",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "7200", // the user's value wins
		"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
		"nginx.ingress.kubernetes.io/proxy-body-size":    "32m",
		"cert-manager.io/cluster-issuer":                 "letsencrypt",
	}
	if !reflect.DeepEqual(ing.Annotations, wantAnnotations) {
		t.Errorf("annotations = %v, want %v", ing.Annotations, wantAnnotations)
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.Rules) != 1 || len(ing.Spec.TLS) != 1 {
		t.Fatalf("ingress spec = %+v", ing.Spec)
	}
	rule := ing.Spec.Rules[0]
	path := rule.HTTP.Paths[0]
	if rule.Host != "llm.example.com" || path.Path != "/" || *path.PathType != networkingv1.PathTypePrefix ||
		path.Backend.Service.Name != "exposed-proxy" || path.Backend.Service.Port.Number != 80 {
		t.Errorf("rule = %+v", rule)
	}
	if !reflect.DeepEqual(ing.Spec.TLS[0], networkingv1.IngressTLS{Hosts: []string{"llm.example.com"}, SecretName: "llm-tls"}) {
		t.Errorf("tls = %+v", ing.Spec.TLS)
	}
	if ref := metav1.GetControllerOf(ing); ref == nil || ref.UID != got.UID {
		t.Errorf("Ingress controller ref %+v", ref)
	}
	// The Service the Ingress points at listens on that port.
	var svc corev1.Service
	if err := k8s.Get(ctx, proxyKey(cr), &svc); err != nil || svc.Spec.Ports[0].Port != 80 {
		t.Errorf("service %+v %v", svc.Spec.Ports, err)
	}
	// The proxy checks the client keys.
	var d appsv1.Deployment
	if err := k8s.Get(ctx, proxyKey(cr), &d); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--client-keys-dir="+render.ClientKeysDir) {
		t.Errorf("args %q lack the client keys", d.Spec.Template.Spec.Containers[0].Args)
	}

	// An annotation edit reaches the Ingress; removing spec.proxy.ingress deletes it.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) {
		cr.Spec.Proxy.Ingress.Annotations = map[string]string{"nginx.ingress.kubernetes.io/proxy-body-size": "100m"}
	})
	eventually(t, wait, func() error {
		ing, err := getIngress(cr)
		if err != nil {
			return err
		}
		if ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] != "100m" || ing.Annotations["cert-manager.io/cluster-issuer"] != "" ||
			ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] != "3600" {
			return fmt.Errorf("annotations %v", ing.Annotations)
		}
		return nil
	})
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Ingress = nil })
	waitIngressGone(t, cr)
	waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)
}

func TestIngressWithoutAuthIsRefusedUnlessAllowed(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := exposedRoute(ns, "open")
	cr.Spec.Proxy.ClientKeysSecretRef = nil
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)

	got := waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInsecureExposure)
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded)
	for _, want := range []string{"Ingress refused", "clientKeysSecretRef is unset", "provider(s) anthropic", "allowUnauthenticated: true"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Degraded message %q does not say %q", c.Message, want)
		}
	}
	if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ReasonInsecureExposure {
		t.Errorf("Ready = %+v", r)
	}
	// Everything but the Ingress is there: the route still serves inside the cluster.
	if err := k8s.Get(ctx, proxyKey(cr), &appsv1.Deployment{}); err != nil {
		t.Errorf("Deployment: %v", err)
	}
	// Not created, and not after a while either.
	time.Sleep(500 * time.Millisecond)
	if _, err := getIngress(cr); !apierrors.IsNotFound(err) {
		t.Fatalf("Ingress exists for an unauthenticated route: %v", err)
	}
	eventually(t, wait, func() error {
		if ev := eventsFor(t, ns, cr.Name); !slices.Contains(ev, "InsecureExposure/Degraded/Warning") {
			return fmt.Errorf("events %v", ev)
		}
		return nil
	})

	// The explicit opt-in creates it; the condition stays and a Warning says so.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Ingress.AllowUnauthenticated = true })
	eventually(t, wait, func() error { _, err := getIngress(cr); return err })
	got = waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInsecureExposure)
	c = meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded)
	if !strings.Contains(c.Message, "Ingress created without client authentication because spec.proxy.ingress.allowUnauthenticated is true") {
		t.Errorf("Degraded message %q", c.Message)
	}
	eventually(t, wait, func() error {
		if ev := eventsFor(t, ns, cr.Name); !slices.Contains(ev, "InsecureExposure/CreateIngress/Warning") {
			return fmt.Errorf("events %v", ev)
		}
		return nil
	})
	// Opted in, the route can be Ready while the warning stays.
	markDeploymentAvailable(t, proxyKey(cr))
	got = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable)
	if d := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded); d.Status != metav1.ConditionTrue || d.Reason != v1alpha1.ReasonInsecureExposure {
		t.Errorf("Degraded = %+v", d)
	}

	// Withdrawing the opt-in deletes the Ingress again.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Ingress.AllowUnauthenticated = false })
	waitIngressGone(t, cr)

	// Client credentials passed through on every provider need no client
	// keys. The Ingress waits until the pods holding the vendor key are gone.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) {
		cr.Spec.Providers[0].APIKeySecretRef = nil
		cr.Spec.Providers[0].PassthroughAuth = true
	})
	eventually(t, wait, func() error {
		var d appsv1.Deployment
		if err := k8s.Get(ctx, proxyKey(cr), &d); err != nil {
			return err
		}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return fmt.Errorf("pods still get the vendor key: %v", e)
			}
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	if _, err := getIngress(cr); !apierrors.IsNotFound(err) {
		t.Fatalf("Ingress created while pods holding the vendor key serve: %v", err)
	}
	markDeploymentAvailable(t, proxyKey(cr))
	eventually(t, wait, func() error { _, err := getIngress(cr); return err })
	waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)
}

// Dropping client authentication from an exposed route removes the Ingress
// before the Deployment loses --client-keys-dir. The envtest API server has
// one etcd, whose revisions are the resourceVersions: they order the writes.
func TestIngressGoesBeforeAuthentication(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := exposedRoute(ns, "drop-auth")
	mustCreate(t, vendorSecret(ns), clientKeysSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	var ing *networkingv1.Ingress
	eventually(t, wait, func() (err error) { ing, err = getIngress(cr); return err })

	cs, err := kubernetes.NewForConfig(apiServer)
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.NetworkingV1().Ingresses(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: ing.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.ClientKeysSecretRef = nil })
	var deletedAt int64
	timeout := time.After(wait)
	for deletedAt == 0 {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Deleted {
				deletedAt, _ = strconv.ParseInt(ev.Object.(*networkingv1.Ingress).ResourceVersion, 10, 64)
			}
		case <-timeout:
			t.Fatal("the Ingress was not deleted")
		}
	}
	var d appsv1.Deployment
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, proxyKey(cr), &d); err != nil {
			return err
		}
		if slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--client-keys-dir="+render.ClientKeysDir) {
			return fmt.Errorf("Deployment still authenticates clients")
		}
		return nil
	})
	if rv, _ := strconv.ParseInt(d.ResourceVersion, 10, 64); rv <= deletedAt {
		t.Errorf("Deployment without client keys written at revision %d, before the Ingress was deleted at %d", rv, deletedAt)
	}
	waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInsecureExposure)
}

// Adding client keys and an Ingress to a running route: pods of the old
// configuration do not check keys, so the Ingress waits for the rollout.
func TestIngressWaitsForTheAuthenticatedRollout(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "late-auth")
	mustCreate(t, vendorSecret(ns), clientKeysSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	markDeploymentAvailable(t, proxyKey(cr)) // one pod without client authentication serves
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable)

	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) {
		cr.Spec.Proxy.ClientKeysSecretRef = &v1alpha1.LocalSecretRef{Name: "client-keys"}
		cr.Spec.Proxy.Ingress = &v1alpha1.IngressSpec{Host: "late.example.com"}
	})
	got := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReplicasUnavailable)
	if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(r.Message, "the Ingress is created once every proxy pod runs the current configuration") {
		t.Errorf("Ready message %q", r.Message)
	}
	if _, err := getIngress(cr); !apierrors.IsNotFound(err) {
		t.Fatalf("Ingress created while a pod without client authentication serves: %v", err)
	}
	// The Deployment controller's part: the new pods are rolled out.
	markDeploymentAvailable(t, proxyKey(cr))
	eventually(t, wait, func() error { _, err := getIngress(cr); return err })
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable)
	var d appsv1.Deployment
	if err := k8s.Get(ctx, proxyKey(cr), &d); err != nil || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--client-keys-dir="+render.ClientKeysDir) {
		t.Errorf("Deployment args %q (%v)", d.Spec.Template.Spec.Containers[0].Args, err)
	}
}

// The client-keys Secret is watched like the vendor key Secret.
func TestMissingClientKeysSecretDegradesThenRecovers(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := exposedRoute(ns, "no-client-keys")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	got := waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSecretNotFound)
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded); !strings.HasPrefix(c.Message, "Secret client-keys not found in namespace "+ns) {
		t.Errorf("Degraded message %q", c.Message)
	}
	// Without the Secret the pods cannot start, so exposing them is safe.
	eventually(t, wait, func() error { _, err := getIngress(cr); return err })
	mustCreate(t, clientKeysSecret(ns))
	waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)
}

// An object of the Ingress's name that the route does not control is left alone.
func TestForeignIngressIsNotDeleted(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "neighbour")
	prefix := networkingv1.PathTypePrefix
	foreign := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.ProxyName(cr), Labels: map[string]string{render.ManagedByLabel: render.ManagedByValue}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "other", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}
	mustCreate(t, vendorSecret(ns), foreign, cr)
	waitCondition(t, client.ObjectKeyFromObject(cr), v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	time.Sleep(300 * time.Millisecond)
	if _, err := getIngress(cr); err != nil {
		t.Errorf("someone else's Ingress was deleted: %v", err)
	}
}

func TestServingConditionsPrecedence(t *testing.T) {
	refused := render.Exposure{Ingress: render.Channel{Requested: true}, Problem: "P"}
	allowed := render.Exposure{Ingress: render.Channel{Requested: true, Allowed: true}, Problem: "P"}
	secure := render.Exposure{Ingress: render.Channel{Requested: true, Allowed: true}, Authenticated: true}
	lbRefused := render.Exposure{Service: render.Channel{Requested: true}, ServiceType: "LoadBalancer", Problem: "P"}
	mixed := render.Exposure{Ingress: render.Channel{Requested: true, Allowed: true}, Service: render.Channel{Requested: true},
		ServiceType: "NodePort", Problem: "P"}
	for _, tc := range []struct {
		name                    string
		exposure                render.Exposure
		missing, conflicts      []string
		available               bool
		degraded, ready         string // status/reason
		degradedMsg, readyMsgIn string
	}{
		{"healthy", secure, nil, nil, true, "False/AsExpected", "True/ReplicasAvailable", "all dependencies present", "why"},
		{"rolling out", secure, nil, nil, false, "False/AsExpected", "False/ReplicasUnavailable", "", "why"},
		{"missing secret", secure, []string{"a", "b"}, nil, true, "True/SecretNotFound", "False/SecretNotFound", "Secret a, b not found in namespace ns", "Secret a, b"},
		{"refused", refused, nil, nil, true, "True/InsecureExposure", "False/InsecureExposure", "Ingress refused: P.", "refused"},
		{"refused and missing", refused, []string{"a"}, nil, true, "True/InsecureExposure", "False/InsecureExposure", "Also: Secret a not found", "refused"},
		{"opted in", allowed, nil, nil, true, "True/InsecureExposure", "True/ReplicasAvailable", "allowUnauthenticated is true: P", "why"},
		{"opted in, missing", allowed, []string{"a"}, nil, true, "True/InsecureExposure", "False/SecretNotFound", "Also: Secret a", "Secret a"},
		{"name conflict", secure, nil, []string{"ConfigMap x exists"}, true, "True/NameConflict", "False/NameConflict", "ConfigMap x exists", "ConfigMap x exists"},
		{"name conflict and missing", secure, []string{"a"}, []string{"C"}, true, "True/NameConflict", "False/NameConflict", "C. Rename or delete the existing object, or rename the CascadeRoute. Also: Secret a", "C"},
		{"refused and conflict", refused, nil, []string{"C"}, true, "True/InsecureExposure", "False/InsecureExposure", "Also: C", "refused"},
		{"load balancer refused", lbRefused, nil, nil, true, "True/InsecureExposure", "False/InsecureExposure",
			"LoadBalancer Service (the Service is ClusterIP meanwhile) refused: P. Set spec.proxy.clientKeysSecretRef (or passthroughAuth on every provider), or set spec.proxy.service.allowUnauthenticated: true",
			"the LoadBalancer Service was refused"},
		{"ingress opted in, node port refused", mixed, nil, nil, true, "True/InsecureExposure", "False/InsecureExposure",
			"or set spec.proxy.service.allowUnauthenticated: true to expose it anyway. Ingress created without client authentication because spec.proxy.ingress.allowUnauthenticated is true: P",
			"the NodePort Service was refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := rollout{Available: tc.available, Message: "why"}
			if !tc.available {
				ro.Reason = v1alpha1.ReasonReplicasUnavailable
			}
			cs := servingConditions(tc.exposure, tc.missing, tc.conflicts, "ns", ro)
			if len(cs) != 2 || cs[0].Type != v1alpha1.ConditionDegraded || cs[1].Type != v1alpha1.ConditionReady {
				t.Fatalf("conditions %+v", cs)
			}
			if got := string(cs[0].Status) + "/" + cs[0].Reason; got != tc.degraded {
				t.Errorf("Degraded %s, want %s", got, tc.degraded)
			}
			if got := string(cs[1].Status) + "/" + cs[1].Reason; got != tc.ready {
				t.Errorf("Ready %s, want %s", got, tc.ready)
			}
			if !strings.Contains(cs[0].Message, tc.degradedMsg) || !strings.Contains(cs[1].Message, tc.readyMsgIn) {
				t.Errorf("messages %q / %q", cs[0].Message, cs[1].Message)
			}
		})
	}
}

func serviceType(t *testing.T, cr *v1alpha1.CascadeRoute) corev1.ServiceType {
	t.Helper()
	var svc corev1.Service
	if err := k8s.Get(context.Background(), proxyKey(cr), &svc); err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Type
}

// A LoadBalancer (or NodePort) Service exposes the proxy like an Ingress and
// falls under the same rule: without client authentication it stays
// ClusterIP unless spec.proxy.service.allowUnauthenticated opts in.
func TestLoadBalancerWithoutAuthIsClusterIPUnlessAllowed(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "lb")
	cr.Spec.Proxy.Service.Type = corev1.ServiceTypeLoadBalancer
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)

	got := waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInsecureExposure)
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded)
	for _, want := range []string{"LoadBalancer Service", "refused", "spec.proxy.service.allowUnauthenticated: true"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Degraded message %q does not say %q", c.Message, want)
		}
	}
	if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ReasonInsecureExposure {
		t.Errorf("Ready = %+v", r)
	}
	if typ := serviceType(t, cr); typ != corev1.ServiceTypeClusterIP {
		t.Fatalf("Service of an unauthenticated route is %s", typ)
	}

	// The explicit opt-in makes it a LoadBalancer; the condition stays and a Warning says so.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Service.AllowUnauthenticated = true })
	got = waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInsecureExposure)
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded); !strings.Contains(c.Message,
		"LoadBalancer Service created without client authentication because spec.proxy.service.allowUnauthenticated is true") {
		t.Errorf("Degraded message %q", c.Message)
	}
	if typ := serviceType(t, cr); typ != corev1.ServiceTypeLoadBalancer {
		t.Errorf("opted-in Service is %s", typ)
	}
	eventually(t, wait, func() error {
		if ev := eventsFor(t, ns, cr.Name); !slices.Contains(ev, "InsecureExposure/ExposeService/Warning") {
			return fmt.Errorf("events %v", ev)
		}
		return nil
	})

	// Withdrawing the opt-in closes it again.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Proxy.Service.AllowUnauthenticated = false })
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInsecureExposure)
	if typ := serviceType(t, cr); typ != corev1.ServiceTypeClusterIP {
		t.Errorf("Service after the opt-in was withdrawn is %s", typ)
	}

	// Pass-through on every provider authenticates every caller: exposed, not degraded.
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) {
		cr.Spec.Providers[0].APIKeySecretRef = nil
		cr.Spec.Providers[0].PassthroughAuth = true
	})
	waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)
	eventually(t, wait, func() error {
		if typ := serviceType(t, cr); typ != corev1.ServiceTypeLoadBalancer {
			return fmt.Errorf("Service of an authenticated route is %s", typ)
		}
		return nil
	})
}

// Adding client keys and a LoadBalancer type to a running route: pods of the
// old configuration do not check keys, so the Service stays ClusterIP until
// the rollout completes.
func TestLoadBalancerWaitsForTheAuthenticatedRollout(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "late-lb")
	mustCreate(t, vendorSecret(ns), clientKeysSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	markDeploymentAvailable(t, proxyKey(cr)) // one pod without client authentication serves
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable)

	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) {
		cr.Spec.Proxy.ClientKeysSecretRef = &v1alpha1.LocalSecretRef{Name: "client-keys"}
		cr.Spec.Proxy.Service.Type = corev1.ServiceTypeLoadBalancer
	})
	got := waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReplicasUnavailable)
	if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); !strings.Contains(r.Message, "the Service becomes LoadBalancer once every proxy pod runs the current configuration") {
		t.Errorf("Ready message %q", r.Message)
	}
	if typ := serviceType(t, cr); typ != corev1.ServiceTypeClusterIP {
		t.Fatalf("Service is %s while a pod without client authentication serves", typ)
	}
	markDeploymentAvailable(t, proxyKey(cr))
	eventually(t, wait, func() error {
		if typ := serviceType(t, cr); typ != corev1.ServiceTypeLoadBalancer {
			return fmt.Errorf("Service is %s after the rollout", typ)
		}
		return nil
	})
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable)
}
