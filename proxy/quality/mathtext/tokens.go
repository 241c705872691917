package mathtext

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// tokKind is what a token of math text is: a number, an operator, a
// parenthesis, an equals sign, or a break (anything else).
type tokKind uint8

const (
	tNum tokKind = iota
	tOp
	tLP
	tRP
	tEq
	tBreak
)

// tok is one token of math text.
type tok struct {
	kind   tokKind
	op     byte // tOp: + - * / ^
	val    float64
	dec    int8 // tNum: decimals written
	pct    bool // tNum: written with %
	approx bool // tEq: ≈ or "approximately"
	rem    bool // tBreak: a "remainder" word (integer division answers)
}

// tokenize turns text into math tokens; everything else (words,
// punctuation, newlines, code) becomes a break.
func tokenize(dst []tok, s string) []tok {
	brk := func(rem bool) {
		if n := len(dst); n > 0 && dst[n-1].kind == tBreak {
			dst[n-1].rem = dst[n-1].rem || rem
			return
		}
		dst = append(dst, tok{kind: tBreak, rem: rem})
	}
	prevOperand := func() bool {
		n := len(dst)
		return n > 0 && (dst[n-1].kind == tNum || dst[n-1].kind == tRP)
	}
	op := func(o byte) { dst = append(dst, tok{kind: tOp, op: o}) }

	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c >= '0' && c <= '9', c == '.' && i+1 < len(s) && isDigit(s[i+1]) && (i == 0 || !isDigit(s[i-1])):
			t, next := scanNumber(s, i)
			i = next
			// A number glued to letters is a name or a unit ("4k", "5kg", "2x"),
			// except "3x4", which multiplies.
			if i < len(s) && isASCIILetter(s[i]) {
				if (s[i] == 'x' || s[i] == 'X') && i+1 < len(s) && isDigit(s[i+1]) {
					dst = append(dst, t)
					op('*')
					i++
					continue
				}
				for i < len(s) && (isASCIILetter(s[i]) || isDigit(s[i]) || s[i] == '_') {
					i++
				}
				brk(false)
				continue
			}
			dst = append(dst, t)
		case c == '$':
			i++ // currency: "$5" is 5
		case c == '+':
			op('+')
			i++
		case c == '-':
			if i+1 < len(s) && s[i+1] == '-' { // "--", "---": a rule or a dash
				for i < len(s) && s[i] == '-' {
					i++
				}
				brk(false)
				continue
			}
			op('-')
			i++
		case c == '*':
			if i+1 < len(s) && s[i+1] == '*' { // markdown bold
				i += 2
				brk(false)
				continue
			}
			op('*')
			i++
		case c == '\\':
			if i+1 < len(s) && s[i+1] == '*' { // "\*": an escaped markdown star
				op('*')
				i += 2
				continue
			}
			i++
			brk(false)
		case c == '/':
			op('/')
			i++
		case c == '^':
			op('^')
			i++
		case c == '(':
			dst = append(dst, tok{kind: tLP})
			i++
		case c == ')':
			dst = append(dst, tok{kind: tRP})
			i++
		case c == '=':
			i++
			if i < len(s) && s[i] == '>' {
				i++
				brk(false)
				continue
			}
			for i < len(s) && s[i] == '=' {
				i++
			}
			dst = append(dst, tok{kind: tEq})
		case c == '~' && i+1 < len(s) && s[i+1] == '=':
			dst = append(dst, tok{kind: tEq, approx: true})
			i += 2
		case c == '`':
			i = skipCode(s, i)
			brk(false)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			switch r {
			case '×', '·', '∙', '⋅':
				op('*')
			case '÷', '∕':
				op('/')
			case '−':
				op('-')
			case '≈':
				dst = append(dst, tok{kind: tEq, approx: true})
			case '€', '£', '¥', '₹', '\u00a0', '\u202f', '\u2009':
				// currency or a non-breaking space
			default:
				if unicode.IsLetter(r) {
					for i < len(s) {
						r2, sz := utf8.DecodeRuneInString(s[i:])
						if !unicode.IsLetter(r2) && !unicode.IsDigit(r2) {
							break
						}
						i += sz
					}
				}
				brk(false)
			}
		case isASCIILetter(c):
			j := i
			for j < len(s) && (isASCIILetter(s[j]) || isDigit(s[j]) || s[j] == '_') {
				j++
			}
			word := s[i:j]
			i = j
			i = mathWord(&dst, s, i, word, prevOperand(), brk, op)
		default:
			i++
			brk(false)
		}
	}
	return dst
}

// mathWord handles words that act as operators between numbers ("3 times 4",
// "20% of 50 is 10", "= approximately 3.3"); any other word is a break.
func mathWord(dst *[]tok, s string, i int, word string, afterOperand bool, brk func(bool), op func(byte)) int {
	nextIsOperand := func() bool {
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '$') {
			j++
		}
		return j < len(s) && (isDigit(s[j]) || s[j] == '(')
	}
	var buf [16]byte
	lw := word
	if len(word) > len(buf) {
		lw = "" // no operator word is that long
	} else if hasUpper(word) {
		for k := 0; k < len(word); k++ {
			buf[k] = word[k] | 0x20 // ASCII letters and digits only
		}
		lw = string(buf[:len(word)]) // does not escape: stays on the stack
	}
	switch lw {
	case "x", "times", "multiplied":
		if afterOperand && (lw != "multiplied" || skipWord(s, &i, "by")) && nextIsOperand() {
			op('*')
			return i
		}
	case "divided":
		if afterOperand && skipWord(s, &i, "by") && nextIsOperand() {
			op('/')
			return i
		}
	case "plus":
		if afterOperand && nextIsOperand() {
			op('+')
			return i
		}
	case "minus":
		if afterOperand && nextIsOperand() {
			op('-')
			return i
		}
	case "of":
		// Only after a percentage or a fraction: "20% of 50", "3/4 of 12".
		if n := len(*dst); afterOperand && nextIsOperand() && n > 0 {
			last := (*dst)[n-1]
			if last.pct || n >= 3 && (*dst)[n-2].kind == tOp && (*dst)[n-2].op == '/' && (*dst)[n-3].kind == tNum {
				op('*')
				return i
			}
		}
	case "is", "equals", "equal", "makes", "gives":
		if afterOperand {
			if lw == "equal" {
				skipWord(s, &i, "to")
			}
			if nextIsOperand() || peekApproxWord(s, i) {
				*dst = append(*dst, tok{kind: tEq})
				return i
			}
		}
	case "approximately", "approx", "about", "roughly", "around", "nearly", "almost":
		if n := len(*dst); n > 0 && (*dst)[n-1].kind == tEq && nextIsOperand() {
			(*dst)[n-1].approx = true
			return i
		}
	}
	brk(lw == "r" || len(lw) >= 3 && lw[:3] == "rem")
	return i
}

var approxWords = []string{"approximately", "approx", "about", "roughly", "around", "nearly", "almost"}

func peekApproxWord(s string, i int) bool {
	j := i
	for j < len(s) && s[j] == ' ' {
		j++
	}
	k := j
	for k < len(s) && isASCIILetter(s[k]) {
		k++
	}
	for _, w := range approxWords {
		if equalFoldASCII(s[j:k], w) {
			return true
		}
	}
	return false
}

// skipWord consumes " word" at s[*i:] when present.
func skipWord(s string, i *int, word string) bool {
	j := *i
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j+len(word) <= len(s) && equalFoldASCII(s[j:j+len(word)], word) && (j+len(word) == len(s) || !isASCIILetter(s[j+len(word)])) {
		*i = j + len(word)
		return true
	}
	return false
}

// scanNumber reads 1,234.56 or 12.5% at s[i:].
func scanNumber(s string, i int) (tok, int) {
	start := i
	var digits [40]byte
	nd := 0
	for i < len(s) {
		c := s[i]
		switch {
		case isDigit(c):
			if nd < len(digits) {
				digits[nd] = c
				nd++
			}
			i++
			continue
		case c == ',' && nd > 0 && groupOf3(s, i+1):
			i++
			continue
		}
		break
	}
	dec := 0
	if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
		if nd < len(digits) {
			digits[nd] = '.'
			nd++
		}
		i++
		for i < len(s) && isDigit(s[i]) {
			if nd < len(digits) {
				digits[nd] = s[i]
				nd++
			}
			dec++
			i++
		}
	}
	v, err := strconv.ParseFloat(string(digits[:nd]), 64)
	if err != nil || i == start {
		return tok{kind: tBreak}, i
	}
	t := tok{kind: tNum, val: v, dec: int8(min(dec, 12))}
	if i < len(s) && s[i] == '%' {
		t.pct = true
		i++
	}
	return t, i
}

// groupOf3 reports exactly three digits at s[i:] not followed by a digit.
func groupOf3(s string, i int) bool {
	if i+3 > len(s) {
		return false
	}
	for k := i; k < i+3; k++ {
		if !isDigit(s[k]) {
			return false
		}
	}
	return i+3 == len(s) || !isDigit(s[i+3])
}

// skipCode skips an inline `code` span or a ``` fenced block starting at i.
func skipCode(s string, i int) int {
	if i+3 <= len(s) && s[i:i+3] == "```" {
		for j := i + 3; j+3 <= len(s); j++ {
			if s[j:j+3] == "```" {
				return j + 3
			}
		}
		return len(s)
	}
	for j := i + 1; j < len(s); j++ {
		if s[j] == '`' {
			return j + 1
		}
		if s[j] == '\n' {
			return j
		}
	}
	return len(s)
}

func isDigit(c byte) bool       { return c >= '0' && c <= '9' }
func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func hasUpper(w string) bool {
	for k := 0; k < len(w); k++ {
		if w[k] >= 'A' && w[k] <= 'Z' {
			return true
		}
	}
	return false
}

// equalFoldASCII compares an ASCII word case-insensitively with a lower-case one.
func equalFoldASCII(w, lower string) bool {
	if len(w) != len(lower) {
		return false
	}
	for k := 0; k < len(w); k++ {
		c := w[k]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[k] {
			return false
		}
	}
	return true
}

// wordStart reports whether s[i] begins a word: it is not preceded by a
// letter, digit or underscore (of any script).
func wordStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	b := s[i-1]
	if b < utf8.RuneSelf {
		return !(isASCIILetter(b) || isDigit(b) || b == '_')
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}
