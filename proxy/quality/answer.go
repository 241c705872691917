package quality

import (
	"math"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/mathtext"
)

// finalStatement returns the last non-empty line of text that holds a digit.
func finalStatement(text string) (line string, at int) {
	end := len(text)
	for end > 0 {
		start := strings.LastIndexByte(text[:end], '\n') + 1
		l := text[start:end]
		for k := 0; k < len(l); k++ {
			if isDigit(l[k]) {
				return l, start
			}
		}
		end = start - 1
	}
	return "", -1
}

// repairCues are a worked answer noticing that a result of its own is
// impossible (a negative or fractional count) and patching it instead of
// redoing the work.
var repairCues = newPhraseSet(
	"however, since", "however, this", "must be a whole number", "should be a whole number",
	"can't have half", "cannot have half", "can't have a fraction", "cannot have a fraction",
	"can't be negative", "cannot be negative", "is a negative number", "there must be a mistake",
	"made a mistake",
)

// fractionalCues ask for a probability, which is a ratio by nature.
var fractionalCues = newPhraseSet("probability", "chance", "odds", "likelihood")

// answerSignal checks the final answer of a worked word problem: it should
// be one number, not several candidates, and not more precise than the data
// (a word problem with whole numbers whose answer needs rounding has usually
// taken a wrong turn).
func answerSignal(a *analysis, o *options) result {
	m := &a.math
	if !m.problem || len(m.draft) == 0 {
		return result{}
	}
	flaws := 0
	var why []string
	if repairCues.contains(a.lower) {
		flaws++
		why = append(why, "patches an impossible result")
	}
	if ans, final, line, at, ok := m.finalAnswer(a.text); ok {
		if ans.Value != math.Trunc(ans.Value) && !ans.Percent && int(ans.Decimals) > m.qDec && !fractionalCues.contains(a.ask.question) {
			flaws++
			why = append(why, "answer more precise than the data")
		}
		if len(final) >= 2 && !strings.ContainsAny(line, "=+*/×÷") && distinctValues(final) >= 2 && asksOneNumber(a.ask.question) {
			flaws++
			why = append(why, "several numbers in the final statement")
		}
		if !strings.ContainsAny(line, "=") && strings.Contains(a.text[:at], "=") && !m.derived(ans) {
			flaws++
			why = append(why, "answer not reached by the work")
		}
	}
	if flaws == 0 {
		return pass("one answer, as precise as the data")
	}
	return result{score: math.Pow(o.AnswerFlawScore, float64(flaws)), applies: true, detail: strings.Join(why, ", ")}
}

// finalAnswer reads the draft's final statement (its last line with a digit,
// starting at byte at): its quantities, less those that restate the
// question's ("the chance of at least 3 is 0.31"), and the answer among
// them: the first after the line's last "=", else the first. ok is false
// when no such quantity is left.
func (m *mathView) finalAnswer(text string) (ans mathtext.Quantity, final []mathtext.Quantity, line string, at int, ok bool) {
	line, at = finalStatement(text)
	if at < 0 {
		return mathtext.Quantity{}, nil, "", at, false
	}
	for _, d := range m.draft {
		if d.Pos >= at && d.Pos < at+len(line) && !m.isGiven(d.Value) {
			final = append(final, d)
		}
	}
	if len(final) == 0 {
		return mathtext.Quantity{}, nil, line, at, false
	}
	ans = final[0]
	if eq := strings.LastIndexByte(line, '='); eq >= 0 {
		for _, d := range final {
			if d.Pos >= at+eq {
				ans = d
				break
			}
		}
	}
	return ans, final, line, at, true
}

// asksOneNumber reports a question asking for a single amount: one
// "how many" or "how much" and one question mark.
func asksOneNumber(q string) bool {
	return strings.Count(q, "how many")+strings.Count(q, "how much") == 1 && strings.Count(q, "?") == 1
}

// derived reports whether the work before the final statement wrote the
// answer's value (the answer then follows from it). With fewer than two
// quantities before the final statement there is no work to follow from.
func (m *mathView) derived(ans mathtext.Quantity) bool {
	n := 0
	for _, d := range m.draft {
		if d.Pos >= ans.Pos {
			break
		}
		n++
		if d.Matches(ans.Value) || ans.Matches(d.Value) {
			return true
		}
	}
	return n < 2
}

// isGiven reports a value written in the question.
func (m *mathView) isGiven(x float64) bool {
	for _, g := range m.given {
		if g.Value == x {
			return true
		}
	}
	return false
}

// distinctValues counts the different values in qs; "0.25" and "25%" are one.
func distinctValues(qs []mathtext.Quantity) int {
	n := 0
	for i, q := range qs {
		seen := false
		for _, p := range qs[:i] {
			if p.Value == q.Value || p.Percent != q.Percent && (p.Matches(q.Fraction01()) || q.Matches(p.Fraction01())) {
				seen = true
				break
			}
		}
		if !seen {
			n++
		}
	}
	return n
}
