package audit

import (
	"strings"
	"testing"
)

func TestParseVerdict(t *testing.T) {
	cases := []struct {
		text string
		want Verdict
	}{
		{"Assistant A is more accurate.\n\n[[A]]", A},
		{"Both are equally good. [[C]]", Tie},
		{`The format asks for "[[A]]" or "[[B]]"; here B explains the steps correctly. Final verdict: [[B]]`, B},
		{"Assistant B made an arithmetic error, so [[A]] wins over [[B]]... on reflection my verdict is [[A]]", A},
		{"I cannot decide.", NoVerdict},
		{"[A] is better", NoVerdict},
		{"", NoVerdict},
	}
	for _, c := range cases {
		if got := ParseVerdict(c.text); got != c.want {
			t.Errorf("ParseVerdict(%q) = %s, want %s", c.text, got, c.want)
		}
	}
}

func TestDraftGood(t *testing.T) {
	cases := []struct {
		draftFirst, verifierFirst Verdict
		good, ok                  bool
	}{
		{A, B, true, true},     // draft preferred in both orders
		{Tie, Tie, true, true}, // a tie is at least as good
		{B, A, false, true},    // the verifier preferred in both orders
		{A, A, true, true},     // position bias: inconsistent, a tie
		{B, B, true, true},     // position bias the other way
		{B, Tie, true, true},   // the verifier preferred in one order only
		{NoVerdict, A, false, false},
		{B, NoVerdict, false, false},
	}
	for _, c := range cases {
		good, ok := DraftGood(c.draftFirst, c.verifierFirst)
		if good != c.good || ok != c.ok {
			t.Errorf("DraftGood(%s, %s) = %v, %v; want %v, %v", c.draftFirst, c.verifierFirst, good, ok, c.good, c.ok)
		}
	}
}

func TestPairwisePromptFramesBothAnswers(t *testing.T) {
	sys, user := PairwisePrompt("What is 2+2?", "4", "Four.")
	if !strings.Contains(sys, `"[[C]]" for a tie`) {
		t.Errorf("system prompt lacks the verdict format: %q", sys)
	}
	a := strings.Index(user, MarkStartA+"4"+MarkEndA)
	b := strings.Index(user, MarkStartB+"Four."+MarkEndB)
	q := strings.Index(user, MarkQuestion+"What is 2+2?")
	if q != 0 || a <= q || b <= a {
		t.Errorf("prompt out of order (q=%d a=%d b=%d):\n%s", q, a, b, user)
	}
}
