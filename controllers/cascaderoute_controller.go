// Package controllers reconciles CascadeRoutes: fetch the route, translate it
// into the proxy's rules contract, render the objects that serve it, apply
// them with server-side apply, and write the status once.
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
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = "cascadeflow-operator"

// ReplicaHandoffFieldOwner holds spec.replicas of a Deployment while it passes
// from the operator to a HorizontalPodAutoscaler (see handOverReplicas).
const ReplicaHandoffFieldOwner = "cascadeflow-operator-replica-handoff"

// ReasonKeySecretsChanged is the reason of the Event that announces a rolling
// restart of the proxy pods for changed vendor-key Secrets.
const ReasonKeySecretsChanged = "KeySecretsChanged"

// NameConflictRetry is how often a route with a NameConflict looks again.
const NameConflictRetry = time.Minute

// secretIndex indexes CascadeRoutes by the names of the Secrets they reference.
const secretIndex = "spec.secretNames"

// CascadeRouteReconciler reconciles one CascadeRoute at a time.
type CascadeRouteReconciler struct {
	client.Client
	// Render holds operator-wide rendering settings (the default proxy image).
	Render render.Options
	// Recorder, when set, receives an Event for every condition transition.
	Recorder events.EventRecorder
	// APIReader reads straight from the API server what the cache leaves out
	// (managed fields). Default: Client.
	APIReader client.Reader

	applied appliedSet
}

// +kubebuilder:rbac:groups=routing.cascadeflow.io,resources=cascaderoutes,verbs=get;list;watch
// +kubebuilder:rbac:groups=routing.cascadeflow.io,resources=cascaderoutes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=routing.cascadeflow.io,resources=cascaderoutes/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one CascadeRoute's owned objects and status in line with its spec.
func (r *CascadeRouteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var cr v1alpha1.CascadeRoute
	if err := r.Get(ctx, req.NamespacedName, &cr); err != nil {
		// Deleted: owner references let the garbage collector remove what we made.
		if apierrors.IsNotFound(err) {
			r.applied.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !cr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	before := cr.Status.DeepCopy()
	st := &cr.Status
	st.ObservedGeneration = cr.Generation
	st.Endpoint = render.Endpoint(&cr)
	st.Replicas = render.MinReplicas(&cr)
	cond := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: cr.Generation,
		})
	}
	failed := func(err error) (ctrl.Result, error) {
		msg := err.Error()
		cond(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonApplyFailed, msg)
		cond(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonApplyFailed, msg)
		if serr := r.writeStatus(ctx, &cr, before); serr != nil {
			logger.Error(serr, "write status after a failed apply")
		}
		return ctrl.Result{}, err
	}

	set, err := render.Rules(&cr)
	if err != nil {
		// Keep every object as it was: the proxy goes on serving the last good rules.
		msg := "rules not written, the proxy keeps the last accepted rules: " + err.Error()
		cond(v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonInvalidRule, msg)
		cond(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidRule, "the spec does not translate into valid rules")
		cond(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInvalidRule, msg)
		logger.Info("invalid rules", "error", err.Error())
		return ctrl.Result{}, r.writeStatus(ctx, &cr, before)
	}

	found, missing, err := r.secretVersions(ctx, &cr)
	if err != nil {
		return ctrl.Result{}, err
	}
	runningKeys, err := r.runningKeySecretsVersion(ctx, &cr)
	if err != nil {
		return ctrl.Result{}, err
	}
	keys := keySecretsVersion(&cr, found, runningKeys)
	objs, err := render.All(&cr, set, r.Render, keys)
	if err != nil {
		return failed(fmt.Errorf("render the objects: %w", err))
	}
	// Delete first: a refused Ingress must be gone before pods without
	// client authentication roll out behind it.
	for _, obj := range render.Unwanted(&cr) {
		if err := r.deleteOwned(ctx, &cr, obj); err != nil {
			return failed(fmt.Errorf("delete %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err))
		}
	}
	exposure := render.ExposureOf(&cr)
	var dep appsv1.Deployment
	var pending []string // exposures held back until the rollout completes
	var conflicts []string
	for _, obj := range closedServiceFirst(objs) {
		var exposedBefore corev1.ServiceType
		switch o := obj.(type) {
		case *networkingv1.Ingress:
			if !exposure.Authenticated {
				break
			}
			wait, err := r.exposureMustWait(ctx, o, &dep)
			if err != nil {
				return failed(fmt.Errorf("look up Ingress %s: %w", o.Name, err))
			}
			if wait {
				pending = append(pending, "the Ingress is created")
				continue
			}
		case *corev1.Service:
			var current corev1.Service
			switch err := r.Get(ctx, client.ObjectKeyFromObject(o), &current); {
			case err == nil:
				exposedBefore = current.Spec.Type
			case !apierrors.IsNotFound(err):
				return failed(fmt.Errorf("look up Service %s: %w", o.Name, err))
			}
			if o.Spec.Type == corev1.ServiceTypeClusterIP || exposedBefore == o.Spec.Type || !exposure.Authenticated {
				break
			}
			wait, err := r.exposureMustWait(ctx, o, &dep)
			if err != nil {
				return failed(fmt.Errorf("look up Service %s: %w", o.Name, err))
			}
			if wait {
				pending = append(pending, fmt.Sprintf("the Service becomes %s", o.Spec.Type))
				held := o.DeepCopy()
				held.Spec.Type = corev1.ServiceTypeClusterIP
				obj = held
			}
		}
		applied, created, err := r.apply(ctx, &cr, obj)
		var conflict *NameConflictError
		if errors.As(err, &conflict) {
			conflicts = append(conflicts, conflict.Error())
			if _, ok := obj.(*corev1.ConfigMap); ok {
				cond(v1alpha1.ConditionAccepted, metav1.ConditionFalse, v1alpha1.ReasonNameConflict,
					"rules not written, the proxy keeps the last accepted rules: "+conflict.Error())
			}
			continue
		}
		if err != nil {
			return failed(fmt.Errorf("apply %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err))
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			// Recorded at once: a later step that fails must not leave the
			// status describing rules the ConfigMap no longer holds.
			st.RulesHash = set.Hash()
			st.RuleCount = int32(len(set.Rules))
			cond(v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid,
				fmt.Sprintf("%d rules written to ConfigMap %s", len(set.Rules), o.Name))
		case *appsv1.Deployment:
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(applied.Object, &dep); err != nil {
				return ctrl.Result{}, fmt.Errorf("read applied Deployment: %w", err)
			}
			if runningKeys != "" && keys != "" && keys != runningKeys && r.Recorder != nil {
				r.Recorder.Eventf(&cr, obj, "Normal", ReasonKeySecretsChanged, "RollOut",
					"vendor-key Secret %s changed: rolling the proxy pods so that they load the new keys",
					strings.Join(render.KeySecretNames(&cr), ", "))
			}
		case *networkingv1.Ingress:
			if created && exposure.Insecure() && r.Recorder != nil {
				r.Recorder.Eventf(&cr, obj, "Warning", v1alpha1.ReasonInsecureExposure, "CreateIngress",
					"Ingress %s created without client authentication (allowUnauthenticated is true): %s", obj.GetName(), exposure.Problem)
			}
		case *corev1.Service:
			if o.Spec.Type != corev1.ServiceTypeClusterIP && o.Spec.Type != exposedBefore && exposure.Insecure() && r.Recorder != nil {
				r.Recorder.Eventf(&cr, obj, "Warning", v1alpha1.ReasonInsecureExposure, "ExposeService",
					"Service %s made %s without client authentication (allowUnauthenticated is true): %s", obj.GetName(), o.Spec.Type, exposure.Problem)
			}
		}
	}

	// The autoscaler owns an autoscaled Deployment's count; the API server
	// defaults an unset count to 1.
	if dep.Spec.Replicas != nil {
		st.Replicas = *dep.Spec.Replicas
	}
	st.ReadyReplicas = dep.Status.AvailableReplicas
	ro := rolloutOf(&dep, st.Replicas)
	if len(pending) > 0 {
		if ro.Available {
			ro.Available, ro.Reason = false, v1alpha1.ReasonReplicasUnavailable
		}
		ro.Message += "; " + strings.Join(pending, " and ") + " once every proxy pod runs the current configuration"
	}

	for _, c := range servingConditions(exposure, missing, conflicts, cr.Namespace, ro) {
		cond(c.Type, c.Status, c.Reason, c.Message)
	}
	var res ctrl.Result
	if len(conflicts) > 0 {
		// The conflicting objects are not watched (not labelled): look again
		// later, so that removing one is noticed without a change to the route.
		res.RequeueAfter = NameConflictRetry
	}
	return res, r.writeStatus(ctx, &cr, before)
}

// exposureMustWait holds back exposing the proxy — creating an Ingress, or
// making the Service NodePort or LoadBalancer — in front of client
// authentication while pods of an earlier configuration, which may not
// authenticate clients, still serve. An existing Ingress is kept (the caller
// checks the Service's type), and a new Deployment (no pods yet) does not wait.
func (r *CascadeRouteReconciler) exposureMustWait(ctx context.Context, obj client.Object, dep *appsv1.Deployment) (bool, error) {
	if _, ok := obj.(*networkingv1.Ingress); ok {
		err := r.Get(ctx, client.ObjectKeyFromObject(obj), &networkingv1.Ingress{})
		switch {
		case err == nil:
			return false, nil
		case !apierrors.IsNotFound(err):
			return false, err
		}
	}
	s := dep.Status
	rolledOut := s.Replicas == 0 || (s.ObservedGeneration >= dep.Generation && s.UpdatedReplicas == s.Replicas)
	return !rolledOut, nil
}

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

// servingConditions decides Degraded and Ready once the objects are applied.
// An unauthenticated exposure is the worst news, then an object left alone
// for a name conflict, then a missing Secret, then pods that are not
// available yet.
func servingConditions(exposure render.Exposure, missing, conflicts []string, namespace string, ro rollout) []metav1.Condition {
	c := func(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
	}
	var missingMsg string
	if len(missing) > 0 {
		missingMsg = fmt.Sprintf("Secret %s not found in namespace %s; proxy pods cannot start until it exists",
			strings.Join(missing, ", "), namespace)
	}
	var conflictMsg string
	if len(conflicts) > 0 {
		conflictMsg = strings.Join(conflicts, "; ") + ". Rename or delete the existing object, or rename the CascadeRoute"
	}
	var ready metav1.Condition
	switch {
	case exposure.Insecure() && len(exposure.Refused()) > 0:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInsecureExposure,
			"the "+strings.Join(exposure.Refused(), " and the ")+" was refused: see the Degraded condition")
	case conflictMsg != "":
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonNameConflict, conflictMsg)
	case missingMsg != "":
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound, missingMsg)
	case !ro.Available:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionFalse, ro.Reason, ro.Message)
	default:
		ready = c(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReplicasAvailable, ro.Message)
	}
	var degraded metav1.Condition
	switch {
	case exposure.Insecure():
		var parts []string
		if refused := exposure.Refused(); len(refused) > 0 {
			what := strings.Join(refused, " and ")
			if exposure.Service.Requested && !exposure.Service.Allowed {
				what += " (the Service is ClusterIP meanwhile)"
			}
			parts = append(parts, what+" refused: "+exposure.Problem+". Set spec.proxy.clientKeysSecretRef (or passthroughAuth on every provider), "+
				"or set "+strings.Join(exposure.OptInFields(refused), " and ")+": true to expose it anyway")
		}
		if opted := exposure.OptedIn(); len(opted) > 0 {
			parts = append(parts, strings.Join(opted, " and ")+" created without client authentication because "+
				strings.Join(exposure.OptInFields(opted), " and ")+" is true: "+exposure.Problem)
		}
		msg := strings.Join(parts, ". ")
		for _, also := range []string{conflictMsg, missingMsg} {
			if also != "" {
				msg += ". Also: " + also
			}
		}
		degraded = c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonInsecureExposure, msg)
	case conflictMsg != "":
		msg := conflictMsg
		if missingMsg != "" {
			msg += ". Also: " + missingMsg
		}
		degraded = c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonNameConflict, msg)
	case missingMsg != "":
		degraded = c(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSecretNotFound, missingMsg)
	default:
		degraded = c(v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAsExpected, "all dependencies present")
	}
	return []metav1.Condition{degraded, ready}
}

// rollout is how far the proxy Deployment has rolled out.
type rollout struct {
	// Available is true when every desired replica runs the current pod
	// template and is available, and no pod of an earlier one is left.
	Available bool
	// Reason is the Ready condition's reason while not Available:
	// ReplicasUnavailable, or ProgressDeadlineExceeded.
	Reason  string
	Message string
}

// rolloutOf judges a Deployment the way `kubectl rollout status` does: the
// Deployment controller has seen the current spec, every desired replica is
// updated, no old replica is left, and every updated replica is available.
// Available replicas alone would count pods of the previous template, so a
// rollout stuck on a broken image would look ready. Without a Deployment
// controller (a bare API server, as in envtest) the status stays empty, so
// this stays not available.
func rolloutOf(d *appsv1.Deployment, desired int32) rollout {
	s := d.Status
	waiting := func(format string, args ...any) rollout {
		return rollout{Reason: v1alpha1.ReasonReplicasUnavailable, Message: fmt.Sprintf(format, args...)}
	}
	var r rollout
	switch {
	case s.ObservedGeneration < d.Generation:
		r = waiting("waiting for the Deployment controller to observe generation %d", d.Generation)
	case s.UpdatedReplicas < desired:
		r = waiting("%d of %d replicas updated", s.UpdatedReplicas, desired)
	case s.Replicas > s.UpdatedReplicas:
		r = waiting("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < s.UpdatedReplicas || s.AvailableReplicas < desired:
		r = waiting("%d of %d updated replicas available", s.AvailableReplicas, max(s.UpdatedReplicas, desired))
	default:
		return rollout{Available: true, Message: fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, desired)}
	}
	// The Deployment controller gave up waiting for progress: say so, the
	// rollout will not finish by itself.
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			r.Reason = v1alpha1.ReasonProgressDeadlineExceeded
			r.Message = fmt.Sprintf("Deployment %s: %s (%s)", d.Name, c.Message, r.Message)
		}
	}
	return r
}

// secretVersions looks up every Secret the route references and returns the
// version of each that exists, by name, and the names of those that do not.
// It reads metadata only: the operator never needs a key's value.
func (r *CascadeRouteReconciler) secretVersions(ctx context.Context, cr *v1alpha1.CascadeRoute) (map[string]render.SecretVersion, []string, error) {
	found := map[string]render.SecretVersion{}
	var missing []string
	for _, name := range render.SecretNames(cr) {
		s := &metav1.PartialObjectMetadata{}
		s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := r.Get(ctx, types.NamespacedName{Namespace: cr.Namespace, Name: name}, s)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return nil, nil, fmt.Errorf("look up Secret %s/%s: %w", cr.Namespace, name, err)
		default:
			found[name] = render.SecretVersion{Name: name, UID: s.UID, ResourceVersion: s.ResourceVersion}
		}
	}
	return found, missing, nil
}

// runningKeySecretsVersion is the key-Secrets version on the pod template of
// the route's Deployment as it stands ("" when there is none yet).
func (r *CascadeRouteReconciler) runningKeySecretsVersion(ctx context.Context, cr *v1alpha1.CascadeRoute) (string, error) {
	var d appsv1.Deployment
	switch err := r.Get(ctx, types.NamespacedName{Namespace: cr.Namespace, Name: render.ProxyName(cr)}, &d); {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read Deployment %s: %w", render.ProxyName(cr), err)
	}
	return render.KeySecretsVersionOf(&d), nil
}

// keySecretsVersion is the key-Secrets version the pod template should carry.
// While a vendor-key Secret is missing it stays what it is: new pods could
// not start without the Secret (CreateContainerConfigError), and the running
// ones hold the key they read at start, so a rollout would gain nothing. The
// Degraded condition reports the missing Secret meanwhile.
func keySecretsVersion(cr *v1alpha1.CascadeRoute, found map[string]render.SecretVersion, running string) string {
	names := render.KeySecretNames(cr)
	versions := make([]render.SecretVersion, 0, len(names))
	for _, name := range names {
		v, ok := found[name]
		if !ok {
			return running
		}
		versions = append(versions, v)
	}
	return render.KeySecretsVersion(versions)
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
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			return false, fmt.Errorf("decode managed fields of Deployment %s: %w", d.Name, err)
		}
		if _, ok := fields.Spec["f:replicas"]; ok {
			return true, nil
		}
	}
	return false, nil
}

// writeStatus writes the status once, and only when it changed.
func (r *CascadeRouteReconciler) writeStatus(ctx context.Context, cr *v1alpha1.CascadeRoute, before *v1alpha1.CascadeRouteStatus) error {
	if equality.Semantic.DeepEqual(before, &cr.Status) {
		return nil
	}
	orig := cr.DeepCopy()
	orig.Status = *before
	// NotFound: the route was deleted meanwhile; there is nothing left to describe.
	if err := r.Status().Patch(ctx, cr, client.MergeFrom(orig)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("write status of %s/%s: %w", cr.Namespace, cr.Name, err)
	}
	r.recordTransitions(cr, before)
	return nil
}

// SetupWithManager registers the controller: CascadeRoutes, the objects they
// own, and the Secrets they reference — API keys and client keys — by
// metadata only.
func (r *CascadeRouteReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.CascadeRoute{}, secretIndex, func(o client.Object) []string {
		return render.SecretNames(o.(*v1alpha1.CascadeRoute))
	}); err != nil {
		return fmt.Errorf("index CascadeRoutes by Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("cascaderoute").
		WithOptions(opts).
		// Status writes bump no generation: they must not trigger another reconcile.
		For(&v1alpha1.CascadeRoute{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ConfigMap{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.routesUsingSecret), builder.OnlyMetadata).
		Complete(r)
}

// routesUsingSecret maps a Secret event to the CascadeRoutes that reference it.
// The watch sees metadata only, but every write to a Secret — a new key in its
// data too — bumps its resourceVersion and arrives here as an update, which is
// what lets a reconcile notice a rotated vendor key (see keySecretsVersion).
func (r *CascadeRouteReconciler) routesUsingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var routes v1alpha1.CascadeRouteList
	if err := r.List(ctx, &routes, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{secretIndex: secret.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "list CascadeRoutes referencing a Secret", "secret", secret.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(routes.Items))
	for _, cr := range routes.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&cr)})
	}
	return reqs
}
