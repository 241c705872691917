package quality

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// refusalPhrases open a refusal. Lower-case; several languages, because a
// refusal in the user's language is still a refusal.
var refusalPhrases = []string{
	"i can't help with", "i cannot help with", "i can't assist with", "i cannot assist with",
	"i can't help you with", "i cannot help you with",
	"i can't provide", "i cannot provide", "i can't do that", "i cannot do that",
	"i'm unable to", "i am unable to", "i'm not able to", "i am not able to",
	"i won't be able to", "i will not be able to", "i must decline", "i have to decline",
	"i can't comply", "i cannot comply", "i can't fulfill", "i cannot fulfill",
	"i'm sorry, but i can", "i am sorry, but i can", "sorry, but i can't", "sorry, but i cannot",
	"as an ai language model", "as an ai model, i", "as a language model, i",
	"i'm not allowed to", "i am not allowed to", "against my guidelines",
	"i can’t help with", "i can’t assist", "i can’t provide", "i’m unable to", "i’m not able to", "i can’t do that",
	// es, fr, de, it, pt
	"lo siento, pero no puedo", "no puedo ayudar", "no puedo proporcionar",
	"je ne peux pas vous aider", "désolé, mais je ne peux pas", "je ne suis pas en mesure de",
	"es tut mir leid, aber ich kann", "ich kann dabei nicht helfen", "ich kann ihnen dabei nicht",
	"mi dispiace, ma non posso", "non posso aiutarti",
	"desculpe, mas não posso", "não posso ajudar",
	// zh, ja, ko
	"我无法", "我不能帮", "抱歉，我不能", "抱歉，我无法", "申し訳ありませんが、", "お手伝いできません", "죄송하지만",
}

// refusalSignal vetoes refusals: the refusal stop reason, or a refusal phrase
// opening a short answer. A refusal phrase further in (a partial refusal
// followed by an answer) costs a partial score.
// Tags of answerLexicon, which merges the answer-side lists so that one scan
// of the draft serves the refusal and the hedging signals.
const (
	tagRefusal uint8 = 1 << iota
	tagStrong
	tagIndeterminate
	tagSelfCorrection
	tagWeak
)

var answerLexicon = taggedSet(map[uint8][]string{
	tagRefusal:        refusalPhrases,
	tagStrong:         strongHedges,
	tagIndeterminate:  indeterminacyHedges,
	tagSelfCorrection: selfCorrections,
	tagWeak:           weakHedges,
})

// lexiconHits is what one scan of the draft found.
type lexiconHits struct {
	refusalAt                             int // first refusal phrase, or -1
	strong, indeterminate, selfCorr, weak int
}

// lexicon scans the draft once and caches the result on the view.
func (v *draftView) lexicon() *lexiconHits {
	if v.lex != nil {
		return v.lex
	}
	h := &lexiconHits{refusalAt: -1}
	answerLexicon.scan(v.lower, func(at int, tags uint8) {
		if tags&tagRefusal != 0 && (h.refusalAt < 0 || at < h.refusalAt) {
			h.refusalAt = at
		}
		if tags&tagStrong != 0 {
			h.strong++
		}
		if tags&tagIndeterminate != 0 {
			h.indeterminate++
		}
		if tags&tagSelfCorrection != 0 {
			h.selfCorr++
		}
		if tags&tagWeak != 0 {
			h.weak++
		}
	})
	v.lex = h
	return h
}

func refusalSignal(v *draftView, c *config) result {
	if v.draft.StopReason == llm.StopRefusal {
		return result{score: 0, applies: true, veto: true, detail: "stop_reason refusal"}
	}
	if v.text == "" {
		return result{}
	}
	pos := v.lexicon().refusalAt
	switch {
	case pos < 0:
		return pass("no refusal")
	case pos < 200 && len(v.text) < 600:
		return result{score: 0, applies: true, veto: true, detail: "answer is a refusal"}
	default:
		return result{score: c.o("refusal_partial_score"), applies: true, detail: "partial refusal"}
	}
}

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
func hedgingSignal(v *draftView, c *config) result {
	if v.text == "" {
		return result{}
	}
	h := v.lexicon()
	strong := h.strong
	if !determinabilityCues.contains(v.instr) {
		strong += h.indeterminate
	}
	// Owning up to an error is the point when the user asked for a correction.
	if correctionCues.contains(v.instr) {
		strong -= h.selfCorr
		strong = max(strong, 0)
	}
	weak := h.weak
	n := float64(strong) + 0.25*float64(weak)/maxf(1, float64(len(v.text))/1000)
	if len(v.text) < 400 && endsWithQuestion(v.text) {
		n++
	}
	if n == 0 {
		return pass("no hedging")
	}
	s := maxf(c.o("hedge_floor"), 1-c.o("hedge_penalty")*n)
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
