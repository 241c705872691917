package quality

import (
	"testing"
)

func countStatements(text string) (ok, bad int) {
	return checkStatements(tokenizeMath(nil, text), 1e-4)
}

func TestArithmeticStatements(t *testing.T) {
	for text, want := range map[string][2]int{
		// The examples of the brief.
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

func TestArithmeticSignalScoresShareCorrect(t *testing.T) {
	c := defaults(t)
	text := "First 3 * 4 = 12 eggs. Then 12 + 5 = 17. Then 17 * 2 = 36. So 36 - 6 = 30."
	r := arithmeticSignal(view(ask("q"), answer(text)), c)
	if !r.applies || r.score != 0.75 || r.detail != "3 of 4 calculations correct" {
		t.Fatalf("got %+v, want 3 of 4 correct", r)
	}
	if r := arithmeticSignal(view(ask("q"), answer("No numbers here.")), c); r.applies {
		t.Fatalf("got %+v, want not applicable", r)
	}
}
