package answer

import (
	"strings"
	"unicode/utf8"
)

// maxLatexDepth bounds the recursion into nested LaTeX groups.
const maxLatexDepth = 32

// needsPlain reports whether s holds LaTeX or Unicode math to rewrite.
func needsPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '{' || c == '}' || c == '$' || c >= 0x80 {
			return true
		}
	}
	return false
}

// latexToPlain rewrites LaTeX and Unicode math into plain notation that the
// number scanner and the expression parser read: \frac{a}{b} becomes
// ((a)/(b)), \sqrt{x} sqrt(x), \cdot and × become *, \pi and π pi, other
// braces parentheses; spacing commands, \left/\right, \text wrappers,
// degree signs and dollar signs disappear.
func latexToPlain(s string) string {
	b := latexInto(make([]byte, 0, len(s)+16), s, 0)
	return strings.Join(strings.Fields(string(b)), " ")
}

func latexInto(b []byte, s string, depth int) []byte {
	if depth > maxLatexDepth {
		return append(b, s...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			j := i + 1
			for j < len(s) && s[j] == '\\' {
				j++ // a doubly escaped \\sqrt is \sqrt
			}
			if j >= len(s) {
				i = j
				continue
			}
			if !isLetter(s[j]) {
				switch s[j] {
				case '{', '}', '%', '|':
					b = append(b, s[j])
				case ' ':
					b = append(b, ' ')
				}
				// \, \! \; \: \$ \( \) \[ \]: spacing, escapes and delimiters vanish.
				i = j + 1
				continue
			}
			k := j
			for k < len(s) && isLetter(s[k]) {
				k++
			}
			b, i = latexCommand(b, s, k, s[j:k], depth)
		case c == '{':
			if strings.HasPrefix(s[i:], "{,}") { // 1{,}000
				b = append(b, ',')
				i += 3
				continue
			}
			b = append(b, '(')
			i++
		case c == '}':
			b = append(b, ')')
			i++
		case c == '$':
			i++
		case c == '^' && (strings.HasPrefix(s[i:], "^\\circ") || strings.HasPrefix(s[i:], "^{\\circ}")):
			if s[i+1] == '{' {
				i += len("^{\\circ}")
			} else {
				i += len("^\\circ")
			}
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			b = appendPlainRune(b, r)
			i += size
		default:
			b = append(b, c)
			i++
		}
	}
	return b
}

// latexCommand writes the plain form of the command name, whose name ends at
// s[i], and returns where reading resumes.
func latexCommand(b []byte, s string, i int, name string, depth int) ([]byte, int) {
	switch name {
	case "frac", "dfrac", "tfrac", "cfrac":
		num, i2 := latexArg(s, i)
		den, i3 := latexArg(s, i2)
		// A mixed number, 3\frac{1}{2}: an integer before a proper fraction.
		if p := trailingInt(b); p >= 0 && allDigits(num) && allDigits(den) && properFraction(num, den) {
			whole := string(b[p:])
			b = append(b[:p], '(')
			b = append(b, whole...)
			b = append(b, "+(("...)
			b = append(b, num...)
			b = append(b, ")/("...)
			b = append(b, den...)
			b = append(b, ")))"...)
			return b, i3
		}
		b = append(b, "(("...)
		b = latexInto(b, num, depth+1)
		b = append(b, ")/("...)
		b = latexInto(b, den, depth+1)
		b = append(b, "))"...)
		return b, i3
	case "sqrt":
		root := ""
		if j := skipSpaces(s, i); j < len(s) && s[j] == '[' {
			if k := strings.IndexByte(s[j:], ']'); k > 0 {
				root, i = s[j+1:j+k], j+k+1
			}
		}
		arg, next := latexArg(s, i)
		if root != "" {
			b = append(b, "(("...)
			b = latexInto(b, arg, depth+1)
			b = append(b, ")^(1/("...)
			b = latexInto(b, root, depth+1)
			b = append(b, ")))"...)
			return b, next
		}
		b = append(b, " sqrt("...)
		b = latexInto(b, arg, depth+1)
		return append(b, ')'), next
	case "boxed", "fbox", "text", "textbf", "textit", "textrm", "textnormal", "mathrm", "mathbf",
		"mathit", "mathsf", "mbox", "hbox", "operatorname", "emph", "bm", "boldsymbol":
		arg, next := latexArg(s, i)
		b = append(b, ' ')
		b = latexInto(b, arg, depth+1)
		return append(b, ' '), next
	case "hspace", "vspace", "phantom":
		_, next := latexArg(s, i)
		return b, next
	case "left", "right", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "big", "Big", "bigg", "Bigg":
		if i < len(s) && s[i] == '.' { // \left. is an invisible delimiter
			i++
		}
		return b, i
	case "displaystyle", "textstyle", "limits", "nolimits", "circ", "degree", "degrees":
		return b, i
	case "quad", "qquad":
		return append(b, ' '), i
	case "cdot", "times", "ast":
		return append(b, '*'), i
	case "div":
		return append(b, '/'), i
	case "infty":
		return append(b, " inf "...), i
	case "le", "leq", "leqslant":
		return append(b, "<="...), i
	case "ge", "geq", "geqslant":
		return append(b, ">="...), i
	case "ne", "neq":
		return append(b, "!="...), i
	case "lt":
		return append(b, '<'), i
	case "gt":
		return append(b, '>'), i
	case "pm":
		return append(b, "+-"...), i
	case "cup":
		return append(b, " U "...), i
	case "emptyset", "varnothing":
		return append(b, "{}"...), i
	case "ldots", "cdots", "dots":
		return append(b, "..."...), i
	case "dollar", "$":
		return b, i
	case "percent":
		return append(b, '%'), i
	}
	// \pi, \alpha, \sin, \log ...: the name, apart from its neighbours.
	b = append(b, ' ')
	b = append(b, name...)
	return append(b, ' '), i
}

// latexArg returns the argument of a command starting at s[i] (after
// spaces): a braced group, a command such as \pi, or one character.
func latexArg(s string, i int) (string, int) {
	i = skipSpaces(s, i)
	if i >= len(s) {
		return "", i
	}
	switch s[i] {
	case '{':
		end := matchBrace(s, i)
		if end < 0 {
			return s[i+1:], len(s)
		}
		return s[i+1 : end], end + 1
	case '\\':
		j := i + 1
		for j < len(s) && isLetter(s[j]) {
			j++
		}
		if j == i+1 && j < len(s) {
			j++
		}
		return s[i:j], j
	}
	_, size := utf8.DecodeRuneInString(s[i:])
	return s[i : i+size], i + size
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// trailingInt returns where the integer that ends b starts, or -1 when b
// does not end with a standalone integer.
func trailingInt(b []byte) int {
	p := len(b)
	for p > 0 && isDigit(b[p-1]) {
		p--
	}
	if p == len(b) || (p > 0 && (b[p-1] == '.' || isLetter(b[p-1]) || b[p-1] == ')' || b[p-1] == '^')) {
		return -1
	}
	return p
}

func allDigits(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// properFraction compares two digit strings of at most 15 digits.
func properFraction(num, den string) bool {
	n := strings.TrimLeft(num, "0")
	d := strings.TrimLeft(den, "0")
	if len(n) != len(d) {
		return len(n) < len(d)
	}
	return n < d
}

// appendPlainRune writes the plain form of a non-ASCII math character.
func appendPlainRune(b []byte, r rune) []byte {
	switch r {
	case '×', '·', '⋅', '∙':
		return append(b, '*')
	case '÷':
		return append(b, '/')
	case '−', '–':
		return append(b, '-')
	case '√':
		return append(b, " sqrt "...)
	case 'π':
		return append(b, " pi "...)
	case '∞':
		return append(b, " inf "...)
	case '²':
		return append(b, "^2"...)
	case '³':
		return append(b, "^3"...)
	case '≤':
		return append(b, "<="...)
	case '≥':
		return append(b, ">="...)
	case '≠':
		return append(b, "!="...)
	case '½':
		return append(b, "(1/2)"...)
	case '¼':
		return append(b, "(1/4)"...)
	case '¾':
		return append(b, "(3/4)"...)
	case '°':
		return b
	case '\u00a0', '\u2009', '\u202f':
		return append(b, ' ')
	}
	return utf8.AppendRune(b, r)
}
