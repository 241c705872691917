package quality

import (
	"strconv"
	"strings"
	"unicode"
)

// strongHedges admit not knowing, or correct the answer mid-way.
var strongHedges = []string{
	"i'm not sure", "i am not sure", "i'm not certain", "i am not certain", "not entirely sure",
	"i don't know", "i do not know", "i'm not confident", "i am not confident",
	"i might be wrong", "i may be wrong", "i could be wrong", "i cannot be certain", "i can't be certain",
	"it is unclear", "it's unclear", "it is not clear", "hard to say", "difficult to say",
	"without more context", "more context is needed",
	"i made a mistake", "i made an error", "i was wrong", "my previous answer was",
	"let me correct", "let me re-", "let me recalculate", "let me double-check",
	"on second thought", "wait,", "actually, ", "that's not right", "that is not correct",
	"i’m not sure", "i don’t know", "i’m not certain",
	"no estoy seguro", "je ne suis pas sûr", "ich bin mir nicht sicher", "non sono sicuro",
	"不确定", "我不知道", "わかりません",
}

// indeterminacyHedges say the question cannot be answered. That is a hedge,
// unless the question was whether it can be answered.
var indeterminacyHedges = []string{
	"cannot be determined", "can't be determined", "cannot determine", "can't determine",
	"not possible to determine", "impossible to determine", "has no solution", "no solution with",
	"not enough information", "insufficient information", "without more information",
	"without additional information",
}

// determinabilityCues in an ask make "it cannot be determined" an answer.
var determinabilityCues = newPhraseSet(
	"determine", "possible", "enough information", "uncertain", "clue", "can we ", "is there a way", "solvable",
)

// correctionCues in an ask invite the answer to correct itself.
var correctionCues = newPhraseSet("incorrect", "wrong", "mistake", "error", "fix ", "correct ", "double-check", "are you sure")

// selfCorrections are the strong hedges a requested correction makes normal.
var selfCorrections = []string{
	"i made a mistake", "i made an error", "i was wrong", "my previous answer was", "let me correct",
	"that's not right", "that is not correct", "actually, ",
}

// weakHedges soften a statement; they count a quarter each and are
// normalised by length, since long careful answers use them legitimately.
var weakHedges = []string{
	"probably", "perhaps", "possibly", "i think", "i believe", "i guess", "it seems",
	"might be", "may be", "approximately", "roughly", "assuming", "round up", "round down",
	"rounded", "estimate",
}

// hedgingSignal marks down uncertainty: strong hedges count fully, weak ones
// a quarter per 1,000 characters, and a short answer that ends by asking the
// user a question (a clarification instead of an answer) counts as one.
func hedgingSignal(a *analysis, o *options) result {
	if a.text == "" {
		return result{}
	}
	h := &a.lex
	strong := h.strong
	if !determinabilityCues.contains(a.ask.instr) {
		strong += h.indeterminate
	}
	// Owning up to an error is the point when the user asked for a correction.
	if correctionCues.contains(a.ask.instr) {
		strong -= h.selfCorr
		strong = max(strong, 0)
	}
	weak := h.weak
	n := float64(strong) + 0.25*float64(weak)/maxf(1, float64(len(a.text))/1000)
	if len(a.text) < 400 && endsWithQuestion(a.text) {
		n++
	}
	if n == 0 {
		return pass("no hedging")
	}
	s := maxf(o.HedgeFloor, 1-o.HedgePenalty*n)
	return result{score: s, applies: true, detail: strconv.Itoa(strong) + " strong, " + strconv.Itoa(weak) + " weak hedges"}
}

func endsWithQuestion(text string) bool {
	t := strings.TrimRightFunc(text, func(r rune) bool { return unicode.IsSpace(r) || r == '*' || r == '_' })
	return strings.HasSuffix(t, "?") || strings.HasSuffix(t, "？")
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}
