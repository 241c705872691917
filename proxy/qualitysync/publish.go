package qualitysync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"k8s.io/client-go/rest"

	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource/configmap"
)

// DefaultMaxBytes bounds the samples document a pod publishes, well under
// the API server's 1 MiB limit on a ConfigMap's data.
const DefaultMaxBytes = 768 << 10

// FieldManager is the server-side apply field manager of published
// ConfigMaps.
const FieldManager = "cascadeflow-proxy"

// maxNameLen is the longest ConfigMap name (a DNS subdomain).
const maxNameLen = 253

// Publisher writes a pod's quality samples to a ConfigMap of its own
// (ConfigMapName) in Namespace, under routequality.SamplesKey, as a
// routequality.State: per rule, the pod's newest samples (at most
// routequality.Window, each with Sample.Pod set) and the pod's spend
// answering clients and auditing since it started (cumulative, so the
// newest ConfigMap always holds the pod's totals). The ConfigMap carries the
// labels routequality.LabelRole=RoleSamples and LabelRoute=Route.
//
// Samples drained from the routes stay in the publisher's window whether or
// not a publish succeeds, so an API outage loses none (beyond the window).
// Samples of a route that a rules change restarted (another draft, verifier
// or gate) and not yet drained are lost with it.
// When the document would exceed MaxBytes, the oldest samples lose their
// texts (kept only by rules with quality.audit.keepText) first, then the
// oldest samples are left out of that publish.
//
// With Usage set, the ConfigMap also holds, under UsageKey, the pod's Usage:
// running totals that a restarted container continues (see Publish).
type Publisher struct {
	Registry *routequality.Registry
	// Route is the CascadeRoute's name; Namespace and Pod are the pod's.
	Route, Namespace, Pod string
	// MaxBytes bounds the published document (default DefaultMaxBytes).
	MaxBytes int
	// Usage, when set, is read at every publish and published under
	// UsageKey (see Usage).
	Usage *UsageSources
	Log   *slog.Logger

	client *http.Client
	host   string

	mu      sync.Mutex // one collect-and-publish at a time
	windows map[string]*window
	usage   usageTotals
}

// window is what the pod publishes for one rule.
type window struct {
	samples []routequality.Sample // oldest first, at most Window
	// The route last seen and its spend counters then: spend accumulates the
	// increments, so a route restarted by a rules change does not reset it.
	route                *routequality.Route
	seenSpend, seenAudit float64
	spend, audit         float64
}

// Connect prepares the HTTP client for cfg.
func (p *Publisher) Connect(cfg *rest.Config) error {
	c, host, err := configmap.HTTPClient(cfg)
	if err != nil {
		return err
	}
	p.client, p.host = c, host
	return nil
}

// ConfigMapName is the name of the ConfigMap a pod publishes to:
// "<route>-quality-<pod>", cut to the 253 characters a name may have, the
// cut replaced by a hash of the whole so that pods stay apart.
func ConfigMapName(route, pod string) string {
	name := route + "-quality-" + pod
	if len(name) <= maxNameLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:])[:10]
	return strings.TrimRight(name[:maxNameLen-len(suffix)], "-.") + suffix
}

// Publish collects the samples and spend added since the last call, and
// the usage, and writes the pod's ConfigMap (server-side apply: created or
// updated). With Usage set, nothing is written before the ConfigMap was
// read back (Restore, or the first Publish): a count restarted from zero
// must never replace the totals the pod published before.
func (p *Publisher) Publish(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return errors.New("quality publisher: Connect first")
	}
	if p.Usage != nil && !p.usage.read {
		data, _, err := p.readBack(ctx)
		if err != nil {
			return fmt.Errorf("nothing published until what this pod published before is read back: %w", err)
		}
		p.restoreUsage(data[UsageKey])
	}
	routes := p.collect()
	doc, stripped, dropped, err := encode(p.state(), p.maxBytes())
	if err != nil {
		return err
	}
	if stripped > 0 || dropped > 0 {
		p.log().Debug("quality samples trimmed to fit the configmap", "texts_left_out", stripped,
			"samples_left_out", dropped, "max_bytes", p.maxBytes())
	}
	data := map[string]string{routequality.SamplesKey: string(doc)}
	if p.Usage != nil {
		usage, err := p.collectUsage(ctx)
		if err != nil {
			return err
		}
		data[UsageKey] = string(usage)
	}
	if err := p.apply(ctx, data); err != nil {
		return err
	}
	// Rules gone from the rules have now been published one last time.
	for name := range p.windows {
		if _, ok := routes[name]; !ok {
			delete(p.windows, name)
		}
	}
	return nil
}

// collectUsage reads the usage sources and encodes the usage document. A
// budget state that cannot be read keeps the last one read.
func (p *Publisher) collectUsage(ctx context.Context) ([]byte, error) {
	if p.Usage.Counters != nil {
		p.usage.collect(p.Usage.Counters())
	}
	if p.Usage.Budgets != nil {
		switch b, err := p.Usage.Budgets(ctx); {
		case err != nil:
			p.log().Warn("budget state not read; publishing the last one read", "error", err.Error())
		default:
			p.usage.budgets = b
		}
	}
	return p.usage.document()
}

// restoreUsage continues the usage totals this pod published before.
func (p *Publisher) restoreUsage(doc string) {
	if err := p.usage.restore(doc); err != nil {
		p.log().Warn("usage this pod published before not continued; its counts start afresh", "error", err.Error())
	}
}

// Restore reads back what this pod published before: a restarted
// container keeps its pod's name, and its samples must continue the pod's
// sequence numbers (the operator keeps one copy of each pod and sequence
// number, so a restarted count would pass for samples it already has). The
// routes get the published samples and spend (routequality.Registry.Import)
// and the next publish carries them on, as it does the usage totals. Run it
// once the first rules are loaded. A pod without a ConfigMap yet restores
// nothing.
func (p *Publisher) Restore(ctx context.Context) (restored bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return false, errors.New("quality publisher: Connect first")
	}
	data, found, err := p.readBack(ctx)
	if err != nil {
		return false, err
	}
	if p.Usage != nil && !p.usage.read {
		p.restoreUsage(data[UsageKey])
	}
	if !found {
		return false, nil
	}
	name := ConfigMapName(p.Route, p.Pod)
	doc, ok := data[routequality.SamplesKey]
	if !ok {
		return false, nil
	}
	var st routequality.State
	if err := json.Unmarshal([]byte(doc), &st); err != nil {
		return false, fmt.Errorf("configmap %s/%s %s: %w", p.Namespace, name, routequality.SamplesKey, err)
	}
	if err := p.Registry.Import(st); err != nil {
		return false, fmt.Errorf("configmap %s/%s: %w", p.Namespace, name, err)
	}
	p.windows = map[string]*window{}
	for rule, r := range p.Registry.Routes() {
		rs, ok := st.Routes[rule]
		if !ok {
			continue
		}
		w := &window{route: r, spend: rs.Spend, audit: rs.AuditSpend}
		w.samples = append(w.samples, rs.Samples[max(0, len(rs.Samples)-routequality.Window):]...)
		w.seenSpend, w.seenAudit = r.Costs()
		p.windows[rule] = w
	}
	return true, nil
}

// readBack reads the data of the pod's ConfigMap; found is false when
// there is none yet.
func (p *Publisher) readBack(ctx context.Context) (data map[string]string, found bool, err error) {
	name := ConfigMapName(p.Route, p.Pod)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url(name), nil)
	if err != nil {
		return nil, false, fmt.Errorf("read configmap %s/%s: %w", p.Namespace, name, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("read configmap %s/%s: %w", p.Namespace, name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return map[string]string{}, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("read configmap %s/%s: %w", p.Namespace, name, apiError(resp))
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&cm); err != nil {
		return nil, false, fmt.Errorf("decode configmap %s/%s: %w", p.Namespace, name, err)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	return cm.Data, true, nil
}

// collect drains the routes into the windows.
func (p *Publisher) collect() map[string]*routequality.Route {
	if p.windows == nil {
		p.windows = map[string]*window{}
	}
	routes := p.Registry.Routes()
	for name, r := range routes {
		w := p.windows[name]
		if w == nil {
			w = &window{}
			p.windows[name] = w
		}
		for _, s := range r.Drain() {
			s.Pod = p.Pod
			w.samples = append(w.samples, s)
		}
		if n := len(w.samples) - routequality.Window; n > 0 {
			w.samples = append(w.samples[:0], w.samples[n:]...)
		}
		if w.route != r {
			w.route, w.seenSpend, w.seenAudit = r, 0, 0
		}
		spend, audit := r.Costs()
		w.spend += spend - w.seenSpend
		w.audit += audit - w.seenAudit
		w.seenSpend, w.seenAudit = spend, audit
	}
	return routes
}

func (p *Publisher) state() routequality.State {
	st := routequality.State{Version: routequality.StateVersion, Routes: make(map[string]routequality.RouteState, len(p.windows))}
	for name, w := range p.windows {
		st.Routes[name] = routequality.RouteState{Samples: w.samples, Spend: w.spend, AuditSpend: w.audit}
	}
	return st
}

// encode marshals st within limit bytes: it first leaves out the texts of the
// oldest samples, then the oldest samples, until the document fits. It
// reports how many samples lost their texts and how many were left out.
func encode(st routequality.State, limit int) (doc []byte, stripped, dropped int, err error) {
	doc, err = json.Marshal(st)
	if err != nil || len(doc) <= limit {
		return doc, 0, 0, err
	}
	type ref struct {
		rule string
		i    int
	}
	var refs []ref
	routes := make(map[string]routequality.RouteState, len(st.Routes))
	for rule, rs := range st.Routes {
		rs.Samples = slices.Clone(rs.Samples) // the caller's stay whole
		routes[rule] = rs
		for i := range rs.Samples {
			refs = append(refs, ref{rule, i})
		}
	}
	st.Routes = routes
	at := func(r ref) *routequality.Sample { return &st.Routes[r.rule].Samples[r.i] }
	slices.SortStableFunc(refs, func(a, b ref) int { return at(a).Time.Compare(at(b).Time) })
	size := func(s *routequality.Sample) int {
		b, _ := json.Marshal(s)
		return len(b) + 1 // and its comma
	}
	over := len(doc) - limit
	for _, r := range refs {
		if over <= 0 {
			break
		}
		s := at(r)
		if s.Prompt == "" && s.DraftText == "" && s.VerifierText == "" {
			continue
		}
		before := size(s)
		s.Prompt, s.DraftText, s.VerifierText = "", "", ""
		over -= before - size(s)
		stripped++
	}
	gone := map[ref]bool{}
	for _, r := range refs {
		if over <= 0 {
			break
		}
		over -= size(at(r))
		gone[r] = true
		dropped++
	}
	for rule, rs := range st.Routes {
		kept := rs.Samples[:0]
		for i, s := range rs.Samples {
			if !gone[ref{rule, i}] {
				kept = append(kept, s)
			}
		}
		rs.Samples = kept
		st.Routes[rule] = rs
	}
	doc, err = json.Marshal(st)
	if err == nil && len(doc) > limit {
		err = fmt.Errorf("quality samples: %d bytes even without samples, over the %d allowed", len(doc), limit)
	}
	return doc, stripped, dropped, err
}

// apply writes data into the pod's ConfigMap with a server-side apply.
func (p *Publisher) apply(ctx context.Context, data map[string]string) error {
	name := ConfigMapName(p.Route, p.Pod)
	body, err := json.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      name,
			"namespace": p.Namespace,
			"labels": map[string]string{
				routequality.LabelRole:  routequality.RoleSamples,
				routequality.LabelRoute: p.Route,
			},
		},
		"data": data,
	})
	if err != nil {
		return fmt.Errorf("encode configmap: %w", err)
	}
	u := p.url(name) + "?" + url.Values{"fieldManager": {FieldManager}, "force": {"true"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("publish quality samples: %w", err)
	}
	req.Header.Set("Content-Type", "application/apply-patch+yaml") // JSON is YAML
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("publish quality samples to configmap %s/%s: %w", p.Namespace, name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	return fmt.Errorf("publish quality samples to configmap %s/%s: %w", p.Namespace, name, apiError(resp))
}

func (p *Publisher) url(name string) string {
	return fmt.Sprintf("%s/api/v1/namespaces/%s/configmaps/%s", p.host, url.PathEscape(p.Namespace), url.PathEscape(name))
}

// apiError describes a failed API call by its status and the API server's
// reason and message (a Status object; it carries no credentials).
func apiError(resp *http.Response) error {
	var status struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&status)
	msg := status.Message
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, status.Reason, msg)
}

func (p *Publisher) maxBytes() int {
	if p.MaxBytes > 0 {
		return p.MaxBytes
	}
	return DefaultMaxBytes
}

func (p *Publisher) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}
