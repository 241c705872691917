package quality

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Signal names, as used in rules.Gate.Weights and Decision.Signals.
const (
	SignalTruncation = gateconfig.SignalTruncation
	SignalEmpty      = gateconfig.SignalEmpty
	SignalRefusal    = gateconfig.SignalRefusal
	SignalHedging    = gateconfig.SignalHedging
	SignalRepetition = gateconfig.SignalRepetition
	SignalLength     = gateconfig.SignalLength
	SignalToolCalls  = gateconfig.SignalToolCalls
	SignalFormat     = gateconfig.SignalFormat
	SignalArithmetic = gateconfig.SignalArithmetic
	SignalCoverage   = gateconfig.SignalCoverage
	SignalAnswer     = gateconfig.SignalAnswer
	SignalComplexity = gateconfig.SignalComplexity
	SignalLogprob    = gateconfig.SignalLogprob
	SignalJudge      = gateconfig.SignalJudge
)

// Complexity levels.
const (
	LevelSimple   = gateconfig.LevelSimple
	LevelModerate = gateconfig.LevelModerate
	LevelHard     = gateconfig.LevelHard
)

// options are the signals' numeric settings, typed (rules.Gate.Options by name).
type options = gateconfig.Options

// Defaults returns copies of the default signal weights and options, keyed
// by the names rules.Gate.Weights and rules.Gate.Options accept.
func Defaults() (weights, opts map[string]float64) {
	return gateconfig.DefaultWeights().Map(), gateconfig.DefaultOptions().Map()
}

// config is the resolved, validated configuration of a Gate.
type config struct {
	weights              gateconfig.Weights
	opt                  options
	complexityThresholds map[string]float64
	skipDraftAbove       float64 // >1 means never
	minAnswerChars       int
	judgeTimeout         time.Duration
}

// Validate checks a rule's gate settings as New does, without building a
// gate: unknown signal, option or level names, values outside their range and
// options that contradict each other are errors, each naming its field
// ("gate.weights", "gate.options[veto_cap]", ...). nil is valid.
func Validate(cfg *rules.Gate) error {
	_, err := resolve(cfg)
	return err
}

func resolve(g *rules.Gate) (*config, error) {
	c := &config{
		weights:              gateconfig.DefaultWeights(),
		opt:                  gateconfig.DefaultOptions(),
		complexityThresholds: map[string]float64{},
		skipDraftAbove:       2,
		minAnswerChars:       1,
	}
	if g != nil {
		var errs []error
		check := func(err error) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		var err error
		c.weights, err = gateconfig.ParseWeights("gate.weights", g.Weights)
		check(err)
		c.opt, err = gateconfig.ParseOptions("gate.options", g.Options)
		check(err)
		check(gateconfig.CheckComplexityThresholds("gate.complexityThresholds", g.ComplexityThresholds))
		for k, v := range g.ComplexityThresholds {
			c.complexityThresholds[k] = v
		}
		if p := g.SkipDraftAbove; p != nil {
			if !(*p >= 0 && *p <= 1) {
				check(fmt.Errorf("gate.skipDraftAbove: must be in [0, 1], got %v", *p))
			}
			c.skipDraftAbove = *p
		}
		if p := g.MinAnswerChars; p != nil {
			if *p < 0 {
				check(fmt.Errorf("gate.minAnswerChars: must not be negative, got %d", *p))
			}
			c.minAnswerChars = *p
		}
		if j := g.Judge; j != nil {
			if p := j.Weight; p != nil {
				if *p < 0 || math.IsNaN(*p) || math.IsInf(*p, 0) {
					check(fmt.Errorf("gate.judge.weight: must be a non-negative number, got %v", *p))
				}
				c.weights.Judge = *p
			}
			if j.Timeout.Duration < 0 {
				check(fmt.Errorf("gate.judge.timeout: must not be negative, got %s", j.Timeout.Duration))
			}
			c.judgeTimeout = j.Timeout.Duration
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
	}
	if c.judgeTimeout <= 0 {
		c.judgeTimeout = time.Duration(c.opt.JudgeTimeoutSeconds * float64(time.Second))
	}
	return c, nil
}
