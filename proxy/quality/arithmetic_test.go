package quality

import (
	"testing"
)

func TestArithmeticSignalScoresShareCorrect(t *testing.T) {
	text := "First 3 * 4 = 12 eggs. Then 12 + 5 = 17. Then 17 * 2 = 36. So 36 - 6 = 30."
	r := arithmeticSignal(view(ask("q"), answer(text)).calc)
	if !r.applies || r.score != 0.75 || r.detail != "3 of 4 calculations correct" {
		t.Fatalf("got %+v, want 3 of 4 correct", r)
	}
	if r := arithmeticSignal(view(ask("q"), answer("No numbers here.")).calc); r.applies {
		t.Fatalf("got %+v, want not applicable", r)
	}
}
