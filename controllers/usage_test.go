package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/proxy/qualitysync"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

// billingRoute is claudeCodeRoute (no quality loop) with named keys: alice
// (team ml, hard $10 a month), bob (team ml, soft $5 a day), and team ml
// (soft $50 a month).
func billingRoute(ns, name string) *v1alpha1.CascadeRoute {
	cr := claudeCodeRoute(ns, name)
	cr.Spec.Proxy.ClientKeysSecretRef = &v1alpha1.LocalSecretRef{Name: "client-keys"}
	cr.Spec.ClientKeys = []v1alpha1.ClientKey{
		{Name: "alice", Team: "ml", SecretKey: "alice", Budget: &v1alpha1.Budget{USD: 10, Period: "month", Enforcement: "hard"}},
		{Name: "bob", Team: "ml", SecretKey: "bob", Budget: &v1alpha1.Budget{USD: 5, Period: "day", Enforcement: "soft"}},
	}
	cr.Spec.Teams = []v1alpha1.Team{{Name: "ml", Budget: &v1alpha1.Budget{USD: 50, Period: "month", Enforcement: "soft"}}}
	return cr
}

// publishUsage writes (creates or updates) a pod's ConfigMap with a usage
// document, the way the proxy does.
func publishUsage(t *testing.T, cr *v1alpha1.CascadeRoute, pod string, u qualitysync.Usage) {
	t.Helper()
	u.Version = qualitysync.UsageVersion
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	samples, _ := json.Marshal(routequality.State{Version: routequality.StateVersion})
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: cr.Namespace, Name: render.QualitySamplesPrefix(cr) + pod, Labels: map[string]string{
			routequality.LabelRole: routequality.RoleSamples, routequality.LabelRoute: cr.Name,
		}},
		Data: map[string]string{routequality.SamplesKey: string(samples), qualitysync.UsageKey: string(b)},
	}
	ctx := context.Background()
	var current corev1.ConfigMap
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(cm), &current); err == nil {
		current.Data = cm.Data
		if err := k8s.Update(ctx, &current); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := k8s.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
}

func outcomes(accepted, escalated int64) map[string]int64 {
	return map[string]int64{"accepted": accepted, "escalated": escalated}
}

// budgetReport is the shared budget state with the given spends, in the
// periods holding now.
func budgetReport(alice, bob, ml float64) *qualitysync.Budgets {
	now := time.Now()
	_, month := teams.Month.Window(now)
	_, day := teams.Day.Window(now)
	return &qualitysync.Budgets{Shared: true, States: []qualitysync.BudgetFigures{
		{Scope: "key", Name: "alice", Team: "ml", Period: "month", Enforcement: "hard", BudgetUSD: 10, SpentUSD: alice, PeriodEnd: month},
		{Scope: "team", Name: "ml", Team: "ml", Period: "month", Enforcement: "soft", BudgetUSD: 50, SpentUSD: ml, PeriodEnd: month},
		{Scope: "key", Name: "bob", Team: "ml", Period: "day", Enforcement: "soft", BudgetUSD: 5, SpentUSD: bob, PeriodEnd: day},
	}}
}

func softBudgetEvents(t *testing.T, ns string) []eventsv1.Event {
	t.Helper()
	var evs eventsv1.EventList
	if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range evs.Items {
		if e.Reason == v1alpha1.ReasonSoftBudgetExceeded {
			out = append(out, e)
		}
	}
	return out
}

// Two pods' counters add up in status.rules, a restarted pod's continued
// totals replace its earlier ones (not added twice), the budgets come from
// the shared reports, a spent hard budget turns BudgetsWithinLimits False
// naming the key, and a soft budget crossed makes one Warning Event.
func TestUsageAndBudgetsInStatus(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := billingRoute(ns, "billing")
	mustCreate(t, vendorSecret(ns), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "client-keys"},
		StringData: map[string]string{"alice": "sk-client-alice-not-real", "bob": "sk-client-bob-not-real"}}, cr)
	key := client.ObjectKeyFromObject(cr)

	// Before any pod reports: every rule with zeros, budgets unreported.
	eventually(t, wait, func() error {
		got := getRoute(t, key)
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionBudgetsWithinLimits)
		if c == nil || c.Status != metav1.ConditionUnknown || c.Reason != v1alpha1.ReasonNotReported {
			return fmt.Errorf("BudgetsWithinLimits = %+v, want Unknown/NotReported", c)
		}
		if len(got.Status.Rules) != 2 || got.Status.Rules[0].Rule != "opus" || got.Status.Rules[0].Requests != 0 || len(got.Status.Budgets) != 3 {
			return fmt.Errorf("status.rules %+v, status.budgets %+v", got.Status.Rules, got.Status.Budgets)
		}
		return nil
	})
	cr = getRoute(t, key)

	publishUsage(t, cr, "billing-proxy-a", qualitysync.Usage{
		Rules:   map[string]qualitysync.RuleCounters{"opus": {Requests: 10, Outcomes: outcomes(7, 3), CostUSD: 1, BaselineUSD: 4, SavingsUSD: 3, AuditCostUSD: 0.25}},
		Budgets: budgetReport(4, 3, 10)})
	publishUsage(t, cr, "billing-proxy-b", qualitysync.Usage{
		Rules: map[string]qualitysync.RuleCounters{
			"opus":   {Requests: 6, Outcomes: outcomes(1, 5), CostUSD: 2, BaselineUSD: 2.5, SavingsUSD: 0.5},
			"sonnet": {Requests: 2, Outcomes: map[string]int64{"draft_only": 2}, CostUSD: 0.01, BaselineUSD: 0.05, SavingsUSD: 0.04}},
		Budgets: budgetReport(4.5, 3, 11)})
	eventually(t, wait, func() error {
		got := getRoute(t, key)
		if got.Status.Requests != 18 || len(got.Status.Rules) != 2 {
			return fmt.Errorf("requests %d, rules %+v; want 18 over opus and sonnet", got.Status.Requests, got.Status.Rules)
		}
		if b := got.Status.Budgets; len(b) != 3 || b[0].Name != "alice" || b[0].SpentUSD != 4.5 {
			return fmt.Errorf("status.budgets %+v, want alice at 4.5 (the newest shared report)", b)
		}
		return nil
	})
	got := getRoute(t, key)
	opus, sonnet := got.Status.Rules[0], got.Status.Rules[1]
	if opus.Requests != 16 || opus.Outcomes["accepted"] != 8 || opus.Outcomes["escalated"] != 8 || opus.Acceptance == nil || *opus.Acceptance != 0.5 ||
		opus.CostUSD != 3 || opus.BaselineUSD != 6.5 || opus.SavingsUSD != 3.5 || opus.AuditCostUSD != 0.25 || opus.NetSavingsUSD != 3.25 || opus.Pods != 2 {
		t.Errorf("status.rules[opus] = %+v", opus)
	}
	if sonnet.Requests != 2 || sonnet.Outcomes["draft_only"] != 2 || sonnet.Acceptance != nil || sonnet.Pods != 1 {
		t.Errorf("status.rules[sonnet] = %+v", sonnet)
	}
	alice, ml, bob := got.Status.Budgets[0], got.Status.Budgets[1], got.Status.Budgets[2]
	if alice.RemainingUSD != 5.5 || alice.Exceeded || !alice.Reported || alice.Enforcement != "hard" || alice.Team != "ml" ||
		ml.Scope != "team" || ml.SpentUSD != 11 || bob.SpentUSD != 3 || bob.Period != "day" {
		t.Errorf("status.budgets = %+v", got.Status.Budgets)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionBudgetsWithinLimits); c == nil ||
		c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonWithinLimits {
		t.Errorf("BudgetsWithinLimits = %+v, want True/WithinLimits", c)
	}
	for _, secret := range []string{"sk-client-alice-not-real", "sk-client-bob-not-real"} {
		if b, _ := json.Marshal(got.Status); strings.Contains(string(b), secret) {
			t.Errorf("the status carries a client key")
		}
	}

	// Pod a's container restarts and continues its totals (12 requests);
	// alice's hard budget is spent and bob's soft one crossed.
	publishUsage(t, cr, "billing-proxy-a", qualitysync.Usage{
		Rules:   map[string]qualitysync.RuleCounters{"opus": {Requests: 12, Outcomes: outcomes(9, 3), CostUSD: 1.2, BaselineUSD: 5, SavingsUSD: 3.8, AuditCostUSD: 0.25}},
		Budgets: budgetReport(10.2, 5.5, 20)})
	eventually(t, wait, func() error {
		got := getRoute(t, key)
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionBudgetsWithinLimits)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonBudgetExhausted || !strings.Contains(c.Message, "key alice") ||
			!strings.Contains(c.Message, "Soft budgets exceeded: key bob") {
			return fmt.Errorf("BudgetsWithinLimits = %+v, want False/BudgetExhausted naming key alice (and bob's soft budget apart)", c)
		}
		if got.Status.Rules[0].Requests != 18 || got.Status.Requests != 20 {
			return fmt.Errorf("opus %d requests, total %d; want 18 (12 + 6) and 20", got.Status.Rules[0].Requests, got.Status.Requests)
		}
		if len(softBudgetEvents(t, ns)) == 0 {
			return fmt.Errorf("no %s event", v1alpha1.ReasonSoftBudgetExceeded)
		}
		return nil
	})
	// Bob spends more in the same period: no second event.
	publishUsage(t, cr, "billing-proxy-b", qualitysync.Usage{
		Rules:   map[string]qualitysync.RuleCounters{"opus": {Requests: 7, Outcomes: outcomes(1, 6), CostUSD: 2.1, BaselineUSD: 2.6, SavingsUSD: 0.5}},
		Budgets: budgetReport(10.2, 6, 21)})
	eventually(t, wait, func() error {
		if n := getRoute(t, key).Status.Rules[0].Requests; n != 19 {
			return fmt.Errorf("opus %d requests, want 19", n)
		}
		return nil
	})
	time.Sleep(time.Second) // let any Event of that reconcile land
	evs := softBudgetEvents(t, ns)
	if len(evs) != 1 || evs[0].Type != "Warning" || evs[0].Series != nil || !strings.Contains(evs[0].Note, "key bob") ||
		!strings.Contains(evs[0].Note, "soft day budget of $5") {
		var notes []string
		for _, e := range evs {
			notes = append(notes, fmt.Sprintf("%s %q series %+v", e.Type, e.Note, e.Series))
		}
		t.Errorf("soft budget events %v, want one Warning naming key bob", notes)
	}
	var all eventsv1.EventList
	if err := k8s.List(context.Background(), &all, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	exhausted := false
	for _, e := range all.Items {
		exhausted = exhausted || (e.Reason == v1alpha1.ReasonBudgetExhausted && e.Type == "Warning" && strings.Contains(e.Note, "key alice"))
	}
	if !exhausted {
		t.Error("no Warning event for alice's spent hard budget")
	}
}

// Pods that are gone keep counting: their figures move to the usage
// ledger before their ConfigMaps are deleted.
func TestUsageOfGonePodsKept(t *testing.T) {
	needAPIServer(t)
	ctx := context.Background()
	ns := ownManagerNamespace
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	_, _ = runOwnManager(t, QualityOptions{OrphanGrace: time.Millisecond})
	cr := claudeCodeRoute(ns, "retire")
	if err := k8s.Create(ctx, vendorSecret(ns)); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	mustCreate(t, cr)
	key := client.ObjectKeyFromObject(cr)
	eventually(t, wait, func() error {
		if got := getRoute(t, key); len(got.Status.Rules) != 2 {
			return fmt.Errorf("status.rules %+v", got.Status.Rules)
		}
		return nil
	})
	cr = getRoute(t, key)

	for i, pod := range []string{"retire-proxy-x", "retire-proxy-y"} {
		n := int64(10 * (i + 1))
		publishUsage(t, cr, pod, qualitysync.Usage{Rules: map[string]qualitysync.RuleCounters{
			"opus": {Requests: n, Outcomes: outcomes(n, 0), CostUSD: float64(n) / 10}}})
		want := int64(10 + 20*i)
		eventually(t, wait, func() error {
			if names := samplesConfigMaps(t, cr); len(names) != 0 {
				return fmt.Errorf("ConfigMaps %v of pods that do not exist are left", names)
			}
			if got := getRoute(t, key).Status.Rules[0]; got.Requests != want || got.Pods != 0 {
				return fmt.Errorf("opus = %+v, want %d requests from gone pods", got, want)
			}
			return nil
		})
	}
	var ledger corev1.ConfigMap
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: render.UsageLedgerName(cr)}, &ledger); err != nil {
		t.Fatal(err)
	}
	var l usageLedger
	if err := json.Unmarshal([]byte(ledger.Data[UsageLedgerKey]), &l); err != nil {
		t.Fatal(err)
	}
	if l.Retired["opus"].Requests != 30 || len(l.Retiring) != 0 || !metav1.IsControlledBy(&ledger, cr) {
		t.Errorf("ledger %+v (controlled by the route: %v), want 30 retired requests and none retiring", l, metav1.IsControlledBy(&ledger, cr))
	}
	if got := getRoute(t, key).Status.Rules[0]; got.Outcomes["accepted"] != 30 || got.CostUSD != 3 {
		t.Errorf("opus = %+v, want 30 accepted costing 3", got)
	}
}
