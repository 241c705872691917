package teams

import (
	"context"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// BudgetSnapshot is the budget state of a rules set's named keys and teams
// as one replica reads it, for the operator's status. It holds names and
// figures, never a key.
type BudgetSnapshot struct {
	// Shared is true when the counters live in a store every replica
	// shares (Redis): each replica then reports the same totals. Otherwise
	// each replica reports only its own spend.
	Shared  bool
	Budgets []BudgetState
}

// Snapshot reads the budget state of every key and team budget set declares
// (in the order of its clientKeys, each team once) without changing a
// counter.
func (l *Limiter) Snapshot(ctx context.Context, set *rules.Set) (BudgetSnapshot, error) {
	_, shared := l.store.(*Redis)
	snap := BudgetSnapshot{Shared: shared}
	if set == nil || len(set.ClientKeys) == 0 {
		return snap, nil
	}
	ids := Identities(set)
	list := make([]*Identity, 0, len(set.ClientKeys))
	for i := range set.ClientKeys {
		list = append(list, ids[set.ClientKeys[i].SecretKey])
	}
	budgets, err := l.Budgets(ctx, list)
	if err != nil {
		return snap, err
	}
	snap.Budgets = budgets
	return snap, nil
}
