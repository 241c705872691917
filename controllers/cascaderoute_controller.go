// Package controllers reconciles CascadeRoutes: fetch the route, translate it
// into the proxy's rules contract, render the objects that serve it, apply
// them with server-side apply, and write the status once.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
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

	// Quality tunes the aggregation of the proxy pods' quality samples.
	Quality QualityOptions

	applied appliedSet
}

// +kubebuilder:rbac:groups=routing.cascadeflow.io,resources=cascaderoutes,verbs=get;list;watch
// +kubebuilder:rbac:groups=routing.cascadeflow.io,resources=cascaderoutes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=routing.cascadeflow.io,resources=cascaderoutes/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one CascadeRoute's owned objects and status in line with
// its spec. Once the route is read, every failure is recorded in its status
// (Accepted=False for invalid rules; Ready=False and Degraded=True with
// reason ApplyFailed for a step that failed) before the error is returned
// for a retry.
func (r *CascadeRouteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// 1. Fetch the CascadeRoute. A deleted route's objects are left to the
	//    garbage collector (they carry owner references). Without the route
	//    there is no status to write: a failed read is only retried.
	var cr v1alpha1.CascadeRoute
	if err := r.Get(ctx, req.NamespacedName, &cr); err != nil {
		if apierrors.IsNotFound(err) {
			r.applied.forget(req.NamespacedName)
			return ctrl.Result{}, r.deleteSamplesOf(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, fmt.Errorf("read CascadeRoute %s: %w", req.NamespacedName, err)
	}
	if !cr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := cr.Status.DeepCopy()
	observe(&cr)

	// 2. Validate and translate the spec into the proxy's rules. Invalid
	//    rules change no object: the proxy keeps serving the last good ones.
	set, err := render.Rules(&cr)
	if err != nil {
		rejectRules(&cr, err)
		log.FromContext(ctx).Info("invalid rules", "error", err.Error())
		return ctrl.Result{}, r.writeStatus(ctx, &cr, before)
	}

	// 3. Look up the referenced Secrets (metadata only) and the vendor-key
	//    version the running pods were started with.
	secrets, err := r.lookUpSecrets(ctx, &cr)
	if err != nil {
		return r.fail(ctx, &cr, before, err)
	}

	// 4. Render the objects that serve the route.
	objs, err := render.All(&cr, set, r.Render, secrets.keysVersion)
	if err != nil {
		return r.fail(ctx, &cr, before, fmt.Errorf("render the objects: %w", err))
	}

	// 5. Delete what is no longer wanted, first: a refused Ingress must be
	//    gone before pods without client authentication roll out behind it.
	if err := r.deleteUnwanted(ctx, &cr); err != nil {
		return r.fail(ctx, &cr, before, err)
	}

	// 6. Apply the objects, holding back exposure until the pods that
	//    authenticate clients serve. What the rules ConfigMap became is
	//    recorded even when a later object fails.
	applied, err := r.applyAll(ctx, &cr, objs, secrets)
	recordRules(&cr, set, applied)
	if err != nil {
		return r.fail(ctx, &cr, before, err)
	}

	// 7. Aggregate the proxy pods' quality samples: archive, calibration,
	//    figures (see quality.go).
	var res ctrl.Result
	if applied.rulesConfigMap != "" {
		again, err := r.reconcileQuality(ctx, &cr, set, &applied.rules)
		switch {
		case errors.Is(err, errQualityConflict):
			// A write met a newer object than this reconcile read (the
			// cache lagged): look again shortly; nothing failed.
			log.FromContext(ctx).V(1).Info("quality aggregation retried", "reason", err.Error())
			res.RequeueAfter = qualityRetry
		case err != nil:
			return r.fail(ctx, &cr, before, fmt.Errorf("aggregate quality samples: %w", err))
		default:
			res.RequeueAfter = again
		}
	}

	// 8. Judge the rollout and the route's health; write the status once.
	recordServing(&cr, applied, secrets.missing)
	if len(applied.conflicts) > 0 {
		// The conflicting objects are not watched (not labelled): look again
		// later, so that removing one is noticed without a change to the route.
		res.RequeueAfter = sooner(res.RequeueAfter, NameConflictRetry)
	}
	return res, r.writeStatus(ctx, &cr, before)
}

// sooner is the earlier of two requeue delays, 0 meaning none.
func sooner(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// fail records a failed step in the status — Ready=False and Degraded=True,
// reason ApplyFailed, the error as message — and returns the error, so that
// the route is reconciled again with backoff.
func (r *CascadeRouteReconciler) fail(ctx context.Context, cr *v1alpha1.CascadeRoute, before *v1alpha1.CascadeRouteStatus, err error) (ctrl.Result, error) {
	recordFailure(cr, err)
	if serr := r.writeStatus(ctx, cr, before); serr != nil {
		log.FromContext(ctx).Error(serr, "write status after a failed step")
	}
	return ctrl.Result{}, err
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
		return r.Render.SecretNames(o.(*v1alpha1.CascadeRoute))
	}); err != nil {
		return fmt.Errorf("index CascadeRoutes by Secret: %w", err)
	}
	if r.Quality.SamplesCache == nil {
		opts := SamplesCacheOptions()
		opts.Scheme, opts.Mapper, opts.HTTPClient = mgr.GetScheme(), mgr.GetRESTMapper(), mgr.GetHTTPClient()
		c, err := cache.New(mgr.GetConfig(), opts)
		if err != nil {
			return fmt.Errorf("create the quality samples cache: %w", err)
		}
		r.Quality.SamplesCache = c
	}
	if err := mgr.Add(r.Quality.SamplesCache); err != nil {
		return fmt.Errorf("add the quality samples cache: %w", err)
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
		// A pod that is gone may leave quality samples to clean up.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(routeOfLabel(render.RouteLabel)), builder.OnlyMetadata,
			builder.WithPredicates(predicate.Funcs{
				CreateFunc: func(event.CreateEvent) bool { return false },
				UpdateFunc: func(event.UpdateEvent) bool { return false },
			})).
		WatchesRawSource(source.Kind(r.Quality.SamplesCache, &corev1.ConfigMap{},
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, cm *corev1.ConfigMap) []reconcile.Request {
				return routeOfLabel(routequality.LabelRoute)(ctx, cm)
			}))).
		Complete(r)
}

// routeOfLabel maps an object to the CascadeRoute its label names, in its namespace.
func routeOfLabel(label string) handler.MapFunc {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		name := o.GetLabels()[label]
		if name == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	}
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
