package controllers

import (
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// withQuality puts quality (and second-opinion) settings on the second rule of validSpec.
func withQuality(fields string) string {
	return strings.Replace(validSpec, "model: gpt-5.2}}", "model: gpt-5.2}, "+fields+"}", 1)
}

// Out-of-range quality settings and references to undeclared providers are
// refused by the API server, naming the field, before the operator sees them.
func TestAPIServerRejectsBadQualitySettings(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	for i, tc := range []struct {
		name, fields string
		want         []string
	}{
		{"target 0", "quality: {target: 0}", []string{"spec.rules[1].quality.target", "quality.target must be above 0 and at most 1"}},
		{"target above 1", "quality: {target: 1.2}", []string{"quality.target must be above 0 and at most 1"}},
		{"confidence 1", "quality: {target: 0.9, confidence: 1}", []string{"spec.rules[1].quality.confidence", "at least 0.5 and below 1"}},
		{"confidence below 0.5", "quality: {confidence: 0.4}", []string{"at least 0.5 and below 1"}},
		{"too few samples", "quality: {minSamples: 5}", []string{"spec.rules[1].quality.minSamples", "greater than or equal to 20"}},
		{"more samples than kept", "quality: {minSamples: 6000}", []string{"spec.rules[1].quality.minSamples", "less than or equal to 5000"}},
		{"unknown cold start", "quality: {coldStart: draft}", []string{"spec.rules[1].quality.coldStart", `supported values: "threshold", "verifier"`}},
		{"explore above 1", "quality: {explore: 1.5}", []string{"quality.explore must be between 0 and 1"}},
		{"negative audit rate", "quality: {audit: {rate: -0.1}}", []string{"spec.rules[1].quality.audit.rate", "quality.audit.rate must be between 0 and 1"}},
		{"audit cost share above 1", "quality: {audit: {maxCostShare: 2}}", []string{"quality.audit.maxCostShare must be between 0 and 1"}},
		{"judge rate above 1", "quality: {audit: {judgeRate: 1.1}}", []string{"quality.audit.judgeRate must be between 0 and 1"}},
		{"unknown comparer", "quality: {audit: {comparer: fuzzy}}", []string{"spec.rules[1].quality.audit.comparer", `supported values: "auto", "exact", "judge"`}},
		{"judge comparer without a judge", "quality: {audit: {comparer: judge}}", []string{"spec.rules[1].quality.audit.judge", "audit.judge is required with audit.comparer judge"}},
		{"audit judge on an undeclared provider", "quality: {audit: {judge: {provider: nobody, model: j}}}",
			[]string{"spec.rules", "rules[].quality.audit.judge.provider must name a provider declared in spec.providers"}},
		{"bad judge timeout", "quality: {audit: {judge: {provider: openai, model: j, timeout: soon}}}", []string{"spec.rules[1].quality.audit.judge.timeout"}},
		{"second opinion on an undeclared provider", "secondOpinion: {targets: [{provider: nobody, model: m}]}",
			[]string{"spec.rules", "rules[].secondOpinion.targets[].provider must name a provider declared in spec.providers"}},
		{"no second opinion", "secondOpinion: {targets: []}", []string{"spec.rules[1].secondOpinion.targets", "should have at least 1 items"}},
		{"bad second opinion timeout", "secondOpinion: {targets: [{provider: openai, model: m}], timeout: 2 seconds}", []string{"spec.rules[1].secondOpinion.timeout"}},
		{"unknown quality field", "quality: {targte: 0.9}", []string{"unknown field", "targte"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := createRaw(t, ns, fmt.Sprintf("q-%d", i), withQuality(tc.fields))
			if err == nil {
				t.Fatalf("accepted %s", tc.fields)
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
	// Every field at a valid value is accepted.
	full := "quality: {target: 0.95, confidence: 0.9, minSamples: 20, learn: true, coldStart: verifier, explore: 0.1, " +
		"audit: {rate: 0.05, maxCostShare: 0.1, comparer: judge, judgeRate: 0.2, judge: {provider: openai, model: gpt-5-mini, timeout: 60s}, keepText: false}}, " +
		"secondOpinion: {targets: [{provider: anthropic, model: claude-haiku-5-5}], timeout: 2s}"
	if err := createRaw(t, ns, "q-valid", withQuality(full)); err != nil {
		t.Fatalf("valid quality settings refused: %v", err)
	}
}
