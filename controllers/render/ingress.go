package render

import (
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
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

// Exposure is how the proxy is exposed beyond the cluster's pod network —
// an Ingress (spec.proxy.ingress) or a NodePort/LoadBalancer Service
// (spec.proxy.service.type) — and whether that is safe: the proxy holds
// vendor keys, so exposing a proxy that neither authenticates its clients
// nor makes them bring their own vendor credentials lets anyone who reaches
// it spend those keys.
type Exposure struct {
	// Ingress is spec.proxy.ingress.
	Ingress Channel
	// Service is a spec.proxy.service.type other than ClusterIP.
	Service Channel
	// ServiceType is the requested Service type ("" when ClusterIP).
	ServiceType string
	// Authenticated is true when every caller must hold a credential: the
	// proxy checks client keys, or every provider passes the caller's own
	// credentials through to the vendor.
	Authenticated bool
	// Problem explains an unauthenticated exposure; empty otherwise.
	Problem string
}

// Channel is one way of exposing the proxy.
type Channel struct {
	// Requested is true when the spec asks for it.
	Requested bool
	// Allowed is true when it is to be created as asked: requested, and
	// authenticated or explicitly allowed without authentication.
	Allowed bool
}

// Requested reports whether the spec asks to expose the proxy at all.
func (e Exposure) Requested() bool { return e.Ingress.Requested || e.Service.Requested }

// Insecure reports whether the route is, or would be, exposed without authentication.
func (e Exposure) Insecure() bool { return e.Requested() && !e.Authenticated }

// Refused names the requested exposures that are not created as asked
// ("Ingress", "LoadBalancer Service").
func (e Exposure) Refused() []string { return e.named(false) }

// OptedIn names the exposures created without authentication because the
// spec allows it.
func (e Exposure) OptedIn() []string {
	if e.Authenticated {
		return nil
	}
	return e.named(true)
}

// OptInFields names the allowUnauthenticated fields of the given exposures.
func (e Exposure) OptInFields(names []string) []string {
	var out []string
	for _, n := range names {
		if n == "Ingress" {
			out = append(out, "spec.proxy.ingress.allowUnauthenticated")
		} else {
			out = append(out, "spec.proxy.service.allowUnauthenticated")
		}
	}
	return out
}

func (e Exposure) named(allowed bool) []string {
	var out []string
	if e.Ingress.Requested && e.Ingress.Allowed == allowed {
		out = append(out, "Ingress")
	}
	if e.Service.Requested && e.Service.Allowed == allowed {
		out = append(out, e.ServiceType+" Service")
	}
	return out
}

// ExposureOf judges spec.proxy.ingress and spec.proxy.service.type of a CascadeRoute.
func ExposureOf(cr *v1alpha1.CascadeRoute) Exposure {
	px := &cr.Spec.Proxy
	var e Exposure
	var by []string
	if px.Ingress != nil {
		e.Ingress.Requested = true
		by = append(by, "spec.proxy.ingress")
	}
	if t := px.Service.Type; t != "" && t != corev1.ServiceTypeClusterIP {
		e.Service.Requested = true
		e.ServiceType = string(t)
		by = append(by, "spec.proxy.service.type "+string(t))
	}
	if !e.Requested() {
		return Exposure{}
	}
	var keyed []string
	for _, p := range cr.Spec.Providers {
		if !p.PassthroughAuth {
			keyed = append(keyed, p.Name)
		}
	}
	e.Authenticated = px.ClientKeysSecretRef != nil || len(keyed) == 0
	e.Ingress.Allowed = e.Ingress.Requested && (e.Authenticated || px.Ingress.AllowUnauthenticated)
	e.Service.Allowed = e.Service.Requested && (e.Authenticated || px.Service.AllowUnauthenticated)
	if !e.Authenticated {
		e.Problem = fmt.Sprintf("%s exposes the proxy, but clients need no key: spec.proxy.clientKeysSecretRef is unset "+
			"and provider(s) %s call the vendor with the route's own API key, so anyone who reaches it spends it",
			strings.Join(by, " and "), strings.Join(keyed, ", "))
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
