package render

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

func kindsOf(objs []Object) []string {
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
	}
	return kinds
}

func TestExposureNeedsAuthentication(t *testing.T) {
	keyed := v1alpha1.Provider{Name: "anthropic", APIKeySecretRef: &v1alpha1.SecretKeyRef{Name: "k", Key: "v"}}
	keyed2 := v1alpha1.Provider{Name: "openai", APIKeySecretRef: &v1alpha1.SecretKeyRef{Name: "k", Key: "w"}}
	pass := v1alpha1.Provider{Name: "byok", PassthroughAuth: true}
	clientKeys := &v1alpha1.LocalSecretRef{Name: "client-keys"}
	ing := Channel{Requested: true, Allowed: true}
	for _, tc := range []struct {
		name       string
		providers  []v1alpha1.Provider
		clientKeys *v1alpha1.LocalSecretRef
		ingress    *v1alpha1.IngressSpec
		service    v1alpha1.ServiceSpec
		want       Exposure
		problem    []string
	}{
		{name: "no ingress, no auth", providers: []v1alpha1.Provider{keyed}, want: Exposure{}},
		{name: "ClusterIP Service, no auth", providers: []v1alpha1.Provider{keyed}, service: v1alpha1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}, want: Exposure{}},
		{name: "client keys", providers: []v1alpha1.Provider{keyed}, clientKeys: clientKeys, ingress: &v1alpha1.IngressSpec{},
			want: Exposure{Ingress: ing, Authenticated: true}},
		{name: "pass-through on every provider", providers: []v1alpha1.Provider{pass}, ingress: &v1alpha1.IngressSpec{},
			want: Exposure{Ingress: ing, Authenticated: true}},
		{name: "pass-through on some providers only", providers: []v1alpha1.Provider{pass, keyed, keyed2}, ingress: &v1alpha1.IngressSpec{},
			want:    Exposure{Ingress: Channel{Requested: true}},
			problem: []string{"spec.proxy.ingress exposes", "clientKeysSecretRef is unset", "provider(s) anthropic, openai call the vendor with the route's own API key"}},
		{name: "keyed, opted in", providers: []v1alpha1.Provider{keyed}, ingress: &v1alpha1.IngressSpec{AllowUnauthenticated: true},
			want:    Exposure{Ingress: ing},
			problem: []string{"provider(s) anthropic call the vendor"}},
		{name: "LoadBalancer, no auth", providers: []v1alpha1.Provider{keyed}, service: v1alpha1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
			want:    Exposure{Service: Channel{Requested: true}, ServiceType: "LoadBalancer"},
			problem: []string{"spec.proxy.service.type LoadBalancer exposes the proxy", "provider(s) anthropic"}},
		{name: "NodePort, client keys", providers: []v1alpha1.Provider{keyed}, clientKeys: clientKeys, service: v1alpha1.ServiceSpec{Type: corev1.ServiceTypeNodePort},
			want: Exposure{Service: Channel{Requested: true, Allowed: true}, ServiceType: "NodePort", Authenticated: true}},
		{name: "NodePort, pass-through", providers: []v1alpha1.Provider{pass}, service: v1alpha1.ServiceSpec{Type: corev1.ServiceTypeNodePort},
			want: Exposure{Service: Channel{Requested: true, Allowed: true}, ServiceType: "NodePort", Authenticated: true}},
		{name: "LoadBalancer opted in, Ingress not", providers: []v1alpha1.Provider{keyed}, ingress: &v1alpha1.IngressSpec{},
			service: v1alpha1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllowUnauthenticated: true},
			want:    Exposure{Ingress: Channel{Requested: true}, Service: Channel{Requested: true, Allowed: true}, ServiceType: "LoadBalancer"},
			problem: []string{"spec.proxy.ingress and spec.proxy.service.type LoadBalancer expose"}},
		{name: "Ingress opt-in does not open the Service", providers: []v1alpha1.Provider{keyed}, ingress: &v1alpha1.IngressSpec{AllowUnauthenticated: true},
			service: v1alpha1.ServiceSpec{Type: corev1.ServiceTypeNodePort},
			want:    Exposure{Ingress: ing, Service: Channel{Requested: true}, ServiceType: "NodePort"},
			problem: []string{"provider(s) anthropic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &v1alpha1.CascadeRoute{Spec: v1alpha1.CascadeRouteSpec{Providers: tc.providers,
				Proxy: v1alpha1.ProxySpec{ClientKeysSecretRef: tc.clientKeys, Ingress: tc.ingress, Service: tc.service}}}
			got := ExposureOf(cr)
			problem := got.Problem
			got.Problem = ""
			if got != tc.want {
				t.Errorf("exposure = %+v, want %+v", got, tc.want)
			}
			requested := tc.want.Ingress.Requested || tc.want.Service.Requested
			if got.Insecure() != (requested && !tc.want.Authenticated) {
				t.Errorf("Insecure() = %v", got.Insecure())
			}
			if (problem == "") != (len(tc.problem) == 0) {
				t.Errorf("problem %q, want one mentioning %q", problem, tc.problem)
			}
			for _, p := range tc.problem {
				if !strings.Contains(problem, p) {
					t.Errorf("problem %q does not mention %q", problem, p)
				}
			}
			// The Service is rendered as asked only when allowed.
			wantType := corev1.ServiceTypeClusterIP
			if tc.want.Service.Allowed {
				wantType = tc.service.Type
			}
			if typ := Service(cr).Spec.Type; typ != wantType {
				t.Errorf("Service type %s, want %s", typ, wantType)
			}
		})
	}
}

func TestRefusedIngressIsNotRenderedAndIsUnwanted(t *testing.T) {
	for path, want := range map[string]struct {
		kinds    []string
		unwanted []string
	}{
		"testdata/insecure-ingress.in.yaml": {
			kinds:    []string{"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "PodDisruptionBudget"},
			unwanted: []string{"Ingress", "HorizontalPodAutoscaler", "ConfigMap"},
		},
		"testdata/insecure-allowed.in.yaml": {
			kinds:    []string{"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "Ingress"},
			unwanted: []string{"HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"},
		},
		"testdata/exposed.in.yaml": {
			kinds: []string{"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service",
				"PodDisruptionBudget", "HorizontalPodAutoscaler", "Ingress"},
			unwanted: []string{"ConfigMap"},
		},
		"testdata/minimal.in.yaml": {
			kinds:    []string{"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"},
			unwanted: []string{"Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"},
		},
	} {
		cr := readRoute(t, path)
		set, err := Rules(cr)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := All(cr, set, testOpts, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := kindsOf(objs); !reflect.DeepEqual(got, want.kinds) {
			t.Errorf("%s: rendered %v, want %v", path, got, want.kinds)
		}
		unwanted := Unwanted(cr)
		if got := kindsOf(unwanted); !reflect.DeepEqual(got, want.unwanted) {
			t.Errorf("%s: unwanted %v, want %v", path, got, want.unwanted)
		}
		for _, o := range unwanted {
			name := cr.Name + "-proxy"
			if _, ok := o.(*corev1.ConfigMap); ok {
				name = QualityArchiveName(cr) // no quality loop, no archive
			}
			if o.GetName() != name || o.GetNamespace() != cr.Namespace {
				t.Errorf("%s: unwanted %T named %s/%s", path, o, o.GetNamespace(), o.GetName())
			}
		}
	}
}

func TestIngressStreamingDefaultsYieldToUserAnnotations(t *testing.T) {
	cr := readRoute(t, "testdata/exposed.in.yaml")
	ing := Ingress(cr)
	want := map[string]string{
		"nginx.ingress.kubernetes.io/proxy-buffering":    "off",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
		"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
		"nginx.ingress.kubernetes.io/proxy-body-size":    "64m", // the user's value
		"cert-manager.io/cluster-issuer":                 "letsencrypt",
	}
	if !reflect.DeepEqual(ing.Annotations, want) {
		t.Errorf("annotations = %v, want %v", ing.Annotations, want)
	}
	if got := StreamingAnnotations()["nginx.ingress.kubernetes.io/proxy-body-size"]; got != "32m" {
		t.Errorf("default body size %q, want 32m", got)
	}
	// The user's map is not modified by rendering.
	if len(cr.Spec.Proxy.Ingress.Annotations) != 2 {
		t.Errorf("spec annotations changed: %v", cr.Spec.Proxy.Ingress.Annotations)
	}
	rule := ing.Spec.Rules[0]
	p := rule.HTTP.Paths[0]
	if rule.Host != "llm.team-b.example.com" || p.Path != "/" || *p.PathType != networkingv1.PathTypePrefix ||
		p.Backend.Service.Name != "exposed-proxy" || p.Backend.Service.Port.Number != 80 {
		t.Errorf("rule = %+v, path %+v", rule, p)
	}
	if *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 ||
		!reflect.DeepEqual(ing.Spec.TLS[0].Hosts, []string{"llm.team-b.example.com"}) || ing.Spec.TLS[0].SecretName != "llm-team-b-tls" {
		t.Errorf("class %v tls %+v", ing.Spec.IngressClassName, ing.Spec.TLS)
	}

	// Without className, path and pathType: the default class, "/" and Prefix, and no TLS.
	bare := readRoute(t, "testdata/insecure-allowed.in.yaml")
	ing = Ingress(bare)
	p = ing.Spec.Rules[0].HTTP.Paths[0]
	if ing.Spec.IngressClassName != nil || ing.Spec.TLS != nil || ing.Spec.Rules[0].Host != "" ||
		p.Path != "/" || *p.PathType != networkingv1.PathTypePrefix || p.Backend.Service.Port.Number != 8080 {
		t.Errorf("bare ingress spec = %+v", ing.Spec)
	}
}

func TestAutoscaledDeploymentLeavesReplicasToTheAutoscaler(t *testing.T) {
	cr := readRoute(t, "testdata/exposed.in.yaml")
	if d := Deployment(cr, testOpts); d.Spec.Replicas != nil {
		t.Errorf("autoscaled Deployment sets replicas %d: server-side apply would fight the autoscaler", *d.Spec.Replicas)
	}
	hpa := HorizontalPodAutoscaler(cr)
	if *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 10 || hpa.Spec.ScaleTargetRef.Name != "exposed-proxy" ||
		hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.APIVersion != "apps/v1" {
		t.Errorf("hpa spec = %+v", hpa.Spec)
	}
	m := hpa.Spec.Metrics[0]
	if m.Resource.Name != corev1.ResourceCPU || *m.Resource.Target.AverageUtilization != 60 {
		t.Errorf("metric = %+v", m.Resource)
	}

	// Defaults: min 1 and 70 % CPU; a minimum of 1 needs no disruption budget.
	cr.Spec.Proxy.Autoscaling = &v1alpha1.AutoscalingSpec{MaxReplicas: 4}
	hpa = HorizontalPodAutoscaler(cr)
	if *hpa.Spec.MinReplicas != 1 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
		t.Errorf("defaults: min %d target %d", *hpa.Spec.MinReplicas, *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization)
	}
	if NeedsDisruptionBudget(cr) {
		t.Error("autoscaling from 1 pod got a disruption budget")
	}

	// Switched off, spec.proxy.replicas (2) is back, and with it the budget.
	cr.Spec.Proxy.Autoscaling = nil
	if d := Deployment(cr, testOpts); d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	if !NeedsDisruptionBudget(cr) {
		t.Error("2 replicas without a disruption budget")
	}
	cr.Spec.Proxy.Replicas = ptr.To[int32](1)
	if NeedsDisruptionBudget(cr) {
		t.Error("1 replica with a disruption budget (it would block node drains)")
	}
}

func TestDisruptionBudgetEvictsOnePodAtATime(t *testing.T) {
	cr := readRoute(t, "testdata/openai.in.yaml")
	pdb := PodDisruptionBudget(cr)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("pdb = %+v", pdb.Spec)
	}
	if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, Deployment(cr, testOpts).Spec.Selector.MatchLabels) {
		t.Errorf("pdb selector %v does not select the Deployment's pods", pdb.Spec.Selector.MatchLabels)
	}
	if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != "AlwaysAllow" {
		t.Errorf("unhealthy pod eviction policy = %v", p)
	}
}

func TestPodsSpreadAcrossNodesAndHaveSaneResources(t *testing.T) {
	cr := readRoute(t, "testdata/minimal.in.yaml")
	pod := Deployment(cr, testOpts).Spec.Template.Spec
	if len(pod.TopologySpreadConstraints) != 1 {
		t.Fatalf("spread = %+v", pod.TopologySpreadConstraints)
	}
	sc := pod.TopologySpreadConstraints[0]
	if sc.TopologyKey != "kubernetes.io/hostname" || sc.WhenUnsatisfiable != corev1.ScheduleAnyway || sc.MaxSkew != 1 ||
		!reflect.DeepEqual(sc.LabelSelector.MatchLabels, map[string]string{"app.kubernetes.io/name": "cascadeflow-proxy", "app.kubernetes.io/instance": "passthrough"}) {
		t.Errorf("spread = %+v", sc)
	}
	res := pod.Containers[0].Resources
	for what, c := range map[string]struct {
		got  resource.Quantity
		want string
	}{
		"cpu request":    {res.Requests[corev1.ResourceCPU], "100m"},
		"memory request": {res.Requests[corev1.ResourceMemory], "128Mi"},
		"memory limit":   {res.Limits[corev1.ResourceMemory], "512Mi"},
	} {
		if c.got.Cmp(resource.MustParse(c.want)) != 0 {
			t.Errorf("%s = %s, want %s", what, c.got.String(), c.want)
		}
	}
	if _, ok := res.Limits[corev1.ResourceCPU]; ok {
		t.Error("default CPU limit set: it throttles streams")
	}
}
