package routequality

import (
	"encoding/json"
	"sync"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Registry keeps the routes of the rules in effect across reloads: a
// reloaded rule keeps its route (samples, calibration) while what its
// samples mean is unchanged (same draft, verifier, gate and second
// opinions); otherwise it starts afresh.
type Registry struct {
	mu     sync.Mutex
	routes map[string]*entry
}

type entry struct {
	route *Route
	key   string
}

// Route returns the route for a rule, creating or replacing it as needed.
// A kept route takes the rule's new settings and, when they changed,
// recalibrates (without holding the registry).
func (g *Registry) Route(r *rules.Rule) *Route {
	key := identity(r)
	s := Resolve(r)
	g.mu.Lock()
	if g.routes == nil {
		g.routes = map[string]*entry{}
	}
	if e, ok := g.routes[r.Name]; ok && e.key == key {
		g.mu.Unlock()
		e.route.reconfigure(s)
		return e.route
	}
	rt := NewRoute(r.Name, s)
	g.routes[r.Name] = &entry{route: rt, key: key}
	g.mu.Unlock()
	return rt
}

// Prune drops the routes of rules not named in keep (rules removed by a
// reload), so their samples stop being exported and published.
func (g *Registry) Prune(keep []string) {
	want := make(map[string]bool, len(keep))
	for _, n := range keep {
		want[n] = true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for n := range g.routes {
		if !want[n] {
			delete(g.routes, n)
		}
	}
}

// Routes returns the routes, by rule name.
func (g *Registry) Routes() map[string]*Route {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := make(map[string]*Route, len(g.routes))
	for n, e := range g.routes {
		m[n] = e.route
	}
	return m
}

// identity is what a rule's samples depend on.
func identity(r *rules.Rule) string {
	b, _ := json.Marshal(struct {
		D, V rules.Target
		G    *rules.Gate
		S    *rules.SecondOpinion
	}{r.Draft, r.Verifier, r.Gate, r.SecondOpinion})
	return string(b)
}
