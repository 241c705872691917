package audit

import (
	"strings"
)

// Verdict is a pairwise judge's answer: which of two answers is better.
type Verdict int

const (
	NoVerdict Verdict = iota // the judge's text held no verdict
	A                        // the first answer shown is better
	B                        // the second answer shown is better
	Tie
)

func (v Verdict) String() string {
	return [...]string{"none", "A", "B", "tie"}[v]
}

// The MT-Bench pairwise judge prompt (FastChat, "pair-v2"): the verdict ends
// with [[A]], [[B]] or [[C]] for a tie.
const pairwiseSystem = `Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the user question displayed below. ` +
	`You should choose the assistant that follows the user's instructions and answers the user's question better. ` +
	`Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of detail of their responses. ` +
	`Begin your evaluation by comparing the two responses and provide a short explanation. ` +
	`Avoid any position biases and ensure that the order in which the responses were presented does not influence your decision. ` +
	`Do not allow the length of the responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective as possible. ` +
	`After providing your explanation, output your final verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.`

// Markers framing the answers in the judge's prompt; the evaluation's replay
// upstream finds the answers by them.
const (
	MarkQuestion = "[User Question]\n"
	MarkStartA   = "[The Start of Assistant A's Answer]\n"
	MarkEndA     = "\n[The End of Assistant A's Answer]"
	MarkStartB   = "[The Start of Assistant B's Answer]\n"
	MarkEndB     = "\n[The End of Assistant B's Answer]"
)

// PairwisePrompt is the judge's system prompt and user message for one order
// of two answers to a conversation (given as text).
func PairwisePrompt(conversation, first, second string) (system, user string) {
	var b strings.Builder
	b.Grow(len(conversation) + len(first) + len(second) + 256)
	b.WriteString(MarkQuestion)
	b.WriteString(conversation)
	b.WriteString("\n\n")
	b.WriteString(MarkStartA)
	b.WriteString(first)
	b.WriteString(MarkEndA)
	b.WriteString("\n\n")
	b.WriteString(MarkStartB)
	b.WriteString(second)
	b.WriteString(MarkEndB)
	return pairwiseSystem, b.String()
}

// ParseVerdict reads the last [[A]], [[B]] or [[C]] of a judge's answer (its
// explanation may quote the format before concluding).
func ParseVerdict(text string) Verdict {
	best, v := -1, NoVerdict
	for _, c := range []struct {
		mark string
		v    Verdict
	}{{"[[A]]", A}, {"[[B]]", B}, {"[[C]]", Tie}} {
		if i := strings.LastIndex(text, c.mark); i > best {
			best, v = i, c.v
		}
	}
	return v
}

// DraftGood combines the two orders of a pairwise judgement into the audit's
// verdict: the draft is good (at least as good as the verifier's answer)
// unless the verifier's answer is preferred in both orders. An inconsistent
// pair is a tie, the MT-Bench convention that cancels position bias. ok is
// false when either order held no verdict.
func DraftGood(draftFirst, verifierFirst Verdict) (good, ok bool) {
	if draftFirst == NoVerdict || verifierFirst == NoVerdict {
		return false, false
	}
	verifierWins := draftFirst == B && verifierFirst == A
	return !verifierWins, true
}
