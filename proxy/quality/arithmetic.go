package quality

import (
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/mathtext"
)

// arithmeticSignal scores the share of the draft's arithmetic statements
// ("12 * 4 = 48", "20% of 50 is 10") that recompute (see
// mathtext.CheckArithmetic). Small models often reason correctly and then
// multiply wrong; this catches that exactly, in any language, without a
// model. It does not apply to a draft without such statements.
func arithmeticSignal(calc mathtext.Tally) result {
	ok, n := calc.Correct, calc.Correct+calc.Wrong
	if n == 0 {
		return result{}
	}
	return result{
		score:   float64(ok) / float64(n),
		applies: true,
		detail:  strconv.Itoa(ok) + " of " + strconv.Itoa(n) + " calculations correct",
	}
}
