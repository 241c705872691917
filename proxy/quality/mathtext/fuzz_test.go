package mathtext

import (
	"math"
	"strconv"
	"testing"
)

// Seeds cover every kind of token and the tricky spots of the grammar.
var seeds = []string{
	"12 * 4 = 48", "$3 + $5 = $8", "20% of 50 is 10", "7 / 3 ≈ 2.33", "2(3 + 4) = 14", "2^10 = 1024",
	"3x4 = 12", "10 divided by 4 is 2.5", "17 / 5 = 3 remainder 2", "```x = 1 + 1 = 3```", "`a = 2`",
	"((((((((((1))))))))))", "1 / 0 = 5", "9^99 = 1", "-(-(-3)) = -3", "1,234.5678% = 12.345678",
	"= = = 3 ==> 4", "5 \\* 3 = 15", "**5 + 3 = 8**", "a) 3 + 4 = 7", "≈", "×÷−·", "\u00a01 + 1 = 2",
	"twenty-five dozen", ".5", "4th", "3/0", "two-", "a1 2b 3_", "60/4 = 15", "1,000.50%",
}

// FuzzTokenize checks the tokenizer's invariants on any text: it does not
// panic, numbers are finite and non-negative, operators are the five known
// ones, and breaks never repeat.
func FuzzTokenize(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := tokenize(nil, s)
		for i, tk := range toks {
			switch tk.kind {
			case tNum:
				if math.IsNaN(tk.val) || math.IsInf(tk.val, 0) || tk.val < 0 || tk.dec < 0 || tk.dec > 12 {
					t.Fatalf("%q: bad number token %+v", s, tk)
				}
			case tOp:
				if tk.op != '+' && tk.op != '-' && tk.op != '*' && tk.op != '/' && tk.op != '^' {
					t.Fatalf("%q: unknown operator %q", s, tk.op)
				}
			case tBreak:
				if i > 0 && toks[i-1].kind == tBreak {
					t.Fatalf("%q: two breaks in a row at %d", s, i)
				}
			case tLP, tRP, tEq:
			default:
				t.Fatalf("%q: unknown token kind %d", s, tk.kind)
			}
		}
	})
}

// FuzzCheckArithmetic checks that any text is checked without panicking,
// within the statement bound, the same way twice, and that parsing a side
// never yields a value that is not finite.
func FuzzCheckArithmetic(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := CheckArithmetic(s, 1e-4)
		if got.Correct < 0 || got.Wrong < 0 || got.Correct+got.Wrong > maxStatements+16 {
			t.Fatalf("%q: tally %+v out of bounds", s, got)
		}
		if again := CheckArithmetic(s, 1e-4); again != got {
			t.Fatalf("%q: %+v then %+v", s, got, again)
		}
		toks := tokenize(nil, s)
		for i := 0; i < len(toks); i++ {
			for j := i + 1; j <= len(toks) && j <= i+8; j++ {
				if sd := parseSide(toks[i:j]); sd.ok && (math.IsNaN(sd.val) || math.IsInf(sd.val, 0)) {
					t.Fatalf("%q: side %v parsed to %v", s, toks[i:j], sd.val)
				}
			}
		}
	})
}

// FuzzExpression checks the evaluator against Go's own arithmetic: a true
// statement about two numbers is always found correct, a false one wrong.
func FuzzExpression(f *testing.F) {
	f.Add(uint16(12), uint16(4), byte('*'), int8(0))
	f.Add(uint16(0), uint16(7), byte('-'), int8(1))
	f.Add(uint16(65535), uint16(65535), byte('+'), int8(-3))
	f.Add(uint16(9), uint16(3), byte('/'), int8(0))
	f.Fuzz(func(t *testing.T, a, b uint16, op byte, off int8) {
		x, y := float64(a), float64(b)
		var want float64
		switch op % 4 {
		case 0:
			op, want = '+', x+y
		case 1:
			op, want = '-', x-y
		case 2:
			op, want = '*', x*y
		default:
			if b == 0 || a%b != 0 {
				return // a rounded quotient is a different claim
			}
			op, want = '/', x/y
		}
		claim := want + float64(off)
		text := "So " + strconv.Itoa(int(a)) + " " + string(op) + " " + strconv.Itoa(int(b)) + " = " + strconv.FormatFloat(claim, 'f', -1, 64) + "."
		got := CheckArithmetic(text, 0)
		switch {
		case off == 0 && got != (Tally{Correct: 1}):
			t.Fatalf("%q: %+v, want it correct", text, got)
		case off != 0 && got != (Tally{Wrong: 1}):
			t.Fatalf("%q: %+v, want it wrong", text, got)
		}
	})
}

// FuzzScanQuantities checks that any text scans without panicking, with
// positions inside the text and in order, and values that are numbers.
func FuzzScanQuantities(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, split := range []bool{false, true} {
			last := -1
			qs := ScanQuantities(nil, s, split)
			if len(qs) > maxQuantities+1 {
				t.Fatalf("%q: %d quantities, over the bound", s, len(qs))
			}
			for _, q := range qs {
				if q.Pos < 0 || q.Pos >= len(s) || q.Pos < last || math.IsNaN(q.Value) {
					t.Fatalf("%q: quantity %+v out of place (previous at %d)", s, q, last)
				}
				last = q.Pos
			}
		}
	})
}
