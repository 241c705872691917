package controllers

import (
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
)

// withGate puts gate settings on the second rule of validSpec.
func withGate(gate string) string {
	return strings.Replace(validSpec, "model: gpt-5.2}}", "model: gpt-5.2}, gate: "+gate+"}", 1)
}

// A misspelt gate setting is refused by the API server, naming the field,
// instead of being stored and failing every request of the rule.
func TestAPIServerRejectsGateTypos(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	for i, tc := range []struct {
		name, gate string
		want       []string
	}{
		{"misspelt signal", "{weights: {hedgin: 1}}",
			[]string{"spec.rules[1].gate.weights", "gate weights must be keyed by signal name: truncation, empty,"}},
		{"misspelt option", "{options: {hedge_penalt: 0.2}}",
			[]string{"spec.rules[1].gate.options", "unknown gate option; the options are veto_cap,"}},
		{"misspelt level", "{complexityThresholds: {hrad: 0.9}}",
			[]string{"spec.rules[1].gate.complexityThresholds", "complexity thresholds must be keyed by level: simple, moderate or hard"}},
		{"negative option", "{options: {length_min_code: -5}}",
			[]string{"spec.rules[1].gate.options", "gate options must not be negative"}},
		{"score option above 1", "{options: {veto_cap: 1.5}}",
			[]string{"spec.rules[1].gate.options", "must be between 0 and 1"}},
		{"negative weight", "{weights: {hedging: -1}}",
			[]string{"spec.rules[1].gate.weights", "gate weights must not be negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := createRaw(t, ns, fmt.Sprintf("gate-%d", i), withGate(tc.gate))
			if err == nil {
				t.Fatalf("accepted gate %s", tc.gate)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// Every name the gate knows is admitted, with values at the ends of the ranges.
func TestAPIServerAcceptsEveryGateName(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	var weights, options []string
	for _, s := range gateconfig.SignalNames() {
		weights = append(weights, s+": 0")
	}
	for name, v := range gateconfig.DefaultOptions().Map() {
		options = append(options, fmt.Sprintf("%s: %v", name, v))
	}
	gate := "{weights: {" + strings.Join(weights, ", ") + "}, options: {" + strings.Join(options, ", ") +
		"}, complexityThresholds: {simple: 0, moderate: 0.5, hard: 1}}"
	if err := createRaw(t, ns, "every-gate-name", withGate(gate)); err != nil {
		t.Fatalf("gate %s refused: %v", gate, err)
	}
}

// Values the CRD admits but the gate refuses (an option outside its own
// range, options that contradict each other) are refused by the operator,
// naming the field, and the last good rules stay.
func TestOperatorRefusesGateSettingsTheCRDAdmits(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cr := claudeCodeRoute(ns, "gate-settings")
	mustCreate(t, vendorSecret(ns), cr)
	key := client.ObjectKeyFromObject(cr)
	good := waitCondition(t, key, v1alpha1.ConditionAccepted, metav1.ConditionTrue, v1alpha1.ReasonValid)

	for _, tc := range []struct {
		name    string
		options map[string]float64
		want    string
	}{
		{"ngram not an integer", map[string]float64{"repetition_ngram": 2.5},
			"rules[1].gate.options[repetition_ngram]: must be an integer in [1, 16], got 2.5"},
		{"inverted ramp", map[string]float64{"repetition_low": 0.9, "repetition_high": 0.5},
			"rules[1].gate.options: repetition_low (0.9) must be below repetition_high (0.5)"},
		{"judge timeout too long", map[string]float64{"judge_timeout_seconds": 7200},
			"rules[1].gate.options[judge_timeout_seconds]: must be in (0, 3600], got 7200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := good.DeepCopy()
			bad.ResourceVersion = getRoute(t, key).ResourceVersion
			bad.Spec.Rules[1].Gate = &v1alpha1.Gate{Options: tc.options}
			if err := k8s.Update(t.Context(), bad); err != nil {
				t.Fatalf("the API server refused what only the operator should: %v", err)
			}
			// The previous case left Accepted=False too: wait for this case's message.
			var got *v1alpha1.CascadeRoute
			eventually(t, wait, func() error {
				got = getRoute(t, key)
				c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionAccepted)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonInvalidRule || !strings.Contains(c.Message, tc.want) {
					return fmt.Errorf("Accepted = %+v, want False/%s saying %q", c, v1alpha1.ReasonInvalidRule, tc.want)
				}
				return nil
			})
			if got.Status.RulesHash != good.Status.RulesHash {
				t.Errorf("rulesHash moved to %q though nothing was written", got.Status.RulesHash)
			}
		})
	}
}
