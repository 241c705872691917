package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

// secretState is what a reconcile knows of the route's Secrets.
type secretState struct {
	// missing names the referenced Secrets that do not exist.
	missing []string
	// running is the vendor-key version on the pod template of the
	// Deployment as it stands ("" when there is none yet).
	running string
	// keysVersion is the vendor-key version the pod template should carry.
	keysVersion string
}

// lookUpSecrets reads the route's Secrets (metadata only) and its
// Deployment's current vendor-key version.
func (r *CascadeRouteReconciler) lookUpSecrets(ctx context.Context, cr *v1alpha1.CascadeRoute) (secretState, error) {
	found, missing, err := r.secretVersions(ctx, cr)
	if err != nil {
		return secretState{}, err
	}
	running, err := r.runningKeySecretsVersion(ctx, cr)
	if err != nil {
		return secretState{}, err
	}
	return secretState{missing: missing, running: running, keysVersion: keySecretsVersion(cr, found, running)}, nil
}

// secretVersions looks up every Secret the route references and returns the
// version of each that exists, by name, and the names of those that do not.
// It reads metadata only: the operator never needs a key's value.
func (r *CascadeRouteReconciler) secretVersions(ctx context.Context, cr *v1alpha1.CascadeRoute) (map[string]render.SecretVersion, []string, error) {
	found := map[string]render.SecretVersion{}
	var missing []string
	for _, name := range r.Render.SecretNames(cr) {
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
