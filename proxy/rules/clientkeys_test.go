package rules

import (
	"strings"
	"testing"
)

const clientKeysBase = `version: v1
providers:
- name: anthropic
  type: anthropic
  baseURL: https://api.anthropic.com
  passthroughAuth: true
`

func TestClientKeysDecode(t *testing.T) {
	s, err := Decode([]byte(clientKeysBase + `clientKeys:
- name: alice
  team: payments
  secretKey: alice.key
  budget: {usd: 25, period: day}
  requestsPerMinute: 30
  models: [claude-haiku-4-5]
- name: bob
  secretKey: bob
teams:
- name: payments
  budget: {usd: 100, enforcement: soft}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := s.ClientKeyBySecretKey("alice.key")
	if a == nil || a.Name != "alice" || a.Budget.USD != 25 || a.Budget.BudgetPeriod() != "day" || a.Budget.BudgetEnforcement() != "hard" || a.RequestsPerMinute != 30 {
		t.Errorf("alice = %+v", a)
	}
	tm := s.TeamByName("payments")
	if tm == nil || tm.Budget.BudgetPeriod() != "month" || tm.Budget.BudgetEnforcement() != "soft" {
		t.Errorf("team = %+v", tm)
	}
	if s.ClientKeyBySecretKey("carol") != nil || s.TeamByName("x") != nil {
		t.Error("unknown names must not match")
	}
}

func TestClientKeysValidate(t *testing.T) {
	cases := map[string]string{
		"clientKeys[0].name":               "- {name: Alice, secretKey: a}",
		"clientKeys[1].name":               "- {name: a, secretKey: a}\n- {name: a, secretKey: b}",
		"clientKeys[1].secretKey":          "- {name: a, secretKey: a}\n- {name: b, secretKey: a}",
		"clientKeys[0].secretKey":          "- {name: a, secretKey: ../etc}",
		"clientKeys[0].budget.usd":         "- {name: a, secretKey: a, budget: {usd: 0}}",
		"clientKeys[0].budget.period":      "- {name: a, secretKey: a, budget: {usd: 1, period: year}}",
		"clientKeys[0].budget.enforcement": "- {name: a, secretKey: a, budget: {usd: 1, enforcement: maybe}}",
		"clientKeys[0].requestsPerMinute":  "- {name: a, secretKey: a, requestsPerMinute: -1}",
		"clientKeys[0].team":               "- {name: a, secretKey: a, team: 'A B'}",
	}
	for field, entries := range cases {
		_, err := Decode([]byte(clientKeysBase + "clientKeys:\n" + entries + "\n"))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: want an error naming %s, got %v", entries, field, err)
		}
	}
	if _, err := Decode([]byte(clientKeysBase + "teams:\n- {name: t, budget: {usd: -5}}\n")); err == nil || !strings.Contains(err.Error(), "teams[0].budget.usd") {
		t.Errorf("negative team budget: %v", err)
	}
	if _, err := Decode([]byte(clientKeysBase + "clientKeys:\n- {name: a, secretKey: a, key: sk-secret}\n")); err == nil || strings.Contains(err.Error(), "sk-secret") {
		t.Errorf("unknown fields are refused without echoing values: %v", err)
	}
}
