package cascade

import (
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

func TestOpenAIWithStreamUsage(t *testing.T) {
	for in, want := range map[string]string{
		`{"model":"m","stream":true}`: `{"stream_options":{"include_usage":true},"model":"m","stream":true}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}`: `{"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1}}`,
		`{"model":"m","stream_options":null}`:                                        `{"model":"m","stream_options":{"include_usage":true}}`,
	} {
		got := string(openai.WithStreamUsage([]byte(in)))
		if got != want {
			t.Errorf("openai.WithStreamUsage(%s) = %s, want %s", in, got, want)
		}
	}
}

// Judging escalated drafts stops at its share of the audit budget, leaving
// the rest to audits of accepted drafts.
func TestEscalatedJudgingKeepsBudgetForAudits(t *testing.T) {
	q := routequality.NewRoute("r", routequality.Settings{MaxCostShare: 0.1, AuditRate: 0.1})
	q.Spend(1, false)
	q.Spend(0.06, true) // past half the budget (0.05), within the whole (0.1)
	if !overJudgeBudget(q, 0) {
		t.Error("escalated drafts may still be judged past their share")
	}
	if overBudget(q, 0.03) {
		t.Error("an audit within the whole budget is refused")
	}
	if !overBudget(q, 0.05) {
		t.Error("an audit past the whole budget is allowed")
	}
}
