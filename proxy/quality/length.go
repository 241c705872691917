package quality

import (
	"strconv"
	"strings"
)

// lengthUnit is what an explicit length constraint counts.
type lengthUnit int

const (
	unitWords lengthUnit = iota
	unitSentences
	unitParagraphs
	unitLines
)

var unitNames = [...]string{"words", "sentences", "paragraphs", "lines"}

// lengthBound is an explicit constraint such as "in under 100 words".
type lengthBound struct {
	unit lengthUnit
	n    int
	kind byte // '<' at most, '>' at least, '~' about
}

// lengthNeed is what the request implies about the answer's length.
type lengthNeed struct {
	bound    *lengthBound
	minChars int
	wantCode bool
	why      string
}

// Cue lists for the nature of a request (English; other languages get no
// length expectation rather than a wrong one).
var (
	longformVerbs = newPhraseSet("write", "compose", "draft ", "create", "develop", "prepare", "produce", "generate")
	longformNouns = newPhraseSet(
		"essay", "article", "blog", "story", "report", "letter", "speech", "script", "lesson plan",
		"proposal", "tutorial", "guide", "review", "newsletter", "press release", "cover letter",
	)
	detailCues = newPhraseSet("in detail", "detailed", "comprehensive", "thorough", "in depth", "in-depth", "elaborate on")
	codeCues   = newPhraseSet(
		"implement a ", "implement an ", "implement the ", "implement it", "implement this function", "write a function", "write a program", "write a script", "write code", "write a class",
		"write a method", "write a query", "write an sql", "write a sql", "write a regex", "code snippet",
		"write a python", "write a c++", "write a java", "write a go ", "write a rust", "write a bash",
		"write a javascript", "write a typescript", "in python", "in javascript", "in c++", "in java ",
		"fix the bug", "fix this code", "refactor",
	)
	explainCues = newPhraseSet("explain", "describe", "compare", "discuss", "analyze", "analyse", "why does", "why do ", "why is", "how does", "how do ", "pros and cons")
)

// expectedLength reads the nature of the ask: explicit bounds first, then
// code, long-form writing and explanation requests.
func expectedLength(ask string, o *options) lengthNeed {
	var need lengthNeed
	if b, ok := explicitBound(ask); ok {
		need.bound = &b
		need.why = "explicit " + unitNames[b.unit]
	}
	switch {
	case codeCues.contains(ask):
		need.wantCode = true
		need.minChars = int(o.LengthMinCode)
		need.why = join(need.why, "code request")
	case longformVerbs.contains(ask) && longformNouns.contains(ask), detailCues.contains(ask):
		need.minChars = int(o.LengthMinLongform)
		need.why = join(need.why, "long-form request")
	case explainCues.contains(ask):
		need.minChars = int(o.LengthMinExplain)
		need.why = join(need.why, "explanation request")
	}
	// A math or logic problem's answer should show its work: expect at least
	// length_work_ratio times the question's length.
	if q := lastParagraph(ask); need.minChars == 0 && isProblem(q) {
		need.minChars = int(o.LengthWorkRatio * float64(len(q)))
		need.why = join(need.why, "problem to work out")
	}
	if need.bound != nil && need.bound.kind == '<' {
		need.minChars = 0 // an upper bound overrides the genre's minimum
	}
	return need
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// lengthSignal compares the answer with what the request implies. It does not
// apply to tool-call turns or to requests without any length expectation.
func lengthSignal(a *analysis, o *options) result {
	if a.toolUses > 0 || a.ask.text == "" {
		return result{}
	}
	need := expectedLength(a.ask.instr, o)
	if need.bound == nil && need.minChars == 0 && !need.wantCode {
		return result{}
	}
	s := 1.0
	if b := need.bound; b != nil {
		got := measure(a.text, b.unit)
		n := float64(b.n)
		switch b.kind {
		case '<':
			if lim := 1.25*n + 2; got > lim {
				s = lim / got
			}
		case '>':
			if lim := 0.8 * n; got < lim {
				s = got / lim
			}
		default:
			if got < 0.5*n {
				s = got / (0.5 * n)
			} else if got > 2*n+2 {
				s = (2*n + 2) / got
			}
		}
	}
	if need.minChars > 0 && len(a.text) < need.minChars {
		s *= float64(len(a.text)) / float64(need.minChars)
	}
	if need.wantCode && !hasCode(a.text) {
		s *= o.LengthNoCodeScore
	}
	return result{score: s, applies: true, detail: need.why + ", " + strconv.Itoa(len(a.text)) + " chars"}
}

// explicitBound finds "N words|sentences|paragraphs|lines" with an optional
// qualifier before it ("under", "at least", "about").
func explicitBound(ask string) (lengthBound, bool) {
	for u, names := range [][]string{{"word"}, {"sentence"}, {"paragraph"}, {"line"}} {
		name := names[0]
		for off := 0; ; {
			i := strings.Index(ask[off:], name)
			if i < 0 {
				break
			}
			at := off + i
			off = at + len(name)
			n, start := numberBefore(ask, at)
			if n <= 0 {
				continue
			}
			b := lengthBound{unit: lengthUnit(u), n: n, kind: '~'}
			pre := ask[max(0, start-24):start]
			switch {
			case upperQualifiers.contains(pre):
				b.kind = '<'
			case lowerQualifiers.contains(pre):
				b.kind = '>'
			}
			if trailingUpper.contains(ask[off:min(len(ask), off+12)]) {
				b.kind = '<'
			}
			return b, true
		}
	}
	return lengthBound{}, false
}

// Qualifiers of an explicit bound, before ("under 50 words") or after
// ("50 words or less") the number.
var (
	upperQualifiers = newPhraseSet("under", "less than", "fewer than", "no more than", "not more than", "at most", "maximum", "max", "within", "up to", "no longer than", "limit")
	lowerQualifiers = newPhraseSet("at least", "minimum", "more than", "no less than", "no fewer than")
	trailingUpper   = newPhraseSet("or less", "or fewer", "max")
)

var numberWords = map[string]int{
	"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
	"nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "fifty": 50, "hundred": 100,
	"a single": 1, "single": 1,
}

// numberBefore parses the number just before position at ("100 words",
// "100-word", "three paragraphs"); it returns the number and where it starts.
func numberBefore(s string, at int) (int, int) {
	j := at
	for j > 0 && (s[j-1] == ' ' || s[j-1] == '-') {
		j--
	}
	end := j
	for j > 0 && (s[j-1] >= '0' && s[j-1] <= '9' || s[j-1] == ',') {
		j--
	}
	if j < end {
		n, err := strconv.Atoi(strings.ReplaceAll(s[j:end], ",", ""))
		if err != nil || n > 100000 {
			return 0, 0
		}
		return n, j
	}
	k := j
	for k > 0 && s[k-1] >= 'a' && s[k-1] <= 'z' {
		k--
	}
	if n, ok := numberWords[s[k:end]]; ok {
		return n, k
	}
	return 0, 0
}

// measure counts the answer in the bound's unit.
func measure(text string, u lengthUnit) float64 {
	switch u {
	case unitWords:
		return float64(len(strings.Fields(text)))
	case unitSentences:
		n := 0
		for i := 0; i < len(text); i++ {
			if c := text[i]; (c == '.' || c == '!' || c == '?') && (i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\n') {
				n++
			}
		}
		if n == 0 && strings.TrimSpace(text) != "" {
			n = 1
		}
		return float64(n)
	case unitParagraphs:
		n := 0
		for p := range strings.SplitSeq(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
			if strings.TrimSpace(p) != "" {
				n++
			}
		}
		return float64(n)
	default:
		n := 0
		for l := range strings.SplitSeq(text, "\n") {
			if strings.TrimSpace(l) != "" {
				n++
			}
		}
		return float64(n)
	}
}

// hasCode reports a fenced block, or several lines that look like code.
func hasCode(text string) bool {
	if strings.Contains(text, "```") {
		return true
	}
	n := 0
	for l := range strings.SplitSeq(text, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(l, "    ") || strings.HasPrefix(l, "\t") ||
			strings.HasSuffix(t, "{") || strings.HasSuffix(t, ";") || strings.HasPrefix(t, "def ") ||
			strings.HasPrefix(t, "return ") || strings.HasPrefix(t, "func ") {
			n++
		}
	}
	return n >= 3
}

// isProblem reports a math or reasoning question with several quantities.
func isProblem(q string) bool {
	return countNumbers(q) >= 2 && (mathCues.contains(q) || reasoningCues.contains(q)) && strings.ContainsAny(q, "?")
}
