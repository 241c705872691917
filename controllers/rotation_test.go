package controllers

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

func getDeployment(t *testing.T, key types.NamespacedName) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := k8s.Get(context.Background(), key, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// storedKeysVersion is what the pod template should carry for the Secret
// as the API server stores it now.
func storedKeysVersion(t *testing.T, key types.NamespacedName) string {
	t.Helper()
	var s corev1.Secret
	if err := k8s.Get(context.Background(), key, &s); err != nil {
		t.Fatal(err)
	}
	return render.KeySecretsVersion([]render.SecretVersion{{Name: s.Name, UID: s.UID, ResourceVersion: s.ResourceVersion}})
}

// writeSecretData replaces one data key of a Secret, the way
// `kubectl create secret ... --dry-run=client -o yaml | kubectl apply -f -` does.
func writeSecretData(t *testing.T, key types.NamespacedName, dataKey, value string) {
	t.Helper()
	eventually(t, wait, func() error {
		var s corev1.Secret
		if err := k8s.Get(context.Background(), key, &s); err != nil {
			return err
		}
		s.Data[dataKey] = []byte(value)
		return k8s.Update(context.Background(), &s)
	})
}

// unchangedFor fails when the Deployment is written within d: its
// resourceVersion is the proof that nothing, not even a no-op, touched it.
func unchangedFor(t *testing.T, key types.NamespacedName, want *appsv1.Deployment, d time.Duration, why string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		now := getDeployment(t, key)
		if now.ResourceVersion != want.ResourceVersion || !reflect.DeepEqual(now.Spec.Template, want.Spec.Template) {
			t.Fatalf("%s rewrote the Deployment: resourceVersion %s → %s, pod template annotations %v → %v",
				why, want.ResourceVersion, now.ResourceVersion, want.Spec.Template.Annotations, now.Spec.Template.Annotations)
		}
	}
}

// A new vendor key in the Secret rolls the proxy pods within seconds (the key
// is an environment variable, read at start); a new client key, a rule edit
// or a scale does not (those are reloaded, or are no pod change).
func TestVendorKeyRotationRollsThePods(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "rotate")
	cr.Spec.Proxy.ClientKeysSecretRef = &v1alpha1.LocalSecretRef{Name: "client-keys"}
	mustCreate(t, vendorSecret(ns), clientKeysSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	vendorKey := types.NamespacedName{Namespace: ns, Name: "vendor-keys"}
	clientKey := types.NamespacedName{Namespace: ns, Name: "client-keys"}
	waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)

	var d0 *appsv1.Deployment
	eventually(t, wait, func() error {
		d0 = getDeployment(t, proxyKey(cr))
		if got, want := d0.Spec.Template.Annotations[render.KeySecretsVersionAnnotation], storedKeysVersion(t, vendorKey); got != want {
			return fmt.Errorf("pod template key-Secrets version %q, want %q", got, want)
		}
		return nil
	})

	// Vendor key rotated: the pod template changes, in its annotation only.
	start := time.Now()
	writeSecretData(t, vendorKey, "anthropic", "sk-ant-test-rotated-not-real")
	want := storedKeysVersion(t, vendorKey)
	var d1 *appsv1.Deployment
	eventually(t, 5*time.Second, func() error {
		d1 = getDeployment(t, proxyKey(cr))
		if got := d1.Spec.Template.Annotations[render.KeySecretsVersionAnnotation]; got != want {
			return fmt.Errorf("pod template key-Secrets version %q, want %q (the Secret's new version)", got, want)
		}
		return nil
	})
	lag := time.Since(start)
	t.Logf("vendor key Secret update → new pod template in %v", lag.Round(time.Millisecond))
	if d1.Generation == d0.Generation {
		t.Errorf("generation stayed %d: the Deployment controller would not roll", d0.Generation)
	}
	t0, t1 := d0.Spec.Template.DeepCopy(), d1.Spec.Template.DeepCopy()
	t0.Annotations, t1.Annotations = nil, nil
	if !reflect.DeepEqual(t0, t1) {
		t.Errorf("the rotation changed more of the pod template than its key-Secrets version:\n%v\n%v", t0, t1)
	}
	for _, v := range d1.Spec.Template.Annotations {
		if strings.Contains(v, "sk-ant-test") {
			t.Fatal("key material in a pod template annotation")
		}
	}
	eventually(t, wait, func() error {
		if ev := eventsFor(t, ns, cr.Name); !slices.Contains(ev, ReasonKeySecretsChanged+"/RollOut/Normal") {
			return fmt.Errorf("no rotation Event among %v", ev)
		}
		return nil
	})

	// A client key added: hot-reloaded from the mount, no pod change. The
	// window is many times the rotation's own lag, so a restart would show.
	quiet := max(2*time.Second, 10*lag)
	writeSecretData(t, clientKey, "carol", "cf-client-carol-not-real")
	unchangedFor(t, proxyKey(cr), d1, quiet, "a client-keys Secret update")

	// A rule edit: only the ConfigMap changes.
	rulesBefore := getRoute(t, key).Status.RulesHash
	updateRoute(t, key, func(cr *v1alpha1.CascadeRoute) { cr.Spec.Rules[0].Threshold = ptr.To(0.9) })
	eventually(t, wait, func() error {
		if st := getRoute(t, key).Status; st.RulesHash == rulesBefore {
			return fmt.Errorf("rules hash still %s", st.RulesHash)
		}
		return nil
	})
	unchangedFor(t, proxyKey(cr), d1, quiet, "a rule edit")

	// Deleted: no rollout to pods that could not start; the running ones keep
	// the key they loaded. Re-created (a new UID): the pods roll.
	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vendor-keys"}}); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, key, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSecretNotFound)
	unchangedFor(t, proxyKey(cr), d1, quiet, "deleting the vendor-key Secret")
	mustCreate(t, vendorSecret(ns))
	want = storedKeysVersion(t, vendorKey)
	eventually(t, 5*time.Second, func() error {
		got := getDeployment(t, proxyKey(cr)).Spec.Template.Annotations[render.KeySecretsVersionAnnotation]
		if got != want {
			return fmt.Errorf("pod template key-Secrets version %q, want %q (the re-created Secret's)", got, want)
		}
		return nil
	})
}

// A route whose providers hold no vendor key (pass-through) has nothing to
// rotate: no annotation, and its client-keys Secret never restarts pods.
func TestPassthroughRouteHasNoKeyVersion(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "passthrough")
	cr.Spec.Providers[0].APIKeySecretRef = nil
	cr.Spec.Providers[0].PassthroughAuth = true
	cr.Spec.Proxy.ClientKeysSecretRef = &v1alpha1.LocalSecretRef{Name: "client-keys"}
	mustCreate(t, clientKeysSecret(ns), cr)
	waitCondition(t, client.ObjectKeyFromObject(cr), v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected)
	d := getDeployment(t, proxyKey(cr))
	if len(d.Spec.Template.Annotations) != 0 {
		t.Errorf("pod template annotations %v, want none", d.Spec.Template.Annotations)
	}
	writeSecretData(t, types.NamespacedName{Namespace: ns, Name: "client-keys"}, "carol", "cf-client-carol-not-real")
	unchangedFor(t, proxyKey(cr), d, 2*time.Second, "a client-keys Secret update")
}
