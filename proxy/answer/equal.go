package answer

import (
	"math"
	"strings"
	"unicode"
)

// relTolerance is how far apart two numbers may be and still be equal.
const relTolerance = 1e-6

// Equal reports whether a and b are the same answer. comparable is false
// when either has no answer, or when one is a choice letter and the other
// is not (a letter and its option's content cannot be matched without the
// question); answers of other different kinds are comparable and unequal.
// Equal is symmetric. The package documentation lists the rules.
func Equal(a, b Answer) (equal, comparable bool) {
	if a.Kind == None || b.Kind == None {
		return false, false
	}
	if (a.Kind == Choice) != (b.Kind == Choice) {
		return false, false
	}
	if a.Kind > b.Kind {
		a, b = b, a // one order of kinds below
	}
	switch {
	case a.Kind == Choice:
		return a.Text == b.Text, true
	case a.Kind == Number && b.Kind == Number:
		return numbersEqual(a, b), true
	case a.Kind == Number && b.Kind == Expr:
		return b.HasValue && a.form != formPercent && closeEnough(a.Value, b.Value), true
	case a.Kind == Expr && b.Kind == Expr:
		return exprEqual(a.expr, b.expr), true
	case a.Kind == Literal && b.Kind == Literal:
		return a.Text == b.Text, true
	case b.Kind == Text:
		return textEqual(a, b), true
	}
	return false, true
}

// numbersEqual compares two numbers by the rules of their written forms.
func numbersEqual(a, b Answer) bool {
	if a.form == formInt && b.form == formInt {
		return a.Text == b.Text // exact digits: no tolerance between large integers
	}
	if (a.form == formPercent) != (b.form == formPercent) {
		if b.form == formPercent {
			a, b = b, a
		}
		// 50% is 50; it is 1/2 only against a written fraction.
		return closeEnough(a.Value, b.Value) || b.form == formFraction && closeEnough(a.Value/100, b.Value)
	}
	return closeEnough(a.Value, b.Value)
}

// closeEnough compares with a relative tolerance (and a tiny absolute one
// around zero).
func closeEnough(x, y float64) bool {
	if x == y {
		return true
	}
	if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return false
	}
	d := math.Abs(x - y)
	return d <= relTolerance*max(math.Abs(x), math.Abs(y)) || d < 1e-12
}

// textEqual compares b, a Text, with a. Two phrases cut from running text
// are compared folded; a string its writer delimited (a quoted string, a
// JSON value, an assert's literal) is compared as written, case and spaces
// included, because program output and identifiers differ by them.
func textEqual(a, b Answer) bool {
	if a.Kind == Text && !a.exact && !b.exact {
		fa, fb := fold(a.Text), fold(b.Text)
		if fa == "" || fb == "" {
			return a.Text == b.Text // only symbols: nothing to fold
		}
		return fa == fb
	}
	if !a.exact && !b.exact {
		return false // a phrase against a number, expression or literal
	}
	wa, wb := written(a), written(b)
	switch {
	case wa == wb:
		return true
	case a.quoted && !b.quoted:
		// An unquoted string may carry the escapes of the quoted literal:
		// t\nZA against 't\nZA' (a newline).
		return wa == unescape(wb)
	case b.quoted && !a.quoted:
		return unescape(wa) == wb
	}
	return false
}

// unescape decodes the Python escapes of s, when s has any.
func unescape(s string) string {
	if !strings.Contains(s, "\\") || strings.Contains(s, "\x00") {
		return s
	}
	// In a string quoted by NUL no character of s closes the quote early.
	if c, end, ok := pyString("\x00"+s+"\x00", 0); ok && end == len(s)+2 {
		return c
	}
	return s
}

// written is an answer's text as written: a quoted string's content, or the
// cleaned span of anything else.
func written(a Answer) string {
	if a.Kind == Text {
		return a.Text
	}
	w := cleanSpan(a.Raw, false)
	if c, ok := unquote(w); ok {
		return c
	}
	return w
}

// fold lowers case, drops apostrophes and turns sentence punctuation and
// runs of spaces into single spaces: "New York, NY." and "new york ny" fold
// equally, "1,2,3" and "123" do not. Other symbols stay: C++ is not C#.
func fold(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == '\'' || r == '’':
			continue
		case unicode.IsSpace(r) || strings.ContainsRune(`.,;:!?"()[]{}-_/“”`, r):
			space = true
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
