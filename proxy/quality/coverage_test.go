package quality

import (
	"math"
	"testing"
)

// wordProblem is a question with four given quantities (25, 1, 20 %, 2).
const wordProblem = "A basket contains 25 oranges among which 1 is bad, 20% are unripe, 2 are sour and the rest are good. How many oranges are good?"

func TestCoverageSignal(t *testing.T) {
	c := defaults(t)
	full := "20% of 25 is 0.2 x 25 = 5 unripe. With 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good, so 25 - 8 = 17 are good."
	r := coverageSignal(&view(ask(wordProblem), answer(full)).math, c)
	if !r.applies || r.score != 1 || r.detail != "4 of 4 given quantities used" {
		t.Fatalf("complete solution: got %+v, want 1 and 4 of 4", r)
	}
	// The bad orange is dropped: one unused quantity costs coverage_unused_score.
	dropped := "25 * 20/100 = 5 are unripe. So 5 + 2 = 7 are not good, and 25 - 7 = 18 are good."
	r = coverageSignal(&view(ask(wordProblem), answer(dropped)).math, c)
	if !r.applies || r.score != 0.6 || r.detail != "3 of 4 given quantities used" {
		t.Fatalf("dropped quantity: got %+v, want 0.6 and 3 of 4", r)
	}
	// Two unused: 0.6².
	r = coverageSignal(&view(ask(wordProblem), answer("25 - 5 = 20 oranges are good, and 20 of 25 is most of them.")).math, c)
	if math.Abs(r.score-0.36) > 1e-12 {
		t.Fatalf("two unused: got %+v, want 0.36", r)
	}
	// Percentages may be used as a cut: 20% off $50 is 0.8 × 50.
	r = coverageSignal(&view(ask("A coat costs $50 and is 20% off. How much does it cost now?"), answer("0.8 * 50 = 40, so it costs $40.")).math, c)
	if r.score != 1 {
		t.Fatalf("percentage as a cut: got %+v, want every quantity used", r)
	}
	for name, tc := range map[string][2]string{
		"not a problem":  {"Write a poem about 3 cats and 2 dogs.", "Three cats, two dogs, and 5 lines of verse."},
		"no work shown":  {wordProblem, "17."},
		"one quantity":   {"How many legs do 4 cats have?", "4 * 4 = 16 legs."},
		"no question":    {"I have 3 apples and 4 pears.", "So 3 + 4 = 7 fruits."},
		"plain question": {"What is the capital of France?", "Paris, since 1 and 2."},
	} {
		if r := coverageSignal(&view(ask(tc[0]), answer(tc[1])).math, c); r.applies {
			t.Errorf("%s: got %+v, want not applicable", name, r)
		}
	}
}

// FuzzWordProblemSignals checks that any draft of a word problem scores in
// [0, 1] on the coverage and answer signals.
func FuzzWordProblemSignals(f *testing.F) {
	for _, s := range []string{wordProblem, "60/4 = 15", "twenty-five dozen", ".5", "4th", "1,000.50%", "3/0", "two-", "a1 2b 3_",
		"25 - 8 = 17\n#### 17", "However, since 5 - 8 = -3 is negative,\n#### 3 or 4"} {
		f.Add(s)
	}
	o := defaults(f)
	f.Fuzz(func(t *testing.T, s string) {
		a := view(ask(wordProblem), answer(s))
		for _, r := range []result{coverageSignal(&a.math, o), answerSignal(a, o)} {
			if r.applies && !(r.score >= 0 && r.score <= 1) {
				t.Fatalf("%q: score %v outside [0, 1]", s, r.score)
			}
		}
	})
}
