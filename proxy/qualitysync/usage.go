package qualitysync

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"time"
)

// UsageKey is the data key, in a pod's published ConfigMap, of its usage
// document (Usage as JSON).
const UsageKey = "usage.json"

// UsageVersion is the version of the usage document this proxy writes and
// the operator reads.
const UsageVersion = 1

// UsageMaxBytes bounds the usage document; with DefaultMaxBytes of samples
// the ConfigMap stays under the API server's 1 MiB. Budget states beyond it
// are left out.
const UsageMaxBytes = 128 << 10

// Usage is what a pod publishes besides its samples, for the route's
// status: every rule's request counters, cumulative since the pod was first
// started (a restarted container reads its ConfigMap back and continues
// them), and the budget state of the named client keys and teams as the pod
// reads it. The document changes only when a figure does, so an idle pod
// does not rewrite its ConfigMap.
type Usage struct {
	Version int                     `json:"version"`
	Rules   map[string]RuleCounters `json:"rules,omitempty"`
	Budgets *Budgets                `json:"budgets,omitempty"`
}

// RuleCounters are one rule's request counters. Money is in USD over the
// requests whose cost is known; SavingsUSD is BaselineUSD minus CostUSD
// (escalations count against it); AuditCostUSD, the spend on comparisons
// made only to audit, is apart.
type RuleCounters struct {
	Requests     int64            `json:"requests"`
	Outcomes     map[string]int64 `json:"outcomes,omitempty"`
	CostUSD      float64          `json:"costUSD"`
	BaselineUSD  float64          `json:"baselineUSD"`
	SavingsUSD   float64          `json:"savingsUSD"`
	AuditCostUSD float64          `json:"auditCostUSD"`
}

// Add adds o's counts to c.
func (c *RuleCounters) Add(o RuleCounters) {
	c.Requests += o.Requests
	for k, n := range o.Outcomes {
		if c.Outcomes == nil {
			c.Outcomes = map[string]int64{}
		}
		c.Outcomes[k] += n
	}
	c.CostUSD += o.CostUSD
	c.BaselineUSD += o.BaselineUSD
	c.SavingsUSD += o.SavingsUSD
	c.AuditCostUSD += o.AuditCostUSD
}

// Budgets is the budget state of the named keys and teams as one pod reads
// it.
type Budgets struct {
	// Shared: the counters are in a store every replica shares (Redis), so
	// every pod reports the same spend. Otherwise a pod reports its own.
	Shared bool `json:"shared"`
	// States lists every key and team budget, in the rules' order.
	States []BudgetFigures `json:"states,omitempty"`
}

// BudgetFigures is one budget in its current period: a name and figures,
// never a key.
type BudgetFigures struct {
	Scope       string    `json:"scope"` // key or team
	Name        string    `json:"name"`
	Team        string    `json:"team,omitempty"`
	Period      string    `json:"period"`
	Enforcement string    `json:"enforcement"`
	BudgetUSD   float64   `json:"budgetUSD"`
	SpentUSD    float64   `json:"spentUSD"`
	PeriodEnd   time.Time `json:"periodEnd"`
}

// UsageSources are where a pod's usage is read. Counters is required for a
// usage document to be published; Budgets may be nil (no named keys).
type UsageSources struct {
	// Counters reads the process's per-rule counters. They may start over
	// (an operator resetting /api/stats): a count lower than the last one
	// read is taken as counting afresh from zero.
	Counters func() map[string]RuleCounters
	// Budgets reads the budget state; nil, nil when there is none.
	Budgets func(context.Context) (*Budgets, error)
}

// usageTotals accumulates the counters a pod publishes.
type usageTotals struct {
	read    bool                    // the pod's ConfigMap was read back (or there was none)
	total   map[string]RuleCounters // published: cumulative since the pod first started
	seen    map[string]RuleCounters // the source's figures last read
	budgets *Budgets                // the last budget state read
}

// collect adds what the source counted since the last call.
func (u *usageTotals) collect(now map[string]RuleCounters) {
	if u.total == nil {
		u.total = map[string]RuleCounters{}
	}
	for rule, cur := range now {
		inc := increase(u.seen[rule], cur)
		if inc.Requests != 0 || inc.AuditCostUSD != 0 || inc.CostUSD != 0 || inc.BaselineUSD != 0 || inc.SavingsUSD != 0 || len(inc.Outcomes) > 0 {
			t := u.total[rule]
			t.Outcomes = maps.Clone(t.Outcomes)
			t.Add(inc)
			u.total[rule] = t
		}
	}
	u.seen = now
}

// increase is what cur counted beyond prev. Requests (or audit spend) lower
// than before mean the source started over: everything it holds is new.
func increase(prev, cur RuleCounters) RuleCounters {
	var inc RuleCounters
	if cur.Requests < prev.Requests {
		prev.Requests, prev.Outcomes, prev.CostUSD, prev.BaselineUSD, prev.SavingsUSD = 0, nil, 0, 0, 0
	}
	if cur.AuditCostUSD < prev.AuditCostUSD {
		prev.AuditCostUSD = 0
	}
	inc.Requests = cur.Requests - prev.Requests
	for k, n := range cur.Outcomes {
		if d := n - prev.Outcomes[k]; d > 0 {
			if inc.Outcomes == nil {
				inc.Outcomes = map[string]int64{}
			}
			inc.Outcomes[k] = d
		}
	}
	inc.CostUSD = cur.CostUSD - prev.CostUSD
	inc.BaselineUSD = cur.BaselineUSD - prev.BaselineUSD
	inc.SavingsUSD = cur.SavingsUSD - prev.SavingsUSD
	inc.AuditCostUSD = cur.AuditCostUSD - prev.AuditCostUSD
	return inc
}

// restore continues the totals of a document this pod published before.
// An unreadable document is reported; the totals then start afresh.
func (u *usageTotals) restore(doc string) error {
	u.read = true
	if doc == "" {
		return nil
	}
	var us Usage
	if err := json.Unmarshal([]byte(doc), &us); err != nil {
		return fmt.Errorf("decode %s: %w", UsageKey, err)
	}
	if us.Version != UsageVersion {
		return fmt.Errorf("%s version %d: only %d is read", UsageKey, us.Version, UsageVersion)
	}
	if u.total == nil {
		u.total = map[string]RuleCounters{}
	}
	for rule, c := range us.Rules {
		t := u.total[rule]
		t.Outcomes = maps.Clone(t.Outcomes)
		t.Add(c)
		u.total[rule] = t
	}
	return nil
}

// document encodes the totals and the budget state within UsageMaxBytes,
// leaving out the last budget states when they do not fit.
func (u *usageTotals) document() ([]byte, error) {
	doc := Usage{Version: UsageVersion, Rules: make(map[string]RuleCounters, len(u.total))}
	for rule, c := range u.total {
		doc.Rules[rule] = roundCounters(c)
	}
	if u.budgets != nil {
		b := *u.budgets
		doc.Budgets = &b
	}
	for {
		out, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", UsageKey, err)
		}
		if len(out) <= UsageMaxBytes {
			return out, nil
		}
		if doc.Budgets == nil || len(doc.Budgets.States) == 0 {
			return nil, fmt.Errorf("%s: %d bytes without budget states, over the %d allowed", UsageKey, len(out), UsageMaxBytes)
		}
		doc.Budgets.States = doc.Budgets.States[:len(doc.Budgets.States)*9/10]
	}
}

// roundCounters keeps money to a millionth of a dollar (no float noise in
// the published document) and makes what JSON cannot carry 0.
func roundCounters(c RuleCounters) RuleCounters {
	r := func(v float64) float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0
		}
		return math.Round(v*1e6) / 1e6
	}
	c.CostUSD, c.BaselineUSD, c.SavingsUSD, c.AuditCostUSD = r(c.CostUSD), r(c.BaselineUSD), r(c.SavingsUSD), r(c.AuditCostUSD)
	return c
}
