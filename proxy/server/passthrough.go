package server

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// otherModel is the metric label of every model name neither the rules nor
// the price table know.
const otherModel = "other"

// meteredNames is what meteredName needs for one rules set.
type meteredNames struct {
	set    *rules.Set
	named  map[string]string // lower-case name -> spelling in the rules
	prices *pricing.Table
	// seen remembers the label of up to maxSeenNames requested names.
	seen  sync.Map // requested name -> label
	nseen atomic.Int32
}

// maxSeenNames bounds meteredNames.seen: requested names are the client's.
const maxSeenNames = 1024

// meteredNameCache holds the meteredNames of the last rules set served.
type meteredNameCache struct{ p atomic.Pointer[meteredNames] }

// meteredName is the model name a pass-through request's tokens and cost
// are recorded under. The requested name is the client's choice, so as a
// metric label it must be bounded: a model the rules name (a rule's models,
// draft, verifier or judge, the default route's model) keeps the rules'
// spelling; a priced model is recorded under its price-table entry (the same
// price); any other name is "other".
func (s *Server) meteredName(snap *snapshot.Snapshot, model string) string {
	n := s.meteredNames(snap)
	if label, ok := n.seen.Load(model); ok {
		return label.(string)
	}
	label := otherModel
	if name, ok := n.named[strings.ToLower(model)]; ok {
		label = name
	} else if key, ok := n.prices.Key(model); ok {
		label = key
	}
	if n.nseen.Add(1) <= maxSeenNames {
		n.seen.Store(model, label)
	}
	return label
}

func (s *Server) meteredNames(snap *snapshot.Snapshot) *meteredNames {
	n := s.names.p.Load()
	if n == nil || n.set != snap.Rules {
		n = newMeteredNames(snap.Rules, snap.Compiled.Prices)
		s.names.p.Store(n)
	}
	return n
}

// newMeteredNames collects the rules' model names; prices is the snapshot's
// pass-through price table (nil: pricing.Default).
func newMeteredNames(set *rules.Set, prices *pricing.Table) *meteredNames {
	if prices == nil {
		prices = pricing.Default()
	}
	n := &meteredNames{set: set, named: map[string]string{}, prices: prices}
	add := func(name string) {
		if name != "" {
			n.named[strings.ToLower(name)] = name
		}
	}
	for i := range set.Rules {
		r := &set.Rules[i]
		for _, m := range r.Models {
			add(m)
		}
		add(r.Draft.Model)
		add(r.Verifier.Model)
		if r.Gate != nil && r.Gate.Judge != nil {
			add(r.Gate.Judge.Model)
		}
	}
	if dr := set.DefaultRoute; dr != nil {
		add(dr.Model)
	}
	return n
}
