package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/proxy/qualitysync"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func counters(requests, accepted, escalated int64, cost, baseline, audit float64) qualitysync.RuleCounters {
	return qualitysync.RuleCounters{Requests: requests, Outcomes: map[string]int64{"accepted": accepted, "escalated": escalated},
		CostUSD: cost, BaselineUSD: baseline, SavingsUSD: baseline - cost, AuditCostUSD: audit}
}

func pod(name, uid string, rules map[string]qualitysync.RuleCounters, budgets *qualitysync.Budgets) podUsage {
	return podUsage{name: name, uid: types.UID(uid), usage: qualitysync.Usage{Version: qualitysync.UsageVersion, Rules: rules, Budgets: budgets}}
}

func twoRules() *rules.Set {
	return &rules.Set{Rules: []rules.Rule{{Name: "opus"}, {Name: "sonnet"}}}
}

// Two pods' figures add up; the retired totals of gone pods count too; a
// rule without requests is listed with zeros; acceptance is accepted over
// gated requests.
func TestRuleTotalsAcrossPods(t *testing.T) {
	l := usageLedger{Retired: map[string]qualitysync.RuleCounters{"opus": counters(4, 1, 3, 0.4, 1, 0.1)}}
	pods := []podUsage{
		pod("r-quality-a", "1", map[string]qualitysync.RuleCounters{"opus": counters(10, 7, 3, 1, 3, 0.2)}, nil),
		pod("r-quality-b", "2", map[string]qualitysync.RuleCounters{"opus": counters(6, 2, 4, 0.6, 1, 0)}, nil),
	}
	totals, reporting := ruleTotals(l, pods)
	entries, requests := ruleUsages(twoRules(), totals, reporting)
	if len(entries) != 2 || requests != 20 {
		t.Fatalf("entries %+v, requests %d; want opus and sonnet, 20 requests", entries, requests)
	}
	o := entries[0]
	if o.Rule != "opus" || o.Requests != 20 || o.Outcomes["accepted"] != 10 || o.Outcomes["escalated"] != 10 || o.Pods != 2 {
		t.Errorf("opus = %+v", o)
	}
	if o.Acceptance == nil || *o.Acceptance != 0.5 {
		t.Errorf("acceptance %v, want 0.5", o.Acceptance)
	}
	if o.CostUSD != 2 || o.BaselineUSD != 5 || o.SavingsUSD != 3 || o.AuditCostUSD != 0.3 || o.NetSavingsUSD != 2.7 {
		t.Errorf("money %+v, want cost 2, baseline 5, savings 3, audit 0.3, net 2.7", o)
	}
	if s := entries[1]; s.Rule != "sonnet" || s.Requests != 0 || s.Acceptance != nil || s.Outcomes != nil || s.Pods != 0 {
		t.Errorf("sonnet = %+v, want zeros", s)
	}
	// Summing did not change the pods' own figures.
	if pods[0].usage.Rules["opus"].Outcomes["accepted"] != 7 || l.Retired["opus"].Requests != 4 {
		t.Error("ruleTotals changed its inputs")
	}
}

// A ConfigMap being deleted counts once: through itself while it exists,
// through the ledger once it is gone, and not when a new ConfigMap of the
// same name (another UID) appears.
func TestLedgerRetiringCountsOnce(t *testing.T) {
	declared := map[string]bool{"opus": true}
	a := pod("r-quality-a", "uid-1", map[string]qualitysync.RuleCounters{"opus": counters(10, 7, 3, 1, 3, 0)}, nil)
	var l usageLedger
	if !l.markRetiring(a) || l.markRetiring(a) {
		t.Fatal("markRetiring: want a change the first time only")
	}
	// The ConfigMap still exists (the delete failed, or the cache lags).
	if l.settle(map[string]types.UID{"r-quality-a": "uid-1"}, declared) {
		t.Error("settle moved an entry whose ConfigMap exists")
	}
	totals, _ := ruleTotals(l, []podUsage{a})
	if totals["opus"].Requests != 10 {
		t.Errorf("while the ConfigMap exists: %d requests, want 10 (counted once)", totals["opus"].Requests)
	}
	// Gone (a new ConfigMap of that name is another pod's).
	if !l.settle(map[string]types.UID{"r-quality-a": "uid-2"}, declared) {
		t.Fatal("settle kept an entry whose ConfigMap is gone")
	}
	if len(l.Retiring) != 0 || l.Retired["opus"].Requests != 10 {
		t.Errorf("ledger after settle = %+v", l)
	}
	fresh := pod("r-quality-a", "uid-2", map[string]qualitysync.RuleCounters{"opus": counters(2, 1, 1, 0, 0, 0)}, nil)
	totals, _ = ruleTotals(l, []podUsage{fresh})
	if totals["opus"].Requests != 12 || totals["opus"].Outcomes["accepted"] != 8 {
		t.Errorf("after retirement: %+v, want 12 requests (10 retired + 2)", totals["opus"])
	}
	// A rule no longer declared leaves the ledger.
	if !l.settle(nil, map[string]bool{"sonnet": true}) || len(l.Retired) != 0 {
		t.Errorf("retired totals of an undeclared rule kept: %+v", l.Retired)
	}
}

func budgetSet() *rules.Set {
	return &rules.Set{
		ClientKeys: []rules.ClientKey{
			{Name: "alice", Team: "ml", SecretKey: "alice", Budget: &rules.Budget{USD: 10, Period: "month", Enforcement: "hard"}},
			{Name: "bob", Team: "ml", SecretKey: "bob", Budget: &rules.Budget{USD: 5, Period: "day", Enforcement: "soft"}},
			{Name: "carol", SecretKey: "carol"},
		},
		Teams: []rules.Team{{Name: "ml", Budget: &rules.Budget{USD: 20, Period: "month", Enforcement: "soft"}}},
	}
}

func figures(scope, name string, spent float64, end time.Time) qualitysync.BudgetFigures {
	return qualitysync.BudgetFigures{Scope: scope, Name: name, SpentUSD: spent, PeriodEnd: end}
}

// Shared reports: the highest (newest) wins; own counts: the pods' sum;
// reports of an earlier period do not count.
func TestBudgetStatuses(t *testing.T) {
	now := time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC)
	month := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	day := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	yesterday := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	set := budgetSet()

	shared := []podUsage{
		pod("a", "1", nil, &qualitysync.Budgets{Shared: true, States: []qualitysync.BudgetFigures{
			figures("key", "alice", 4, month), figures("key", "bob", 9, yesterday), figures("team", "ml", 6, month)}}),
		pod("b", "2", nil, &qualitysync.Budgets{Shared: true, States: []qualitysync.BudgetFigures{
			figures("key", "alice", 4.5, month), figures("team", "ml", 6.5, month)}}),
	}
	got := budgetStatuses(set, shared, now)
	if len(got) != 3 {
		t.Fatalf("budgets %+v, want alice, ml, bob (carol has none)", got)
	}
	alice, ml, bob := got[0], got[1], got[2]
	if alice.Name != "alice" || alice.Scope != "key" || alice.Team != "ml" || alice.SpentUSD != 4.5 || alice.RemainingUSD != 5.5 ||
		!alice.Reported || alice.Exceeded || alice.Enforcement != "hard" || !alice.PeriodEnd.Time.Equal(month) {
		t.Errorf("alice = %+v", alice)
	}
	if ml.Scope != "team" || ml.Name != "ml" || ml.SpentUSD != 6.5 || ml.Period != "month" {
		t.Errorf("ml = %+v", ml)
	}
	if bob.Reported || bob.SpentUSD != 0 || bob.RemainingUSD != 5 || !bob.PeriodEnd.Time.Equal(day) {
		t.Errorf("bob = %+v: yesterday's report must not count today", bob)
	}

	own := []podUsage{
		pod("a", "1", nil, &qualitysync.Budgets{States: []qualitysync.BudgetFigures{figures("key", "alice", 6, month)}}),
		pod("b", "2", nil, &qualitysync.Budgets{States: []qualitysync.BudgetFigures{figures("key", "alice", 4.5, month)}}),
	}
	if a := budgetStatuses(set, own, now)[0]; a.SpentUSD != 10.5 || a.RemainingUSD != 0 || !a.Exceeded {
		t.Errorf("alice counted by each pod = %+v, want 10.5 spent, exceeded", a)
	}
	if budgetStatuses(twoRules(), shared, now) != nil {
		t.Error("budgets listed for rules without any")
	}
}

func TestBudgetsCondition(t *testing.T) {
	end := metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	b := func(scope, name, enf string, spent, budget float64, reported bool) v1alpha1.BudgetStatus {
		return v1alpha1.BudgetStatus{Scope: scope, Name: name, Enforcement: enf, Period: "month", SpentUSD: spent, BudgetUSD: budget,
			PeriodEnd: end, Reported: reported, Exceeded: spent >= budget}
	}
	if _, _, _, ok := budgetsCondition(nil); ok {
		t.Error("a condition without budgets")
	}
	if s, r, _, _ := budgetsCondition([]v1alpha1.BudgetStatus{b("key", "alice", "hard", 0, 10, false)}); s != metav1.ConditionUnknown || r != v1alpha1.ReasonNotReported {
		t.Errorf("unreported: %s/%s", s, r)
	}
	s, r, msg, _ := budgetsCondition([]v1alpha1.BudgetStatus{b("key", "alice", "hard", 3, 10, true), b("team", "ml", "soft", 25, 20, true)})
	if s != metav1.ConditionTrue || r != v1alpha1.ReasonWithinLimits || !strings.Contains(msg, "team ml") {
		t.Errorf("soft exceeded only: %s/%s %q", s, r, msg)
	}
	s, r, msg, _ = budgetsCondition([]v1alpha1.BudgetStatus{b("key", "alice", "hard", 10.2, 10, true), b("key", "bob", "hard", 1, 10, true)})
	if s != metav1.ConditionFalse || r != v1alpha1.ReasonBudgetExhausted || !strings.Contains(msg, "key alice") || strings.Contains(msg, "bob") {
		t.Errorf("hard exhausted: %s/%s %q", s, r, msg)
	}
}

// A soft budget's crossing is news once per period.
func TestSoftCrossings(t *testing.T) {
	end := metav1.NewTime(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	next := metav1.NewTime(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	bob := func(spent float64, at metav1.Time) v1alpha1.BudgetStatus {
		return v1alpha1.BudgetStatus{Scope: "key", Name: "bob", Enforcement: "soft", BudgetUSD: 5, SpentUSD: spent, Exceeded: spent >= 5,
			Reported: true, PeriodEnd: at}
	}
	hard := v1alpha1.BudgetStatus{Scope: "key", Name: "alice", Enforcement: "hard", BudgetUSD: 1, SpentUSD: 2, Exceeded: true, Reported: true, PeriodEnd: end}
	if got := softCrossings([]v1alpha1.BudgetStatus{bob(4, end)}, []v1alpha1.BudgetStatus{bob(6, end), hard}); len(got) != 1 || got[0].Name != "bob" {
		t.Errorf("crossing: %+v, want bob only (hard budgets have a condition)", got)
	}
	if got := softCrossings([]v1alpha1.BudgetStatus{bob(6, end)}, []v1alpha1.BudgetStatus{bob(7, end)}); len(got) != 0 {
		t.Errorf("still exceeded in the same period: %+v, want no news", got)
	}
	if got := softCrossings([]v1alpha1.BudgetStatus{bob(6, end)}, []v1alpha1.BudgetStatus{bob(5.5, next)}); len(got) != 1 {
		t.Errorf("exceeded again in the next period: %+v, want news", got)
	}
	if got := softCrossings(nil, []v1alpha1.BudgetStatus{bob(6, end)}); len(got) != 1 {
		t.Errorf("first status already exceeded: %+v, want news", got)
	}
}

// Whatever a pod's ConfigMap holds, decoding it and adding it up neither
// panics nor yields a document of another version.
func FuzzDecodeUsage(f *testing.F) {
	f.Add(`{"version":1,"rules":{"opus":{"requests":3,"outcomes":{"accepted":2,"escalated":1},"costUSD":0.5}},` +
		`"budgets":{"shared":true,"states":[{"scope":"key","name":"alice","spentUSD":4,"periodEnd":"2027-01-01T00:00:00Z"}]}}`)
	f.Add(`{"version":2}`)
	f.Add(`{"version":1,"rules":{"":{"requests":-1}},"budgets":{"states":null}}`)
	f.Add(`[]`)
	set := budgetSet()
	set.Rules = []rules.Rule{{Name: "opus"}}
	f.Fuzz(func(t *testing.T, doc string) {
		u, ok, err := decodeUsage(doc)
		if ok && (err != nil || u.Version != qualitysync.UsageVersion) {
			t.Fatalf("ok with err %v, version %d", err, u.Version)
		}
		if !ok {
			return
		}
		p := []podUsage{{name: "p", uid: "u", usage: u}}
		var l usageLedger
		l.markRetiring(p[0])
		l.settle(nil, map[string]bool{"opus": true})
		totals, reporting := ruleTotals(l, p)
		ruleUsages(set, totals, reporting)
		budgetsCondition(budgetStatuses(set, p, time.Now()))
	})
}
