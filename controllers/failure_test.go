package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

// A lookup that fails before anything is applied — a Secret's metadata, the
// running Deployment's key version — is recorded in the status like any
// failed step, and the error is returned for a retry. No API server is
// needed: the reads fail in a fake client.
func TestLookupFailureIsReported(t *testing.T) {
	errDown := errors.New("connection refused")
	for _, tc := range []struct {
		name    string
		fails   func(client.Object) bool
		message string
	}{{
		name: "Secret",
		fails: func(o client.Object) bool {
			m, ok := o.(*metav1.PartialObjectMetadata)
			return ok && m.Kind == "Secret"
		},
		message: "look up Secret ns/vendor-keys: connection refused",
	}, {
		name:    "Deployment",
		fails:   func(o client.Object) bool { _, ok := o.(*appsv1.Deployment); return ok },
		message: "read Deployment lookup-proxy: connection refused",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cr := claudeCodeRoute("ns", "lookup")
			cr.Generation = 3
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(cr).WithStatusSubresource(cr).
				WithInterceptorFuncs(interceptor.Funcs{
					Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
						if tc.fails(obj) {
							return errDown
						}
						return c.Get(ctx, key, obj, opts...)
					},
					Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
						t.Error("an object was applied after a failed lookup")
						return nil
					},
				}).Build()
			r := &CascadeRouteReconciler{Client: c, Render: render.Options{ProxyImage: testImage}}

			_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cr)})
			if !errors.Is(err, errDown) {
				t.Fatalf("Reconcile error = %v, want the lookup's error", err)
			}
			var got v1alpha1.CascadeRoute
			if err := c.Get(ctx, client.ObjectKeyFromObject(cr), &got); err != nil {
				t.Fatal(err)
			}
			for typ, want := range map[string]metav1.ConditionStatus{
				v1alpha1.ConditionReady:    metav1.ConditionFalse,
				v1alpha1.ConditionDegraded: metav1.ConditionTrue,
			} {
				c := meta.FindStatusCondition(got.Status.Conditions, typ)
				if c == nil || c.Status != want || c.Reason != v1alpha1.ReasonApplyFailed ||
					c.Message != tc.message || c.ObservedGeneration != cr.Generation {
					t.Errorf("%s = %+v, want %s, reason %s, message %q", typ, c, want, v1alpha1.ReasonApplyFailed, tc.message)
				}
			}
			if got.Status.ObservedGeneration != cr.Generation || !strings.HasPrefix(got.Status.Endpoint, "http://lookup-proxy.ns") {
				t.Errorf("status observedGeneration %d, endpoint %q", got.Status.ObservedGeneration, got.Status.Endpoint)
			}
			// Nothing was accepted: the rules were never written.
			if a := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted); a != nil || got.Status.RulesHash != "" {
				t.Errorf("Accepted = %+v, rulesHash %q after a failed lookup", a, got.Status.RulesHash)
			}
		})
	}
}
