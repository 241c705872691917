package answer

import (
	"strconv"
	"strings"
	"unicode"
)

// Kind is what an answer is.
type Kind uint8

const (
	None    Kind = iota // no answer found
	Number              // a numeric value
	Expr                // a math expression, tuple or interval
	Choice              // a multiple-choice letter A-J
	Literal             // a Python or JSON list, dict, tuple or keyword
	Text                // a short phrase or string
)

func (k Kind) String() string {
	switch k {
	case Number:
		return "number"
	case Expr:
		return "expr"
	case Choice:
		return "choice"
	case Literal:
		return "literal"
	case Text:
		return "text"
	}
	return "none"
}

// Marker says where in the text an answer was found.
type Marker string

const (
	MarkerGiven      Marker = "given"       // Parse: the whole string is the answer
	MarkerJSON       Marker = "json"        // a JSON "answer" field
	MarkerBoxed      Marker = "boxed"       // \boxed{...}
	MarkerHash       Marker = "####"        // GSM8K's "#### 42"
	MarkerFinal      Marker = "final"       // "The final answer is ..."
	MarkerAnswerIs   Marker = "answer"      // "The answer is ...", "Answer: ..."
	MarkerAssert     Marker = "assert"      // "assert f(x) == ..."
	MarkerWhole      Marker = "whole"       // a short one-line text that is itself an answer
	MarkerBold       Marker = "bold"        // a lone bold choice letter, **C**
	MarkerEquals     Marker = "equals"      // the last line's "... = 42"
	MarkerLastLine   Marker = "last-line"   // the number the last line states
	MarkerLastNumber Marker = "last-number" // the last number of the text
)

// Confidence that the marker really holds the final answer.
var confidence = map[Marker]float64{
	MarkerGiven:      1,
	MarkerJSON:       0.95,
	MarkerBoxed:      0.95,
	MarkerHash:       0.95,
	MarkerFinal:      0.9,
	MarkerAssert:     0.9,
	MarkerAnswerIs:   0.85,
	MarkerWhole:      0.8,
	MarkerBold:       0.7,
	MarkerEquals:     0.6,
	MarkerLastLine:   0.5,
	MarkerLastNumber: 0.3,
}

// form is how a number was written; it decides how it compares.
type form uint8

const (
	formInt      form = iota // digits only (57, 1,234, 57.00): compared exactly
	formDecimal              // 0.5, 1.25
	formSci                  // 1.2e5, 1.2 \times 10^5
	formFraction             // 3/4, \frac{3}{4}, 1 1/2
	formPercent              // 45%: Value is 45
)

// Answer is the final answer of a text.
type Answer struct {
	Kind Kind
	// Text is the canonical form: the number (exact digits for integers),
	// the normalised expression or literal, the upper-case letter, or the
	// phrase (as written, trimmed; folding happens when comparing).
	Text string
	// Value is the numeric value of a Number, or of an Expr that is constant.
	Value    float64
	HasValue bool
	// Raw is the answer as written in the text.
	Raw string
	// Confidence in [0, 1] that this is the text's final answer; 0 for None.
	Confidence float64
	Marker     Marker

	form   form
	quoted bool  // written as a quoted string
	exact  bool  // a string delimited by its writer: compared as written
	expr   *node // parsed expression of an Expr
}

func (a Answer) String() string {
	if a.Kind == None {
		return "none"
	}
	return a.Kind.String() + " " + strconv.Quote(a.Text) + " (" + string(a.Marker) + ", " +
		strconv.FormatFloat(a.Confidence, 'f', 2, 64) + ")"
}

// maxSpan bounds the length of an answer span: longer spans are prose.
const maxSpan = 400

// maxScan bounds how far a string, bracket or brace is followed to its end.
const maxScan = 4 * maxSpan

// Parse reads s as an answer on its own, for instance a gold reference or a
// value already taken out of a text: "42", "$1,234.50", "\frac{3}{4}",
// "(C)", "[1, 2]", "'abc'". It returns None for an empty or overlong s.
func Parse(s string) Answer {
	a := parseSpan(s, exact)
	if a.Kind != None {
		a.Marker = MarkerGiven
		a.Confidence = confidence[MarkerGiven]
	}
	return a
}

// withMarker stamps where a was found.
func (a Answer) withMarker(m Marker) Answer {
	if a.Kind == None {
		return Answer{}
	}
	a.Marker = m
	a.Confidence = confidence[m]
	return a
}

// spanMode says how an answer span was delimited.
type spanMode uint8

const (
	// prose: cut out of running text ("The answer is 18 eggs."): closing
	// punctuation belongs to the sentence, and a short sentence stating one
	// number ("Each child got 5 books") answers with that number.
	prose spanMode = iota
	// exact: delimited by the writer (a JSON string, \boxed{}, an assert):
	// every character but surrounding spaces counts.
	exact
)

// parseSpan reads an answer span.
func parseSpan(raw string, mode spanMode) Answer {
	s := cleanSpan(raw, mode == prose)
	if s == "" || len(s) > maxSpan {
		return Answer{}
	}
	if content, ok := unquote(s); ok {
		// The quotes are not part of the answer: '816' is 816 and 'A' is the
		// letter A. Any other quoted string is compared exactly.
		if content != "" && content == strings.TrimSpace(content) {
			if a := parseBare(content); a.Kind == Number || a.Kind == Choice {
				a.quoted, a.exact = true, true
				a.Raw = raw
				return a
			}
		}
		return Answer{Kind: Text, Text: content, Raw: raw, quoted: true, exact: true}
	}
	if inner, ok := quotedLiteral(s); ok {
		s = inner // '[1, 2]': a literal in stray quotes
	}
	a := parseBare(s)
	if a.Kind == None && mode == exact {
		a = Answer{Kind: Text, Text: s} // ")" or "!?": a delimited string of symbols
	}
	if a.Kind == Text && mode == exact {
		a.exact = true
	}
	if a.Kind == Text && mode == prose {
		if n, ok := onlyNumber(s); ok {
			a = n
		}
	}
	a.Raw = raw
	return a
}

// quotedLiteral returns the literal inside quotes that do not close a
// string: '{'a': 1}'.
func quotedLiteral(s string) (string, bool) {
	if len(s) < 4 || (s[0] != '\'' && s[0] != '"') || s[len(s)-1] != s[0] {
		return "", false
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	if inner == "" || strings.IndexByte("[{(", inner[0]) < 0 {
		return "", false
	}
	if _, ok := canonLiteral(inner); !ok {
		return "", false
	}
	return inner, true
}

// onlyNumber returns the one number a short sentence states.
func onlyNumber(s string) (Answer, bool) {
	if len(strings.Fields(s)) > 12 || strings.ContainsAny(s, "=+*/^") {
		return Answer{}, false
	}
	nums := numbersIn(s)
	if len(nums) != 1 {
		return Answer{}, false
	}
	return nums[0].answer(), true
}

// parseBare reads a cleaned, unquoted span.
func parseBare(s string) Answer {
	if l, ok := choiceLetter(s); ok {
		return Answer{Kind: Choice, Text: string(l)}
	}
	if looksLiteral(s) {
		if c, ok := canonLiteral(s); ok {
			return Answer{Kind: Literal, Text: c}
		}
	}
	t := s
	if needsPlain(t) {
		t = latexToPlain(t)
	}
	if len(t) > 1 && t[0] == '0' && strings.Trim(t, "0123456789") == "" {
		return Answer{Kind: Text, Text: s} // 0574: a string of digits, not a number
	}
	// "x = 5", "9 * 2 = 18": the value is what follows the last '='.
	if k := lastEquals(t); k >= 0 && k+1 < len(t) {
		t = strings.TrimSpace(t[k+1:])
	}
	if a, ok := parseNumberSpan(t); ok {
		return a
	}
	if a, ok := parseExprSpan(t); ok {
		return a
	}
	if hasLetterOrDigit(s) {
		return Answer{Kind: Text, Text: s}
	}
	return Answer{}
}

// lastEquals returns the index of the last lone '=' in s (not part of ==,
// <=, >= or !=), or -1.
func lastEquals(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != '=' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '=' || i > 0 && strings.IndexByte("=<>!", s[i-1]) >= 0 {
			continue
		}
		return i
	}
	return -1
}

// cleanSpan strips what surrounds an answer without being part of it:
// spaces, markdown emphasis and code ticks, math delimiters, \boxed{},
// and (punct) closing sentence punctuation.
func cleanSpan(s string, punct bool) string {
	for range 8 {
		before := s
		s = strings.TrimSpace(s)
		if punct {
			s = strings.TrimRight(s, ".,;:!")
			s = strings.Trim(s, "*_ ") // stray emphasis: **Answer: 42**
		}
		for _, p := range [][2]string{
			{"**", "**"}, {"__", "__"}, {"*", "*"}, {"`", "`"},
			{"$$", "$$"}, {"\\(", "\\)"}, {"\\[", "\\]"},
		} {
			if len(s) >= len(p[0])+len(p[1]) && strings.HasPrefix(s, p[0]) && strings.HasSuffix(s, p[1]) {
				s = s[len(p[0]) : len(s)-len(p[1])]
			}
		}
		// $...$ only when it is one math span, not "$5 and $6".
		if len(s) >= 2 && s[0] == '$' && s[len(s)-1] == '$' && strings.Count(s, "$") == 2 {
			s = s[1 : len(s)-1]
		}
		if inner, ok := wholeBoxed(s); ok {
			s = inner
		}
		if s == before {
			break
		}
	}
	return s
}

// wholeBoxed returns the content of s when s is exactly \boxed{...}.
func wholeBoxed(s string) (string, bool) {
	for _, cmd := range []string{"\\boxed", "\\fbox"} {
		if !strings.HasPrefix(s, cmd) {
			continue
		}
		rest := strings.TrimLeft(s[len(cmd):], " ")
		if len(rest) == 0 || rest[0] != '{' {
			return "", false
		}
		end := matchBrace(rest, 0)
		if end == len(rest)-1 {
			return rest[1:end], true
		}
	}
	return "", false
}

// matchBrace returns the index of the brace closing the one at s[i], or -1.
func matchBrace(s string, i int) int {
	depth := 0
	for j := i; j < len(s) && j-i <= maxScan; j++ {
		switch s[j] {
		case '\\':
			j++ // \{ and \} do not count
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// unquote returns the content of s when all of s is one quoted string
// ('...', "...", or the typographic “...”).
func unquote(s string) (string, bool) {
	if strings.HasPrefix(s, "“") && strings.HasSuffix(s, "”") && len(s) >= 6 {
		inner := s[3 : len(s)-3]
		if !strings.ContainsAny(inner, "“”") {
			return inner, true
		}
		return "", false
	}
	if len(s) < 2 || (s[0] != '\'' && s[0] != '"') || s[len(s)-1] != s[0] {
		return "", false
	}
	content, end, ok := pyString(s, 0)
	if !ok || end != len(s) {
		return "", false
	}
	return content, true
}

// choiceLetter recognises a multiple-choice letter: "C", "(C)", "C)",
// "C.", "(c)", "C: option text", "(C) option text".
func choiceLetter(s string) (byte, bool) {
	isUpper := func(c byte) bool { return c >= 'A' && c <= 'J' }
	isLower := func(c byte) bool { return c >= 'a' && c <= 'j' }
	switch {
	case len(s) == 1 && isUpper(s[0]):
		return s[0], true
	case len(s) >= 3 && s[0] == '(' && s[2] == ')' && (isUpper(s[1]) || isLower(s[1])):
		if len(s) == 3 || s[3] == ' ' {
			return upper(s[1]), true
		}
	case len(s) >= 2 && isUpper(s[0]) && (s[1] == ')' || s[1] == '.' || s[1] == ':'):
		if len(s) == 2 || s[2] == ' ' {
			return s[0], true
		}
	}
	return 0, false
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c - 'A' + 'a'
	}
	return c
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

func hasLetterOrDigit(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}
