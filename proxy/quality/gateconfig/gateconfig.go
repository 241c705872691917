// Package gateconfig defines the quality gate's settings and checks them: the
// signals a rule may weight, the numeric options of those signals and the
// complexity levels a rule may give thresholds for, with their defaults and
// the values they allow.
//
// It imports nothing of the project, so that the rules contract (proxy/rules)
// can refuse a misspelt or meaningless setting when a rules file is loaded or
// rendered, and the gate (proxy/quality) reads the very same definitions.
// Every error names the setting it is about, relative to the field path the
// caller passes in, e.g.
//
//	rules[0].gate.weights: unknown signal "hedgin" (known: truncation, ...)
//	rules[0].gate.options[veto_cap]: must be in [0, 1], got 2
package gateconfig

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Signal names, as rules.Gate.Weights and the gate's decisions use them.
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

// Complexity levels, as rules.Gate.ComplexityThresholds uses them.
const (
	LevelSimple   = "simple"
	LevelModerate = "moderate"
	LevelHard     = "hard"
)

// Weights are the exponents of the signals in the gate's weighted product;
// 0 turns a signal off. Each field's tag is its name in rules.Gate.Weights.
type Weights struct {
	Truncation float64 `name:"truncation"`
	Empty      float64 `name:"empty"`
	Refusal    float64 `name:"refusal"`
	Hedging    float64 `name:"hedging"`
	Repetition float64 `name:"repetition"`
	Length     float64 `name:"length"`
	ToolCalls  float64 `name:"tool_calls"`
	Format     float64 `name:"format"`
	Arithmetic float64 `name:"arithmetic"`
	Coverage   float64 `name:"coverage"`
	Answer     float64 `name:"answer"`
	Complexity float64 `name:"complexity"`
	Logprob    float64 `name:"logprob"`
	Judge      float64 `name:"judge"`
}

// DefaultWeights: hard checks weigh 1 (they are 0 or 1 anyway); graded
// heuristics weigh what their evidence is worth: a wrong calculation is
// strong evidence, a single hedge word is weak.
func DefaultWeights() Weights {
	return Weights{
		Truncation: 1, Empty: 1, Refusal: 1, Hedging: 1, Repetition: 1, Length: 1, ToolCalls: 1,
		Format: 1, Arithmetic: 3, Coverage: 1, Answer: 1, Complexity: 1, Logprob: 1, Judge: 1,
	}
}

// Options are the signals' numeric settings. Each field's tag is its name in
// rules.Gate.Options and the values it allows: min and max bound it
// (inclusive), above bounds it from below (exclusive), int asks for a whole
// number. Every option must be finite.
type Options struct {
	// VetoCap caps the score when a signal vetoes.
	VetoCap float64 `name:"veto_cap" min:"0" max:"1"`
	// DanglingScore is the truncation score of a text that visibly stops
	// mid-way (on a separator, inside a number or an open code fence).
	DanglingScore float64 `name:"dangling_score" min:"0" max:"1"`
	// UnfinishedScore is the truncation score of a last prose line without
	// closing punctuation.
	UnfinishedScore float64 `name:"unfinished_score" min:"0" max:"1"`
	// HedgePenalty is the hedging score lost per hedge; HedgeFloor the
	// lowest hedging score.
	HedgePenalty float64 `name:"hedge_penalty" min:"0"`
	HedgeFloor   float64 `name:"hedge_floor" min:"0" max:"1"`
	// RefusalPartialScore is the score of a refusal phrase after the
	// opening of the answer.
	RefusalPartialScore float64 `name:"refusal_partial_score" min:"0" max:"1"`
	// RepetitionNgram is the word n-gram size; RepetitionLow and
	// RepetitionHigh the shares of distinct n-grams mapped to 0 and to 1.
	RepetitionNgram int     `name:"repetition_ngram" min:"1" max:"16" int:"true"`
	RepetitionLow   float64 `name:"repetition_low" min:"0" max:"1"`
	RepetitionHigh  float64 `name:"repetition_high" min:"0" max:"1"`
	// LengthMinLongform, LengthMinCode and LengthMinExplain are the fewest
	// characters expected for long-form, code and explanation requests.
	LengthMinLongform float64 `name:"length_min_longform" min:"0" max:"1000000"`
	LengthMinCode     float64 `name:"length_min_code" min:"0" max:"1000000"`
	LengthMinExplain  float64 `name:"length_min_explain" min:"0" max:"1000000"`
	// LengthNoCodeScore is the score of a code request answered without code.
	LengthNoCodeScore float64 `name:"length_no_code_score" min:"0" max:"1"`
	// LengthWorkRatio: a worked problem's answer is expected to be at least
	// this many times as long as the question.
	LengthWorkRatio float64 `name:"length_work_ratio" min:"0" max:"100"`
	// ArithmeticTolerance is the relative tolerance between two computed
	// sides of a statement.
	ArithmeticTolerance float64 `name:"arithmetic_tolerance" min:"0" max:"1"`
	// CoverageUnusedScore is the score factor per quantity of a word
	// problem the worked answer never writes.
	CoverageUnusedScore float64 `name:"coverage_unused_score" min:"0" max:"1"`
	// AnswerFlawScore is the score factor per flaw of a word problem's
	// final answer.
	AnswerFlawScore float64 `name:"answer_flaw_score" min:"0" max:"1"`
	// ComplexityModerate and ComplexityHard are the level boundaries of the
	// complexity estimate.
	ComplexityModerate float64 `name:"complexity_moderate" min:"0" max:"1"`
	ComplexityHard     float64 `name:"complexity_hard" min:"0" max:"1"`
	// ComplexityPenalty is how much of the estimate counts against the draft.
	ComplexityPenalty float64 `name:"complexity_penalty" min:"0" max:"1"`
	// ComplexityVerifiedDiscount is the share of the penalty that fully
	// checked work on a word problem removes.
	ComplexityVerifiedDiscount float64 `name:"complexity_verified_discount" min:"0" max:"1"`
	// ComplexityVerifiedCalcs is the fewest correct calculations that count
	// as fully checked work (a problem giving n quantities needs n-1).
	ComplexityVerifiedCalcs float64 `name:"complexity_verified_calcs" min:"1"`
	// LogprobLow and LogprobHigh are the geometric-mean token probabilities
	// mapped to 0 and to 1.
	LogprobLow  float64 `name:"logprob_low" min:"0" max:"1"`
	LogprobHigh float64 `name:"logprob_high" min:"0" max:"1"`
	// JudgeTimeoutSeconds bounds the judge call when rules.Judge.Timeout is unset.
	JudgeTimeoutSeconds float64 `name:"judge_timeout_seconds" above:"0" max:"3600"`
}

// DefaultOptions are the options a rule gets when it sets none.
func DefaultOptions() Options {
	return Options{
		VetoCap:                    0,
		DanglingScore:              0.2,
		UnfinishedScore:            0.35,
		HedgePenalty:               0.12,
		HedgeFloor:                 0.3,
		RefusalPartialScore:        0.6,
		RepetitionNgram:            4,
		RepetitionLow:              0.45,
		RepetitionHigh:             0.8,
		LengthMinLongform:          700,
		LengthMinCode:              150,
		LengthMinExplain:           250,
		LengthNoCodeScore:          0.35,
		LengthWorkRatio:            0.8,
		ArithmeticTolerance:        1e-4,
		CoverageUnusedScore:        0.6,
		AnswerFlawScore:            0.5,
		ComplexityModerate:         0.35,
		ComplexityHard:             0.6,
		ComplexityPenalty:          0.5,
		ComplexityVerifiedDiscount: 0.5,
		ComplexityVerifiedCalcs:    1,
		LogprobLow:                 0.5,
		LogprobHigh:                0.9,
		JudgeTimeoutSeconds:        10,
	}
}

// ParseWeights returns the default weights overridden by m (rules.Gate.Weights).
// field is m's path for error messages, e.g. "rules[0].gate.weights". Unknown
// signal names and weights that are negative or not finite are errors.
func ParseWeights(field string, m map[string]float64) (Weights, error) {
	w := DefaultWeights()
	err := apply(field, "signal", weightFields, reflect.ValueOf(&w).Elem(), m)
	return w, err
}

// ParseOptions returns the default options overridden by m (rules.Gate.Options).
// field is m's path for error messages, e.g. "rules[0].gate.options". Unknown
// option names, values outside an option's range and settings that contradict
// each other are errors.
func ParseOptions(field string, m map[string]float64) (Options, error) {
	o := DefaultOptions()
	if err := apply(field, "option", optionFields, reflect.ValueOf(&o).Elem(), m); err != nil {
		return o, err
	}
	var errs []error
	order := func(lo, hi string, a, b float64, strict bool) {
		if a > b || strict && a == b {
			rel := "must not exceed"
			if strict {
				rel = "must be below"
			}
			errs = append(errs, fmt.Errorf("%s: %s (%v) %s %s (%v)", field, lo, a, rel, hi, b))
		}
	}
	order("repetition_low", "repetition_high", o.RepetitionLow, o.RepetitionHigh, true)
	order("logprob_low", "logprob_high", o.LogprobLow, o.LogprobHigh, true)
	order("complexity_moderate", "complexity_hard", o.ComplexityModerate, o.ComplexityHard, false)
	return o, errors.Join(errs...)
}

// CheckComplexityThresholds checks m (rules.Gate.ComplexityThresholds): its
// keys must be complexity levels and its values in [0, 1]. field is m's path
// for error messages.
func CheckComplexityThresholds(field string, m map[string]float64) error {
	var errs []error
	var unknown []string
	for _, k := range sortedKeys(m) {
		if !slices.Contains(Levels(), k) {
			unknown = append(unknown, k)
			continue
		}
		if v := m[k]; !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%s[%s]: must be in [0, 1], got %v", field, k, v))
		}
	}
	return errors.Join(unknownNames(field, "complexity level", unknown, Levels()), errors.Join(errs...))
}

// SignalNames lists the signals in the order the gate evaluates them.
func SignalNames() []string { return names(weightFields) }

// OptionNames lists the options in declaration order.
func OptionNames() []string { return names(optionFields) }

// Levels lists the complexity levels from the easiest.
func Levels() []string { return []string{LevelSimple, LevelModerate, LevelHard} }

// Map returns the weights keyed by signal name.
func (w Weights) Map() map[string]float64 { return toMap(weightFields, reflect.ValueOf(w)) }

// Map returns the options keyed by option name.
func (o Options) Map() map[string]float64 { return toMap(optionFields, reflect.ValueOf(o)) }

// UnitOptions lists the options whose values are bounded to [0, 1].
func UnitOptions() []string {
	var out []string
	for _, f := range optionFields {
		if f.hasMin && f.min == 0 && f.hasMax && f.max == 1 && !f.integer {
			out = append(out, f.name)
		}
	}
	return out
}

// setting is one named numeric field of Weights or Options.
type setting struct {
	name                     string
	index                    int
	min                      float64 // lowest value, inclusive, when hasMin
	above                    float64 // exclusive lower bound, when hasAbove
	max                      float64 // highest value, inclusive, when hasMax
	integer                  bool
	hasMin, hasAbove, hasMax bool
}

var (
	weightFields = settings(reflect.TypeFor[Weights](), setting{min: 0, hasMin: true})
	optionFields = settings(reflect.TypeFor[Options](), setting{})
)

// settings reads the fields of t and their tags; base gives bounds to fields
// whose tags set none. A malformed tag is a programming error.
func settings(t reflect.Type, base setting) []setting {
	out := make([]setting, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		s := base
		s.name, s.index = f.Tag.Get("name"), i
		if s.name == "" {
			panic("gateconfig: field " + f.Name + " has no name tag")
		}
		bound := func(tag string, v *float64, has *bool) {
			if raw, ok := f.Tag.Lookup(tag); ok {
				x, err := strconv.ParseFloat(raw, 64)
				if err != nil {
					panic("gateconfig: field " + f.Name + ": bad " + tag + " tag")
				}
				*v, *has = x, true
			}
		}
		bound("min", &s.min, &s.hasMin)
		bound("above", &s.above, &s.hasAbove)
		bound("max", &s.max, &s.hasMax)
		s.integer = f.Tag.Get("int") == "true"
		if k := f.Type.Kind(); k != reflect.Float64 && k != reflect.Int {
			panic("gateconfig: field " + f.Name + " is neither float64 nor int")
		}
		out = append(out, s)
	}
	return out
}

// problem says what is wrong with v for s, or "" when v is allowed.
func (s *setting) problem(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "must be a finite number"
	}
	ok := (!s.hasMin || v >= s.min) && (!s.hasAbove || v > s.above) && (!s.hasMax || v <= s.max) &&
		(!s.integer || v == math.Trunc(v))
	if ok {
		return ""
	}
	var rng string
	switch {
	case s.hasMax && (s.hasMin || s.hasAbove):
		lo := "[" + fmtNum(s.min)
		if s.hasAbove {
			lo = "(" + fmtNum(s.above)
		}
		rng = "in " + lo + ", " + fmtNum(s.max) + "]"
	case s.hasMin && s.min == 0 && !s.integer:
		return fmt.Sprintf("must be a non-negative number, got %v", v)
	case s.hasMin:
		rng = "at least " + fmtNum(s.min)
	case s.hasAbove:
		rng = "above " + fmtNum(s.above)
	case s.hasMax:
		rng = "at most " + fmtNum(s.max)
	}
	if s.integer {
		return fmt.Sprintf("must be an integer %s, got %v", rng, v)
	}
	return fmt.Sprintf("must be %s, got %v", rng, v)
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// apply sets the fields of dst named in m, in key order so that messages are
// deterministic; kind names the keys in messages ("signal", "option").
func apply(field, kind string, fields []setting, dst reflect.Value, m map[string]float64) error {
	var errs []error
	var unknown []string
	for _, k := range sortedKeys(m) {
		i := slices.IndexFunc(fields, func(s setting) bool { return s.name == k })
		if i < 0 {
			unknown = append(unknown, k)
			continue
		}
		s := &fields[i]
		v := m[k]
		if p := s.problem(v); p != "" {
			errs = append(errs, fmt.Errorf("%s[%s]: %s", field, k, p))
			continue
		}
		f := dst.Field(s.index)
		if f.Kind() == reflect.Int {
			f.SetInt(int64(v))
		} else {
			f.SetFloat(v)
		}
	}
	return errors.Join(unknownNames(field, kind, unknown, names(fields)), errors.Join(errs...))
}

// unknownNames is one error for all the unknown keys of a map (nil for
// none), listing the names it accepts.
func unknownNames(field, kind string, unknown, known []string) error {
	if len(unknown) == 0 {
		return nil
	}
	quoted := make([]string, len(unknown))
	for i, k := range unknown {
		quoted[i] = strconv.Quote(k)
	}
	if len(unknown) > 1 {
		kind += "s"
	}
	return fmt.Errorf("%s: unknown %s %s (known: %s)", field, kind, strings.Join(quoted, ", "), strings.Join(known, ", "))
}

func toMap(fields []setting, v reflect.Value) map[string]float64 {
	out := make(map[string]float64, len(fields))
	for _, s := range fields {
		f := v.Field(s.index)
		if f.Kind() == reflect.Int {
			out[s.name] = float64(f.Int())
		} else {
			out[s.name] = f.Float()
		}
	}
	return out
}

func names(fields []setting) []string {
	out := make([]string, len(fields))
	for i, s := range fields {
		out[i] = s.name
	}
	return out
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
