package render

import (
	"fmt"
	"maps"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

// StreamingAnnotations are added to every rendered Ingress so that
// ingress-nginx passes long streamed answers through: no response buffering
// (each token reaches the client as it is generated), an hour for reads and
// sends (a long generation or a thinking model may be silent for minutes;
// the default is 60 s), and request bodies up to 32 MiB (coding agents send
// whole files; the default is 1 MiB). Other controllers ignore these keys;
// the IngressSpec documentation lists what they need. User annotations with
// the same key win.
func StreamingAnnotations() map[string]string {
	return map[string]string{
		"nginx.ingress.kubernetes.io/proxy-buffering":    "off",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
		"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
		"nginx.ingress.kubernetes.io/proxy-body-size":    "32m",
	}
}

// Exposure is what spec.proxy.ingress asks for and whether it is safe: the
// proxy holds vendor keys, so an Ingress in front of a proxy that neither
// authenticates its clients nor makes them bring their own vendor
// credentials lets anyone who reaches it spend those keys.
type Exposure struct {
	// Requested is true when spec.proxy.ingress is set.
	Requested bool
	// Authenticated is true when every caller must hold a credential: the
	// proxy checks client keys, or every provider passes the caller's own
	// credentials through to the vendor.
	Authenticated bool
	// Allowed is true when the Ingress is to be created: requested, and
	// authenticated or explicitly allowed without authentication.
	Allowed bool
	// Problem explains an unauthenticated exposure; empty otherwise.
	Problem string
}

// Insecure reports whether the route is, or would be, exposed without authentication.
func (e Exposure) Insecure() bool { return e.Requested && !e.Authenticated }

// ExposureOf judges spec.proxy.ingress of a CascadeRoute.
func ExposureOf(cr *v1alpha1.CascadeRoute) Exposure {
	px := &cr.Spec.Proxy
	if px.Ingress == nil {
		return Exposure{}
	}
	var keyed []string
	for _, p := range cr.Spec.Providers {
		if !p.PassthroughAuth {
			keyed = append(keyed, p.Name)
		}
	}
	e := Exposure{Requested: true, Authenticated: px.ClientKeysSecretRef != nil || len(keyed) == 0}
	e.Allowed = e.Authenticated || px.Ingress.AllowUnauthenticated
	if !e.Authenticated {
		e.Problem = fmt.Sprintf("spec.proxy.ingress exposes the proxy, but clients need no key: spec.proxy.clientKeysSecretRef is unset "+
			"and provider(s) %s call the vendor with the route's own API key, so anyone who reaches the Ingress spends it",
			strings.Join(keyed, ", "))
	}
	return e
}

// Ingress routes spec.proxy.ingress's host and path to the proxy Service.
// It names the Service port by number: every Ingress controller supports that.
func Ingress(cr *v1alpha1.CascadeRoute) *networkingv1.Ingress {
	spec := cr.Spec.Proxy.Ingress
	path := spec.Path
	if path == "" {
		path = "/"
	}
	pathType := spec.PathType
	if pathType == "" {
		pathType = networkingv1.PathTypePrefix
	}
	meta := objectMeta(cr, ProxyName(cr))
	meta.Annotations = StreamingAnnotations()
	maps.Copy(meta.Annotations, spec.Annotations)
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: meta,
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: spec.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     path,
						PathType: &pathType,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: ProxyName(cr),
							Port: networkingv1.ServiceBackendPort{Number: ServicePort(cr)},
						}},
					}},
				}},
			}},
		},
	}
	if spec.ClassName != nil {
		ing.Spec.IngressClassName = ptr.To(*spec.ClassName)
	}
	if spec.TLS != nil {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{spec.Host}, SecretName: spec.TLS.SecretName}}
	}
	return ing
}
