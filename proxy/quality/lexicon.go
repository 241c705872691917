package quality

// Tags of answerLexicon, which merges the answer-side phrase lists so that
// one scan of the draft serves the refusal and the hedging signals.
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

// scanLexicon scans a lower-cased draft once for every answer-side phrase.
func scanLexicon(lower string) lexiconHits {
	h := lexiconHits{refusalAt: -1}
	answerLexicon.scan(lower, func(at int, tags uint8) {
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
	return h
}
