package cascade_test

import (
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func testSet() *rules.Set {
	rule := func(name string) rules.Rule {
		return rules.Rule{Name: name, Models: []string{name},
			Draft:    rules.Target{Provider: "cheap", Model: draftModel},
			Verifier: rules.Target{Provider: "strong", Model: verifierModel}}
	}
	return &rules.Set{Version: rules.Version, Rules: []rules.Rule{rule("a"), rule("b"), rule("c")}}
}

func lookup(names ...string) cascade.Lookup {
	return func(name string) cascade.Provider {
		for _, n := range names {
			if n == name {
				return &fakeProvider{name: name}
			}
		}
		return nil
	}
}

func TestCompileNamesEveryFieldAtFault(t *testing.T) {
	set := testSet()
	set.Rules[1].Gate = &rules.Gate{Weights: map[string]float64{"hedgin": 1}}
	set.Rules[2].Mode = rules.ModeDraftOnly // a gate it does not use is still checked
	set.Rules[2].Gate = &rules.Gate{Options: map[string]float64{"repetition_low": 0.9, "repetition_high": 0.1},
		Judge: &rules.Judge{Target: rules.Target{Provider: "gone", Model: judgeModel}}}
	set.Rules[2].Draft.Provider = "nope"
	c, err := cascade.Compile(set, testPrices, lookup("cheap", "strong"), nil)
	if err == nil || c != nil {
		t.Fatalf("Compile = %v, %v; want an error", c, err)
	}
	msg := err.Error()
	for _, want := range []string{
		`rules[1].gate: `, `"hedgin"`,
		`rules[2].draft.provider: provider "nope" is not configured`,
		`rules[2].gate: `, `repetition_low (0.9) must be below repetition_high (0.1)`,
		`rules[2].gate.judge.provider: provider "gone" is not configured`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "rules[0]") {
		t.Errorf("the valid rule was reported:\n%s", msg)
	}
}

func TestCompileBuildsEachRuleOnce(t *testing.T) {
	set := testSet()
	set.Prices = map[string]rules.Price{"shared": {Input: 2}, draftModel: {Input: 3}}
	set.Rules[1].Prices = map[string]rules.Price{"own": {Input: 4}}
	c, err := cascade.Compile(set, testPrices, lookup("cheap", "strong"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 3 {
		t.Fatalf("%d compiled rules", len(c.Rules))
	}
	for i := range set.Rules {
		cr := c.For(&set.Rules[i])
		if cr != c.Rules[i] || cr.Rule != &set.Rules[i] || cr.Name() != set.Rules[i].Name || cr.Gate == nil ||
			cr.DraftProvider.Name() != "cheap" || cr.VerifierProvider.Name() != "strong" {
			t.Fatalf("rule %d compiled as %+v", i, cr)
		}
	}
	other := testSet().Rules[0]
	if c.For(nil) != nil || c.For(&other) != nil {
		t.Error("For answers for a rule not in the set")
	}
	price := func(tab *pricing.Table, model string) float64 {
		p, ok := tab.Lookup(model)
		if !ok {
			return -1
		}
		return p.Input
	}
	// The set's table: built-in (here testPrices), then the rules file's prices.
	if price(c.Prices, verifierModel) != 10 || price(c.Prices, draftModel) != 3 || price(c.Prices, "shared") != 2 || price(c.Prices, "own") != -1 {
		t.Errorf("set prices wrong")
	}
	// A rule's table adds its own prices; a rule without any shares the set's.
	if own := c.Rules[1].Prices; price(own, "own") != 4 || price(own, "shared") != 2 || price(own, draftModel) != 3 {
		t.Errorf("rule prices wrong")
	}
	if c.Rules[0].Prices != c.Prices {
		t.Error("a rule without prices got a table of its own")
	}
}
