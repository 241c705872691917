package qualitysync

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func rc(requests, accepted int64, cost, audit float64) RuleCounters {
	return RuleCounters{Requests: requests, Outcomes: map[string]int64{"accepted": accepted, "escalated": requests - accepted},
		CostUSD: cost, BaselineUSD: 2 * cost, SavingsUSD: cost, AuditCostUSD: audit}
}

// Totals add what the source counted since the last read; a source that
// starts over (lower counts) counts afresh from zero, nothing is subtracted.
func TestUsageTotalsAccumulate(t *testing.T) {
	var u usageTotals
	u.collect(map[string]RuleCounters{"opus": rc(3, 2, 0.3, 0.1)})
	u.collect(map[string]RuleCounters{"opus": rc(5, 3, 0.5, 0.1), "sonnet": rc(1, 1, 0.01, 0)})
	if o := u.total["opus"]; o.Requests != 5 || o.Outcomes["accepted"] != 3 || o.Outcomes["escalated"] != 2 || o.AuditCostUSD != 0.1 {
		t.Fatalf("opus = %+v, want the source's figures", o)
	}
	// The stats were reset (DELETE /api/stats), then 2 more requests came.
	u.collect(map[string]RuleCounters{"opus": rc(2, 1, 0.2, 0), "sonnet": rc(1, 1, 0.01, 0)})
	o := u.total["opus"]
	if o.Requests != 7 || o.Outcomes["accepted"] != 4 || o.Outcomes["escalated"] != 3 || fmt.Sprintf("%.2f", o.CostUSD) != "0.70" || o.AuditCostUSD != 0.1 {
		t.Errorf("after a reset opus = %+v, want 7 requests (5 + 2), 4 accepted, cost 0.70, audit 0.1", o)
	}
	if s := u.total["sonnet"]; s.Requests != 1 {
		t.Errorf("sonnet = %+v, want 1 request (nothing new)", s)
	}
}

// A restarted container continues its published totals: what it counts
// since it started adds to them, even counted before they were read back.
func TestUsageRestoreContinues(t *testing.T) {
	published, err := json.Marshal(Usage{Version: UsageVersion, Rules: map[string]RuleCounters{"opus": rc(10, 6, 1, 0.2)}})
	if err != nil {
		t.Fatal(err)
	}
	var u usageTotals
	if err := u.restore(string(published)); err != nil {
		t.Fatal(err)
	}
	u.collect(map[string]RuleCounters{"opus": rc(2, 2, 0.2, 0)})
	if o := u.total["opus"]; o.Requests != 12 || o.Outcomes["accepted"] != 8 || o.AuditCostUSD != 0.2 {
		t.Errorf("opus = %+v, want 10 published + 2 new", o)
	}
	for _, bad := range []string{"{", `{"version": 7}`} {
		var v usageTotals
		if err := v.restore(bad); err == nil || !v.read {
			t.Errorf("restore(%q): err %v read %v, want an error and counting afresh", bad, err, v.read)
		}
	}
	var empty usageTotals
	if err := empty.restore(""); err != nil || !empty.read {
		t.Errorf("no document: err %v read %v", err, empty.read)
	}
}

// The document stays under UsageMaxBytes: the last budget states go first.
func TestUsageDocumentBounded(t *testing.T) {
	u := usageTotals{total: map[string]RuleCounters{"opus": rc(1, 1, 1.0000004, 0)}, budgets: &Budgets{Shared: true}}
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2000 {
		u.budgets.States = append(u.budgets.States, BudgetFigures{Scope: "key", Name: fmt.Sprintf("key-%04d-%s", i, strings.Repeat("n", 40)),
			Period: "month", Enforcement: "hard", BudgetUSD: 10, SpentUSD: 1, PeriodEnd: end})
	}
	doc, err := u.document()
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) > UsageMaxBytes {
		t.Fatalf("%d bytes, over %d", len(doc), UsageMaxBytes)
	}
	var got Usage
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	n := len(got.Budgets.States)
	if n == 0 || n >= 2000 || got.Budgets.States[0].Name != u.budgets.States[0].Name {
		t.Errorf("%d budget states kept, want the first ones and fewer than 2000", n)
	}
	if got.Rules["opus"].CostUSD != 1 {
		t.Errorf("cost %v, want rounded to a millionth", got.Rules["opus"].CostUSD)
	}
	if len(u.budgets.States) != 2000 {
		t.Error("document trimmed the held budget states")
	}
}

// Whatever a pod's ConfigMap held, continuing from it neither panics nor
// makes a document that cannot be published.
func FuzzUsageRestore(f *testing.F) {
	f.Add(`{"version":1,"rules":{"opus":{"requests":3,"outcomes":{"accepted":3},"costUSD":0.5}}}`)
	f.Add(`{"version":1,"rules":{"opus":null}}`)
	f.Add(`{"version":3}`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, doc string) {
		var u usageTotals
		_ = u.restore(doc)
		if !u.read {
			t.Fatal("a document read, even a bad one, must let publishing go on")
		}
		u.collect(map[string]RuleCounters{"opus": rc(1, 1, 0.1, 0)})
		out, err := u.document()
		if err != nil {
			return // only a document too large to publish
		}
		var back Usage
		if err := json.Unmarshal(out, &back); err != nil || back.Version != UsageVersion {
			t.Fatalf("published document %q: %v", out, err)
		}
	})
}
