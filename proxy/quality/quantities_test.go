package quality

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func values(qs []quantity) []float64 {
	out := make([]float64, len(qs))
	for i, q := range qs {
		out[i] = math.Round(q.val*1e6) / 1e6
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
		got := values(scanQuantities(nil, text, false))
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v, want %v", text, got, want)
		}
	}
	// In an answer, a fraction's parts count too: "60/4 = 15" uses 60 and 4.
	if got, want := values(scanQuantities(nil, "60/4 = 15", true)), []float64{60, 4, 15, 15}; !reflect.DeepEqual(got, want) {
		t.Errorf("split fraction: got %v, want %v", got, want)
	}
}

// wordProblem is a question with four given quantities (25, 1, 20 %, 2).
const wordProblem = "A basket contains 25 oranges among which 1 is bad, 20% are unripe, 2 are sour and the rest are good. How many oranges are good?"

func TestCoverageSignal(t *testing.T) {
	c := defaults(t)
	full := "20% of 25 is 0.2 x 25 = 5 unripe. With 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good, so 25 - 8 = 17 are good."
	r := coverageSignal(view(ask(wordProblem), answer(full)), c)
	if !r.applies || r.score != 1 || r.detail != "4 of 4 given quantities used" {
		t.Fatalf("complete solution: got %+v, want 1 and 4 of 4", r)
	}
	// The bad orange is dropped: one unused quantity costs coverage_unused_score.
	dropped := "25 * 20/100 = 5 are unripe. So 5 + 2 = 7 are not good, and 25 - 7 = 18 are good."
	r = coverageSignal(view(ask(wordProblem), answer(dropped)), c)
	if !r.applies || r.score != 0.6 || r.detail != "3 of 4 given quantities used" {
		t.Fatalf("dropped quantity: got %+v, want 0.6 and 3 of 4", r)
	}
	// Two unused: 0.6².
	r = coverageSignal(view(ask(wordProblem), answer("25 - 5 = 20 oranges are good, and 20 of 25 is most of them.")), c)
	if math.Abs(r.score-0.36) > 1e-12 {
		t.Fatalf("two unused: got %+v, want 0.36", r)
	}
	// Percentages may be used as a cut: 20% off $50 is 0.8 × 50.
	r = coverageSignal(view(ask("A coat costs $50 and is 20% off. How much does it cost now?"), answer("0.8 * 50 = 40, so it costs $40.")), c)
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
		if r := coverageSignal(view(ask(tc[0]), answer(tc[1])), c); r.applies {
			t.Errorf("%s: got %+v, want not applicable", name, r)
		}
	}
}

func TestAnswerSignal(t *testing.T) {
	c := defaults(t)
	q := "A boat takes on 2 liters of water every 10 feet. The shore is 64 feet away. How much water does it take on?"
	for _, tc := range []struct {
		name, question, draft string
		score                 float64
		detail                string
	}{
		{"more precise than the data", q, "64 / 10 = 6.4 stretches, so 6.4 * 2 = 12.8 liters.\nIt takes on 12.8 liters.", 0.5, "answer more precise than the data"},
		{"whole answer", q, "64 / 10 * 2 = 12.8, about 13.\n#### 13", 1, "one answer, as precise as the data"},
		{"as precise as the data", "A lemon sells for $1.5 and a tree gives 7 lemons. How much do 3 trees earn?", "7 * 1.5 = 10.5 per tree; 3 * 10.5 = 31.5.\nThey earn $31.5.", 1, "one answer, as precise as the data"},
		{"probability", "Two dice are rolled. What is the probability of a total of at least 3?", "35 / 36 = 0.9722\nThe probability is 0.9722.", 1, "one answer, as precise as the data"},
		{"restated givens are not candidates", "Two dice are rolled. What is the probability of a total of at least 3?", "35 / 36 = 0.97\nThe probability of at least 3 is 0.9722, or 97.22%.", 1, "one answer, as precise as the data"},
		{"candidates", "It takes 1.5 minutes to peel a potato and 5 seconds to cut it. How many minutes do 60 potatoes take?", "60 * 1.5 = 90 minutes.\n#### 90 minutes or 95 minutes", 0.5, "several numbers in the final statement"},
		{"several numbers asked for", "It takes 1.5 minutes to peel a potato and 5 seconds to cut it. How long do 60 potatoes take?", "60 * 1.5 = 90 minutes, 60 * 5 = 300 seconds.\nThat is 90 minutes and 300 seconds.", 1, "one answer, as precise as the data"},
		{"prose without calculations", "Our server has 2 cores and 8 GB of memory. How many worker processes should we run?", "With 2 cores, CPU-bound work gains nothing beyond one process per core, and 8 GB leaves room.\nRun 4 workers if the work waits on I/O.", 1, "one answer, as precise as the data"},
		{"repair", "A mechanic earns $60 per truck tire and $40 per car tire. He fixes 6 truck tires on Monday and 12 car tires on Tuesday. How much more did he earn on the better day?", "6 * 60 = 360 and 12 * 40 = 480. 360 - 480 = -120. However, since this is a negative number, Tuesday was better.\n#### 120", 0.5, "patches an impossible result"},
		{"not reached by the work", "A shirt costs $12 and a hat costs $8. How much do 2 shirts and a hat cost?", "2 * 12 = 24 for the shirts, and the hat is 8.\nSo the total is $34.", 0.5, "answer not reached by the work"},
		{"reached by the work", "A shirt costs $12 and a hat costs $8. How much do 2 shirts and a hat cost?", "2 * 12 = 24 for the shirts, 24 + 8 = 32 in all.\nSo the total is $32.", 1, "one answer, as precise as the data"},
		{"three flaws", q, "64 / 10 = 6.4 stretches. However, since this is not a whole number, round.\nIt takes on 12.8 liters.", 0.125, "patches an impossible result, answer more precise than the data, answer not reached by the work"},
	} {
		r := answerSignal(view(ask(tc.question), answer(tc.draft)), c)
		if !r.applies || math.Abs(r.score-tc.score) > 1e-12 || r.detail != tc.detail {
			t.Errorf("%s: got %+v, want score %v (%s)", tc.name, r, tc.score, tc.detail)
		}
	}
	if r := answerSignal(view(ask("Tell me about Paris."), answer("It has 2 million people, or 2.1 million.")), c); r.applies {
		t.Errorf("not a word problem: got %+v, want not applicable", r)
	}
}

func TestCheckedWorkLowersTheComplexityPenalty(t *testing.T) {
	g, err := New(nil, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := ask(wordProblem)
	checked := g.Evaluate(ctx, req, answer("20% of 25 is 0.2 x 25 = 5 unripe.\nWith 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good.\nSo 25 - 8 = 17 oranges are good.\n#### 17"), nil)
	cx, ok := checked.Signal(SignalComplexity)
	if !ok || !strings.Contains(cx.Detail, "calculations checked") {
		t.Fatalf("complexity signal %+v, want checked work noted", cx)
	}
	// Three correct calculations are full evidence: half the penalty goes.
	want := 1 - 0.5*checked.Complexity.Score*(1-0.5)
	if math.Abs(cx.Score-want) > 1e-12 {
		t.Fatalf("complexity signal %v, want %v", cx.Score, want)
	}
	// The same work without the bad orange: coverage flags it and the prior
	// stays whole.
	unchecked := g.Evaluate(ctx, req, answer("20% of 25 is 0.2 x 25 = 5 unripe.\nWith 2 sour, 5 + 2 = 7 are not good.\nSo 25 - 7 = 18 oranges are good.\n#### 18"), nil)
	cx2, _ := unchecked.Signal(SignalComplexity)
	if want := 1 - 0.5*unchecked.Complexity.Score; math.Abs(cx2.Score-want) > 1e-12 {
		t.Fatalf("complexity signal with a dropped quantity %v, want the full prior %v", cx2.Score, want)
	}
	if unchecked.Score >= checked.Score {
		t.Fatalf("dropped quantity scored %v, not below the complete solution's %v", unchecked.Score, checked.Score)
	}
	// With the arithmetic signal off nothing is checked.
	g0, _ := New(&rules.Gate{Weights: map[string]float64{SignalArithmetic: 0}}, 0.7)
	d0 := g0.Evaluate(ctx, req, answer("20% of 25 is 0.2 x 25 = 5 unripe.\nWith 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good.\nSo 25 - 8 = 17 oranges are good."), nil)
	if cx0, _ := d0.Signal(SignalComplexity); cx0.Score != 1-0.5*d0.Complexity.Score {
		t.Fatalf("arithmetic off: complexity signal %v, want the full prior", cx0.Score)
	}
}

// Checked work is weighed against the steps the problem needs: a problem
// giving n quantities takes at least n-1 operations, so fewer correct
// calculations vouch for it only in part.
func TestCheckedWorkCountsAgainstTheStepsNeeded(t *testing.T) {
	g, err := New(nil, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := ask(wordProblem) // 25, 1, 20 %, 2: four quantities, three steps
	// Two correct calculations that still mention every quantity.
	d := g.Evaluate(ctx, req, answer("Unripe: the 20% are 0.2 x 25 = 5. Not good: the 5 unripe, 1 bad and 2 sour, 8 in all.\nSo 25 - 8 = 17 oranges are good.\n#### 17"), nil)
	cx, ok := d.Signal(SignalComplexity)
	if !ok || !strings.Contains(cx.Detail, "2 calculations checked") {
		t.Fatalf("complexity signal %+v, want 2 calculations checked", cx)
	}
	if want := 1 - 0.5*d.Complexity.Score*(1-0.5*2.0/3); math.Abs(cx.Score-want) > 1e-12 {
		t.Fatalf("complexity signal %v, want %v (two of three steps checked)", cx.Score, want)
	}
	// A problem giving three quantities needs two steps: two correct
	// calculations are full evidence.
	req3 := ask("A basket contains 25 oranges among which 20% are unripe and 2 are sour; the rest are good. How many oranges are good?")
	d3 := g.Evaluate(ctx, req3, answer("Unripe: the 20% are 0.2 x 25 = 5.\nSo 25 - 5 - 2 = 18 oranges are good.\n#### 18"), nil)
	cx3, _ := d3.Signal(SignalComplexity)
	if want := 1 - 0.5*d3.Complexity.Score*(1-0.5); math.Abs(cx3.Score-want) > 1e-12 {
		t.Fatalf("three-quantity problem: complexity signal %v (%s), want %v (fully checked)", cx3.Score, cx3.Detail, want)
	}
}

// FuzzScanQuantities checks that any text scans without panicking, with
// positions inside the text and in order, and that answer checks hold up.
func FuzzScanQuantities(f *testing.F) {
	for _, s := range []string{wordProblem, "60/4 = 15", "twenty-five dozen", ".5", "4th", "1,000.50%", "3/0", "two-", "a1 2b 3_"} {
		f.Add(s)
	}
	c, err := resolve(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, split := range []bool{false, true} {
			last := -1
			for _, q := range scanQuantities(nil, s, split) {
				if q.pos < 0 || q.pos >= len(s) || q.pos < last || math.IsNaN(q.val) {
					t.Fatalf("%q: quantity %+v out of place (previous at %d)", s, q, last)
				}
				last = q.pos
			}
		}
		req := ask(wordProblem)
		for _, r := range []result{coverageSignal(view(req, answer(s)), c), answerSignal(view(req, answer(s)), c)} {
			if r.applies && !(r.score >= 0 && r.score <= 1) {
				t.Fatalf("%q: score %v outside [0, 1]", s, r.score)
			}
		}
	})
}
