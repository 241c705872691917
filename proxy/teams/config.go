package teams

import "github.com/cascadeflow/cascadeflow-operator/proxy/rules"

// Identities turns a rules set's clientKeys and teams into identities,
// keyed by the file (Secret data key) the keys are read from.
func Identities(s *rules.Set) map[string]*Identity {
	out := make(map[string]*Identity, len(s.ClientKeys))
	for i := range s.ClientKeys {
		k := &s.ClientKeys[i]
		id := &Identity{
			Name: k.Name, Team: k.Team, Models: k.Models,
			Limits: Limits{Budget: budgetOf(k.Budget), RequestsPerMinute: int64(k.RequestsPerMinute), TokensPerMinute: int64(k.TokensPerMinute)},
		}
		if k.Team != "" {
			if t := s.TeamByName(k.Team); t != nil {
				id.TeamBudget = budgetOf(t.Budget)
			}
		}
		out[k.SecretKey] = id
	}
	return out
}

func budgetOf(b *rules.Budget) *Budget {
	if b == nil {
		return nil
	}
	return &Budget{USD: b.USD, Period: Period(b.BudgetPeriod()), Enforcement: Enforcement(b.BudgetEnforcement())}
}
