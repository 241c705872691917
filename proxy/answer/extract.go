package answer

import (
	"strings"
)

// Extract returns the final answer of a model's text, or an Answer of Kind
// None (Confidence 0) when the text states none. Explicit markers win over
// the last line, and the last line over the last number; within one marker
// the last occurrence wins.
func Extract(text string) Answer {
	if strings.TrimSpace(text) == "" {
		return Answer{}
	}
	lower := asciiLower(text)
	for _, find := range finders {
		if a := find(text, lower); a.Kind != None {
			return a
		}
	}
	return Answer{}
}

// maxTries bounds how many occurrences of one marker are tried, from the
// last, so that a text crafted with thousands of them stays linear.
const maxTries = 32

// finders in order of precedence. Each gets the text and its ASCII-lowered
// copy (same byte offsets).
var finders = []func(text, lower string) Answer{
	findJSON,
	findBoxed,
	findHash,
	findFinal,
	findAssert,
	findAnswerIs,
	findBoldChoice,
	findWhole,
	findLastLine,
}

// occurrences returns where sub starts in s, in order, without overlaps.
// (A forward strings.Index is much faster than strings.LastIndex.)
func occurrences(s, sub string) []int {
	var out []int
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], sub)
		if k < 0 {
			break
		}
		out = append(out, i+k)
		i += k + len(sub)
	}
	return out
}

// asciiLower lowers ASCII letters only, so byte offsets stay the same.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerTable[c]
	}
	return string(b)
}

var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = lower(byte(i))
	}
	return t
}()

// findJSON reads the value of the last "answer" (or "final_answer") key:
// {"reasoning": "...", "answer": "B"}, fenced or not, valid JSON or not.
func findJSON(text, lower string) Answer {
	keys := occurrences(lower, "answer")
	for n := len(keys) - 1; n >= max(0, len(keys)-maxTries); n-- {
		k := keys[n]
		if k == 0 || k+len("answer") >= len(text) {
			continue
		}
		q := text[k+len("answer")]
		if q != '"' && q != '\'' || text[k-1] != q && !strings.HasSuffix(lower[:k], "final_") {
			continue
		}
		i := skipSpace(text, k+len("answer\""))
		if i >= len(text) || text[i] != ':' {
			continue
		}
		i = skipSpace(text, i+1)
		if i >= len(text) {
			continue
		}
		var val string
		switch text[i] {
		case '"':
			v, _, ok := jsonString(text, i)
			if !ok {
				continue // cut off: no answer here
			}
			if a := jsonStringAnswer(v); a.Kind != None {
				return a.withMarker(MarkerJSON)
			}
			continue
		case '\'':
			v, _, ok := pyString(text, i)
			if !ok {
				continue
			}
			val = v
		case '[', '{':
			e := matchBracket(text, i)
			if e < 0 {
				continue
			}
			val = text[i : e+1]
		default:
			e := i
			for e < len(text) && text[e] != ',' && text[e] != '}' && text[e] != '\n' {
				e++
			}
			val = strings.TrimSpace(text[i:e])
			if val == "null" || val == "None" {
				continue
			}
		}
		if a := parseSpan(val, exact); a.Kind != None {
			return a.withMarker(MarkerJSON)
		}
	}
	return Answer{}
}

// jsonStringAnswer reads the decoded string value of an answer field. The
// quotes delimit it exactly: "" and " a b " are strings whose every space
// counts.
func jsonStringAnswer(v string) Answer {
	if v == "" || v != strings.TrimSpace(v) {
		return Answer{Kind: Text, Text: v, Raw: v, exact: true}
	}
	return parseSpan(v, exact)
}

// latexCommandsBFNRT are LaTeX commands starting with a letter that is also
// a JSON escape: in "\frac" or "\times" written into a JSON string without
// doubling the backslash, the model meant the command, not a form feed.
var latexCommandsBFNRT = map[string]bool{
	"frac": true, "fbox": true, "forall": true, "bar": true, "beta": true, "binom": true,
	"boxed": true, "bmod": true, "big": true, "bigl": true, "bigr": true, "bigg": true, "bf": true,
	"boldsymbol": true, "neq": true, "ne": true, "nu": true, "nabla": true, "not": true, "neg": true,
	"times": true, "theta": true, "tau": true, "tan": true, "text": true, "textbf": true,
	"textit": true, "textrm": true, "tfrac": true, "to": true, "triangle": true, "rho": true,
	"right": true, "rangle": true, "rceil": true, "rfloor": true, "rightarrow": true,
}

// jsonString decodes the JSON string whose opening quote is text[i],
// tolerantly: unknown escapes and LaTeX commands keep their backslash, raw
// newlines are accepted. ok is false when the string never closes.
func jsonString(text string, i int) (string, int, bool) {
	var b strings.Builder
	for j := i + 1; j < len(text) && j-i <= maxScan; j++ {
		c := text[j]
		switch {
		case c == '"':
			return b.String(), j + 1, true
		case c == '\\' && j+1 < len(text):
			e := text[j+1]
			if strings.IndexByte("bfnrt", e) >= 0 {
				k := j + 1
				for k < len(text) && isLetter(text[k]) {
					k++
				}
				if latexCommandsBFNRT[text[j+1:k]] {
					b.WriteByte('\\')
					continue
				}
			}
			j++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b', 'f':
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'u':
				if j+5 <= len(text) {
					var r rune
					ok := true
					for _, h := range text[j+1 : j+5] {
						r <<= 4
						switch {
						case h >= '0' && h <= '9':
							r |= h - '0'
						case h >= 'a' && h <= 'f':
							r |= h - 'a' + 10
						case h >= 'A' && h <= 'F':
							r |= h - 'A' + 10
						default:
							ok = false
						}
					}
					if ok {
						b.WriteRune(r)
						j += 4
						continue
					}
				}
				b.WriteString("\\u")
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// matchBracket returns the index of the bracket closing text[i], skipping
// strings, or -1.
func matchBracket(text string, i int) int {
	var stack []byte
	for j := i; j < len(text) && j-i <= maxScan; j++ {
		switch c := text[j]; c {
		case '"', '\'':
			_, end, ok := pyString(text, j)
			if !ok {
				return -1
			}
			j = end - 1
		case '[', '{', '(':
			stack = append(stack, closer(c))
		case ']', '}', ')':
			if len(stack) == 0 || stack[len(stack)-1] != c {
				return -1
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return j
			}
		}
	}
	return -1
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// findBoxed reads the last \boxed{...} (or \fbox{...}).
func findBoxed(text, _ string) Answer {
	boxes := occurrences(text, "\\boxed")
	if len(boxes) == 0 {
		boxes = occurrences(text, "\\fbox")
	}
	for n := len(boxes) - 1; n >= max(0, len(boxes)-maxTries); n-- {
		k := boxes[n]
		i := k + 1
		for i < len(text) && isLetter(text[i]) {
			i++
		}
		i = skipSpaces(text, i)
		if i >= len(text) {
			continue
		}
		var content string
		if text[i] == '{' {
			e := matchBrace(text, i)
			if e < 0 {
				continue
			}
			content = text[i+1 : e]
		} else {
			content, _ = latexArg(text, i) // \boxed 5
		}
		if a := parseSpan(content, exact); a.Kind != None {
			return a.withMarker(MarkerBoxed)
		}
	}
	return Answer{}
}

// findHash reads GSM8K's "#### 42".
func findHash(text, _ string) Answer {
	hashes := occurrences(text, "####")
	if len(hashes) == 0 {
		return Answer{}
	}
	k := hashes[len(hashes)-1]
	return parseSpan(spanAfter(text, k+4), prose).withMarker(MarkerHash)
}

// findFinal reads "The final answer is 42", "Final answer: 42".
func findFinal(text, lower string) Answer {
	finals := occurrences(lower, "final answer")
	for n := len(finals) - 1; n >= max(0, len(finals)-maxTries); n-- {
		k := finals[n]
		i, ok := connector(lower, k+len("final answer"))
		if !ok {
			i, ok = heading(lower, k, k+len("final answer"))
		}
		if ok {
			if a := parseSpan(spanAfter(text, i), prose); a.Kind != None {
				return a.withMarker(MarkerFinal)
			}
		}
	}
	return Answer{}
}

// findAnswerIs reads "The answer is (C)", "Answer: 42", "**Answer:** 42".
func findAnswerIs(text, lower string) Answer {
	answers := occurrences(lower, "answer")
	for n := len(answers) - 1; n >= max(0, len(answers)-maxTries); n-- {
		k := answers[n]
		if k > 0 && isLetter(lower[k-1]) {
			continue
		}
		i, ok := connector(lower, k+len("answer"))
		if !ok {
			i, ok = heading(lower, k, k+len("answer"))
		}
		if ok {
			if a := parseSpan(spanAfter(text, i), prose); a.Kind != None {
				return a.withMarker(MarkerAnswerIs)
			}
		}
	}
	return Answer{}
}

// heading reports whether lower[start:end] is a heading alone on its line
// ("# Answer", "**Final Answer**"), and returns the end of that line: the
// answer is on the next one.
func heading(lower string, start, end int) (int, bool) {
	ls := strings.LastIndexByte(lower[:start], '\n') + 1
	le := strings.IndexByte(lower[end:], '\n')
	if le < 0 {
		return 0, false
	}
	le += end
	before := strings.Trim(lower[ls:start], " #*_:")
	after := strings.Trim(lower[end:le], " #*_:\r")
	if (before != "" && before != "final") || after != "" {
		return 0, false
	}
	return le, true
}

// connectors join an answer marker to the answer.
var connectors = []string{":", "is:", "is", "would be", "will be", "should be", "=", "->", "to the question is", "to this question is"}

// connector skips the words between "answer" and the answer itself; ok is
// false when what follows is not a statement of the answer ("answers",
// "answer the question").
func connector(lower string, i int) (int, bool) {
	skip := func(i int) int {
		for i < len(lower) && (lower[i] == ' ' || lower[i] == '*' || lower[i] == '_' || lower[i] == '\t') {
			i++
		}
		return i
	}
	if i < len(lower) && isLetter(lower[i]) {
		return 0, false
	}
	i = skip(i)
	for _, c := range connectors {
		if strings.HasPrefix(lower[i:], c) && (isPunct(c[len(c)-1]) || i+len(c) == len(lower) || !isLetter(lower[i+len(c)])) {
			j := skip(i + len(c))
			if j < len(lower) && lower[j] == ':' {
				j = skip(j + 1)
			}
			return j, true
		}
	}
	return 0, false
}

func isPunct(c byte) bool { return c == ':' || c == '=' || c == '>' }

// spanAfter returns the sentence that starts at text[i]: up to the end of
// the line or of the sentence, or the next line when this one is empty.
func spanAfter(text string, i int) string {
	i = skipSpaces(text, i)
	if i < len(text) && (text[i] == '\n' || text[i] == '\r') {
		i = skipSpace(text, i) // "The answer is:\n\n42"
	}
	end := i
	depth := 0
	for end < len(text) && end-i < maxSpan {
		c := text[end]
		if c == '\n' {
			break
		}
		switch c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		if depth <= 0 && (c == '.' || c == '!' || c == '?' || c == ';') &&
			(end+1 == len(text) || text[end+1] == ' ' || text[end+1] == '\n' || text[end+1] == '\r') {
			break
		}
		end++
	}
	s := text[i:end]
	// A reason after the answer is not part of it: "18 because ...".
	for _, cut := range []string{" because ", " since ", ", which ", ", since ", ", as ", ", so ", " as the "} {
		if k := strings.Index(s, cut); k > 0 {
			s = s[:k]
		}
	}
	return s
}

// findAssert reads CRUXEval's "assert f(...) == <output>".
func findAssert(text, _ string) Answer {
	asserts := occurrences(text, "assert ")
	for n := len(asserts) - 1; n >= max(0, len(asserts)-maxTries); n-- {
		k := asserts[n]
		line := text[k:min(len(text), k+maxScan)]
		if nl := strings.IndexByte(line, '\n'); nl >= 0 {
			line = line[:nl]
		}
		eq := lastOutside(line, "==")
		if eq < 0 {
			continue
		}
		val := line[eq+2:]
		for _, tail := range []string{"[/ANSWER]", "```", "[/PYTHON]"} {
			if j := strings.Index(val, tail); j >= 0 {
				val = val[:j]
			}
		}
		if j := indexOutside(val, "#"); j >= 0 {
			val = val[:j]
		}
		if a := parseSpan(val, exact); a.Kind != None {
			return a.withMarker(MarkerAssert)
		}
	}
	return Answer{}
}

// indexOutside returns the first index of sub in s outside quoted strings.
func indexOutside(s, sub string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '"' {
			if _, end, ok := pyString(s, i); ok {
				i = end - 1
				continue
			}
		}
		if strings.HasPrefix(s[i:], sub) {
			return i
		}
	}
	return -1
}

// lastOutside returns the last index of sub in s outside quoted strings.
func lastOutside(s, sub string) int {
	last := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '"' {
			if _, end, ok := pyString(s, i); ok {
				i = end - 1
				continue
			}
		}
		if strings.HasPrefix(s[i:], sub) {
			last = i
			i += len(sub) - 1
		}
	}
	return last
}

// findBoldChoice reads a lone bold letter, "**C**" or "**(C)**".
func findBoldChoice(text, _ string) Answer {
	stars := occurrences(text, "**")
	for n := len(stars) - 1; n >= max(1, len(stars)-maxTries); n-- {
		open, k := stars[n-1], stars[n]
		if k-open-2 > 4 {
			continue
		}
		if l, ok := choiceLetter(strings.TrimSpace(text[open+2 : k])); ok {
			return Answer{Kind: Choice, Text: string(l), Raw: text[open : k+2]}.withMarker(MarkerBold)
		}
	}
	return Answer{}
}

// maxWhole bounds a text that may be an answer on its own.
const maxWhole = 100

// findWhole takes a short one-line text as the answer itself: "42",
// "Paris.", "[1, 2]".
func findWhole(text, _ string) Answer {
	s := strings.TrimSpace(text)
	if len(s) > maxWhole || strings.ContainsAny(s, "\n") || lastEquals(s) >= 0 {
		return Answer{} // long, several lines, or a computation: not an answer alone
	}
	a := parseSpan(s, prose)
	if a.Kind == Text && !a.quoted && (len(strings.Fields(s)) > 6 || strings.ContainsAny(strings.TrimRight(s, ".!"), ".!?")) {
		return Answer{} // a sentence, not a short answer
	}
	a = a.withMarker(MarkerWhole)
	if a.Kind == Text {
		a.Confidence = wholeTextConfidence // a short phrase may be an answer or just a reply
	}
	return a
}

// wholeTextConfidence is the confidence in a short phrase taken whole.
const wholeTextConfidence = 0.5
