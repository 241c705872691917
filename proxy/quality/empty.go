package quality

import (
	"strconv"
	"unicode"
)

// emptySignal vetoes answers with nothing in them: no tool call and fewer
// than minChars (rules.Gate.MinAnswerChars) letters or digits ("", "...",
// "-" all count as empty).
func emptySignal(a *analysis, minChars int) result {
	if a.toolUses > 0 {
		return pass("tool call")
	}
	n := 0
	for _, r := range a.text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
			if n >= minChars && n > 0 {
				return pass("non-empty")
			}
		}
	}
	if n == 0 {
		return result{score: 0, applies: true, veto: true, detail: "no text and no tool call"}
	}
	return result{score: 0, applies: true, veto: true, detail: "near-empty: " + strconv.Itoa(n) + " letters or digits"}
}
