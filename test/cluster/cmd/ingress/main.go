// Command ingress is a small Ingress controller for the test cluster: it
// watches Ingresses of one IngressClass, their Services and EndpointSlices, and
// reverse-proxies each request by host and path to a ready endpoint (round
// robin, answers streamed as they come, no retries). It stands in for a
// production controller that cannot be built on these machines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ingress:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ingress", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18080", "address to serve on")
	class := fs.String("class", "cascadeflow-test", "IngressClass whose Ingresses are served")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig (default: in-cluster)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg *rest.Config
	var err error
	if *kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	c := &controller{class: *class}
	factory := informers.NewSharedInformerFactory(cs, 0)
	c.ingresses = factory.Networking().V1().Ingresses().Lister()
	c.services = factory.Core().V1().Services().Lister()
	c.slices = factory.Discovery().V1().EndpointSlices().Lister()
	for _, inf := range []cache.SharedIndexInformer{
		factory.Networking().V1().Ingresses().Informer(),
		factory.Core().V1().Services().Informer(),
		factory.Discovery().V1().EndpointSlices().Informer(),
	} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.rebuild() },
			UpdateFunc: func(any, any) { c.rebuild() },
			DeleteFunc: func(any) { c.rebuild() },
		}); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	c.rebuild()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("ingress controller serving", "addr", ln.Addr().String(), "class", *class)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type controller struct {
	class     string
	ingresses interface {
		List(labels.Selector) ([]*networkingv1.Ingress, error)
	}
	services interface {
		List(labels.Selector) ([]*corev1.Service, error)
	}
	slices interface {
		List(labels.Selector) ([]*discoveryv1.EndpointSlice, error)
	}

	mu     sync.Mutex // serialises rebuilds
	routes atomic.Pointer[[]route]
}

func (c *controller) rebuild() {
	c.mu.Lock()
	defer c.mu.Unlock()
	ings, err1 := c.ingresses.List(labels.Everything())
	svcs, err2 := c.services.List(labels.Everything())
	slices, err3 := c.slices.List(labels.Everything())
	if err := errors.Join(err1, err2, err3); err != nil {
		slog.Error("list", "err", err)
		return
	}
	table := routeTable(c.class, ings, svcs, slices)
	c.routes.Store(&table)
}

// route is one Ingress path with the addresses that serve it now.
type route struct {
	host, path string
	exact      bool
	backends   []string // host:port of ready endpoints
	next       *atomic.Uint64
}

func (r route) matches(host, path string) bool {
	if r.host != "" && r.host != host {
		return false
	}
	if r.exact {
		return path == r.path
	}
	p := strings.TrimSuffix(r.path, "/")
	return p == "" || path == p || strings.HasPrefix(path, p+"/")
}

// routeTable turns the Ingresses of class into routes, longest paths first.
func routeTable(class string, ings []*networkingv1.Ingress, svcs []*corev1.Service, slices []*discoveryv1.EndpointSlice) []route {
	var table []route
	for _, ing := range ings {
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != class {
			continue
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil {
					continue
				}
				exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
				table = append(table, route{
					host: rule.Host, path: p.Path, exact: exact, next: new(atomic.Uint64),
					backends: endpoints(ing.Namespace, *p.Backend.Service, svcs, slices),
				})
			}
		}
	}
	sort.SliceStable(table, func(i, j int) bool { return len(table[i].path) > len(table[j].path) })
	return table
}

// endpoints are the ready addresses of the Service port a backend names.
func endpoints(ns string, b networkingv1.IngressServiceBackend, svcs []*corev1.Service, slices []*discoveryv1.EndpointSlice) []string {
	portName := b.Port.Name
	if portName == "" {
		found := false
		for _, s := range svcs {
			if s.Namespace != ns || s.Name != b.Name {
				continue
			}
			for _, sp := range s.Spec.Ports {
				if sp.Port == b.Port.Number {
					portName, found = sp.Name, true
				}
			}
		}
		if !found {
			return nil
		}
	}
	var out []string
	for _, sl := range slices {
		if sl.Namespace != ns || sl.Labels[discoveryv1.LabelServiceName] != b.Name {
			continue
		}
		var port int32
		for _, sp := range sl.Ports {
			if sp.Name != nil && *sp.Name == portName && sp.Port != nil {
				port = *sp.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, addr := range ep.Addresses {
				out = append(out, net.JoinHostPort(addr, strconv.Itoa(int(port))))
			}
		}
	}
	sort.Strings(out)
	return out
}

func (c *controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	table := c.routes.Load()
	if table == nil {
		http.Error(w, "no routes yet", http.StatusServiceUnavailable)
		return
	}
	for _, rt := range *table {
		if !rt.matches(host, r.URL.Path) {
			continue
		}
		if len(rt.backends) == 0 {
			http.Error(w, "no ready endpoint", http.StatusServiceUnavailable)
			return
		}
		target := rt.backends[rt.next.Add(1)%uint64(len(rt.backends))]
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(&url.URL{Scheme: "http", Host: target})
				pr.Out.Host = r.Host
				pr.SetXForwarded()
			},
			FlushInterval: -1, // stream answers as they come
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				slog.Warn("upstream failed", "target", target, "path", r.URL.Path, "err", err)
				http.Error(w, "upstream failed", http.StatusBadGateway)
			},
		}
		proxy.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}
