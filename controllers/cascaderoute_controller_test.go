package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

const wait = 15 * time.Second

// claudeCodeRoute is the realistic route: Claude Code's opus requests draft on haiku.
func claudeCodeRoute(ns, name string) *v1alpha1.CascadeRoute {
	return &v1alpha1.CascadeRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.CascadeRouteSpec{
			Providers: []v1alpha1.Provider{{
				Name: "anthropic", Type: v1alpha1.ProviderAnthropic, BaseURL: "https://api.anthropic.com",
				APIKeySecretRef: &v1alpha1.SecretKeyRef{Name: "vendor-keys", Key: "anthropic"},
			}},
			Rules: []v1alpha1.Rule{{
				Name:      "opus",
				Models:    []string{"claude-opus-5-5"},
				Draft:     v1alpha1.Target{Provider: "anthropic", Model: "claude-haiku-5-5"},
				Verifier:  v1alpha1.Target{Provider: "anthropic", Model: "claude-opus-5-5"},
				Threshold: ptr.To(0.7),
			}, {
				Name:     "sonnet",
				Models:   []string{"claude-sonnet-5-5"},
				Draft:    v1alpha1.Target{Provider: "anthropic", Model: "claude-haiku-5-5"},
				Verifier: v1alpha1.Target{Provider: "anthropic", Model: "claude-sonnet-5-5"},
			}},
			DefaultRoute: &v1alpha1.Route{Provider: "anthropic"},
		},
	}
}

func vendorSecret(ns string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vendor-keys"},
		StringData: map[string]string{"anthropic": "sk-ant-test-not-a-real-key"},
	}
}

func mustCreate(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func getRoute(t *testing.T, key types.NamespacedName) *v1alpha1.CascadeRoute {
	t.Helper()
	var cr v1alpha1.CascadeRoute
	if err := k8s.Get(context.Background(), key, &cr); err != nil {
		t.Fatal(err)
	}
	return &cr
}

// waitCondition waits until the route's status describes its current
// generation and the condition has the wanted status and reason.
func waitCondition(t *testing.T, key types.NamespacedName, typ string, status metav1.ConditionStatus, reason string) *v1alpha1.CascadeRoute {
	t.Helper()
	var cr v1alpha1.CascadeRoute
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), key, &cr); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cr.Status.Conditions, typ)
		switch {
		case cr.Status.ObservedGeneration != cr.Generation:
			return fmt.Errorf("status observed generation %d, object is at %d", cr.Status.ObservedGeneration, cr.Generation)
		case c == nil:
			return fmt.Errorf("no %s condition in %+v", typ, cr.Status.Conditions)
		case c.Status != status || c.Reason != reason:
			return fmt.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
		case c.ObservedGeneration != cr.Generation:
			return fmt.Errorf("%s condition observed generation %d, want %d", typ, c.ObservedGeneration, cr.Generation)
		}
		return nil
	})
	return &cr
}

func proxyKey(cr *v1alpha1.CascadeRoute) types.NamespacedName {
	return types.NamespacedName{Namespace: cr.Namespace, Name: render.ProxyName(cr)}
}

func rulesKey(cr *v1alpha1.CascadeRoute) types.NamespacedName {
	return types.NamespacedName{Namespace: cr.Namespace, Name: render.ConfigMapName(cr)}
}

// markDeploymentAvailable writes the status the Deployment controller would
// write once every replica is available (envtest runs no such controller).
func markDeploymentAvailable(t *testing.T, key types.NamespacedName) {
	t.Helper()
	ctx := context.Background()
	var d appsv1.Deployment
	if err := k8s.Get(ctx, key, &d); err != nil {
		t.Fatal(err)
	}
	n := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
	}
	if err := k8s.Status().Update(ctx, &d); err != nil {
		t.Fatal(err)
	}
}

func TestCreateRendersOwnedObjectsAndStatus(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "claude-code")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)

	got := waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)

	// The ConfigMap holds a rules file the proxy's strict decoder accepts.
	var cm corev1.ConfigMap
	if err := k8s.Get(ctx, rulesKey(cr), &cm); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Decode([]byte(cm.Data[render.RulesKey]))
	if err != nil {
		t.Fatalf("rules ConfigMap does not decode: %v", err)
	}
	if r := set.Match("claude-opus-5-5"); r == nil || r.Draft.Model != "claude-haiku-5-5" || r.Verifier.Model != "claude-opus-5-5" {
		t.Errorf("opus rule = %+v", r)
	}
	if set.Providers[0].APIKey == nil || set.Providers[0].APIKey.Env != "CASCADEFLOW_KEY_ANTHROPIC" {
		t.Errorf("provider key source = %+v", set.Providers[0].APIKey)
	}
	if got.Status.RulesHash != set.Hash() || cm.Annotations[render.RulesHashAnnotation] != set.Hash() {
		t.Errorf("hash: status %q, annotation %q, decoded %q", got.Status.RulesHash, cm.Annotations[render.RulesHashAnnotation], set.Hash())
	}
	if got.Status.RuleCount != 2 || got.Status.Endpoint != "http://claude-code-proxy."+ns+".svc:8080" || got.Status.Replicas != 1 {
		t.Errorf("status = %+v", got.Status)
	}

	// Deployment: image, args, key from the Secret.
	var d appsv1.Deployment
	if err := k8s.Get(ctx, proxyKey(cr), &d); err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	wantArgs := []string{"--listen=0.0.0.0:8080", "--admin-listen=0.0.0.0:9090", "--rules=/etc/cascadeflow/rules.yaml", "--rules-configmap=" + ns + "/claude-code-rules",
		"--demo=off", "--drain-delay=5s", "--shutdown-timeout=53s", "--quality-publish", "--quality-route=claude-code"}
	if c.Image != testImage || !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("image %q args %q", c.Image, c.Args)
	}
	// The pod's own name and namespace (it publishes under them), then the key.
	if len(c.Env) != 3 || c.Env[0].Name != "POD_NAME" || c.Env[1].Name != "POD_NAMESPACE" || c.Env[2].Name != "CASCADEFLOW_KEY_ANTHROPIC" || c.Env[2].ValueFrom == nil ||
		c.Env[2].ValueFrom.SecretKeyRef.Name != "vendor-keys" || c.Env[2].ValueFrom.SecretKeyRef.Key != "anthropic" {
		t.Errorf("env = %+v", c.Env)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "claude-code-proxy" {
		t.Errorf("service account %q", d.Spec.Template.Spec.ServiceAccountName)
	}

	// Service.
	var svc corev1.Service
	if err := k8s.Get(ctx, proxyKey(cr), &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.StrVal != "http" ||
		!reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("service spec %+v", svc.Spec)
	}

	// RBAC for the proxy's ConfigMap watch.
	var role rbacv1.Role
	var rb rbacv1.RoleBinding
	var sa corev1.ServiceAccount
	for _, o := range []client.Object{&role, &rb, &sa} {
		if err := k8s.Get(ctx, proxyKey(cr), o); err != nil {
			t.Fatalf("%T: %v", o, err)
		}
	}
	if !reflect.DeepEqual(role.Rules[0].ResourceNames, []string{"claude-code-rules"}) {
		t.Errorf("role = %+v", role.Rules)
	}
	if rb.Subjects[0].Name != sa.Name || rb.RoleRef.Name != role.Name {
		t.Errorf("role binding = %+v", rb)
	}

	// Every owned object points at the route as its controller.
	for _, o := range []client.Object{&cm, &d, &svc, &role, &rb, &sa} {
		ref := metav1.GetControllerOf(o)
		if ref == nil || ref.UID != got.UID || ref.Kind != "CascadeRoute" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Errorf("%T %s: controller ref %+v, want the CascadeRoute %s", o, o.GetName(), ref, got.UID)
		}
	}

	// No Deployment controller here: not Ready until the Deployment reports available replicas.
	got = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReplicasUnavailable)
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Degraded = %+v", c)
	}
	markDeploymentAvailable(t, proxyKey(cr))
	got = waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable)
	if got.Status.ReadyReplicas != 1 {
		t.Errorf("readyReplicas = %d", got.Status.ReadyReplicas)
	}

	// Printer columns, as kubectl get shows them (the API server's Table rendering).
	table := getTable(t, ns, cr.Name)
	var names []string
	for _, col := range table.ColumnDefinitions {
		names = append(names, col.Name)
	}
	if want := []string{"Name", "Ready", "Rules", "Replicas", "Endpoint", "Quality", "Threshold", "Savings", "Age", "TargetMet", "Reason", "Keys", "Requests", "Budgets"}; !reflect.DeepEqual(names, want) {
		t.Errorf("columns = %v, want %v", names, want)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("rows = %d", len(table.Rows))
	}
	cells := table.Rows[0].Cells
	wantCells := []any{"claude-code", "True", float64(2), float64(1), "http://claude-code-proxy." + ns + ".svc:8080"}
	if !reflect.DeepEqual(cells[:5], wantCells) {
		t.Errorf("cells = %#v, want %#v", cells[:5], wantCells)
	}
	if cells[10] != v1alpha1.ReasonReplicasAvailable {
		t.Errorf("reason column = %v", cells[10])
	}
}

// getTable reads a CascadeRoute the way kubectl get does: as a meta.k8s.io Table.
func getTable(t *testing.T, ns, name string) *metav1.Table {
	t.Helper()
	hc, err := rest.HTTPClientFor(apiServer)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("%s/apis/routing.cascadeflow.io/v1alpha1/namespaces/%s/cascaderoutes/%s", strings.TrimSuffix(apiServer.Host, "/"), ns, name)
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as a Table: %s: %s", url, resp.Status, body)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatal(err)
	}
	return &table
}

// A rule edit rewrites the ConfigMap only: the Deployment is not even written.
func TestRuleEditChangesOnlyTheConfigMap(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "edit")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	// Degraded=False: the operator has seen the Secret, so the pod template
	// carries its version (a first reconcile may run before the cache has it).
	before := waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)

	var d0 appsv1.Deployment
	var s0 corev1.Service
	var cm0 corev1.ConfigMap
	for k, o := range map[types.NamespacedName]client.Object{proxyKey(cr): &d0, rulesKey(cr): &cm0} {
		if err := k8s.Get(ctx, k, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := k8s.Get(ctx, proxyKey(cr), &s0); err != nil {
		t.Fatal(err)
	}
	// The template carries the key Secret's version; a rule edit must leave it be.
	if d0.Spec.Template.Annotations[render.KeySecretsVersionAnnotation] == "" {
		t.Fatalf("pod template without a key-Secrets version: %v", d0.Spec.Template.Annotations)
	}

	edited := before.DeepCopy()
	edited.Spec.Rules[0].Draft.Model = "claude-sonnet-5-5"
	edited.Spec.Rules[0].Threshold = ptr.To(0.8)
	if err := k8s.Update(ctx, edited); err != nil {
		t.Fatal(err)
	}
	var after v1alpha1.CascadeRoute
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, key, &after); err != nil {
			return err
		}
		if after.Status.ObservedGeneration != after.Generation || after.Status.RulesHash == before.Status.RulesHash {
			return fmt.Errorf("status not updated for generation %d yet: %+v", after.Generation, after.Status)
		}
		return nil
	})

	var d1 appsv1.Deployment
	var s1 corev1.Service
	var cm1 corev1.ConfigMap
	if err := k8s.Get(ctx, proxyKey(cr), &d1); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, proxyKey(cr), &s1); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, rulesKey(cr), &cm1); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Decode([]byte(cm1.Data[render.RulesKey]))
	if err != nil {
		t.Fatal(err)
	}
	if r := set.Match("claude-opus-5-5"); r.Draft.Model != "claude-sonnet-5-5" || r.EffectiveThreshold() != 0.8 {
		t.Errorf("edited rule = %+v", r)
	}
	if cm1.Annotations[render.RulesHashAnnotation] != after.Status.RulesHash {
		t.Errorf("ConfigMap hash %q, status %q", cm1.Annotations[render.RulesHashAnnotation], after.Status.RulesHash)
	}
	if d1.ResourceVersion != d0.ResourceVersion || d1.Generation != d0.Generation {
		t.Errorf("Deployment written on a rule edit: resourceVersion %s → %s, generation %d → %d",
			d0.ResourceVersion, d1.ResourceVersion, d0.Generation, d1.Generation)
	}
	if !reflect.DeepEqual(d0.Spec.Template, d1.Spec.Template) {
		t.Error("pod template changed on a rule edit")
	}
	if s1.ResourceVersion != s0.ResourceVersion {
		t.Errorf("Service written on a rule edit")
	}

	// A proxy change does reach the Deployment.
	scaled := getRoute(t, key)
	scaled.Spec.Proxy.Replicas = ptr.To[int32](3)
	if err := k8s.Update(ctx, scaled); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		var d appsv1.Deployment
		if err := k8s.Get(ctx, proxyKey(cr), &d); err != nil {
			return err
		}
		if *d.Spec.Replicas != 3 {
			return fmt.Errorf("replicas %d", *d.Spec.Replicas)
		}
		if !reflect.DeepEqual(d0.Spec.Template, d.Spec.Template) {
			return fmt.Errorf("pod template changed on a scale")
		}
		return nil
	})
}

// Reconciling an up-to-date route writes nothing: no owned object and not the status.
func TestReconcileIsIdempotent(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "idem")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	waitCondition(t, key, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonReplicasUnavailable)

	versions := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		objs := map[string]client.Object{
			"ConfigMap": &corev1.ConfigMap{}, "Deployment": &appsv1.Deployment{}, "Service": &corev1.Service{},
			"ServiceAccount": &corev1.ServiceAccount{}, "Role": &rbacv1.Role{}, "RoleBinding": &rbacv1.RoleBinding{},
			"CascadeRoute": &v1alpha1.CascadeRoute{},
		}
		for kind, o := range objs {
			k := proxyKey(cr)
			switch kind {
			case "ConfigMap":
				k = rulesKey(cr)
			case "CascadeRoute":
				k = key
			}
			if err := k8s.Get(ctx, k, o); err != nil {
				t.Fatal(err)
			}
			out[kind] = o.GetResourceVersion()
		}
		return out
	}
	v0 := versions()
	// A second reconciler reading straight from the API server, so no cache lag hides a write.
	r := &CascadeRouteReconciler{Client: k8s, Render: render.Options{ProxyImage: testImage}}
	for i := 0; i < 3; i++ {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatal(err)
		}
	}
	if v1 := versions(); !reflect.DeepEqual(v0, v1) {
		t.Errorf("a no-op reconcile wrote objects: before %v, after %v", v0, v1)
	}

	// Skipping no-op applies must not hide drift: a hand edit is reverted.
	var d appsv1.Deployment
	if err := k8s.Get(ctx, proxyKey(cr), &d); err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "someone/else:edited"
	d.Spec.Template.Spec.Containers[0].Args = nil
	if err := k8s.Update(ctx, &d, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		var now appsv1.Deployment
		if err := k8s.Get(ctx, proxyKey(cr), &now); err != nil {
			return err
		}
		c := now.Spec.Template.Spec.Containers[0]
		if c.Image != testImage || len(c.Args) != 9 {
			return fmt.Errorf("drift not reverted: image %q args %q", c.Image, c.Args)
		}
		return nil
	})
}

func TestMissingSecretDegradesThenRecovers(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "no-secret")
	mustCreate(t, cr)
	key := client.ObjectKeyFromObject(cr)

	got := waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSecretNotFound)
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded)
	if want := "Secret vendor-keys not found in namespace " + ns; !strings.HasPrefix(c.Message, want) {
		t.Errorf("Degraded message %q, want it to start with %q", c.Message, want)
	}
	if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ReasonSecretNotFound {
		t.Errorf("Ready = %+v", r)
	}
	// The rules and Deployment are written anyway: pods start as soon as the Secret exists.
	if err := k8s.Get(ctx, proxyKey(cr), &appsv1.Deployment{}); err != nil {
		t.Errorf("Deployment not written while the Secret is missing: %v", err)
	}

	mustCreate(t, vendorSecret(ns))
	got = waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)
	if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); r.Reason != v1alpha1.ReasonReplicasUnavailable {
		t.Errorf("Ready after the Secret appeared = %+v", r)
	}

	// kubectl describe shows the transitions as Events.
	eventually(t, wait, func() error {
		var list eventsv1.EventList
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		seen := map[string]string{}
		for _, e := range list.Items {
			if e.Regarding.Name == cr.Name && e.Regarding.Kind == "CascadeRoute" {
				seen[e.Reason] = e.Type
			}
		}
		if seen[v1alpha1.ReasonSecretNotFound] != "Warning" || seen[v1alpha1.ReasonAsExpected] != "Normal" || seen["RulesWritten"] != "Normal" {
			return fmt.Errorf("events by reason: %v", seen)
		}
		return nil
	})

	// Deleting the Secret again is noticed too.
	if err := k8s.Delete(ctx, vendorSecret(ns)); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSecretNotFound)
}

// A spec that passes admission but not the rules contract keeps the last good rules.
func TestInvalidRuleKeepsLastGoodRules(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "invalid")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	good := waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
	var cm0 corev1.ConfigMap
	if err := k8s.Get(ctx, rulesKey(cr), &cm0); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		break_ func(*v1alpha1.CascadeRoute)
		want   string
	}{
		{"blank draft model", func(cr *v1alpha1.CascadeRoute) { cr.Spec.Rules[1].Draft.Model = "   " },
			"rules[1].draft.model: is required"},
		{"model repeated in another case", func(cr *v1alpha1.CascadeRoute) {
			cr.Spec.Rules[1].Models = append(cr.Spec.Rules[1].Models, "Claude-Opus-5-5")
		}, `rules[1].models[1]: model "Claude-Opus-5-5" is already served by rule "opus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := good.DeepCopy()
			bad.ResourceVersion = getRoute(t, key).ResourceVersion
			tc.break_(bad)
			if err := k8s.Update(ctx, bad); err != nil {
				t.Fatal(err)
			}
			got := waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonInvalidRule)
			c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted)
			if !strings.Contains(c.Message, tc.want) {
				t.Errorf("Accepted message %q does not say %q", c.Message, tc.want)
			}
			if d := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded); d.Status != metav1.ConditionTrue || d.Reason != v1alpha1.ReasonInvalidRule {
				t.Errorf("Degraded = %+v", d)
			}
			if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ReasonInvalidRule {
				t.Errorf("Ready = %+v", r)
			}
			if got.Status.RulesHash != good.Status.RulesHash {
				t.Errorf("rulesHash moved to %q though nothing was written", got.Status.RulesHash)
			}
			var cm1 corev1.ConfigMap
			if err := k8s.Get(ctx, rulesKey(cr), &cm1); err != nil {
				t.Fatal(err)
			}
			if cm1.ResourceVersion != cm0.ResourceVersion {
				t.Error("ConfigMap rewritten with invalid rules")
			}
		})
	}

	// Fixing the spec is accepted again.
	fixed := good.DeepCopy()
	fixed.ResourceVersion = getRoute(t, key).ResourceVersion
	if err := k8s.Update(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)
}

func TestDeleteLeavesObjectsToTheGarbageCollector(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "delete-me")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	got := waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)

	if err := k8s.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		err := k8s.Get(ctx, key, &v1alpha1.CascadeRoute{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("route still there: %v", err)
	})
	// The operator holds no finalizer, and the garbage collector (absent here)
	// deletes what the owner references point at.
	var cm corev1.ConfigMap
	if err := k8s.Get(ctx, rulesKey(cr), &cm); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(&cm); ref == nil || ref.UID != got.UID {
		t.Errorf("ConfigMap controller ref %+v, want UID %s", ref, got.UID)
	}
	// A reconcile of the deleted route is a no-op, not an error.
	r := &CascadeRouteReconciler{Client: k8s, Render: render.Options{ProxyImage: testImage}}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
		t.Errorf("reconcile of a deleted route: %v", err)
	}
}

// An object the route cannot take over (another controller owns it; labelled
// as the operator's, so the cache holds it) makes the apply fail: the status
// says which object and why.
func TestApplyFailureIsReported(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "conflict")
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone"}}
	mustCreate(t, vendorSecret(ns), other)
	mustCreate(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: render.ConfigMapName(cr), Labels: map[string]string{render.ManagedByLabel: render.ManagedByValue},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: other.Name, UID: other.UID, Controller: ptr.To(true)}},
	}})
	mustCreate(t, cr)
	got := waitCondition(t, client.ObjectKeyFromObject(cr), v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonApplyFailed)
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	if c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonApplyFailed ||
		!strings.Contains(c.Message, "apply ConfigMap conflict-rules") || !strings.Contains(c.Message, "Controller") {
		t.Errorf("Ready = %+v", c)
	}
}

// Objects of the names a route renders that someone else made, unlabelled
// (so the operator's cache does not hold them), are left alone: not applied
// over, not given the route as controller (the garbage collector would
// delete them with the route). The status names them.
func TestUnlabelledObjectsOfTheSameNameAreLeftAlone(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "squatted")
	userCM := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.ConfigMapName(cr)},
		Data:       map[string]string{"mine": "precious"},
	}
	userSvc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.ProxyName(cr)},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "mine"},
			Ports: []corev1.ServicePort{{Name: "web", Port: 81, Protocol: corev1.ProtocolTCP}}},
	}
	mustCreate(t, vendorSecret(ns), userCM, userSvc, cr)
	key := client.ObjectKeyFromObject(cr)
	got := waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonNameConflict)
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionDegraded)
	for _, want := range []string{"ConfigMap squatted-rules already exists", "Service squatted-proxy already exists"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Degraded message %q does not name %q", c.Message, want)
		}
	}
	if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ReasonNameConflict {
		t.Errorf("Ready = %+v", r)
	}
	// The rules were not written: Accepted does not claim they were.
	if a := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted); a == nil || a.Status != metav1.ConditionFalse || a.Reason != v1alpha1.ReasonNameConflict {
		t.Errorf("Accepted = %+v", a)
	}
	// The rest is still rendered.
	eventually(t, wait, func() error { return k8s.Get(ctx, proxyKey(cr), &appsv1.Deployment{}) })
	time.Sleep(300 * time.Millisecond)

	var cm corev1.ConfigMap
	if err := k8s.Get(ctx, rulesKey(cr), &cm); err != nil {
		t.Fatal(err)
	}
	if len(cm.OwnerReferences) != 0 || len(cm.Labels) != 0 || !reflect.DeepEqual(cm.Data, userCM.Data) {
		t.Errorf("user ConfigMap changed: owners %v, labels %v, data keys %d", cm.OwnerReferences, cm.Labels, len(cm.Data))
	}
	var svc corev1.Service
	if err := k8s.Get(ctx, proxyKey(cr), &svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.OwnerReferences) != 0 || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 81 || svc.Spec.Selector["app"] != "mine" {
		t.Errorf("user Service changed: owners %v, spec %+v", svc.OwnerReferences, svc.Spec)
	}

	// Once the user's ConfigMap is gone, the route takes the name.
	if err := k8s.Delete(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Rules[0].Threshold = ptr.To(0.6) })
	eventually(t, wait, func() error {
		var cm corev1.ConfigMap
		if err := k8s.Get(ctx, rulesKey(cr), &cm); err != nil {
			return err
		}
		if ref := metav1.GetControllerOf(&cm); ref == nil || ref.Name != cr.Name {
			return fmt.Errorf("ConfigMap controller %v", ref)
		}
		return nil
	})
}

// A step after the ConfigMap that fails still leaves the status describing
// the rules the ConfigMap now holds.
func TestFailedStepKeepsTheWrittenRulesHash(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "half-applied")
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone"}}
	mustCreate(t, vendorSecret(ns), other)
	// A Deployment of the proxy's name, labelled as the operator's (so it is
	// cached) but controlled by someone else: its apply fails.
	sel := map[string]string{"app": "x"}
	mustCreate(t, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: render.ProxyName(cr), Labels: map[string]string{render.ManagedByLabel: render.ManagedByValue},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: other.Name, UID: other.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}},
	})
	mustCreate(t, cr)
	key := client.ObjectKeyFromObject(cr)
	got := waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonApplyFailed)
	var cm corev1.ConfigMap
	if err := k8s.Get(ctx, rulesKey(cr), &cm); err != nil {
		t.Fatal(err)
	}
	written := cm.Annotations[render.RulesHashAnnotation]
	if written == "" || got.Status.RulesHash != written || got.Status.RuleCount != 2 {
		t.Errorf("status rulesHash %q ruleCount %d, ConfigMap holds %q", got.Status.RulesHash, got.Status.RuleCount, written)
	}
}
