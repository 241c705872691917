package quality

import (
	"math"
	"strconv"
)

// coverageSignal checks that a worked answer to a word problem uses the
// quantities the problem gives: a solution that never mentions one of them
// has usually dropped a step or misread the problem.
func coverageSignal(m *mathView, o *options) result {
	if !m.problem || len(m.draft) < 2 {
		return result{}
	}
	var forms [8]float64
	unused, given := 0, 0
	for i, g := range m.given {
		if g.Value == 0 {
			continue // a correct solution need not write a zero
		}
		dup := false
		for _, h := range m.given[:i] {
			if h.Value == g.Value {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		given++
		used := false
	search:
		for _, x := range g.Forms(forms[:0]) {
			for _, d := range m.draft {
				if d.Matches(x) {
					used = true
					break search
				}
			}
		}
		if !used {
			unused++
		}
	}
	if given == 0 {
		return result{}
	}
	detail := strconv.Itoa(given-unused) + " of " + strconv.Itoa(given) + " given quantities used"
	return result{score: math.Pow(o.CoverageUnusedScore, float64(unused)), applies: true, detail: detail}
}
