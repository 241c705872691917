package mathtext

import (
	"math"
	"sync"
)

// Tally counts the arithmetic statements of a text that recompute and those
// that do not.
type Tally struct {
	Correct, Wrong int
}

// CheckArithmetic finds statements like "12 * 4 = 48", "$3 + $5 = $8",
// "48/2 = 24 = 20 + 4", "20% of 50 is 10" or "7 / 3 ≈ 2.33" in text,
// recomputes both sides and counts those that hold within the relative
// tolerance relTol (more for rounded or approximate sides).
//
// Parsing is deliberately conservative: a side is checked only when it is a
// complete expression of numbers, + - * / ^, parentheses and percentages.
// Anything touching a variable, a unit glued to a number ("5kg", "2x") or
// code is skipped rather than guessed at.
func CheckArithmetic(text string, relTol float64) Tally {
	if len(text) == 0 {
		return Tally{}
	}
	buf := tokPool.Get().(*[]tok)
	toks := tokenize((*buf)[:0], text)
	ok, bad := checkStatements(toks, relTol)
	if cap(toks) <= maxPooledTokens {
		*buf = toks[:0]
		tokPool.Put(buf)
	}
	return Tally{Correct: ok, Wrong: bad}
}

// tokPool keeps token buffers between checks: every gate decision checks
// its draft, and a fresh buffer per check was the gate's largest
// allocation (a tail-latency cost through the garbage collector).
var tokPool = sync.Pool{New: func() any {
	b := make([]tok, 0, 256)
	return &b
}}

// maxPooledTokens bounds the buffers kept: a very long answer's buffer is
// left to the garbage collector.
const maxPooledTokens = 4096

// maxStatements bounds the work on very long answers.
const maxStatements = 200

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
