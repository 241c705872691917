package controllers

import (
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

// resilientSpec uses every resilience field; each case below breaks one.
const resilientSpec = `
providers:
- {name: anthropic, type: anthropic, baseURL: "https://api.anthropic.com", apiKeySecretRef: {name: keys, key: anthropic}, retry: {attempts: 2, initialBackoff: 250ms, maxBackoff: 4s, maxRetryAfter: 20s}, circuitBreaker: {failures: 5, cooldown: 30s}}
- {name: openai, type: openai, baseURL: "https://api.openai.com/v1", passthroughAuth: true}
rules:
- {name: opus, models: [claude-opus-5-5], draft: {provider: anthropic, model: claude-haiku-5-5, fallbacks: [{provider: openai, model: gpt-5-mini}]}, verifier: {provider: anthropic, model: claude-opus-5-5, fallbacks: [{provider: openai, model: gpt-5.2}]}}
defaultRoute: {provider: anthropic, fallbacks: [{provider: openai, model: gpt-5.2}]}
`

// The API server takes the resilience fields, and the operator renders
// them into the rules the proxy reads.
func TestAPIServerAcceptsResilienceFields(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	if err := createRaw(t, ns, "resilient", resilientSpec); err != nil {
		t.Fatalf("a valid spec was rejected: %v", err)
	}
	var cr v1alpha1.CascadeRoute
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "resilient"}, &cr); err != nil {
		t.Fatal(err)
	}
	set, err := render.Rules(&cr)
	if err != nil {
		t.Fatal(err)
	}
	p := set.Providers[0]
	if p.Retry == nil || p.Retry.Attempts != 2 || p.Retry.MaxRetryAfter.String() != "20s" || p.CircuitBreaker == nil || p.CircuitBreaker.Failures != 5 {
		t.Errorf("provider rendered as %+v", p)
	}
	r := set.Rules[0]
	if len(r.Draft.Fallbacks) != 1 || r.Draft.Fallbacks[0].Model != "gpt-5-mini" || len(r.Verifier.Fallbacks) != 1 ||
		len(set.DefaultRoute.Fallbacks) != 1 || set.DefaultRoute.Fallbacks[0].Provider != "openai" {
		t.Errorf("fallbacks rendered as %+v / %+v / %+v", r.Draft, r.Verifier, set.DefaultRoute)
	}
	if err := set.Validate(); err != nil {
		t.Errorf("rendered rules invalid: %v", err)
	}
}

func TestAPIServerRejectsBadResilienceFields(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	for i, c := range []struct {
		from, to string
		want     []string
	}{
		{"attempts: 2", "attempts: 11", []string{"spec.providers[0].retry.attempts"}},
		{"attempts: 2", "attempts: -1", []string{"spec.providers[0].retry.attempts"}},
		{"initialBackoff: 250ms", "initialBackoff: 5s", []string{"retry.initialBackoff must not exceed retry.maxBackoff"}},
		{"maxBackoff: 4s", "maxBackoff: soon", []string{"spec.providers[0].retry.maxBackoff"}},
		{"failures: 5", "failures: 0", []string{"spec.providers[0].circuitBreaker.failures"}},
		{"cooldown: 30s", "cooldown: -1s", []string{"spec.providers[0].circuitBreaker.cooldown"}},
		{"fallbacks: [{provider: openai, model: gpt-5-mini}]", "fallbacks: [{provider: gemini, model: g}]",
			[]string{"rules[].draft.fallbacks[].provider and rules[].verifier.fallbacks[].provider must name providers declared"}},
		{"defaultRoute: {provider: anthropic, fallbacks: [{provider: openai", "defaultRoute: {provider: anthropic, fallbacks: [{provider: mistral",
			[]string{"defaultRoute.fallbacks[].provider must name providers declared"}},
		{"model: gpt-5.2}]}}", "model: gpt-5.2}]}, secondOpinion: {targets: [{provider: openai, model: o, fallbacks: [{provider: openai, model: p}]}]}}",
			[]string{"rules[].secondOpinion.targets take no fallbacks"}},
		{"{provider: openai, model: gpt-5-mini}", "{provider: openai, model: ''}", []string{"spec.rules[0].draft.fallbacks[0].model"}},
		{"{provider: openai, model: gpt-5-mini}]", "{provider: openai, model: a}, {provider: openai, model: b}, {provider: openai, model: c}, {provider: openai, model: d}, {provider: openai, model: e}]",
			[]string{"spec.rules[0].draft.fallbacks", "must have at most 4 items"}},
	} {
		spec := strings.Replace(resilientSpec, c.from, c.to, 1)
		if spec == resilientSpec {
			t.Fatalf("%q not in the spec", c.from)
		}
		err := createRaw(t, ns, "bad-"+string(rune('a'+i)), spec)
		if err == nil {
			t.Errorf("%s: accepted", c.to)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.to, err, w)
			}
		}
	}
}
