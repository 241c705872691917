package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func ingress(class, host, path, svc string, port networkingv1.ServiceBackendPort) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: svc},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To(class), Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: path, PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}},
			}}}},
		}}},
	}
}

func slice(svc, portName string, port int32, ready map[string]bool) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: svc + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		Ports:      []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(port)}},
	}
	for ip, r := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(r)}})
	}
	return s
}

func TestRouteTableResolvesReadyEndpointsByPortNameOrNumber(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "claude-code-proxy"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}}
	sl := slice("claude-code-proxy", "http", 8080, map[string]bool{"10.244.0.7": true, "10.244.0.8": false})
	for _, port := range []networkingv1.ServiceBackendPort{{Name: "http"}, {Number: 8080}} {
		table := routeTable("test", []*networkingv1.Ingress{
			ingress("test", "llm.example.test", "/", "claude-code-proxy", port),
			ingress("other", "llm.example.test", "/", "claude-code-proxy", port),
		}, []*corev1.Service{svc}, []*discoveryv1.EndpointSlice{sl})
		if len(table) != 1 {
			t.Fatalf("%v: %d routes, want 1 (the other class is ignored)", port, len(table))
		}
		if got := table[0].backends; len(got) != 1 || got[0] != "10.244.0.7:8080" {
			t.Fatalf("%v: backends %v", port, got)
		}
	}
	if table := routeTable("test", []*networkingv1.Ingress{ingress("test", "h", "/", "claude-code-proxy", networkingv1.ServiceBackendPort{Number: 9999})},
		[]*corev1.Service{svc}, []*discoveryv1.EndpointSlice{sl}); len(table[0].backends) != 0 {
		t.Fatalf("a port the Service lacks resolved to %v", table[0].backends)
	}
}

func TestRouteMatchesHostAndPathPrefix(t *testing.T) {
	r := route{host: "llm.example.test", path: "/v1"}
	for path, want := range map[string]bool{"/v1": true, "/v1/messages": true, "/v10": false, "/api/stats": false} {
		if got := r.matches("llm.example.test", path); got != want {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
	if r.matches("other.test", "/v1/messages") {
		t.Error("matched another host")
	}
	if !(route{path: "/"}).matches("any.test", "/x") {
		t.Error("a hostless / route does not match everything")
	}
}

func TestServeHTTPProxiesToTheBackendsInTurn(t *testing.T) {
	var hosts []string
	backend := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hosts = append(hosts, r.Host)
			_, _ = io.WriteString(w, name+" "+r.URL.Path)
		}))
	}
	a, b := backend("a"), backend("b")
	defer a.Close()
	defer b.Close()
	ua, _ := url.Parse(a.URL)
	ub, _ := url.Parse(b.URL)
	port := func(u *url.URL) int32 { p, _ := strconv.Atoi(u.Port()); return int32(p) }
	if port(ua) == 0 || port(ub) == 0 {
		t.Fatal("no ports")
	}
	// The two test servers listen on different ports, so give each its own route
	// table entry by address.
	c := &controller{}
	table := []route{{host: "llm.example.test", path: "/", backends: []string{ua.Host, ub.Host}, next: new(atomic.Uint64)}}
	c.routes.Store(&table)
	srv := httptest.NewServer(c)
	defer srv.Close()

	got := map[string]int{}
	for range 4 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/models", nil)
		req.Host = "llm.example.test"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got[string(body)]++
	}
	if got["a /v1/models"] != 2 || got["b /v1/models"] != 2 {
		t.Fatalf("answers %v, want 2 from each backend", got)
	}
	for _, h := range hosts {
		if h != "llm.example.test" {
			t.Fatalf("backend saw Host %q", h)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/models", nil)
	req.Host = "unknown.test"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown host: %d", res.StatusCode)
	}
}
