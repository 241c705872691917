package answer

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// number is one number as written.
type number struct {
	val    float64
	form   form
	digits string // canonical integer text of a formInt: exact comparison
	end    int    // index after the number
}

func (n number) answer() Answer {
	a := Answer{Kind: Number, Value: n.val, HasValue: true, form: n.form}
	switch n.form {
	case formInt:
		a.Text = n.digits
	case formPercent:
		a.Text = formatFloat(n.val) + "%"
	default:
		a.Text = formatFloat(n.val)
	}
	return a
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// currencies that may stand before a number.
var currencies = []string{"$", "€", "£", "¥", "₹", "US$", "USD ", "EUR "}

// scanNumber reads a number starting exactly at s[i]: an optional sign and
// currency symbol, digits with optional thousands separators, decimals and
// exponent, then an optional percent sign, or a fraction 3/4, or a mixed
// number 1 1/2. The number must not run into letters ("3rd", "2x").
func scanNumber(s string, i int) (number, bool) {
	neg := false
	signed := func() {
		switch {
		case i < len(s) && (s[i] == '-' || s[i] == '+'):
			neg = s[i] == '-'
			i++
		case strings.HasPrefix(s[i:], "−"): // U+2212 minus sign
			neg = true
			i += len("−")
		}
	}
	signed()
	for _, c := range currencies {
		if strings.HasPrefix(s[i:], c) {
			i += len(c)
			if !neg {
				signed()
			}
			break
		}
	}
	start := i
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	intDigits := j - start
	if intDigits == 0 && !(j+1 < len(s) && s[j] == '.' && isDigit(s[j+1])) {
		return number{}, false
	}
	grouped := false
	if intDigits >= 1 && intDigits <= 3 {
		// 1,234,567: groups of exactly three digits.
		for j+3 < len(s) && s[j] == ',' && isDigit(s[j+1]) && isDigit(s[j+2]) && isDigit(s[j+3]) &&
			(j+4 == len(s) || !isDigit(s[j+4])) {
			j += 4
			grouped = true
		}
	}
	intEnd := j
	frac := ""
	if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
		k := j + 1
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		frac = s[j+1 : k]
		j = k
	}
	exp := false
	if j+1 < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			exp = true
			j = k
		}
	}
	if j < len(s) && (isLetter(s[j]) || s[j] == '_') && !exp {
		return number{}, false // 3rd, 2x, 10am: not a plain number
	}
	intPart := s[start:intEnd]
	if grouped {
		intPart = strings.ReplaceAll(intPart, ",", "")
	}
	lit := intPart
	if frac != "" {
		lit += "." + frac
	}
	if exp {
		lit = strings.ReplaceAll(s[start:j], ",", "")
	}
	if lit == "" || lit[0] == '.' {
		lit = "0" + lit
	}
	v, err := strconv.ParseFloat(lit, 64)
	if err != nil && !math.IsInf(v, 0) {
		return number{}, false
	}
	if neg {
		v = -v
	}
	n := number{val: v, end: j, form: formDecimal}
	switch {
	case exp:
		n.form = formSci
	case strings.Trim(frac, "0") == "": // 57 or 57.00
		n.form = formInt
		n.digits = canonInt(intPart, neg)
	}

	// Percent, fraction or mixed number after an integer.
	k := j
	for k < len(s) && s[k] == ' ' {
		k++
	}
	switch {
	case strings.HasPrefix(s[k:], "%"):
		n.form, n.end, n.digits = formPercent, k+1, ""
		return n, true
	case strings.HasPrefix(s[k:], "\\%"):
		n.form, n.end, n.digits = formPercent, k+2, ""
		return n, true
	case strings.HasPrefix(s[k:], "percent") && !followedByLetter(s, k+len("percent")):
		n.form, n.end, n.digits = formPercent, k+len("percent"), ""
		return n, true
	}
	if n.form != formInt || grouped || frac != "" {
		return n, true
	}
	if num, den, end, ok := ratioFrom(s, start, j); ok {
		if den != 0 {
			n.val = num / den
			if neg {
				n.val = -n.val
			}
			n.form, n.end, n.digits = formFraction, end, ""
		}
		return n, true
	}
	if k > j && k < len(s) {
		// Mixed number: 1 1/2 (a proper fraction after a space).
		if num, den, end, ok := scanRatio(s, k); ok && num < den {
			whole := math.Abs(n.val)
			n.val = whole + num/den
			if neg {
				n.val = -n.val
			}
			n.form, n.end, n.digits = formFraction, end, ""
		}
	}
	return n, true
}

// scanRatio reads "a/b" of two plain integers starting at s[i].
func scanRatio(s string, i int) (num, den float64, end int, ok bool) {
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j == i {
		return 0, 0, 0, false
	}
	return ratioFrom(s, i, j)
}

// ratioFrom reads the "/b" at s[j] after the integer s[i:j].
func ratioFrom(s string, i, j int) (num, den float64, end int, ok bool) {
	if j >= len(s) || s[j] != '/' {
		return 0, 0, 0, false
	}
	k := j + 1
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	if k == j+1 || (k < len(s) && (s[k] == '/' || s[k] == '.' && k+1 < len(s) && isDigit(s[k+1]) || isLetter(s[k]))) {
		return 0, 0, 0, false // 12/25/2020, 1/2.5, 3/4x
	}
	nv, err1 := strconv.ParseFloat(s[i:j], 64)
	dv, err2 := strconv.ParseFloat(s[j+1:k], 64)
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return nv, dv, k, true
}

func followedByLetter(s string, i int) bool { return i < len(s) && isLetter(s[i]) }

// canonInt is the exact text of an integer: no separators, no leading zeros.
func canonInt(digits string, neg bool) string {
	d := strings.TrimLeft(digits, "0")
	if d == "" {
		return "0"
	}
	if neg {
		return "-" + d
	}
	return d
}

// numberWords are the spelled-out numbers a model may answer with.
var numberWords = map[string]float64{
	"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
	"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
	"fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
	"nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
	"seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "a hundred": 100,
	"one hundred": 100, "a dozen": 12, "dozen": 12,
}

// fillers may stand before a number without changing it.
var fillers = []string{"approximately ", "approx. ", "about ", "around ", "roughly ", "exactly ", "only ", "≈", "~"}

// parseNumberSpan reads a span that is one number, possibly with a unit or
// a parenthetical remark after it: "57", "$57.00", "57 dollars", "12 cm",
// "45%", "3/4", "1 1/2", "1.2e5", "-3.5 (rounded)", "five".
func parseNumberSpan(s string) (Answer, bool) {
	t := s
	for _, f := range fillers {
		if len(t) > len(f) && strings.EqualFold(t[:len(f)], f) {
			t = strings.TrimSpace(t[len(f):])
		}
	}
	n, ok := scanNumber(t, 0)
	if !ok {
		if p := gluedUnit(t); p > 0 {
			if n, ok = scanNumber(t[:p], 0); ok && n.end == p {
				return n.answer(), true
			}
		}
	}
	if ok {
		if !isUnitTail(strings.TrimSpace(t[n.end:])) {
			return Answer{}, false
		}
		return n.answer(), true
	}
	// A spelled-out number alone ("five", not "one of them").
	if v, ok := numberWords[strings.ToLower(t)]; ok {
		return number{val: v, form: formInt, digits: strconv.Itoa(int(v))}.answer(), true
	}
	return Answer{}, false
}

// isUnitTail reports whether rest, what follows a number, only names a unit
// or makes a remark: "", "cm", "dollars per day", "km/h", "m^2", "(rounded)".
// Single letters are not units ("3 i h o" is a string, "2 x" algebra).
func isUnitTail(rest string) bool {
	if rest == "" {
		return true
	}
	if rest[0] == '(' && strings.IndexByte(rest, ')') == len(rest)-1 {
		return true // a parenthetical remark: 18 (9 eggs x $2)
	}
	words := strings.Fields(rest)
	if len(words) > 5 {
		return false
	}
	for _, w := range words {
		letters := 0
		for i := 0; i < len(w); i++ {
			c := w[i]
			switch {
			case isLetter(c) || c >= 0x80:
				letters++
			case c == '.', c == '\'', c == '-', c == '/':
			case c == '^' && i+1 < len(w) && (w[i+1] == '2' || w[i+1] == '3'):
				i++
			default:
				return false
			}
		}
		if letters < 2 && !(letters == 1 && w[0] >= 0x80) || slices.Contains(mathNames, strings.TrimRight(w, ".")) {
			return false // a variable or pi, sqrt, ...: math, not a unit
		}
	}
	return isLetter(rest[0]) || rest[0] >= 0x80
}

// gluedUnits may follow a number without a space: 12cm, 5kg, 60mph.
var gluedUnits = map[string]bool{
	"cm": true, "mm": true, "km": true, "kg": true, "mg": true, "lb": true, "lbs": true, "oz": true,
	"ft": true, "yd": true, "mph": true, "kph": true, "ml": true, "hr": true, "hrs": true,
	"min": true, "mins": true, "sec": true, "secs": true, "cm^2": true, "m^2": true, "km/h": true,
}

// gluedUnit returns where a unit glued to a leading number starts, or 0.
func gluedUnit(t string) int {
	p := 0
	for p < len(t) && !isLetter(t[p]) {
		p++
	}
	if p == 0 || p == len(t) || !isDigit(t[p-1]) {
		return 0
	}
	unit := t[p:]
	if q := strings.IndexByte(unit, ' '); q > 0 {
		if !isUnitTail(strings.TrimSpace(unit[q:])) {
			return 0
		}
		unit = unit[:q]
	}
	if !gluedUnits[strings.ToLower(unit)] {
		return 0
	}
	return p
}
