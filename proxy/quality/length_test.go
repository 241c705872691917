package quality

import (
	"strings"
	"testing"
)

func words(n int) string { return strings.TrimSpace(strings.Repeat("word ", n)) }

func TestExplicitBound(t *testing.T) {
	for ask, want := range map[string]lengthBound{
		"describe it in under 50 words":   {unitWords, 50, '<'},
		"write a 500-word essay on tides": {unitWords, 500, '~'},
		"answer in three sentences":       {unitSentences, 3, '~'},
		"at least 2 paragraphs please":    {unitParagraphs, 2, '>'},
		"summarize in 100 words or less":  {unitWords, 100, '<'},
		"give me 4 lines":                 {unitLines, 4, '~'},
		"no more than 1,000 words":        {unitWords, 1000, '<'},
	} {
		got, ok := explicitBound(ask)
		if !ok || got != want {
			t.Errorf("explicitBound(%q) = %+v, %v; want %+v", ask, got, ok, want)
		}
	}
	for _, ask := range []string{"reset my password", "what is a deadline", "online shop words"} {
		if b, ok := explicitBound(ask); ok {
			t.Errorf("explicitBound(%q) = %+v, want none", ask, b)
		}
	}
}

func TestLengthSignal(t *testing.T) {
	c := defaults(t) // longform 700, code 150, explain 250, no-code 0.35
	for name, tc := range map[string]struct {
		ask, text string
		applies   bool
		lo, hi    float64
	}{
		"within word limit":   {"Describe Paris in under 50 words.", words(45), true, 1, 1},
		"over word limit":     {"Describe Paris in under 50 words.", words(130), true, 0, 0.5},
		"under lower bound":   {"Write at least 300 words about tides.", words(60), true, 0, 0.3},
		"essay too short":     {"Write an essay about the history of Rome.", strings.Repeat("x", 140), true, 0.19, 0.21},
		"essay long enough":   {"Write an essay about the history of Rome.", strings.Repeat("Rome grew. ", 80), true, 1, 1},
		"code without code":   {"Implement a function that reverses a list.", strings.Repeat("You can reverse it by swapping ends. ", 10), true, 0.3, 0.35},
		"code with code":      {"Implement a function that reverses a list.", "Here it is:\n```python\ndef rev(xs):\n    return xs[::-1]\n```\nThis returns a reversed copy of the list you pass in, leaving the original untouched; slicing with a negative step walks backwards.", true, 1, 1},
		"no expectation":      {"Hi there", "Hello!", false, 0, 0},
		"problem, work shown": {"Tom has 3 bags with 4 apples each. How many apples does he have?", "Each bag has 4 apples and there are 3 bags, so 3 * 4 = 12 apples.", true, 1, 1},
		"problem, bare":       {"Tom has 3 bags with 4 apples each and gives away 5. How many apples does he have left?", "7", true, 0, 0.05},
	} {
		t.Run(name, func(t *testing.T) {
			r := lengthSignal(view(ask(tc.ask), answer(tc.text)), c)
			if r.applies != tc.applies || (tc.applies && (r.score < tc.lo || r.score > tc.hi)) {
				t.Fatalf("got %+v, want applies=%v score in [%v, %v]", r, tc.applies, tc.lo, tc.hi)
			}
		})
	}
}

func TestInstructionWindowReadsHeadAndTail(t *testing.T) {
	// A long pasted document mentioning essays must not make a yes/no question a long-form request.
	doc := strings.Repeat("This essay and this blog post were written for the report. ", 60)
	q := doc + "\n\nIs the author named anywhere above?"
	r := lengthSignal(view(ask(q), answer("No.")), defaults(t))
	if r.applies {
		t.Fatalf("got %+v, want no length expectation from pasted material", r)
	}
}

func TestHasCode(t *testing.T) {
	if !hasCode("x:\n```go\nfmt.Println(1)\n```") || !hasCode("def f():\n    a = 1\n    return a\n") {
		t.Fatal("code not recognised")
	}
	if hasCode("Just some prose about functions and returns.") {
		t.Fatal("prose recognised as code")
	}
}
