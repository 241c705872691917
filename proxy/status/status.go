// Package status serves the proxy's status page: one read-only HTML page,
// for the admin listener, that shows what each rule's cascade is doing —
// requests by outcome, acceptance, cost against the baseline, savings net of
// audits, the quality measured against the rule's target with the threshold
// in effect and why, time by stage, recent audits — with small charts of
// savings and quality over a bounded in-memory history, and the rules'
// reload history. The page refreshes itself and needs nothing but the
// proxy: no script, no external asset.
//
// It reads figures the proxy already keeps (the recorder's and auditor's
// aggregates, the rules' quality loops, the loader's history). Its view
// model has no field for a prompt, an answer or a key, so none can reach
// the page.
package status

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// Defaults of a Page.
const (
	// DefaultEvery is how often the chart history is sampled.
	DefaultEvery = 10 * time.Second
	// DefaultKeep is how many points the history keeps per rule (an hour
	// at DefaultEvery).
	DefaultKeep = 360
	// DefaultRefresh is how often the page reloads itself.
	DefaultRefresh = 10 * time.Second
	// recentAudits is how many audited samples a rule's section lists.
	recentAudits = 10
)

// Sources are what the page reads. Store and Recorder are required.
type Sources struct {
	Store    *snapshot.Store
	Recorder *cascade.Recorder
	// Auditor supplies the audit costs (nil: no audits are counted).
	Auditor *cascade.Auditor
	// Reloads lists the rules' reload history, newest first (nil: none).
	Reloads func() []rulesource.Reload
}

// Page is the status page. Create it with New; serve it with ServeHTTP and
// keep its chart history with Run.
type Page struct {
	src     Sources
	every   time.Duration
	keep    int
	refresh time.Duration
	started time.Time
	tmpl    *template.Template

	mu      sync.Mutex
	history map[string][]Point
}

// Point is one sample of a rule's history. Quality and its bounds are NaN
// while unknown.
type Point struct {
	Time                  time.Time
	NetSavingsUSD         float64
	Quality, Lower, Upper float64
}

//go:embed page.html
var files embed.FS

var pageTemplate = template.Must(template.New("page.html").Funcs(funcs).ParseFS(files, "page.html"))

// New returns a page over src that samples its history every every (0:
// DefaultEvery), keeps keep points per rule (0: DefaultKeep) and tells the
// browser to reload it every DefaultRefresh.
func New(src Sources, every time.Duration, keep int) *Page {
	if every <= 0 {
		every = DefaultEvery
	}
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Page{src: src, every: every, keep: keep, refresh: DefaultRefresh, started: time.Now(),
		tmpl: pageTemplate, history: map[string][]Point{}}
}

// Run samples the history every interval until ctx ends.
func (p *Page) Run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	p.Sample(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.Sample(now)
		}
	}
}

// Sample adds a point at now to the history of every loaded rule and drops
// the history of rules no longer loaded.
func (p *Page) Sample(now time.Time) {
	routes := p.routes()
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := make(map[string][]Point, len(routes))
	for _, r := range routes {
		if r.Removed {
			continue
		}
		h := append(p.history[r.Name], r.point(now))
		if len(h) > p.keep {
			h = append([]Point(nil), h[len(h)-p.keep:]...)
		}
		keep[r.Name] = h
	}
	p.history = keep
}

// History returns a copy of a rule's history, oldest first.
func (p *Page) History(rule string) []Point {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Point(nil), p.history[rule]...)
}

// ServeHTTP serves the page (GET and HEAD).
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, p.View(time.Now())); err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Nothing but the page itself and its inline styles may load.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(buf.Bytes())
}

// View is everything the page shows at one moment.
type View struct {
	Now     time.Time
	Uptime  time.Duration
	Refresh int // seconds
	Every   time.Duration
	Keep    int
	// Loaded is false until rules are served; Hash and LoadedAt are theirs.
	Loaded   bool
	Hash     string
	LoadedAt time.Time
	Reloads  []rulesource.Reload
	Routes   []Route
}

// View computes the page's figures at now.
func (p *Page) View(now time.Time) View {
	v := View{Now: now, Uptime: now.Sub(p.started), Refresh: int(p.refresh / time.Second), Every: p.every, Keep: p.keep}
	if snap := p.src.Store.Load(); snap != nil {
		v.Loaded, v.Hash, v.LoadedAt = true, snap.Hash, snap.LoadedAt
	}
	if p.src.Reloads != nil {
		v.Reloads = p.src.Reloads()
	}
	v.Routes = p.routes()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range v.Routes {
		r := &v.Routes[i]
		// The chart ends at the figures shown beside it.
		h := append(append([]Point(nil), p.history[r.Name]...), r.point(now))
		r.SavingsChart = savingsChart(h)
		r.QualityChart = qualityChart(h, r.Quality)
	}
	return v
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
