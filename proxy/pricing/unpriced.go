package pricing

import "github.com/cascadeflow/cascadeflow-operator/proxy/rules"

// Unpriced is a model a rule names that has no price.
type Unpriced struct {
	Rule string
	// Role is how the rule uses the model: requested, draft, verifier or judge.
	Role  string
	Model string
}

// UnpricedModels lists the models of set's rules (requested names, draft,
// verifier, judge) that t, with the set's and the rule's price overrides,
// cannot price: their requests get no cost figures. A requested name without
// a price is listed too, although its baseline then falls back to the
// verifier's price.
func UnpricedModels(set *rules.Set, t *Table) []Unpriced {
	if t == nil {
		t = Default()
	}
	base := t.With(set.Prices)
	var out []Unpriced
	for i := range set.Rules {
		r := &set.Rules[i]
		rt := base.With(r.Prices)
		check := func(role, model string) {
			if _, ok := rt.Lookup(model); !ok {
				out = append(out, Unpriced{Rule: r.Name, Role: role, Model: model})
			}
		}
		for _, m := range r.Models {
			check("requested", m)
		}
		check("draft", r.Draft.Model)
		check("verifier", r.Verifier.Model)
		if r.Gate != nil && r.Gate.Judge != nil {
			check("judge", r.Gate.Judge.Model)
		}
	}
	return out
}
