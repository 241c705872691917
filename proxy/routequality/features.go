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
// did not apply or found nothing wrong), so samples of one route are
// comparable across requests, and a weight times 0 is nothing: a signal
// that does not fire cannot move a draft's score.
const (
	featPrior = iota // logit of the gate's own score
	featSignals
)

var signalNames = gateconfig.SignalNames()

// signalIndex maps a signal's name to its position.
var signalIndex = func() map[string]int {
	m := make(map[string]int, len(signalNames))
	for i, n := range signalNames {
		m[n] = featSignals + i
	}
	return m
}()

var (
	featLength    = featSignals + len(signalNames)
	featAgree     = featLength + 1 // share of compared opinions that agree
	featNoneAgree = featLength + 2 // opinions compared, none agrees
	featNoAnswer  = featLength + 3 // opinions asked, the draft has no final answer
	featVeto      = featLength + 4 // a signal vetoed the draft
	// NumFeatures is the length of a feature vector.
	NumFeatures = featLength + 5
)

// Feature names that are not signals ("signal:<name>" for those).
const (
	FeaturePrior     = "prior"
	FeatureLength    = "length"
	FeatureAgree     = "agree"
	FeatureNoneAgree = "none_agree"
	FeatureNoAnswer  = "no_answer"
	FeatureVeto      = "veto"
	// FeatureBias names a model's bias where weights are listed by name.
	FeatureBias = "bias"
)

var featureNames = func() []string {
	n := make([]string, NumFeatures)
	n[featPrior] = FeaturePrior
	for i, s := range signalNames {
		n[featSignals+i] = "signal:" + s
	}
	n[featLength] = FeatureLength
	n[featAgree] = FeatureAgree
	n[featNoneAgree] = FeatureNoneAgree
	n[featNoAnswer] = FeatureNoAnswer
	n[featVeto] = FeatureVeto
	return n
}()

// FeatureNames names each position of a feature vector, for people.
func FeatureNames() []string { return append([]string(nil), featureNames...) }

// Vector is the feature vector of one draft:
//   - prior: logit of the gate's score (clamped to [1e-4, 1-1e-4]);
//   - signal:<name>: log of the signal's score (floored at 0.01), so 0 when
//     it did not apply or found nothing wrong, negative when it did;
//   - length: log of the draft's length in characters, centred on ~1,100
//     characters and halved;
//   - agree: share of the compared second opinions whose final answer equals
//     the draft's; none_agree: 1 when some were compared and none agrees;
//     no_answer: 1 when opinions were asked and the draft has no final answer;
//   - veto: 1 when a signal vetoed the draft.
func Vector(in Inputs) []float64 {
	x := make([]float64, NumFeatures)
	if d := in.Decision; d != nil {
		x[featPrior] = logit(d.Score)
		for _, s := range d.Signals {
			if i, ok := signalIndex[s.Name]; ok && s.Score == s.Score {
				x[i] = math.Log(math.Min(math.Max(s.Score, 0.01), 1))
			}
			if s.Veto {
				x[featVeto] = 1
			}
		}
	}
	x[featLength] = (math.Log(float64(max(in.DraftChars, 0))+1) - 7) / 2
	a := in.Agreement
	if a.Asked > 0 {
		switch {
		case !a.DraftAnswer:
			x[featNoAnswer] = 1
		case a.Compared > 0:
			x[featAgree] = math.Min(float64(max(a.Agree, 0))/float64(a.Compared), 1)
			if a.Agree <= 0 {
				x[featNoneAgree] = 1
			}
		}
	}
	return x
}

func logit(p float64) float64 {
	if p != p { // NaN: nothing is known
		p = 0.5
	}
	p = math.Min(math.Max(p, 1e-4), 1-1e-4)
	return math.Log(p / (1 - p))
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
