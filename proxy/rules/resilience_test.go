package rules

import (
	"strings"
	"testing"
	"time"
)

const resilientDoc = `version: v1
providers:
- name: a
  type: anthropic
  baseURL: https://x
  passthroughAuth: true
  retry: {attempts: 3, initialBackoff: 200ms, maxBackoff: 2s, maxRetryAfter: 10s}
  circuitBreaker: {failures: 4, cooldown: 15s}
- name: b
  type: openai
  baseURL: https://y/v1
  passthroughAuth: true
rules:
- name: r
  models: [m]
  draft: {provider: a, model: d, fallbacks: [{provider: b, model: d2}]}
  verifier: {provider: a, model: v, fallbacks: [{provider: b, model: v2}, {provider: a, model: v3}]}
defaultRoute:
  provider: a
  fallbacks: [{provider: b, model: any}]
`

// The resilience fields are decoded strictly and round-trip.
func TestDecodeResilienceFields(t *testing.T) {
	s, err := Decode([]byte(resilientDoc))
	if err != nil {
		t.Fatal(err)
	}
	p := s.Providers[0]
	if p.Retry == nil || p.Retry.Attempts != 3 || p.Retry.InitialBackoff.Duration != 200*time.Millisecond ||
		p.Retry.MaxBackoff.Duration != 2*time.Second || p.Retry.MaxRetryAfter.Duration != 10*time.Second {
		t.Errorf("retry = %+v", p.Retry)
	}
	if cb := p.CircuitBreaker; cb == nil || cb.Failures != 4 || cb.Cooldown.Duration != 15*time.Second {
		t.Errorf("circuitBreaker = %+v", cb)
	}
	r := s.Rules[0]
	if len(r.Draft.Fallbacks) != 1 || r.Draft.Fallbacks[0] != (Fallback{Provider: "b", Model: "d2"}) ||
		len(r.Verifier.Fallbacks) != 2 || r.Verifier.Fallbacks[1] != (Fallback{Provider: "a", Model: "v3"}) {
		t.Errorf("fallbacks = %+v / %+v", r.Draft.Fallbacks, r.Verifier.Fallbacks)
	}
	if len(s.DefaultRoute.Fallbacks) != 1 || s.DefaultRoute.Fallbacks[0].Model != "any" {
		t.Errorf("defaultRoute.fallbacks = %+v", s.DefaultRoute.Fallbacks)
	}
	y, err := EncodeYAML(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(y)
	if err != nil || back.Hash() != s.Hash() {
		t.Fatalf("round trip: %v\n%s", err, y)
	}
	if _, err := Decode([]byte(strings.Replace(resilientDoc, "attempts: 3", "tries: 3", 1))); err == nil || !strings.Contains(err.Error(), "providers[0].retry.tries") {
		t.Errorf("an unknown retry field gave %v", err)
	}
}

// Bad values are rejected, each error naming its field.
func TestValidateResilienceFields(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{"attempts: 3", "attempts: -1", "providers[0].retry.attempts: must be between 0 and 10"},
		{"attempts: 3", "attempts: 11", "providers[0].retry.attempts: must be between 0 and 10"},
		{"initialBackoff: 200ms", "initialBackoff: 3s", "providers[0].retry.initialBackoff: must not exceed maxBackoff"},
		{"maxBackoff: 2s", "maxBackoff: -2s", `providers[0].retry.maxBackoff: duration "-2s" is negative`},
		{"maxRetryAfter: 10s", "maxRetryAfter: later", "providers[0].retry.maxRetryAfter"},
		{"failures: 4", "failures: 0", "providers[0].circuitBreaker.failures: must be between 1 and 1000"},
		{"cooldown: 15s", "cooldown: -1s", `providers[0].circuitBreaker.cooldown: duration "-1s" is negative`},
		{"{provider: b, model: d2}", "{provider: c, model: d2}", `rules[0].draft.fallbacks[0].provider: names undeclared provider "c"`},
		{"{provider: b, model: v2}", "{provider: b, model: ''}", "rules[0].verifier.fallbacks[0].model: is required"},
		{"[{provider: b, model: any}]", "[{provider: b}]", "defaultRoute.fallbacks[0].model: is required"},
		{"[{provider: b, model: any}]", "[{provider: b, model: m1}, {provider: b, model: m2}, {provider: b, model: m3}, {provider: b, model: m4}, {provider: b, model: m5}]",
			"defaultRoute.fallbacks: at most 4 fallbacks"},
	} {
		doc := strings.Replace(resilientDoc, c.from, c.to, 1)
		if doc == resilientDoc {
			t.Fatalf("%q not in the document", c.from)
		}
		_, err := Decode([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.to, err, c.want)
		}
	}
	// Only the draft, the verifier and the default route take fallbacks.
	s, err := Decode([]byte(resilientDoc))
	if err != nil {
		t.Fatal(err)
	}
	s.Rules[0].Gate = &Gate{Judge: &Judge{Target: Target{Provider: "a", Model: "j", Fallbacks: []Fallback{{Provider: "b", Model: "j2"}}}}}
	s.Rules[0].SecondOpinion = &SecondOpinion{Targets: []Target{{Provider: "b", Model: "o", Fallbacks: []Fallback{{Provider: "a", Model: "o2"}}}}}
	err = s.Validate()
	for _, want := range []string{"rules[0].gate.judge.fallbacks: only", "rules[0].secondOpinion.targets[0].fallbacks: only"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want %q", err, want)
		}
	}
}
