package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

// applyResult is what applying a route's objects did, as far as it got.
type applyResult struct {
	// deployment is the proxy Deployment as applied (zero until it is).
	deployment appsv1.Deployment
	// rulesConfigMap names the rules ConfigMap once the rules are written;
	// rules is that ConfigMap as stored.
	rulesConfigMap string
	rules          corev1.ConfigMap
	// rulesConflict kept the rules ConfigMap from being written.
	rulesConflict *NameConflictError
	// conflicts describe the objects left alone for a name conflict.
	conflicts []string
	// heldBack says which exposures wait until the rollout completes.
	heldBack []string
}

// applyAll applies the rendered objects in order, a closed (ClusterIP)
// Service first. An object whose name someone else holds is left alone and
// noted; any other failure stops the loop, and the result says what was
// done until then.
func (r *CascadeRouteReconciler) applyAll(ctx context.Context, cr *v1alpha1.CascadeRoute, objs []render.Object, secrets secretState) (applyResult, error) {
	var res applyResult
	exposure := render.ExposureOf(cr)
	for _, rendered := range closedServiceFirst(objs) {
		typeBefore, err := r.serviceTypeNow(ctx, rendered)
		if err != nil {
			return res, err
		}
		obj, held, err := r.holdBackExposure(ctx, rendered, exposure, typeBefore, &res.deployment)
		if err != nil {
			return res, err
		}
		if held != "" {
			res.heldBack = append(res.heldBack, held)
		}
		if obj == nil {
			continue
		}
		stored, created, err := r.apply(ctx, cr, obj)
		var conflict *NameConflictError
		if errors.As(err, &conflict) {
			res.conflicts = append(res.conflicts, conflict.Error())
			if _, ok := obj.(*corev1.ConfigMap); ok {
				res.rulesConflict = conflict
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("apply %s %s: %w", kindOf(obj), obj.GetName(), err)
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			res.rulesConfigMap = o.Name
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(stored.Object, &res.rules); err != nil {
				return res, fmt.Errorf("read applied ConfigMap %s: %w", o.Name, err)
			}
		case *appsv1.Deployment:
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(stored.Object, &res.deployment); err != nil {
				return res, fmt.Errorf("read applied Deployment %s: %w", o.Name, err)
			}
		}
		r.announce(cr, obj, created, typeBefore, exposure, secrets)
	}
	return res, nil
}

// holdBackExposure returns what of obj to apply now. Exposing the proxy in
// front of client authentication — creating the Ingress, or opening the
// Service as NodePort or LoadBalancer — waits while pods of an earlier
// configuration, which may not authenticate clients, still serve: until
// then the Ingress is not applied (nil) and the Service stays ClusterIP.
// held says what waits ("" when nothing does). An existing Ingress, or a
// Service already of its type, is kept. Without client authentication
// there is nothing to wait for: a refused exposure is not rendered, one
// the route opted into applies at once.
func (r *CascadeRouteReconciler) holdBackExposure(ctx context.Context, obj render.Object, exposure render.Exposure,
	typeBefore corev1.ServiceType, dep *appsv1.Deployment) (render.Object, string, error) {
	if !exposure.Authenticated || rolledOut(dep) {
		return obj, "", nil
	}
	switch o := obj.(type) {
	case *networkingv1.Ingress:
		switch err := r.Get(ctx, client.ObjectKeyFromObject(o), &networkingv1.Ingress{}); {
		case err == nil:
			return obj, "", nil
		case !apierrors.IsNotFound(err):
			return nil, "", fmt.Errorf("look up Ingress %s: %w", o.Name, err)
		}
		return nil, "the Ingress is created", nil
	case *corev1.Service:
		if o.Spec.Type == corev1.ServiceTypeClusterIP || o.Spec.Type == typeBefore {
			return obj, "", nil
		}
		held := o.DeepCopy()
		held.Spec.Type = corev1.ServiceTypeClusterIP
		return held, fmt.Sprintf("the Service becomes %s", o.Spec.Type), nil
	}
	return obj, "", nil
}

// rolledOut reports whether every pod of the Deployment runs its current
// template. A new Deployment (no pods yet) counts as rolled out: no earlier
// pod serves.
func rolledOut(d *appsv1.Deployment) bool {
	s := d.Status
	return s.Replicas == 0 || (s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == s.Replicas)
}

// serviceTypeNow is the type of the Service obj as it stands ("" when obj
// is not a Service or the Service does not exist yet).
func (r *CascadeRouteReconciler) serviceTypeNow(ctx context.Context, obj render.Object) (corev1.ServiceType, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return "", nil
	}
	var current corev1.Service
	switch err := r.Get(ctx, client.ObjectKeyFromObject(svc), &current); {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("look up Service %s: %w", svc.Name, err)
	}
	return current.Spec.Type, nil
}

// announce emits the Events of an object just applied: a rolling restart
// for changed vendor keys, an exposure made without client authentication.
func (r *CascadeRouteReconciler) announce(cr *v1alpha1.CascadeRoute, obj render.Object, created bool, typeBefore corev1.ServiceType,
	exposure render.Exposure, secrets secretState) {
	if r.Recorder == nil {
		return
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		if secrets.running != "" && secrets.keysVersion != "" && secrets.keysVersion != secrets.running {
			r.Recorder.Eventf(cr, obj, "Normal", ReasonKeySecretsChanged, "RollOut",
				"vendor-key Secret %s changed: rolling the proxy pods so that they load the new keys",
				strings.Join(render.KeySecretNames(cr), ", "))
		}
	case *networkingv1.Ingress:
		if created && exposure.Insecure() {
			r.Recorder.Eventf(cr, obj, "Warning", v1alpha1.ReasonInsecureExposure, "CreateIngress",
				"Ingress %s created without client authentication (allowUnauthenticated is true): %s", obj.GetName(), exposure.Problem)
		}
	case *corev1.Service:
		if o.Spec.Type != corev1.ServiceTypeClusterIP && o.Spec.Type != typeBefore && exposure.Insecure() {
			r.Recorder.Eventf(cr, obj, "Warning", v1alpha1.ReasonInsecureExposure, "ExposeService",
				"Service %s made %s without client authentication (allowUnauthenticated is true): %s", obj.GetName(), o.Spec.Type, exposure.Problem)
		}
	}
}

// kindOf names an object's kind in messages.
func kindOf(obj render.Object) string { return obj.GetObjectKind().GroupVersionKind().Kind }

// closedServiceFirst moves a ClusterIP Service to the front: a NodePort or
// LoadBalancer Service that is no longer wanted (or refused) must be closed
// before pods without client authentication roll out behind it.
func closedServiceFirst(objs []render.Object) []render.Object {
	out := make([]render.Object, 0, len(objs))
	for _, o := range objs {
		if svc, ok := o.(*corev1.Service); ok && svc.Spec.Type == corev1.ServiceTypeClusterIP {
			out = append([]render.Object{o}, out...)
			continue
		}
		out = append(out, o)
	}
	return out
}

// deleteUnwanted deletes the objects the route no longer wants (an Ingress
// no longer asked for or now refused, a dropped autoscaler, ...).
func (r *CascadeRouteReconciler) deleteUnwanted(ctx context.Context, cr *v1alpha1.CascadeRoute) error {
	for _, obj := range render.Unwanted(cr) {
		if err := r.deleteOwned(ctx, cr, obj); err != nil {
			return fmt.Errorf("delete %s %s: %w", kindOf(obj), obj.GetName(), err)
		}
	}
	return nil
}

// deleteOwned deletes an object this route no longer wants, if it exists and
// this route controls it (an object of the same name made by someone else is
// left alone).
func (r *CascadeRouteReconciler) deleteOwned(ctx context.Context, cr *v1alpha1.CascadeRoute, obj render.Object) error {
	current := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(client.Object)
	switch err := r.Get(ctx, client.ObjectKeyFromObject(obj), current); {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	}
	if ref := metav1.GetControllerOf(current); ref == nil || ref.UID != cr.UID {
		return nil
	}
	uid := current.GetUID()
	err := r.Delete(ctx, current, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if client.IgnoreNotFound(err) != nil {
		return err
	}
	log.FromContext(ctx).Info("deleted", "kind", obj.GetObjectKind().GroupVersionKind().Kind, "name", obj.GetName())
	return nil
}

// apply server-side applies one rendered object and returns the object as
// stored, and whether it was created. An apply that changes nothing writes
// nothing (no new resourceVersion); when the cache shows the object exactly
// as this operator last applied it, even the request is skipped.
func (r *CascadeRouteReconciler) apply(ctx context.Context, cr *v1alpha1.CascadeRoute, obj render.Object) (*unstructured.Unstructured, bool, error) {
	route := client.ObjectKeyFromObject(cr)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, false, fmt.Errorf("convert %T: %w", obj, err)
	}
	// Status belongs to other controllers; the empty status of a typed object
	// would otherwise be part of the applied configuration.
	delete(m, "status")
	body, err := json.Marshal(m) // map keys sorted: equal configurations hash equally
	if err != nil {
		return nil, false, fmt.Errorf("encode %T: %w", obj, err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	key := obj.GetObjectKind().GroupVersionKind().Kind + "/" + obj.GetName()

	current := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(client.Object)
	exists := false
	switch err := r.Get(ctx, client.ObjectKeyFromObject(obj), current); {
	case err == nil:
		exists = true
		if r.applied.unchanged(route, key, hash, current.GetResourceVersion()) {
			cm, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
			if err != nil {
				return nil, false, fmt.Errorf("convert cached %s: %w", key, err)
			}
			return &unstructured.Unstructured{Object: cm}, false, nil
		}
	case !apierrors.IsNotFound(err):
		return nil, false, fmt.Errorf("read %s: %w", key, err)
	default:
		if err := r.checkUnclaimed(ctx, cr, obj); err != nil {
			return nil, false, err
		}
	}
	if d, ok := obj.(*appsv1.Deployment); ok {
		handoff := "replicas-handoff/" + d.Name
		switch {
		case d.Spec.Replicas != nil:
			r.applied.drop(route, handoff) // the operator owns the count again
		case exists && !r.applied.unchanged(route, handoff, "done", string(current.GetUID())):
			if err := r.handOverReplicas(ctx, current.(*appsv1.Deployment)); err != nil {
				return nil, false, err
			}
			r.applied.record(route, handoff, "done", string(current.GetUID()))
		}
	}

	u := &unstructured.Unstructured{Object: m}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return nil, false, err
	}
	r.applied.record(route, key, hash, u.GetResourceVersion())
	return u, !exists, nil
}

// NameConflictError: an object of a name the route renders exists, and the
// route does not control it.
type NameConflictError struct {
	Kind, Name string
	// Controller describes the object's controller ("" when it has none).
	Controller string
}

func (e *NameConflictError) Error() string {
	owner := "no controller"
	if e.Controller != "" {
		owner = "controller " + e.Controller
	}
	return fmt.Sprintf("%s %s already exists (%s) and is not managed by this CascadeRoute; it was left unchanged", e.Kind, e.Name, owner)
}

// checkUnclaimed makes sure an object the cache does not hold is not someone
// else's: the cache holds only objects labelled as managed by the operator,
// so an unlabelled object of the same name (a user's ConfigMap, say) looks
// absent there. Applying over it with forced ownership would make the route
// its controller, and the garbage collector would delete it with the route.
func (r *CascadeRouteReconciler) checkUnclaimed(ctx context.Context, cr *v1alpha1.CascadeRoute, obj render.Object) error {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	switch err := reader.Get(ctx, client.ObjectKeyFromObject(obj), m); {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("look up %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	ref := metav1.GetControllerOf(m)
	if ref != nil && ref.UID == cr.UID {
		return nil // ours, the label was removed: the apply puts it back
	}
	conflict := &NameConflictError{Kind: gvk.Kind, Name: obj.GetName()}
	if ref != nil {
		conflict.Controller = ref.Kind + " " + ref.Name
	}
	return conflict
}

// handOverReplicas prepares an existing Deployment for an autoscaler, the
// way the Kubernetes documentation describes for server-side apply: while
// the operator owns spec.replicas, a separate field manager first co-owns it
// at its current value, so that when the operator's own apply stops setting
// it the count is kept instead of being reset to the default of 1 (which
// would kill pods and their streams until the autoscaler scales up again).
// A conflict means another manager (the autoscaler) has meanwhile changed
// the count and owns it: nothing to hand over.
func (r *CascadeRouteReconciler) handOverReplicas(ctx context.Context, d *appsv1.Deployment) error {
	owns, err := r.ownsReplicas(ctx, d)
	if err != nil || !owns || d.Spec.Replicas == nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": d.Name, "namespace": d.Namespace},
		"spec":       map[string]any{"replicas": int64(*d.Spec.Replicas)},
	}}
	err = r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(ReplicaHandoffFieldOwner))
	if err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("hand Deployment %s replicas over to the autoscaler: %w", d.Name, err)
	}
	return nil
}

// ownsReplicas reports whether the operator's field manager owns spec.replicas
// of a Deployment. The cache drops managed fields, so this reads the
// Deployment's metadata from the API server.
func (r *CascadeRouteReconciler) ownsReplicas(ctx context.Context, d *appsv1.Deployment) (bool, error) {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	if err := reader.Get(ctx, client.ObjectKeyFromObject(d), m); err != nil {
		return false, fmt.Errorf("read managed fields of Deployment %s: %w", d.Name, err)
	}
	for _, mf := range m.ManagedFields {
		if mf.Manager != FieldOwner || mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			return false, fmt.Errorf("decode managed fields of Deployment %s: %w", d.Name, err)
		}
		if _, ok := fields.Spec["f:replicas"]; ok {
			return true, nil
		}
	}
	return false, nil
}
