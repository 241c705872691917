package quality

import (
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The arithmetic signal finds statements like "12 * 4 = 48", "$3 + $5 = $8",
// "48/2 = 24 = 20 + 4", "20% of 50 is 10" or "7 / 3 ≈ 2.33" in the draft,
// recomputes both sides and scores the share that hold. Small models often
// reason correctly and then multiply wrong; this catches that exactly, in any
// language, without a model.
//
// Parsing is deliberately conservative: a side is checked only when it is a
// complete expression of numbers, + - * / ^, parentheses and percentages.
// Anything touching a variable, a unit glued to a number ("5kg", "2x") or
// code is skipped rather than guessed at.

type tokKind uint8

const (
	tNum tokKind = iota
	tOp
	tLP
	tRP
	tEq
	tBreak
)

type tok struct {
	kind   tokKind
	op     byte // tOp: + - * / ^
	val    float64
	dec    int8 // tNum: decimals written
	pct    bool // tNum: written with %
	approx bool // tEq: ≈ or "approximately"
	rem    bool // tBreak: a "remainder" word (integer division answers)
}

// maxStatements bounds the work on very long answers.
const maxStatements = 200

// arithmeticSignal recomputes the draft's arithmetic statements.
func arithmeticSignal(v *draftView, c *config) result {
	if len(v.text) == 0 {
		return result{}
	}
	var buf [256]tok
	toks := tokenizeMath(buf[:0], v.text)
	ok, bad := checkStatements(toks, c.o("arithmetic_tolerance"))
	v.calcOK = ok
	if ok+bad == 0 {
		return result{}
	}
	return result{
		score:   float64(ok) / float64(ok+bad),
		applies: true,
		detail:  strconv.Itoa(ok) + " of " + strconv.Itoa(ok+bad) + " calculations correct",
	}
}

// checkStatements walks runs of math tokens (between breaks), splits each at
// its equals signs and compares neighbouring sides.
func checkStatements(toks []tok, relTol float64) (ok, bad int) {
	for i := 0; i < len(toks) && ok+bad < maxStatements; {
		if toks[i].kind == tBreak {
			i++
			continue
		}
		j := i
		eqs := 0
		for j < len(toks) && toks[j].kind != tBreak {
			if toks[j].kind == tEq {
				eqs++
			}
			j++
		}
		if eqs > 0 {
			remAfter := j < len(toks) && toks[j].rem
			o, b := checkRun(toks[i:j], remAfter, relTol)
			ok += o
			bad += b
		}
		i = j
	}
	return ok, bad
}

// side is one parsed side of an equation.
type side struct {
	ok      bool
	val     float64 // percentages as fractions (20% = 0.2)
	alt     float64 // percentages as plain numbers (20% = 20)
	hasPct  bool
	hasOp   bool // a binary operator: something was computed
	literal bool // a single number
	dec     int8 // decimals of the literal
	rounded bool // an operand with 2+ decimals (likely itself rounded)
	first   float64
	firstOK bool
}

func checkRun(run []tok, remAfter bool, relTol float64) (ok, bad int) {
	// A leading ")" closes a list marker ("a) 3 + 4 = 7"), a trailing "(" opens a remark.
	for len(run) > 0 && run[0].kind == tRP {
		run = run[1:]
	}
	for len(run) > 0 && run[len(run)-1].kind == tLP {
		run = run[:len(run)-1]
	}
	if len(run) == 0 {
		return 0, 0
	}
	// A run that starts with an operator continues a symbolic expression
	// ("x - 3 + 2 = 5"): its first side is not all there.
	leadingOp := run[0].kind == tOp
	var sides [16]side
	var approx [16]bool
	n := 0
	start := 0
	for k := 0; k <= len(run) && n < len(sides); k++ {
		if k < len(run) && run[k].kind != tEq {
			continue
		}
		s := parseSide(run[start:k])
		if n == 0 && leadingOp {
			s.ok = false
		}
		sides[n] = s
		if k < len(run) {
			approx[n] = run[k].approx
		}
		n++
		start = k + 1
	}
	for k := 0; k+1 < n; k++ {
		a, b := &sides[k], &sides[k+1]
		if !a.ok || !b.ok || !(a.hasOp || b.hasOp) {
			continue
		}
		if k+2 == n && remAfter {
			continue // "17 / 5 = 3 remainder 2"
		}
		if sidesMatch(a, b, approx[k], relTol) {
			ok++
			continue
		}
		// "5 * 3 = 15 + 2 = 17" is a running total, sloppy but not wrong.
		if b.hasOp && b.firstOK && closeTo(b.first, a.val, relTol) {
			continue
		}
		bad++
	}
	return ok, bad
}

func sidesMatch(a, b *side, approx bool, relTol float64) bool {
	tol := 0.0
	if a.literal {
		tol = math.Max(tol, 0.5*math.Pow10(-int(a.dec)))
	}
	if b.literal {
		tol = math.Max(tol, 0.5*math.Pow10(-int(b.dec)))
	}
	rel := relTol
	if a.rounded || b.rounded {
		rel = math.Max(rel, 0.01)
	}
	if approx {
		rel = math.Max(rel, 0.02)
	}
	as := [2]float64{a.val, a.alt}
	bs := [2]float64{b.val, b.alt}
	na, nb := 1, 1
	if a.hasPct {
		na = 2
	}
	if b.hasPct {
		nb = 2
	}
	for i := 0; i < na; i++ {
		for j := 0; j < nb; j++ {
			x, y := as[i], bs[j]
			if math.Abs(x-y) <= math.Max(tol, rel*math.Max(math.Abs(x), math.Abs(y)))+1e-12 {
				return true
			}
		}
	}
	return false
}

func closeTo(x, y, rel float64) bool {
	return math.Abs(x-y) <= math.Max(1e-9, rel*math.Max(math.Abs(x), math.Abs(y)))
}

// parseSide evaluates one side twice: with percentages as fractions and as
// plain numbers ("(12 / 20) x 100 = 60%" is written that way on purpose).
func parseSide(ts []tok) side {
	var s side
	if len(ts) == 0 {
		return s
	}
	p := exprParser{ts: ts}
	v, ok := p.parse()
	if !ok || p.i != len(ts) {
		return s
	}
	s.ok, s.val, s.hasOp = true, v, p.binary > 0
	s.hasPct, s.rounded = p.pct, p.rounded
	if ts[0].kind == tNum {
		s.first, s.firstOK = ts[0].val, true
		if ts[0].pct {
			s.first /= 100
		}
	}
	if len(ts) == 1 && ts[0].kind == tNum {
		s.literal, s.dec = true, ts[0].dec
	}
	s.alt = v
	if s.hasPct {
		q := exprParser{ts: ts, pctPlain: true}
		if w, ok := q.parse(); ok {
			s.alt = w
		}
	}
	return s
}

// exprParser is a recursive-descent evaluator:
//
//	expr   = term  { ("+" | "-") term }
//	term   = power { ("*" | "/") power | "(" expr ")" }   (juxtaposed "(" multiplies)
//	power  = unary [ "^" power ]
//	unary  = "-" unary | number | "(" expr ")"
type exprParser struct {
	ts       []tok
	i        int
	pctPlain bool
	binary   int
	pct      bool
	rounded  bool
	depth    int
}

func (p *exprParser) parse() (float64, bool) {
	v, ok := p.expr()
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func (p *exprParser) peekOp(ops string) byte {
	if p.i < len(p.ts) && p.ts[p.i].kind == tOp {
		for k := 0; k < len(ops); k++ {
			if p.ts[p.i].op == ops[k] {
				return ops[k]
			}
		}
	}
	return 0
}

func (p *exprParser) expr() (float64, bool) {
	v, ok := p.term()
	if !ok {
		return 0, false
	}
	for {
		op := p.peekOp("+-")
		if op == 0 {
			return v, true
		}
		p.i++
		w, ok := p.term()
		if !ok {
			return 0, false
		}
		p.binary++
		if op == '+' {
			v += w
		} else {
			v -= w
		}
	}
}

func (p *exprParser) term() (float64, bool) {
	v, ok := p.power()
	if !ok {
		return 0, false
	}
	for {
		op := p.peekOp("*/")
		if op == 0 && p.i < len(p.ts) && p.ts[p.i].kind == tLP {
			op = '*' // 2(3 + 4)
		} else if op != 0 {
			p.i++
		}
		if op == 0 {
			return v, true
		}
		w, ok := p.power()
		if !ok {
			return 0, false
		}
		p.binary++
		if op == '*' {
			v *= w
		} else {
			if w == 0 {
				return 0, false
			}
			v /= w
		}
	}
}

func (p *exprParser) power() (float64, bool) {
	v, ok := p.unary()
	if !ok {
		return 0, false
	}
	if p.peekOp("^") == 0 {
		return v, true
	}
	p.i++
	w, ok := p.power()
	if !ok || math.Abs(w) > 64 {
		return 0, false
	}
	p.binary++
	return math.Pow(v, w), true
}

func (p *exprParser) unary() (float64, bool) {
	if p.depth > 32 || p.i >= len(p.ts) {
		return 0, false
	}
	t := &p.ts[p.i]
	switch t.kind {
	case tOp:
		if t.op != '-' {
			return 0, false
		}
		p.i++
		p.depth++
		v, ok := p.unary()
		p.depth--
		return -v, ok
	case tNum:
		p.i++
		v := t.val
		if t.pct {
			p.pct = true
			if !p.pctPlain {
				v /= 100
			}
		}
		if t.dec >= 2 {
			p.rounded = true
		}
		return v, true
	case tLP:
		p.i++
		p.depth++
		v, ok := p.expr()
		p.depth--
		if !ok || p.i >= len(p.ts) || p.ts[p.i].kind != tRP {
			return 0, false
		}
		p.i++
		return v, true
	}
	return 0, false
}

// tokenizeMath turns text into math tokens; everything else (words,
// punctuation, newlines, code) becomes a break.
func tokenizeMath(dst []tok, s string) []tok {
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
