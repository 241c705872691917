package mathtext

import (
	"math"
	"strings"
)

// Quantity is a number as written in a text: digits ("1,250", "12.5%",
// "$3"), a fraction ("3/4") or a spelled-out amount ("twenty-five", "two
// dozen", "twice", "half").
type Quantity struct {
	Value    float64
	Pos      int  // byte offset in the text
	Decimals int8 // decimals written (0 for words and fractions)
	Percent  bool // written with %
	Fraction bool // written as a/b; Num and Den hold a and b
	Num      float64
	Den      float64
	Word     bool // spelled out
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

// ScanQuantities appends the quantities written in s. Numbers glued to a
// preceding letter or underscore ("A4", "x2", "v1") are names, not amounts;
// "1,000" is one number; "2 dozen", "two hundred" and "twenty-five" are
// one amount each.
func ScanQuantities(dst []Quantity, s string, splitFractions bool) []Quantity {
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
			q := Quantity{Value: t.val, Pos: i, Decimals: t.dec, Percent: t.pct}
			i = next
			// a/b with integers on both sides: a fraction. In a question it is
			// one given quantity; in an answer its parts are also quantities
			// ("60/4 = 15" uses 60 and 4).
			if !q.Percent && q.Decimals == 0 && i+1 < len(s) && s[i] == '/' && isDigit(s[i+1]) {
				d, after := scanNumber(s, i+1)
				if d.kind == tNum && d.dec == 0 && !d.pct && d.val != 0 {
					pos := q.Pos
					if splitFractions {
						dst = append(dst, q, Quantity{Value: d.val, Pos: i + 1})
						pos = i + 1 // keep positions in order
					}
					q = Quantity{Value: q.Value / d.val, Pos: pos, Fraction: true, Num: q.Value, Den: d.val}
					i = after
				}
			}
			// "2 dozen", "3 hundred".
			if m, after := multiplierWord(s, i); m > 0 && !q.Percent {
				q.Value *= m
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
			q := Quantity{Value: v, Pos: i, Word: true}
			i = j
			// "twenty-five", "twenty five".
			if v >= 20 && v < 100 && math.Mod(v, 10) == 0 && i+1 < len(s) && (s[i] == '-' || s[i] == ' ') {
				k := i + 1
				for k < len(s) && isASCIILetter(s[k]) {
					k++
				}
				if u, ok := spelledNumber(s[i+1 : k]); ok && u >= 2 && u <= 9 {
					q.Value += u
					i = k
				}
			}
			if v >= 2 && v < 100 && v == math.Trunc(v) {
				if m, after := multiplierWord(s, i); m > 0 {
					q.Value *= m
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

// Forms are the values a given quantity can take in a correct solution: 20 %
// is used as 20, 0.2, 1.2 or 0.8 (a rise or a cut), 80 or 120; "3/4" as 0.75,
// 3 or 4; "half" as 0.5 or 2; "a quarter" as 0.25 or 4.
func (q Quantity) Forms(dst []float64) []float64 {
	dst = append(dst, q.Value)
	switch {
	case q.Percent:
		p := q.Value
		dst = append(dst, p/100, 1+p/100, 1-p/100, 100-p, 100+p)
	case q.Fraction:
		dst = append(dst, q.Num, q.Den)
	case q.Word && q.Value < 1:
		dst = append(dst, 1/q.Value, 1-q.Value)
	}
	return dst
}

// Matches reports whether draft quantity d writes the value x, allowing for
// d's own rounding (0.33 for 1/3).
func (d Quantity) Matches(x float64) bool {
	tol := 1e-6 * math.Max(1, math.Max(math.Abs(x), math.Abs(d.Value)))
	if d.Decimals > 0 {
		tol = math.Max(tol, 0.5*math.Pow10(-int(d.Decimals)))
	}
	return math.Abs(d.Value-x) <= tol || d.Percent && math.Abs(d.Value/100-x) <= tol/100
}

// Fraction01 is the value as a fraction: 25% is 0.25.
func (q Quantity) Fraction01() float64 {
	if q.Percent {
		return q.Value / 100
	}
	return q.Value
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
