package quality

import (
	"math"
	"strconv"
)

// logprobSignal reads the draft's own confidence when an OpenAI-compatible
// upstream returned token log probabilities: the geometric-mean token
// probability mapped from [logprob_low, logprob_high] onto [0, 1], reduced by
// the share of tokens the model was unsure of (p < 0.1) beyond 5 %.
func logprobSignal(a *analysis, o *options) result {
	lp := a.draft.Logprobs
	if len(lp) == 0 {
		return result{}
	}
	sum, minP := 0.0, 1.0
	unsure := 0
	for _, t := range lp {
		l := t.Logprob
		if math.IsNaN(l) || l > 0 {
			l = 0
		}
		sum += l
		p := math.Exp(l)
		if p < minP {
			minP = p
		}
		if p < 0.1 {
			unsure++
		}
	}
	mean := math.Exp(sum / float64(len(lp)))
	s := ramp(mean, o.LogprobLow, o.LogprobHigh)
	if share := float64(unsure) / float64(len(lp)); share > 0.05 {
		s *= clamp01(1 - 2*(share-0.05))
	}
	return result{score: s, applies: true, detail: "mean token p " + strconv.FormatFloat(mean, 'f', 3, 64) + ", min " + strconv.FormatFloat(minP, 'f', 3, 64)}
}
