// Package configmap watches one Kubernetes ConfigMap through the API server
// and hands its rules document (and any further keys asked for, such as the
// operator's calibrations) to callbacks on every change: the sub-second
// path for in-cluster hot reload (a mounted ConfigMap volume is only
// refreshed by the kubelet after up to a minute or more).
//
// It speaks the watch protocol over plain HTTP (list, then watch from the
// listed resourceVersion, re-list on 410 Gone) with client-go's rest
// package for credentials only, so the proxy does not link the typed
// clients and their scheme registrations.
package configmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Watcher follows one ConfigMap's rules key and, optionally, further keys.
type Watcher struct {
	Namespace, Name, Key string
	// Apply receives the key's content whenever the ConfigMap is seen with it.
	Apply func(data []byte)
	// Also are further keys of the same ConfigMap: whenever the ConfigMap is
	// seen, after Apply, each receives its key's content, or nil when the
	// ConfigMap lacks the key.
	Also map[string]func(data []byte)
	Log  *slog.Logger

	client *http.Client
	host   string
}

// Config builds API credentials: kubeconfig when given, else in-cluster.
func Config(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
		return c, nil
	}
	c, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("in-cluster config: %w", err)
	}
	return c, nil
}

// ParseRef splits "namespace/name".
func ParseRef(ref string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return "", "", fmt.Errorf("configmap reference %q must be namespace/name", ref)
	}
	return ns, name, nil
}

// Connect prepares the HTTP client for cfg.
func (w *Watcher) Connect(cfg *rest.Config) error {
	c, host, err := HTTPClient(cfg)
	if err != nil {
		return err
	}
	w.client, w.host = c, host
	return nil
}

// HTTPClient returns an HTTP client carrying cfg's credentials and the API
// server's base URL (scheme and host, no trailing slash).
func HTTPClient(cfg *rest.Config) (*http.Client, string, error) {
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("api client: %w", err)
	}
	host := strings.TrimRight(cfg.Host, "/")
	if !strings.HasPrefix(host, "http") {
		host = "https://" + host
	}
	return c, host, nil
}

type object struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
	// Status objects (watch ERROR events) carry a code.
	Kind string `json:"kind"`
	Code int    `json:"code"`
}

type event struct {
	Type   string `json:"type"`
	Object object `json:"object"`
}

var errGone = errors.New("resource version too old")

// Run lists and watches until ctx ends, retrying with backoff on errors.
func (w *Watcher) Run(ctx context.Context) error {
	if w.client == nil {
		return errors.New("configmap watcher: Connect first")
	}
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		rv, err := w.list(ctx)
		for err == nil && ctx.Err() == nil {
			began := time.Now()
			rv, err = w.watch(ctx, rv)
			if err == nil && time.Since(began) < time.Second {
				// A watch that ends at once (an intermediary closing it) must not
				// turn into a tight loop against the API server.
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 10*time.Second)
			} else if err == nil {
				backoff = 200 * time.Millisecond // a clean server-side timeout: watch again
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errGone) {
			w.Log.Warn("configmap watch failed; retrying", "configmap", w.Namespace+"/"+w.Name, "error", err.Error(), "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
		}
	}
	return nil
}

func (w *Watcher) path() string {
	return fmt.Sprintf("%s/api/v1/namespaces/%s/configmaps", w.host, url.PathEscape(w.Namespace))
}

// list reads the ConfigMap now and returns the resourceVersion to watch from.
func (w *Watcher) list(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.path()+"/"+url.PathEscape(w.Name), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("get configmap: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", fmt.Errorf("configmap %s/%s not found", w.Namespace, w.Name)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get configmap: HTTP %d", resp.StatusCode)
	}
	var o object
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&o); err != nil {
		return "", fmt.Errorf("decode configmap: %w", err)
	}
	w.deliver(o)
	return o.Metadata.ResourceVersion, nil
}

// watch follows changes after rv until the server ends the watch; it
// returns the last resourceVersion seen.
func (w *Watcher) watch(ctx context.Context, rv string) (string, error) {
	q := url.Values{
		"watch":               {"1"},
		"fieldSelector":       {"metadata.name=" + w.Name},
		"resourceVersion":     {rv},
		"allowWatchBookmarks": {"true"},
		"timeoutSeconds":      {"300"},
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.path()+"?"+q.Encode(), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return rv, fmt.Errorf("watch configmap: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusGone {
		return rv, errGone
	}
	if resp.StatusCode != http.StatusOK {
		return rv, fmt.Errorf("watch configmap: HTTP %d", resp.StatusCode)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return rv, nil
			}
			return rv, fmt.Errorf("read watch: %w", err)
		}
		switch ev.Type {
		case "ADDED", "MODIFIED":
			w.deliver(ev.Object)
			rv = ev.Object.Metadata.ResourceVersion
		case "BOOKMARK":
			rv = ev.Object.Metadata.ResourceVersion
		case "DELETED":
			w.Log.Warn("rules configmap deleted; keeping the current rules", "configmap", w.Namespace+"/"+w.Name)
			rv = ev.Object.Metadata.ResourceVersion
		case "ERROR":
			if ev.Object.Code == http.StatusGone {
				return rv, errGone
			}
			return rv, fmt.Errorf("watch error event (code %d)", ev.Object.Code)
		}
	}
}

func (w *Watcher) deliver(o object) {
	if data, ok := o.Data[w.Key]; ok {
		w.Apply([]byte(data))
	} else {
		w.Log.Warn("rules configmap has no rules key; keeping the current rules", "configmap", w.Namespace+"/"+w.Name, "key", w.Key)
	}
	// The rules go first: a key such as the calibrations names rules that
	// the same change may have added.
	for _, key := range slices.Sorted(maps.Keys(w.Also)) {
		var b []byte
		if data, ok := o.Data[key]; ok {
			b = []byte(data)
		}
		w.Also[key](b)
	}
}
