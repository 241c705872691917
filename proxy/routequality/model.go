package routequality

import (
	"math"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/logistic"
)

// Model is a score over a draft's features: P(draft good | features).
type Model struct {
	Features []string `json:"features"`
	logistic.Model
}

// AgreementWeight is the prior model's weight on second-opinion agreement:
// +AgreementWeight on the share of opinions that agree, -AgreementWeight
// when none agrees, on the logit scale, the same for every route. It is half
// the mean logit gap between P(good | the opinion agrees) and P(good | it
// disagrees) on the three mixed-traffic routes of the cascade-eval data
// (Llama-3 8B→70B 3.12, Qwen-2 7B→72B 2.74, GPT-3.5→GPT-4 Turbo 2.50, one
// opinion). At the default threshold 0.7 any weight from 1 to 2 makes the
// same decisions there, raising the share of answers at least as good as
// the verifier's from 0.87–0.94 (the gate alone) to 0.98–0.99.
const AgreementWeight = 1.4

// Fitting: the L2 pull toward the prior model, in samples' worth of
// evidence per weight (sample weights are normalised to average 1), and a
// nearly free bias (a feature constant over a route gets no weight for what
// the bias says). On the cascade-eval routes a pull from 0.3 to 10 moved
// the controller's cost by at most 0.07 of the verifier's; 2 keeps a few
// dozen labels from swinging the prior and is nothing next to the
// MinSamples (100) labels a fit waits for.
const (
	FitLambda     = 2
	FitBiasLambda = 0.01
)

var (
	gatePrior    = newPrior(false)
	opinionPrior = newPrior(true)
	nonNegative  = func() []bool {
		c := make([]bool, NumFeatures)
		c[featPrior], c[featAgree] = true, true
		for i := range signalNames {
			c[featSignals+i] = true
		}
		return c
	}()
)

// PriorModel is the score a route runs with before it has learned one: the
// gate's own score (weight 1 on its logit), plus, when second opinions are
// configured, AgreementWeight on agreement and its opposite when none agrees.
// Learning pulls toward it.
func PriorModel(opinions bool) *Model {
	m := gatePrior
	if opinions {
		m = opinionPrior
	}
	c := *m
	c.Features = append([]string(nil), m.Features...)
	c.Weights = append([]float64(nil), m.Weights...)
	return &c
}

func newPrior(opinions bool) *Model {
	w := make([]float64, NumFeatures)
	w[featPrior] = 1
	if opinions {
		w[featAgree] = AgreementWeight
		w[featNoneAgree] = -AgreementWeight
	}
	return &Model{Features: FeatureNames(), Model: logistic.Model{Weights: w}}
}

// Score is the model's P(good | x), capped at the gate's own score when a
// signal vetoed the draft: learning weighs evidence, it does not overrule a
// hard check (empty draft, refusal, broken format).
func (m *Model) Score(x []float64) float64 {
	p := m.Predict(x)
	if len(x) == NumFeatures && x[featVeto] > 0 {
		p = math.Min(p, sigmoid(x[featPrior]))
	}
	return p
}

// Named returns the model's bias and weights by feature name.
func (m *Model) Named() map[string]float64 {
	out := make(map[string]float64, len(m.Weights)+1)
	out[FeatureBias] = m.Bias
	for i, w := range m.Weights {
		if i < len(m.Features) {
			out[m.Features[i]] = w
		}
	}
	return out
}

// aligned returns the model with its weights in this build's feature layout
// (a calibration computed by another version may name features in another
// order, or others): weights are matched by name, unknown ones dropped,
// missing ones 0. nil when no feature matches.
func (m *Model) aligned() *Model {
	if m == nil {
		return nil
	}
	if len(m.Features) == NumFeatures && len(m.Weights) == NumFeatures && strings.Join(m.Features, ",") == strings.Join(featureNames, ",") {
		return m
	}
	out := &Model{Features: FeatureNames(), Model: logistic.Model{Bias: m.Bias, Weights: make([]float64, NumFeatures)}}
	matched := false
	for i, name := range m.Features {
		for j, n := range featureNames {
			if n == name && i < len(m.Weights) {
				out.Weights[j], matched = m.Weights[i], true
			}
		}
	}
	if !matched {
		return nil
	}
	return out
}

// fit learns P(good | features) on the labelled samples, pulled toward the
// prior model, with the prior's, every signal's and agreement's weights
// held >= 0 (length, none_agree, no_answer, veto and the bias are free).
// Each sample weighs Mass / LabelProb (inverse probability weighting: a
// draft audited at 5 % stands for 20), and the judged disputes together
// weigh what every disputed sample does (they stand for the undecided ones,
// as in calibrate), normalised to average 1 so FitLambda keeps its meaning.
// start (nil: the prior) is where the fit starts, the previous model on a
// refit. nil without a usable labelled sample.
func fit(samples []Sample, prior, start *Model) *Model {
	weight := func(s Sample) float64 {
		lp := s.LabelProb
		if lp <= 0 || lp > 1 {
			lp = 1
		}
		m := s.Mass
		if m <= 0 || math.IsInf(m, 0) {
			m = 1
		}
		return m / lp
	}
	usable := func(s Sample) bool { return len(s.Features) == NumFeatures && finite(s.Features) }
	var disputed, judged float64
	for _, s := range samples {
		if s.Disputed && usable(s) {
			disputed += weight(s)
			if s.Labelled {
				judged += weight(s)
			}
		}
	}
	var x [][]float64
	var y []bool
	var w []float64
	sum := 0.0
	for _, s := range samples {
		if !s.Labelled || !usable(s) {
			continue
		}
		x = append(x, s.Features)
		y = append(y, s.Good)
		sw := weight(s)
		if s.Disputed {
			sw *= disputed / judged
		}
		w = append(w, sw)
		sum += sw
	}
	if len(x) == 0 {
		return nil
	}
	for i := range w {
		w[i] *= float64(len(w)) / sum
	}
	m, err := logistic.Fit(x, y, w, logistic.Options{
		Lambda:      FitLambda,
		BiasLambda:  FitBiasLambda,
		Prior:       prior.Weights,
		PriorBias:   prior.Bias,
		NonNegative: nonNegative,
		Start:       startOf(start),
	})
	if err != nil {
		return nil
	}
	return &Model{Features: FeatureNames(), Model: *m}
}

func startOf(m *Model) *logistic.Model {
	if m == nil || len(m.Weights) != NumFeatures {
		return nil
	}
	return &m.Model
}

func finite(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
