package routequality

import (
	"math"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
)

// Agreement is what the second opinions said of one draft.
type Agreement struct {
	// Asked is the number of second opinions asked; Compared the number that
	// answered in time with a final answer comparable to the draft's; Agree
	// the number of those whose final answer equals the draft's.
	Asked, Compared, Agree int
	// DraftAnswer says the draft has a final answer (or tool calls) to compare.
	DraftAnswer bool
}

// Inputs is what the gate knows of one draft.
type Inputs struct {
	Decision   *quality.Decision
	DraftChars int
	Agreement  Agreement
}

// Feature positions. The layout is fixed (every signal has a slot, 0 when it
// did not apply), so samples of one route are comparable across requests.
const (
	featPrior = iota // logit of the gate's own score
	featSignals
)

var signalNames = gateconfig.SignalNames()

var (
	featLength    = featSignals + len(signalNames)
	featAgree     = featLength + 1 // share of compared opinions that agree
	featNoneAgree = featLength + 2 // opinions compared, none agrees
	featNoAnswer  = featLength + 3 // opinions asked, the draft has no final answer
	// NumFeatures is the length of a feature vector.
	NumFeatures = featLength + 4
)

// FeatureNames names each position of a feature vector, for people.
func FeatureNames() []string {
	n := make([]string, NumFeatures)
	n[featPrior] = "prior"
	for i, s := range signalNames {
		n[featSignals+i] = "signal:" + s
	}
	n[featLength] = "length"
	n[featAgree] = "agree"
	n[featNoneAgree] = "none_agree"
	n[featNoAnswer] = "no_answer"
	return n
}

// Vector is the feature vector of one draft.
func Vector(in Inputs) []float64 {
	x := make([]float64, NumFeatures)
	if d := in.Decision; d != nil {
		x[featPrior] = logit(d.Score)
		for _, s := range d.Signals {
			for i, n := range signalNames {
				if n == s.Name {
					x[featSignals+i] = math.Log(math.Max(s.Score, 0.01))
				}
			}
		}
	}
	x[featLength] = (math.Log(float64(in.DraftChars)+1) - 7) / 2
	a := in.Agreement
	if a.Asked > 0 {
		switch {
		case !a.DraftAnswer:
			x[featNoAnswer] = 1
		case a.Compared > 0:
			x[featAgree] = float64(a.Agree) / float64(a.Compared)
			if a.Agree == 0 {
				x[featNoneAgree] = 1
			}
		}
	}
	return x
}

func logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-4), 1-1e-4)
	return math.Log(p / (1 - p))
}
