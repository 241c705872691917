package quality

import (
	"math"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func withLogprobs(ps ...float64) *llm.Response {
	r := answer("text")
	for _, p := range ps {
		r.Logprobs = append(r.Logprobs, llm.TokenLogprob{Token: "t", Logprob: math.Log(p)})
	}
	return r
}

func TestLogprobSignal(t *testing.T) {
	c := defaults(t) // low 0.5, high 0.9
	if r := logprobSignal(view(ask("q"), answer("x")), c); r.applies {
		t.Fatalf("no logprobs: %+v, want not applicable", r)
	}
	if r := logprobSignal(view(ask("q"), withLogprobs(0.95, 0.99, 0.97, 0.92)), c); r.score != 1 {
		t.Fatalf("confident draft: %+v, want 1", r)
	}
	// Geometric mean 0.7 → halfway between 0.5 and 0.9; no token below 0.1.
	if r := logprobSignal(view(ask("q"), withLogprobs(0.7, 0.7, 0.7, 0.7)), c); math.Abs(r.score-0.5) > 1e-9 {
		t.Fatalf("geometric mean 0.7: %+v, want 0.5", r)
	}
	// 2 of 10 tokens below 0.1: share 0.2, penalty factor 1 - 2*(0.2-0.05) = 0.7.
	ps := []float64{0.05, 0.05, 1, 1, 1, 1, 1, 1, 1, 1}
	gm := math.Exp((2 * math.Log(0.05)) / 10)
	want := ramp(gm, 0.5, 0.9) * 0.7
	if r := logprobSignal(view(ask("q"), withLogprobs(ps...)), c); math.Abs(r.score-want) > 1e-9 {
		t.Fatalf("unsure tokens: %+v, want %v", r, want)
	}
}
