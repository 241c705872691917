package audit

import (
	"github.com/cascadeflow/cascadeflow-operator/proxy/answer"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Names of the comparer that labelled a sample (routequality.Sample.Comparer).
const (
	ByExact = "exact"
	ByJudge = "judge"
)

// Label is what comparing a draft with the verifier's answer found.
type Label struct {
	// By is the comparer that decided (ByExact or ByJudge); "" when none could.
	By string
	// Counted says the comparison labels the draft; Good is then the label:
	// the draft is at least as good as the verifier's answer.
	Counted, Good bool
}

// Exact compares the final answers of a draft and the verifier's answer.
// When either calls tools, the answer is the tool calls: equal when both
// call the same tools with the same arguments (answer.EqualToolCalls), and
// different when only one calls tools (a different action). Otherwise each
// text's final answer is extracted (answer.Extract) and compared
// (answer.Equal); comparable is false when either has no final answer, or
// when the two cannot be matched (a choice letter against a number).
func Exact(draft, verifier *llm.Response) (equal, comparable bool) {
	if draft == nil || verifier == nil {
		return false, false
	}
	dt, vt := hasToolCalls(draft), hasToolCalls(verifier)
	if dt || vt {
		return dt && vt && answer.EqualToolCalls(draft.Content, verifier.Content), true
	}
	return answer.Equal(answer.Extract(draft.Text()), answer.Extract(verifier.Text()))
}

func hasToolCalls(r *llm.Response) bool {
	for i := range r.Content {
		if r.Content[i].Type == llm.BlockToolUse {
			return true
		}
	}
	return false
}

// Plan applies a comparer to two answers as far as it can without a model:
// it returns the label, or judge true when the pairwise judge must settle
// the comparison. hasJudge says a judge is configured.
//
//   - exact: the final answers decide; answers without one are not counted.
//   - judge: the judge always decides.
//   - auto: equal final answers are good, for free. Any other case goes to
//     the judge when there is one: on hard tasks both models are often wrong,
//     so final answers that differ do not show that the draft is the worse
//     one, and a judge can find the draft's answer as good (or better).
//     Without a judge, differing final answers count as bad (the verifier is
//     the reference), and an answer without one is not counted.
func Plan(c rules.Comparer, hasJudge bool, draft, verifier *llm.Response) (l Label, judge bool) {
	switch c {
	case rules.ComparerJudge:
		return Label{}, hasJudge
	case rules.ComparerExact:
		eq, ok := Exact(draft, verifier)
		return Label{By: ByExact, Counted: ok, Good: eq}, false
	}
	eq, ok := Exact(draft, verifier)
	switch {
	case ok && eq:
		return Label{By: ByExact, Counted: true, Good: true}, false
	case hasJudge:
		return Label{}, true
	case ok:
		return Label{By: ByExact, Counted: true, Good: false}, false
	}
	return Label{By: ByExact}, false
}
