package quality

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Signal names, as used in rules.Gate.Weights and Decision.Signals.
const (
	SignalTruncation = "truncation"
	SignalEmpty      = "empty"
	SignalRefusal    = "refusal"
	SignalHedging    = "hedging"
	SignalRepetition = "repetition"
	SignalLength     = "length"
	SignalToolCalls  = "tool_calls"
	SignalFormat     = "format"
	SignalArithmetic = "arithmetic"
	SignalCoverage   = "coverage"
	SignalAnswer     = "answer"
	SignalComplexity = "complexity"
	SignalLogprob    = "logprob"
	SignalJudge      = "judge"
)

// Complexity levels.
const (
	LevelSimple   = "simple"
	LevelModerate = "moderate"
	LevelHard     = "hard"
)

// defaultWeights are the exponents of each signal in the weighted product.
// Hard checks weigh 1 (they are 0 or 1 anyway); graded heuristics weigh what
// their evidence is worth: a wrong calculation is strong evidence, a single
// hedge word is weak.
var defaultWeights = map[string]float64{
	SignalTruncation: 1,
	SignalEmpty:      1,
	SignalRefusal:    1,
	SignalHedging:    1,
	SignalRepetition: 1,
	SignalLength:     1,
	SignalToolCalls:  1,
	SignalFormat:     1,
	SignalArithmetic: 3,
	SignalCoverage:   1,
	SignalAnswer:     1,
	SignalComplexity: 1,
	SignalLogprob:    1,
	SignalJudge:      1,
}

// defaultOptions are the named numeric settings (rules.Gate.Options).
var defaultOptions = map[string]float64{
	// Score cap when a signal vetoes.
	"veto_cap": 0,
	// Truncation score of a text that ends mid-sentence without a max_tokens stop.
	"dangling_score": 0.2,
	// Truncation score of a final prose line that stops without punctuation.
	"unfinished_score": 0.35,
	// Hedging: score lost per hedge phrase found; floor of the hedging score.
	"hedge_penalty": 0.12,
	"hedge_floor":   0.3,
	// Refusal phrase outside the opening of the answer: its score.
	"refusal_partial_score": 0.6,
	// Repetition: word n-gram size, and the unique-n-gram share mapped to 0 and to 1.
	"repetition_ngram": 4,
	"repetition_low":   0.45,
	"repetition_high":  0.8,
	// Length: expected minimum characters for long-form and code requests,
	// and the score of a code request answered without code.
	"length_min_longform":  700,
	"length_min_code":      150,
	"length_min_explain":   250,
	"length_no_code_score": 0.35,
	"length_work_ratio":    0.8,
	// Arithmetic: relative tolerance between two computed sides.
	"arithmetic_tolerance": 1e-4,
	// Coverage: score factor per quantity of a word problem the worked
	// answer never mentions.
	"coverage_unused_score": 0.6,
	// Answer: score factor per flaw of a word problem's final answer.
	"answer_flaw_score": 0.5,
	// Complexity: level boundaries, how much of the estimate counts against
	// the draft (signal score = 1 - complexity_penalty*complexity), the share
	// of it that checked work on a word problem removes, and the fewest
	// correct calculations that count as fully checked work (a problem giving
	// n quantities needs n-1 of them).
	"complexity_moderate":          0.35,
	"complexity_hard":              0.6,
	"complexity_penalty":           0.5,
	"complexity_verified_discount": 0.5,
	"complexity_verified_calcs":    1,
	// Logprob: geometric-mean token probability mapped to 0 and to 1.
	"logprob_low":  0.5,
	"logprob_high": 0.9,
	// Judge call timeout in seconds when rules.Judge.Timeout is unset.
	"judge_timeout_seconds": 10,
}

// Defaults returns copies of the default signal weights and options, keyed
// by the names rules.Gate.Weights and rules.Gate.Options accept.
func Defaults() (weights, options map[string]float64) {
	weights = make(map[string]float64, len(defaultWeights))
	for k, v := range defaultWeights {
		weights[k] = v
	}
	options = make(map[string]float64, len(defaultOptions))
	for k, v := range defaultOptions {
		options[k] = v
	}
	return weights, options
}

// config is the resolved, validated configuration of a Gate.
type config struct {
	weights              map[string]float64
	opt                  map[string]float64
	complexityThresholds map[string]float64
	skipDraftAbove       float64 // >1 means never
	minAnswerChars       int
	judgeWeight          float64
	judgeTimeout         time.Duration
}

func (c *config) w(name string) float64 { return c.weights[name] }
func (c *config) o(name string) float64 { return c.opt[name] }

func resolve(g *rules.Gate) (*config, error) {
	c := &config{
		weights:              make(map[string]float64, len(defaultWeights)),
		opt:                  make(map[string]float64, len(defaultOptions)),
		complexityThresholds: map[string]float64{},
		skipDraftAbove:       2,
		minAnswerChars:       1,
		judgeTimeout:         0,
	}
	for k, v := range defaultWeights {
		c.weights[k] = v
	}
	for k, v := range defaultOptions {
		c.opt[k] = v
	}
	if g != nil {
		var bad []string
		for k, v := range g.Weights {
			if _, ok := defaultWeights[k]; !ok {
				bad = append(bad, fmt.Sprintf("unknown signal weight %q (known: %s)", k, keys(defaultWeights)))
				continue
			}
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				bad = append(bad, fmt.Sprintf("weight %q must be a non-negative number", k))
				continue
			}
			c.weights[k] = v
		}
		for k, v := range g.Options {
			if _, ok := defaultOptions[k]; !ok {
				bad = append(bad, fmt.Sprintf("unknown option %q (known: %s)", k, keys(defaultOptions)))
				continue
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				bad = append(bad, fmt.Sprintf("option %q must be finite", k))
				continue
			}
			c.opt[k] = v
		}
		for k, v := range g.ComplexityThresholds {
			switch k {
			case LevelSimple, LevelModerate, LevelHard:
			default:
				bad = append(bad, fmt.Sprintf("unknown complexity level %q (known: hard, moderate, simple)", k))
				continue
			}
			if !(v >= 0 && v <= 1) {
				bad = append(bad, fmt.Sprintf("complexity threshold %q must be in [0, 1]", k))
				continue
			}
			c.complexityThresholds[k] = v
		}
		if g.SkipDraftAbove != nil {
			c.skipDraftAbove = *g.SkipDraftAbove
		}
		if g.MinAnswerChars != nil {
			if *g.MinAnswerChars < 0 {
				bad = append(bad, "minAnswerChars must not be negative")
			} else {
				c.minAnswerChars = *g.MinAnswerChars
			}
		}
		if g.Judge != nil {
			if g.Judge.Weight != nil {
				c.weights[SignalJudge] = *g.Judge.Weight
			}
			c.judgeTimeout = g.Judge.Timeout.Duration
		}
		if err := checkOptions(c.opt); err != nil {
			bad = append(bad, err.Error())
		}
		if len(bad) > 0 {
			return nil, fmt.Errorf("quality gate config: %s", strings.Join(bad, "; "))
		}
	}
	c.judgeWeight = c.weights[SignalJudge]
	if c.judgeTimeout <= 0 {
		c.judgeTimeout = time.Duration(c.opt["judge_timeout_seconds"] * float64(time.Second))
	}
	return c, nil
}

// checkOptions rejects settings that would make a signal meaningless.
func checkOptions(o map[string]float64) error {
	var bad []string
	if o["repetition_low"] >= o["repetition_high"] {
		bad = append(bad, "repetition_low must be below repetition_high")
	}
	if o["logprob_low"] >= o["logprob_high"] {
		bad = append(bad, "logprob_low must be below logprob_high")
	}
	if o["complexity_moderate"] > o["complexity_hard"] {
		bad = append(bad, "complexity_moderate must not exceed complexity_hard")
	}
	if o["complexity_verified_calcs"] < 1 {
		bad = append(bad, "complexity_verified_calcs must be at least 1")
	}
	if n := o["repetition_ngram"]; n < 1 || n > 16 || n != math.Trunc(n) {
		bad = append(bad, "repetition_ngram must be an integer in [1, 16]")
	}
	for _, k := range []string{"veto_cap", "dangling_score", "unfinished_score", "hedge_floor", "refusal_partial_score", "length_no_code_score", "complexity_penalty", "coverage_unused_score", "answer_flaw_score", "complexity_verified_discount"} {
		if v := o[k]; v < 0 || v > 1 {
			bad = append(bad, k+" must be in [0, 1]")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

func keys(m map[string]float64) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
