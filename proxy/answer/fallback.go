package answer

import (
	"slices"
	"strings"
	"unicode"
)

// findLastLine is the fallback when no marker names the answer: the value
// after the last '=' of the last line, or the number the last line states
// ("Therefore, Kylar needs to pay $64 for the 16 glasses."), or else the
// last number of the text. The last two only when the text reasons with
// numbers or the line concludes; prose without arithmetic has no answer.
func findLastLine(text, _ string) Answer {
	if t := strings.TrimSpace(text); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "```json") {
		return Answer{} // a JSON reply without its answer field: cut off
	}
	body := proseBody(text)
	arith := hasArithmetic(body)
	seen := 0
	for rest := body; rest != "" && seen < 3; {
		var line string
		if k := strings.LastIndexByte(rest, '\n'); k >= 0 {
			rest, line = rest[:k], rest[k+1:]
		} else {
			rest, line = "", rest
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		seen++
		if !strings.ContainsAny(line, "0123456789") {
			continue // "I hope this helps!" after the result
		}
		sentence := lastNumberSentence(line)
		if a := equalsValue(sentence); a.Kind != None {
			return a.withMarker(MarkerEquals)
		}
		if a := parseSpan(line, prose); a.Kind == Number && len(line) <= 40 {
			return a.withMarker(MarkerLastLine) // the last line is the number: "42", "$1,200."
		}
		if arith || concludes(asciiLower(sentence)) || afterCopula(sentence, 0, numbersIn(sentence)) != nil {
			if n, ok := statedNumber(sentence, computedResults(text)); ok {
				return n.withMarker(MarkerLastLine)
			}
		}
		break
	}
	if arith {
		if nums := numbersIn(body); len(nums) > 0 {
			n := nums[len(nums)-1]
			a := n.answer()
			a.Raw = body[n.start:n.end]
			return a.withMarker(MarkerLastNumber)
		}
	}
	return Answer{}
}

// lastNumberSentence returns the last sentence of a line that holds a
// number: a paragraph written on one line ends with its conclusion.
func lastNumberSentence(line string) string {
	nums := numbersIn(line)
	if len(nums) == 0 {
		return line
	}
	last := nums[len(nums)-1]
	start := 0
	for i := 0; i+1 < last.start; i++ {
		if sentenceEnd(line, i) {
			start = i + 2
		}
	}
	end := len(line)
	for i := last.end; i+1 < len(line); i++ {
		if sentenceEnd(line, i) {
			end = i + 1
			break
		}
	}
	return line[start:end]
}

// sentenceEnd reports whether line[i] ends a sentence: ". ", "! ", "? ".
func sentenceEnd(line string, i int) bool {
	return (line[i] == '.' || line[i] == '!' || line[i] == '?') && line[i+1] == ' '
}

// proseBody drops fenced code blocks and GSM8K calculator annotations
// (<<9*2=18>>), which hold no final answer.
func proseBody(text string) string {
	if !strings.Contains(text, "```") && !strings.Contains(text, "<<") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	inFence := false
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for {
			k := strings.Index(line, "<<")
			if k < 0 {
				break
			}
			e := strings.Index(line[k:], ">>")
			if e < 0 {
				break
			}
			line = line[:k] + line[k+e+2:]
		}
		b.WriteString(line)
	}
	return b.String()
}

// hasArithmetic reports whether the text states a computation: a lone '='
// followed by a number.
func hasArithmetic(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '=' || i+1 < len(s) && s[i+1] == '=' || i > 0 && strings.IndexByte("=<>!", s[i-1]) >= 0 {
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == ' ' || s[j] == '$' || s[j] == '\\') {
			j++
		}
		if j < len(s) && (isDigit(s[j]) || s[j] == '-' && j+1 < len(s) && isDigit(s[j+1])) {
			return true
		}
	}
	return false
}

// concludes reports whether a lowered line announces a result.
func concludes(line string) bool {
	for _, w := range strings.FieldsFunc(line, func(r rune) bool { return !unicode.IsLetter(r) }) {
		switch w {
		case "therefore", "thus", "hence", "so", "total", "altogether", "all", "result", "finally":
			return true
		}
	}
	return false
}

// equalsValue reads the number after the last lone '=' of a line:
// "... = $335 in all." gives 335.
func equalsValue(line string) Answer {
	k := lastEquals(line)
	if k < 0 {
		return Answer{}
	}
	span := spanAfter(line, k+1)
	if a := parseSpan(span, prose); a.Kind == Number || a.Kind == Expr && a.HasValue {
		return a
	}
	t := strings.TrimLeft(strings.TrimSpace(span), "*$\\")
	if n, ok := scanNumber(t, 0); ok {
		a := n.answer()
		a.Raw = t[:n.end]
		return a
	}
	return Answer{}
}

// computedResults lists the values the text computes: the numbers right
// after each lone '=' (including GSM8K's <<9*2=18>> annotations).
func computedResults(text string) []float64 {
	var out []float64
	for i := 0; i < len(text); i++ {
		if text[i] != '=' || i+1 < len(text) && text[i+1] == '=' || i > 0 && strings.IndexByte("=<>!", text[i-1]) >= 0 {
			continue
		}
		j := i + 1
		for j < len(text) && (text[j] == ' ' || text[j] == '\\' || text[j] == '*') {
			j++
		}
		if n, ok := scanNumber(text, j); ok {
			out = append(out, n.val)
		}
	}
	return out
}

// copulas are the words after which a sentence states its result.
var copulas = []string{"is", "are", "was", "were", "be", "equals", "equal to", "is approximately", "≈"}

// statedNumber picks the number the last sentence of a line states: the
// first one the text computed earlier ("The 42 kg bag will last for 3
// weeks" after "21 / 7 = 3"), else the last one after "is" or "equals"
// ("the remainder is 3"), else the first one.
func statedNumber(line string, computed []float64) (Answer, bool) {
	nums := numbersIn(line)
	if len(nums) == 0 {
		return Answer{}, false
	}
	// The last sentence that holds a number.
	start := 0
	last := nums[len(nums)-1].start
	for i := 0; i+1 < last; i++ {
		if sentenceEnd(line, i) {
			start = i + 2
		}
	}
	var first, stated, pick *numAt
	for i := range nums {
		n := &nums[i]
		if n.start < start || compoundAdjective(line, n.end) {
			continue
		}
		if first == nil {
			first = n
		}
		if pick == nil && slices.ContainsFunc(computed, func(v float64) bool { return closeEnough(v, n.val) }) {
			pick = n
		}
	}
	if n := afterCopula(line, start, nums); n != nil {
		stated = n
	}
	if stated != nil {
		pick = stated
	}
	if pick == nil {
		pick = first
	}
	if pick == nil {
		return Answer{}, false
	}
	a := pick.answer()
	a.Raw = line[pick.start:pick.end]
	return a, true
}

// compoundAdjective reports whether the number ending at line[end] is part
// of a compound like "400-meter" or "5-year-old".
func compoundAdjective(line string, end int) bool {
	return end+1 < len(line) && line[end] == '-' && isLetter(line[end+1])
}

// afterCopula returns the last of nums (the numbers of line) at or after
// line[start] that follows a copula: "the remainder is 3".
func afterCopula(line string, start int, nums []numAt) *numAt {
	var stated *numAt
	for i := range nums {
		n := &nums[i]
		if n.start < start || compoundAdjective(line, n.end) {
			continue
		}
		before := strings.TrimRight(line[start:n.start], " ")
		for _, c := range copulas {
			k := len(before) - len(c)
			if k >= 0 && strings.EqualFold(before[k:], c) && (k == 0 || before[k-1] == ' ') {
				stated = n
			}
		}
	}
	return stated
}

type numAt struct {
	number
	start int
}

// numbersIn lists the numbers of s, skipping list markers ("1. ", "2) " at
// the start of a line) and digits inside words ("H2O", "x2").
func numbersIn(s string) []numAt {
	var out []numAt
	lineStart := true
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\n' {
			lineStart = true
			i++
			continue
		}
		starts := isDigit(c) || c == '$' || c == '-' || c == '.' && i+1 < len(s) && isDigit(s[i+1])
		if starts && i > 0 {
			p := s[i-1]
			if isLetter(p) || isDigit(p) || p == '_' || p == '.' || p == '/' || p == '^' || p == ',' && c != '$' && c != '-' {
				starts = false
			}
			if c == '-' && (isDigit(p) || p == ')') {
				starts = false // a minus sign between operands
			}
		}
		if starts {
			if n, ok := scanNumber(s, i); ok {
				marker := lineStart && n.form == formInt && n.end < len(s) && (s[n.end] == '.' || s[n.end] == ')') &&
					(n.end+1 == len(s) || s[n.end+1] == ' ')
				if !marker {
					out = append(out, numAt{number: n, start: i})
				}
				i = max(n.end, i+1)
				lineStart = false
				continue
			}
		}
		if c != ' ' && c != '\t' && c != '-' && c != '*' && c != '#' && c != '>' {
			lineStart = false
		}
		i++
	}
	return out
}
