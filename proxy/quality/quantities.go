package quality

import (
	"math"
	"strconv"
	"strings"
)

// quantity is a number as written in a text: digits ("1,250", "12.5%",
// "$3"), a fraction ("3/4") or a spelled-out amount ("twenty-five", "two
// dozen", "twice", "half").
type quantity struct {
	val  float64
	pos  int  // byte offset in the text
	dec  int8 // decimals written (0 for words and fractions)
	pct  bool // written with %
	frac bool // written as a/b; num and den hold a and b
	num  float64
	den  float64
	word bool // spelled out
}

// maxQuantities bounds the work on very long texts.
const maxQuantities = 400

// spelledNumbers are the English number words read as quantities. "one" is
// left out (it is far more often a pronoun or an article than an amount),
// and so are ordinals ("third" is a position at least as often as a share).
var spelledNumbers = map[string]float64{
	"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
	"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
	"sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
	"forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
	"hundred": 100, "thousand": 1000, "dozen": 12, "twice": 2, "double": 2, "triple": 3,
	"half": 0.5, "quarter": 0.25,
}

// scanQuantities appends the quantities written in s. Numbers glued to a
// preceding letter or underscore ("A4", "x2", "v1") are names, not amounts;
// "1,000" is one number; "2 dozen", "two hundred" and "twenty-five" are
// one amount each.
func scanQuantities(dst []quantity, s string, splitFractions bool) []quantity {
	start := len(dst)
	for i := 0; i < len(s) && len(dst)-start < maxQuantities; {
		c := s[i]
		switch {
		case isDigit(c), c == '.' && i+1 < len(s) && isDigit(s[i+1]) && (i == 0 || !isDigit(s[i-1])):
			if i > 0 && (isASCIILetter(s[i-1]) || s[i-1] == '_' || s[i-1] == '.' && c != '.') {
				for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
					i++
				}
				continue
			}
			t, next := scanNumber(s, i)
			if t.kind != tNum {
				i = max(next, i+1)
				continue
			}
			if isOrdinalSuffix(s, next) {
				i = next + 2 // "4th", "21st": a position, not an amount
				continue
			}
			q := quantity{val: t.val, pos: i, dec: t.dec, pct: t.pct}
			i = next
			// a/b with integers on both sides: a fraction. In a question it is
			// one given quantity; in an answer its parts are also quantities
			// ("60/4 = 15" uses 60 and 4).
			if !q.pct && q.dec == 0 && i+1 < len(s) && s[i] == '/' && isDigit(s[i+1]) {
				d, after := scanNumber(s, i+1)
				if d.kind == tNum && d.dec == 0 && !d.pct && d.val != 0 {
					pos := q.pos
					if splitFractions {
						dst = append(dst, q, quantity{val: d.val, pos: i + 1})
						pos = i + 1 // keep positions in order
					}
					q = quantity{val: q.val / d.val, pos: pos, frac: true, num: q.val, den: d.val}
					i = after
				}
			}
			// "2 dozen", "3 hundred".
			if m, after := multiplierWord(s, i); m > 0 && !q.pct {
				q.val *= m
				i = after
			}
			dst = append(dst, q)
		case isASCIILetter(c):
			j := i
			for j < len(s) && isASCIILetter(s[j]) {
				j++
			}
			if !wordStart(s, i) || j < len(s) && isDigit(s[j]) {
				i = j
				continue
			}
			v, ok := spelledNumber(s[i:j])
			if !ok {
				i = j
				continue
			}
			q := quantity{val: v, pos: i, word: true}
			i = j
			// "twenty-five", "twenty five".
			if v >= 20 && v < 100 && math.Mod(v, 10) == 0 && i+1 < len(s) && (s[i] == '-' || s[i] == ' ') {
				k := i + 1
				for k < len(s) && isASCIILetter(s[k]) {
					k++
				}
				if u, ok := spelledNumber(s[i+1 : k]); ok && u >= 2 && u <= 9 {
					q.val += u
					i = k
				}
			}
			if v >= 2 && v < 100 && v == math.Trunc(v) {
				if m, after := multiplierWord(s, i); m > 0 {
					q.val *= m
					i = after
				}
			}
			dst = append(dst, q)
		default:
			i++
		}
	}
	return dst
}

// spelledNumber reads one number word, any case.
func spelledNumber(w string) (float64, bool) {
	if len(w) < 3 || len(w) > 8 {
		return 0, false
	}
	var buf [8]byte
	for k := 0; k < len(w); k++ {
		buf[k] = w[k] | 0x20
	}
	v, ok := spelledNumbers[string(buf[:len(w)])]
	return v, ok
}

// multiplierWord reads " hundred", " thousand", " dozen" or " million" at
// s[i:] and returns its value and where it ends.
func multiplierWord(s string, i int) (float64, int) {
	j := i
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j == i {
		return 0, i
	}
	k := j
	for k < len(s) && isASCIILetter(s[k]) {
		k++
	}
	switch w := s[j:k]; {
	case equalFoldASCII(w, "hundred"):
		return 100, k
	case equalFoldASCII(w, "thousand"):
		return 1000, k
	case equalFoldASCII(w, "million"):
		return 1e6, k
	case equalFoldASCII(w, "dozen"):
		return 12, k
	}
	return 0, i
}

// forms are the values a given quantity can take in a correct solution: 20 %
// is used as 20, 0.2, 1.2 or 0.8 (a rise or a cut), 80 or 120; "3/4" as 0.75,
// 3 or 4; "half" as 0.5 or 2; "a quarter" as 0.25 or 4.
func (q quantity) forms(dst []float64) []float64 {
	dst = append(dst, q.val)
	switch {
	case q.pct:
		p := q.val
		dst = append(dst, p/100, 1+p/100, 1-p/100, 100-p, 100+p)
	case q.frac:
		dst = append(dst, q.num, q.den)
	case q.word && q.val < 1:
		dst = append(dst, 1/q.val, 1-q.val)
	}
	return dst
}

// matches reports whether draft quantity d writes the value x, allowing for
// d's own rounding (0.33 for 1/3).
func (d quantity) matches(x float64) bool {
	tol := 1e-6 * math.Max(1, math.Max(math.Abs(x), math.Abs(d.val)))
	if d.dec > 0 {
		tol = math.Max(tol, 0.5*math.Pow10(-int(d.dec)))
	}
	return math.Abs(d.val-x) <= tol || d.pct && math.Abs(d.val/100-x) <= tol/100
}

// coverageSignal checks that a worked answer to a word problem uses the
// quantities the problem gives: a solution that never mentions one of them
// has usually dropped a step or misread the problem.
func coverageSignal(v *draftView, c *config) result {
	m := v.math()
	if !m.problem || len(m.draft) < 2 {
		return result{}
	}
	var forms [8]float64
	unused, given := 0, 0
	for i, g := range m.given {
		if g.val == 0 {
			continue // a correct solution need not write a zero
		}
		dup := false
		for _, h := range m.given[:i] {
			if h.val == g.val {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		given++
		used := false
	search:
		for _, x := range g.forms(forms[:0]) {
			for _, d := range m.draft {
				if d.matches(x) {
					used = true
					break search
				}
			}
		}
		if !used {
			unused++
		}
	}
	if given == 0 {
		return result{}
	}
	detail := strconv.Itoa(given-unused) + " of " + strconv.Itoa(given) + " given quantities used"
	return result{score: math.Pow(c.o("coverage_unused_score"), float64(unused)), applies: true, detail: detail}
}

// mathView is what the coverage and answer signals read, computed once.
type mathView struct {
	problem bool       // the ask's question is a word problem with quantities
	given   []quantity // quantities in the question
	draft   []quantity // quantities in the draft
	qDec    int        // most decimals among the question's numbers (fractions: 2)
}

func (v *draftView) math() *mathView {
	if v.mv != nil {
		return v.mv
	}
	m := &mathView{}
	v.mv = m
	if v.toolUses > 0 {
		return m
	}
	q := lastParagraph(v.askLower)
	m.given = scanQuantities(make([]quantity, 0, 16), q, false)
	if !isWordProblem(q, m.given) {
		return m
	}
	m.problem = true
	m.draft = scanQuantities(make([]quantity, 0, 32), v.text, true)
	for _, g := range m.given {
		d := int(g.dec)
		if g.frac || g.word && g.val < 1 {
			d = 2
		}
		m.qDec = max(m.qDec, d)
	}
	return m
}

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
func answerSignal(v *draftView, c *config) result {
	m := v.math()
	if !m.problem || len(m.draft) == 0 {
		return result{}
	}
	flaws := 0
	var why []string
	if repairCues.contains(v.lower) {
		flaws++
		why = append(why, "patches an impossible result")
	}
	if ans, final, line, at, ok := m.finalAnswer(v.text); ok {
		if ans.val != math.Trunc(ans.val) && !ans.pct && int(ans.dec) > m.qDec && !fractionalCues.contains(lastParagraph(v.askLower)) {
			flaws++
			why = append(why, "answer more precise than the data")
		}
		if len(final) >= 2 && !strings.ContainsAny(line, "=+*/×÷") && distinctValues(final) >= 2 && asksOneNumber(lastParagraph(v.askLower)) {
			flaws++
			why = append(why, "several numbers in the final statement")
		}
		if !strings.ContainsAny(line, "=") && strings.Contains(v.text[:at], "=") && !m.derived(ans) {
			flaws++
			why = append(why, "answer not reached by the work")
		}
	}
	if flaws == 0 {
		return pass("one answer, as precise as the data")
	}
	return result{score: math.Pow(c.o("answer_flaw_score"), float64(flaws)), applies: true, detail: strings.Join(why, ", ")}
}

// finalAnswer reads the draft's final statement (its last line with a digit,
// starting at byte at): its quantities, less those that restate the
// question's ("the chance of at least 3 is 0.31"), and the answer among
// them: the first after the line's last "=", else the first. ok is false
// when no such quantity is left.
func (m *mathView) finalAnswer(text string) (ans quantity, final []quantity, line string, at int, ok bool) {
	line, at = finalStatement(text)
	if at < 0 {
		return quantity{}, nil, "", at, false
	}
	for _, d := range m.draft {
		if d.pos >= at && d.pos < at+len(line) && !m.isGiven(d.val) {
			final = append(final, d)
		}
	}
	if len(final) == 0 {
		return quantity{}, nil, line, at, false
	}
	ans = final[0]
	if eq := strings.LastIndexByte(line, '='); eq >= 0 {
		for _, d := range final {
			if d.pos >= at+eq {
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
func (m *mathView) derived(ans quantity) bool {
	n := 0
	for _, d := range m.draft {
		if d.pos >= ans.pos {
			break
		}
		n++
		if d.matches(ans.val) || ans.matches(d.val) {
			return true
		}
	}
	return n < 2
}

// isGiven reports a value written in the question.
func (m *mathView) isGiven(x float64) bool {
	for _, g := range m.given {
		if g.val == x {
			return true
		}
	}
	return false
}

// distinctValues counts the different values in qs; "0.25" and "25%" are one.
func distinctValues(qs []quantity) int {
	n := 0
	for i, q := range qs {
		seen := false
		for _, p := range qs[:i] {
			if p.val == q.val || p.pct != q.pct && (p.matches(q.frac01()) || q.matches(p.frac01())) {
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

// askCues ask for a result without a question mark ("Calculate the total.").
var askCues = newPhraseSet("calculate", "compute", "find", "determine", "solve", "work out", "how many", "how much", "what is")

// isWordProblem reports a question that gives at least two quantities and
// asks for something computed from them.
func isWordProblem(q string, given []quantity) bool {
	return len(given) >= 2 && (mathCues.contains(q) || reasoningCues.contains(q)) &&
		(strings.ContainsAny(q, "?？") || askCues.contains(q))
}

// frac01 is the value as a fraction: 25% is 0.25.
func (q quantity) frac01() float64 {
	if q.pct {
		return q.val / 100
	}
	return q.val
}

// isOrdinalSuffix reports "st", "nd", "rd" or "th" ending a word at s[i:].
func isOrdinalSuffix(s string, i int) bool {
	if i+2 > len(s) || i+2 < len(s) && isASCIILetter(s[i+2]) {
		return false
	}
	switch strings.ToLower(s[i : i+2]) {
	case "st", "nd", "rd", "th":
		return true
	}
	return false
}
