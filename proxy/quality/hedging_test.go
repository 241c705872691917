package quality

import (
	"strings"
	"testing"
)

func TestHedgingSignal(t *testing.T) {
	c := defaults(t) // hedge_penalty 0.12, floor 0.3
	for name, tc := range map[string]struct {
		ask, text string
		score     float64
	}{
		"confident":          {"What is 2+2?", "2 + 2 = 4.", 1},
		"one strong hedge":   {"What year did it open?", "I'm not sure, but it opened in 1998.", 0.88},
		"two strong hedges":  {"Who wrote it?", "I don't know. I might be wrong about the author entirely, sadly.", 1 - 0.12*2.25}, // "might be" is also a weak hedge
		"floor":              {"Who wrote it?", strings.Repeat("I'm not sure. ", 20), 0.3},
		"clarification":      {"Fix my code", "Could you share the code you are running?", 0.88},
		"indeterminacy":      {"What is x?", "The value of x cannot be determined from this.", 0.88},
		"asked to determine": {"Can we determine x from these clues?", "No: x cannot be determined from the clues.", 1},
		"asked to correct":   {"Identify and fix one incorrect fact in your previous response.", "I made a mistake: the year was 1958, not 1957.", 1},
		"weak hedges, long":  {"Explain tides.", strings.Repeat("Tides are caused by the moon and perhaps the sun. ", 40), 1 - 0.12*0.25*40/2},
	} {
		t.Run(name, func(t *testing.T) {
			r := hedgingSignal(view(ask(tc.ask), answer(tc.text)), c)
			if !r.applies || abs(r.score-tc.score) > 1e-9 {
				t.Fatalf("got %+v, want score %v", r, tc.score)
			}
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
