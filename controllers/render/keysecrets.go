package render

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

// KeySecretsVersionAnnotation on the proxy pod template identifies the
// version of every vendor-key Secret the pods read their keys from. The keys
// reach the proxy as environment variables, which a running process never
// re-reads, so a changed Secret must start new pods: changing this annotation
// makes the Deployment controller roll them (surge first, old pods drain).
const KeySecretsVersionAnnotation = "routing.cascadeflow.io/key-secrets-version"

// SecretVersion identifies one stored version of a Secret by metadata alone:
// any write to a Secret changes its resourceVersion, and deleting and
// re-creating it changes its UID. It holds nothing of the Secret's data.
type SecretVersion struct {
	Name            string
	UID             types.UID
	ResourceVersion string
}

// KeySecretNames lists, sorted and without repeats, the Secrets that hold a
// CascadeRoute's vendor API keys. The client-keys Secret is not one of them
// (unless a provider names it too): the proxy reloads client keys from their
// mounted directory, so they need no restart.
func KeySecretNames(cr *v1alpha1.CascadeRoute) []string {
	var names []string
	for _, p := range cr.Spec.Providers {
		if p.APIKeySecretRef != nil && !slices.Contains(names, p.APIKeySecretRef.Name) {
			names = append(names, p.APIKeySecretRef.Name)
		}
	}
	slices.Sort(names)
	return names
}

// KeySecretsVersion digests the identity and version of the vendor-key
// Secrets (sha256 over the sorted lines "name/uid/resourceVersion"): equal
// versions give equal digests, in any order; no versions give "".
func KeySecretsVersion(secrets []SecretVersion) string {
	if len(secrets) == 0 {
		return ""
	}
	lines := make([]string, 0, len(secrets))
	for _, s := range secrets {
		lines = append(lines, s.Name+"/"+string(s.UID)+"/"+s.ResourceVersion+"\n")
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return hex.EncodeToString(sum[:])
}

// SetKeySecretsVersion stamps version onto the Deployment's pod template, or
// leaves the annotation out when version is "" (no vendor-key Secret).
func SetKeySecretsVersion(d *appsv1.Deployment, version string) {
	if version == "" {
		delete(d.Spec.Template.Annotations, KeySecretsVersionAnnotation)
		if len(d.Spec.Template.Annotations) == 0 {
			d.Spec.Template.Annotations = nil
		}
		return
	}
	if d.Spec.Template.Annotations == nil {
		d.Spec.Template.Annotations = map[string]string{}
	}
	d.Spec.Template.Annotations[KeySecretsVersionAnnotation] = version
}

// KeySecretsVersionOf reads the annotation back from a Deployment ("" when absent).
func KeySecretsVersionOf(d *appsv1.Deployment) string {
	return d.Spec.Template.Annotations[KeySecretsVersionAnnotation]
}
