package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/proxy/qualitysync"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

// The usage half of what proxy pods publish: every pod writes, beside its
// samples, usage.json (qualitysync.Usage) into its ConfigMap
// <route>-quality-<pod>: each rule's request counters since the pod was
// first started, and the budget state of the route's named keys and teams.
//
// Rule counters. A pod's figures are running totals, and a restarted
// container continues them from its ConfigMap, so the newest ConfigMap of a
// pod holds everything it counted: the route's figures are the sum, over
// its pods' ConfigMaps, of each one's figures, plus those of pods that are
// gone. Those are kept in the usage ledger, the ConfigMap <route>-usage
// (owned by the route), key retired.json. Before the operator deletes a gone
// pod's ConfigMap (see cleanUpSamples) it records the ConfigMap's figures in
// the ledger as retiring, under the ConfigMap's name and UID, and then
// deletes the ConfigMap only if it is unchanged since it was read. A
// retiring entry does not count while its ConfigMap exists (the ConfigMap
// does); once the ConfigMap is gone, the entry's figures move to the
// retired totals. So a pod's figures count exactly once whether the delete
// succeeds, fails or races a late publish.
//
// Budgets. Spend is counted per period by the pods' limiter: in Redis,
// shared by every pod (each reports the same figure: the highest report
// wins, being the newest), or in each pod's memory (the reports are summed).
// Only reports of the current period count. The operator emits a Warning
// Event when a soft budget is exceeded, once per budget and period: the
// crossing is judged against the previous status, which records it.

// UsageLedgerKey holds the ledger's content (usageLedger as JSON).
const UsageLedgerKey = "retired.json"

// usageLedgerVersion is the version of retired.json this operator writes.
const usageLedgerVersion = 1

// usageLedger is what the route keeps of pods that are gone.
type usageLedger struct {
	Version int `json:"version"`
	// Retired is, per rule, the counters of pods whose ConfigMaps are gone.
	Retired map[string]qualitysync.RuleCounters `json:"retired,omitempty"`
	// Retiring holds, by ConfigMap name, the counters of ConfigMaps being
	// deleted, which count only once their ConfigMap is gone.
	Retiring map[string]retiringPod `json:"retiring,omitempty"`
}

// retiringPod is a gone pod's ConfigMap about to be deleted, and its figures.
type retiringPod struct {
	UID   types.UID                           `json:"uid"`
	Rules map[string]qualitysync.RuleCounters `json:"rules,omitempty"`
}

// podUsage is one pod's published usage.
type podUsage struct {
	name  string // the ConfigMap's
	uid   types.UID
	usage qualitysync.Usage
}

// decodeUsage reads a published usage.json; a ConfigMap without one (a
// proxy that does not publish usage) has none.
func decodeUsage(s string) (qualitysync.Usage, bool, error) {
	var u qualitysync.Usage
	if s == "" {
		return u, false, nil
	}
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		return u, false, fmt.Errorf("decode %s: %w", qualitysync.UsageKey, err)
	}
	if u.Version != qualitysync.UsageVersion {
		return u, false, fmt.Errorf("%s version %d: only %d is supported", qualitysync.UsageKey, u.Version, qualitysync.UsageVersion)
	}
	return u, true, nil
}

// settle moves the retiring entries whose ConfigMap is gone (none of that
// name and UID in present) into the retired totals, and keeps only the
// retired totals of rules still declared. It reports whether the ledger changed.
func (l *usageLedger) settle(present map[string]types.UID, declared map[string]bool) bool {
	changed := false
	for name, rp := range l.Retiring {
		if uid, ok := present[name]; ok && uid == rp.UID {
			continue
		}
		for rule, c := range rp.Rules {
			l.retire(rule, c)
		}
		delete(l.Retiring, name)
		changed = true
	}
	for rule := range l.Retired {
		if !declared[rule] {
			delete(l.Retired, rule)
			changed = true
		}
	}
	return changed
}

func (l *usageLedger) retire(rule string, c qualitysync.RuleCounters) {
	if l.Retired == nil {
		l.Retired = map[string]qualitysync.RuleCounters{}
	}
	t := l.Retired[rule]
	t.Outcomes = maps.Clone(t.Outcomes)
	t.Add(c)
	l.Retired[rule] = t
}

// markRetiring records a ConfigMap about to be deleted with its figures.
// It reports whether the ledger changed.
func (l *usageLedger) markRetiring(p podUsage) bool {
	want := retiringPod{UID: p.uid, Rules: p.usage.Rules}
	if old, ok := l.Retiring[p.name]; ok && equalJSON(old, want) {
		return false
	}
	if l.Retiring == nil {
		l.Retiring = map[string]retiringPod{}
	}
	l.Retiring[p.name] = want
	return true
}

func equalJSON(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

// ruleTotals sums, per rule, the retired totals and every pod's figures,
// and counts the pods that reported each rule. A retiring entry counts
// through its ConfigMap (settle first).
func ruleTotals(l usageLedger, pods []podUsage) (map[string]qualitysync.RuleCounters, map[string]int32) {
	totals := map[string]qualitysync.RuleCounters{}
	reporting := map[string]int32{}
	add := func(rule string, c qualitysync.RuleCounters) {
		t := totals[rule]
		t.Outcomes = maps.Clone(t.Outcomes)
		t.Add(c)
		totals[rule] = t
	}
	for rule, c := range l.Retired {
		add(rule, c)
	}
	for _, p := range pods {
		for rule, c := range p.usage.Rules {
			add(rule, c)
			reporting[rule]++
		}
	}
	return totals, reporting
}

// ruleUsages are status.rules: every declared rule, in the rules' order.
func ruleUsages(set *rules.Set, totals map[string]qualitysync.RuleCounters, reporting map[string]int32) (entries []v1alpha1.RuleUsage, requests int64) {
	for i := range set.Rules {
		name := set.Rules[i].Name
		c := totals[name]
		u := v1alpha1.RuleUsage{
			Rule: name, Requests: c.Requests, Pods: reporting[name],
			CostUSD: usd(c.CostUSD), BaselineUSD: usd(c.BaselineUSD), SavingsUSD: usd(c.SavingsUSD),
			AuditCostUSD: usd(c.AuditCostUSD), NetSavingsUSD: usd(c.SavingsUSD - c.AuditCostUSD),
		}
		for o, n := range c.Outcomes {
			if n > 0 {
				if u.Outcomes == nil {
					u.Outcomes = map[string]int64{}
				}
				u.Outcomes[o] = n
			}
		}
		if gated := c.Outcomes[outcomeAccepted] + c.Outcomes[outcomeEscalated]; gated > 0 {
			a := round(float64(c.Outcomes[outcomeAccepted])/float64(gated), 4)
			u.Acceptance = &a
		}
		entries = append(entries, u)
		requests += c.Requests
	}
	return entries, requests
}

// outcomeEscalated is the outcome of a request whose draft the gate refused (cascade.Escalated).
const outcomeEscalated = "escalated"

// usd rounds money to a millionth of a dollar.
func usd(v float64) float64 { return round(v, 6) }

// declaredBudget is a budget of the rules, in the period holding now.
type declaredBudget struct {
	scope, name, team string
	budget            teams.Budget
	end               time.Time
}

// declaredBudgets lists the rules' key budgets and team budgets (each team
// once), in the rules' order, as the proxies' limiter does.
func declaredBudgets(set *rules.Set, now time.Time) []declaredBudget {
	var out []declaredBudget
	seen := map[string]bool{}
	add := func(scope, name, team string, b *rules.Budget) {
		if b == nil || b.USD <= 0 || seen[scope+"/"+name] {
			return
		}
		seen[scope+"/"+name] = true
		tb := teams.Budget{USD: b.USD, Period: teams.Period(b.BudgetPeriod()), Enforcement: teams.Enforcement(b.BudgetEnforcement())}
		_, end := tb.Period.Window(now)
		out = append(out, declaredBudget{scope: scope, name: name, team: team, budget: tb, end: end})
	}
	for _, k := range set.ClientKeys {
		add("key", k.Name, k.Team, k.Budget)
		if k.Team != "" {
			if t := set.TeamByName(k.Team); t != nil {
				add("team", t.Name, t.Name, t.Budget)
			}
		}
	}
	return out
}

// budgetStatuses are status.budgets: every declared budget with its spend
// in the current period, from the pods' reports of that period: the highest
// of the shared reports, or else the sum of the pods' own.
func budgetStatuses(set *rules.Set, pods []podUsage, now time.Time) []v1alpha1.BudgetStatus {
	declared := declaredBudgets(set, now)
	if len(declared) == 0 {
		return nil
	}
	type spend struct {
		shared, local float64
		sharedSeen    bool
		seen          bool
	}
	spends := map[string]*spend{}
	for _, p := range pods {
		b := p.usage.Budgets
		if b == nil {
			continue
		}
		for _, s := range b.States {
			k := s.Scope + "/" + s.Name
			sp := spends[k]
			if sp == nil {
				sp = &spend{}
				spends[k] = sp
			}
			if !s.PeriodEnd.IsZero() && s.PeriodEnd.Equal(periodEndOf(declared, s.Scope, s.Name)) {
				sp.seen = true
				if b.Shared {
					sp.sharedSeen = true
					sp.shared = math.Max(sp.shared, s.SpentUSD)
				} else {
					sp.local += s.SpentUSD
				}
			}
		}
	}
	out := make([]v1alpha1.BudgetStatus, 0, len(declared))
	for _, d := range declared {
		st := v1alpha1.BudgetStatus{
			Scope: d.scope, Name: d.name, Team: d.team, Period: string(d.budget.Period), Enforcement: string(d.budget.Enforcement),
			BudgetUSD: d.budget.USD, PeriodEnd: metav1.NewTime(d.end.UTC()),
		}
		if sp := spends[d.scope+"/"+d.name]; sp != nil && sp.seen {
			st.Reported = true
			st.SpentUSD = sp.local
			if sp.sharedSeen {
				st.SpentUSD = sp.shared
			}
		}
		st.SpentUSD = usd(st.SpentUSD)
		st.RemainingUSD = usd(math.Max(d.budget.USD-st.SpentUSD, 0))
		st.Exceeded = st.SpentUSD >= d.budget.USD
		out = append(out, st)
	}
	return out
}

func periodEndOf(declared []declaredBudget, scope, name string) time.Time {
	for _, d := range declared {
		if d.scope == scope && d.name == name {
			return d.end
		}
	}
	return time.Time{}
}

// budgetsCondition judges the budgets: False naming every key and team
// whose hard budget is spent; Unknown while no budget was reported; True
// otherwise (naming soft budgets exceeded). ok is false without budgets
// (the condition is then removed).
func budgetsCondition(entries []v1alpha1.BudgetStatus) (status metav1.ConditionStatus, reason, msg string, ok bool) {
	if len(entries) == 0 {
		return "", "", "", false
	}
	var spent, soft []string
	reported := false
	for _, b := range entries {
		reported = reported || b.Reported
		if !b.Reported || !b.Exceeded {
			continue
		}
		what := fmt.Sprintf("%s %s: $%v of its %s budget of $%v spent until %s", b.Scope, b.Name, b.SpentUSD, b.Period, b.BudgetUSD,
			b.PeriodEnd.UTC().Format(time.RFC3339))
		if b.Enforcement == string(teams.Soft) {
			soft = append(soft, what)
		} else {
			spent = append(spent, what)
		}
	}
	switch {
	case len(spent) > 0:
		msg = "requests refused until the period ends: " + strings.Join(spent, "; ")
		if len(soft) > 0 {
			msg += ". Soft budgets exceeded: " + strings.Join(soft, "; ")
		}
		return metav1.ConditionFalse, v1alpha1.ReasonBudgetExhausted, msg, true
	case !reported:
		return metav1.ConditionUnknown, v1alpha1.ReasonNotReported, "no proxy pod has reported the budgets' spend in the current period yet", true
	}
	msg = "every hard budget has money left this period"
	if len(soft) > 0 {
		msg += ". Soft budgets exceeded (alerts only): " + strings.Join(soft, "; ")
	}
	return metav1.ConditionTrue, v1alpha1.ReasonWithinLimits, msg, true
}

// softCrossings are the soft budgets exceeded now that were not exceeded
// in the same period in before: each is announced once per period.
func softCrossings(before, now []v1alpha1.BudgetStatus) []v1alpha1.BudgetStatus {
	was := map[string]v1alpha1.BudgetStatus{}
	for _, b := range before {
		was[b.Scope+"/"+b.Name] = b
	}
	var out []v1alpha1.BudgetStatus
	for _, b := range now {
		if b.Enforcement != string(teams.Soft) || !b.Reported || !b.Exceeded {
			continue
		}
		if p, ok := was[b.Scope+"/"+b.Name]; ok && p.Exceeded && p.PeriodEnd.Equal(&b.PeriodEnd) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// recordSoftCrossings emits a Warning Event for each soft budget exceeded
// since before.
func (r *CascadeRouteReconciler) recordSoftCrossings(cr *v1alpha1.CascadeRoute, before *v1alpha1.CascadeRouteStatus) {
	if r.Recorder == nil {
		return
	}
	for _, b := range softCrossings(before.Budgets, cr.Status.Budgets) {
		r.Recorder.Eventf(cr, nil, "Warning", v1alpha1.ReasonSoftBudgetExceeded, "Budget",
			"%s %s has spent $%v of its soft %s budget of $%v; requests still pass (soft budget); the period ends at %s",
			b.Scope, b.Name, b.SpentUSD, b.Period, b.BudgetUSD, b.PeriodEnd.UTC().Format(time.RFC3339))
	}
}

// usageOf decodes the usage of the published ConfigMaps; unreadable ones
// are logged and left out (their figures, if any, count again once readable).
func usageOf(ctx context.Context, published []corev1.ConfigMap) []podUsage {
	var out []podUsage
	for _, cm := range published {
		u, ok, err := decodeUsage(cm.Data[qualitysync.UsageKey])
		if err != nil {
			log.FromContext(ctx).Info("ignoring unreadable usage", "configMap", cm.Name, "error", err.Error())
		}
		if ok {
			out = append(out, podUsage{name: cm.Name, uid: cm.UID, usage: u})
		}
	}
	return out
}

// ledger is the usage ledger as read, and its ConfigMap (nil: none yet).
type ledger struct {
	cm *corev1.ConfigMap
	usageLedger
}

// readLedger reads the route's usage ledger. An unreadable one is started
// afresh (and logged).
func (r *CascadeRouteReconciler) readLedger(ctx context.Context, cr *v1alpha1.CascadeRoute) (*ledger, error) {
	var cm corev1.ConfigMap
	switch err := r.Get(ctx, client.ObjectKey{Namespace: cr.Namespace, Name: render.UsageLedgerName(cr)}, &cm); {
	case apierrors.IsNotFound(err):
		return &ledger{}, nil
	case err != nil:
		return nil, fmt.Errorf("read usage ledger: %w", err)
	}
	if ref := metav1.GetControllerOf(&cm); ref == nil || ref.UID != cr.UID {
		return nil, &NameConflictError{Kind: "ConfigMap", Name: cm.Name}
	}
	l := &ledger{cm: &cm}
	if s := cm.Data[UsageLedgerKey]; s != "" {
		if err := json.Unmarshal([]byte(s), &l.usageLedger); err != nil || l.Version != usageLedgerVersion {
			log.FromContext(ctx).Info("starting the usage ledger afresh", "configMap", cm.Name, "error", fmt.Sprint(err), "version", l.Version)
			l.usageLedger = usageLedger{}
		}
	}
	return l, nil
}

// writeLedger creates or updates the ledger, at the resourceVersion it was
// read at: a stale read conflicts and the reconcile is retried.
func (r *CascadeRouteReconciler) writeLedger(ctx context.Context, cr *v1alpha1.CascadeRoute, l *ledger) error {
	l.Version = usageLedgerVersion
	body, err := json.Marshal(l.usageLedger)
	if err != nil {
		return fmt.Errorf("encode usage ledger: %w", err)
	}
	want := render.UsageLedger(cr, map[string]string{UsageLedgerKey: string(body)})
	if l.cm == nil {
		if err := r.checkUnclaimed(ctx, cr, want); err != nil {
			return err
		}
		err = r.Create(ctx, want, client.FieldOwner(FieldOwner))
	} else {
		if l.cm.Data[UsageLedgerKey] == string(body) {
			return nil
		}
		want.ResourceVersion = l.cm.ResourceVersion
		err = r.Update(ctx, want, client.FieldOwner(FieldOwner))
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return errQualityConflict
	}
	if err != nil {
		return fmt.Errorf("write usage ledger %s: %w", want.Name, err)
	}
	l.cm = want
	return nil
}

// reconcileUsage settles the ledger (writing it when it changed) and
// records status.rules, status.requests, status.budgets and the
// BudgetsWithinLimits condition.
func (r *CascadeRouteReconciler) reconcileUsage(ctx context.Context, cr *v1alpha1.CascadeRoute, set *rules.Set,
	published []corev1.ConfigMap, pods []podUsage, l *ledger, now time.Time) error {
	present := make(map[string]types.UID, len(published))
	for _, cm := range published {
		present[cm.Name] = cm.UID
	}
	declared := make(map[string]bool, len(set.Rules))
	for i := range set.Rules {
		declared[set.Rules[i].Name] = true
	}
	if l.settle(present, declared) && (l.cm != nil || len(l.Retired) > 0 || len(l.Retiring) > 0) {
		if err := r.writeLedger(ctx, cr, l); err != nil {
			return err
		}
	}
	totals, reporting := ruleTotals(l.usageLedger, pods)
	cr.Status.Rules, cr.Status.Requests = ruleUsages(set, totals, reporting)
	cr.Status.Budgets = budgetStatuses(set, pods, now)
	if status, reason, msg, ok := budgetsCondition(cr.Status.Budgets); ok {
		setCondition(cr, v1alpha1.ConditionBudgetsWithinLimits, status, reason, truncate(msg))
	} else {
		meta.RemoveStatusCondition(&cr.Status.Conditions, v1alpha1.ConditionBudgetsWithinLimits)
	}
	return nil
}
