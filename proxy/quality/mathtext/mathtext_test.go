package mathtext

import (
	"math"
	"reflect"
	"testing"
)

func countStatements(text string) (ok, bad int) {
	return checkStatements(tokenize(nil, text), 1e-4)
}

func TestArithmeticStatements(t *testing.T) {
	for text, want := range map[string][2]int{
		// Worked examples as models write them.
		"12 * 4 = 48":     {1, 0},
		"48/2 = 24":       {1, 0},
		"$3 + $5 = $8":    {1, 0},
		"20% of 50 is 10": {1, 0},
		"12 * 4 = 46":     {0, 1},
		"20% of 50 is 12": {0, 1},
		// Notation.
		"12 × 4 = 48 and 12 ÷ 4 = 3":   {2, 0},
		"5 \\* 3 = 15":                 {1, 0},
		"4 x 12 + 5 = 49":              {0, 1},
		"3x4 = 12":                     {1, 0},
		"3 times 4 equals 12":          {1, 0},
		"10 divided by 4 is 2.5":       {1, 0},
		"2^10 = 1024":                  {1, 0},
		"2(3 + 4) = 14":                {1, 0},
		"125 + 6*(41-20) = $313":       {0, 1},
		"1,350 + 2,100 = 3,450":        {1, 0},
		"**Total: 5 + 3 = 8**":         {1, 0},
		"- 5 - 8 = -3":                 {0, 0}, // the run starts with an operator: skipped
		"so 5 - 8 = -3.":               {1, 0},
		"3/4 of 12 = 9":                {1, 0},
		"1/3 * 1/2 = 1/6":              {1, 0},
		"a) 3 + 4 = 7":                 {1, 0},
		"1. 5 + 3 = 8":                 {1, 0},
		"Total = 5 + 3 = 8 apples.":    {1, 0},
		"It takes 10 - 5 = 5 minutes.": {1, 0},
		// Percentages either way.
		"(12 / 20) x 100 = 60%": {1, 0},
		"(12 / 20) x 100 = 55%": {0, 1},
		"20% + 30% = 50%":       {1, 0},
		"$2 * (1 + 150%) = $5":  {1, 0},
		// Rounding and approximation.
		"7 / 3 = 2.33":                 {1, 0},
		"7 / 3 ≈ 2.3":                  {1, 0},
		"11 / 36 = approximately 0.31": {1, 0},
		"7 / 3 = 2.5":                  {0, 1},
		"0.33 x 60 = 20":               {1, 0}, // a rounded operand: 1 % slack
		"(520 * 450) / 468 = 487.57":   {0, 1},
		// Chains and running totals.
		"2 + 1/2 = 5/2 = 2.5":               {2, 0},
		"(65 + 94 + 81) / 3 = 240 / 3 = 80": {2, 0},
		"5 * 3 = 15 + 2 = 17":               {1, 0},
		"600 + 150 + 1200 = $2950":          {0, 1},
		// Things that are not arithmetic claims.
		"x - 3 + 2 = 5":                  {0, 0},
		"2x + 3 = 11":                    {0, 0},
		"5kg + 3kg = 8kg":                {0, 0},
		"17 / 5 = 3 remainder 2":         {0, 0},
		"on 2022-01-01 at 10:30":         {0, 0},
		"x = 5":                          {0, 0},
		"2019 = 2019":                    {0, 0},
		"```python\nx = 10 / 3 = 3\n```": {0, 0},
		"Use `a = 2 + 2 = 5` here":       {0, 0},
		"version 1.2.3 = 4":              {0, 0},
		"(20k + 8) / 5 = 4k + 1.6":       {0, 0},
	} {
		ok, bad := countStatements(text)
		if ok != want[0] || bad != want[1] {
			t.Errorf("%q: %d correct, %d wrong; want %d, %d", text, ok, bad, want[0], want[1])
		}
	}
}

func values(qs []Quantity) []float64 {
	out := make([]float64, len(qs))
	for i, q := range qs {
		out[i] = math.Round(q.Value*1e6) / 1e6
	}
	return out
}

func TestScanQuantities(t *testing.T) {
	for text, want := range map[string][]float64{
		"She sells 16 eggs for $2 each.":               {16, 2},
		"It costs $1,250.50 and 20% tax.":              {1250.5, 20},
		"A stamp costs $.25 here.":                     {0.25},
		"He gave 3/4 of the 12 apples away.":           {0.75, 12},
		"three friends and twenty-five pens":           {3, 25},
		"two dozen eggs and 2 dozen rolls":             {24, 24},
		"two hundred people, 3 thousand cars":          {200, 3000},
		"twice as many, half as much, a quarter of it": {2, 0.5, 0.25},
		"Twenty Dozen cups":                            {240},
		// Names, positions and the pronoun "one" are not amounts.
		"on the 4th of July, the 21st time":   nil,
		"model A4 and version v2 with x3":     nil,
		"one of them ate one apple":           nil,
		"Someone often says nothing twofold.": nil,
		"It is 1.5 hours; step 2.":            {1.5, 2},
		"the 400-meter race took 60 seconds.": {400, 60},
	} {
		got := values(ScanQuantities(nil, text, false))
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v, want %v", text, got, want)
		}
	}
	// In an answer, a fraction's parts count too: "60/4 = 15" uses 60 and 4.
	if got, want := values(ScanQuantities(nil, "60/4 = 15", true)), []float64{60, 4, 15, 15}; !reflect.DeepEqual(got, want) {
		t.Errorf("split fraction: got %v, want %v", got, want)
	}
}

func TestCheckArithmeticCountsEveryStatement(t *testing.T) {
	got := CheckArithmetic("First 3 * 4 = 12 eggs. Then 12 + 5 = 17. Then 17 * 2 = 36. So 36 - 6 = 30.", 1e-4)
	if got != (Tally{Correct: 3, Wrong: 1}) {
		t.Fatalf("got %+v, want 3 correct and 1 wrong", got)
	}
	if got := CheckArithmetic("", 1e-4); got != (Tally{}) {
		t.Fatalf("empty text: got %+v", got)
	}
	// The tolerance is the caller's: 1 % accepts a rounded result.
	if got := CheckArithmetic("200 / 3 = 66.0", 0.02); got.Correct != 1 {
		t.Fatalf("2 %% tolerance: got %+v, want the statement accepted", got)
	}
	if got := CheckArithmetic("200 / 3 = 66.0", 1e-4); got.Wrong != 1 {
		t.Fatalf("0.01 %% tolerance: got %+v, want the statement refused", got)
	}
	// Very long answers are checked up to a bound.
	long := ""
	for range 500 {
		long += "1 + 1 = 2. "
	}
	if got := CheckArithmetic(long, 1e-4); got.Correct != maxStatements {
		t.Fatalf("long answer: got %+v, want %d checked", got, maxStatements)
	}
}

func TestQuantityForms(t *testing.T) {
	qs := ScanQuantities(nil, "20% and 3/4 and half", false)
	if len(qs) != 3 {
		t.Fatalf("got %+v", qs)
	}
	for i, want := range [][]float64{{20, 0.2, 1.2, 0.8, 80, 120}, {0.75, 3, 4}, {0.5, 2, 0.5}} {
		got := qs[i].Forms(nil)
		for k := range got {
			got[k] = math.Round(got[k]*1e9) / 1e9
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("forms of %+v = %v, want %v", qs[i], got, want)
		}
	}
	if f := qs[0].Fraction01(); f != 0.2 {
		t.Errorf("20%% as a fraction = %v", f)
	}
	third := ScanQuantities(nil, "0.33", false)[0]
	if !third.Matches(1.0/3) || third.Matches(0.34) {
		t.Error("0.33 should match 1/3 (its own rounding) and not 0.34")
	}
	if pct := ScanQuantities(nil, "25%", false)[0]; !pct.Matches(0.25) || !pct.Matches(25) {
		t.Error("25% should match 25 and 0.25")
	}
}
