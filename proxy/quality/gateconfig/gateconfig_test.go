package gateconfig

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultsAreValidAndRoundTrip(t *testing.T) {
	w, err := ParseWeights("w", DefaultWeights().Map())
	if err != nil || w != DefaultWeights() {
		t.Fatalf("ParseWeights(defaults) = %+v, %v", w, err)
	}
	o, err := ParseOptions("o", DefaultOptions().Map())
	if err != nil || o != DefaultOptions() {
		t.Fatalf("ParseOptions(defaults) = %+v, %v", o, err)
	}
	if w, err := ParseWeights("w", nil); err != nil || w != DefaultWeights() {
		t.Fatalf("ParseWeights(nil) = %+v, %v", w, err)
	}
	if len(SignalNames()) != reflect.TypeFor[Weights]().NumField() || len(OptionNames()) != reflect.TypeFor[Options]().NumField() {
		t.Fatalf("names: %v %v", SignalNames(), OptionNames())
	}
	if SignalNames()[0] != SignalTruncation || SignalNames()[len(SignalNames())-1] != SignalJudge {
		t.Fatalf("signals not in evaluation order: %v", SignalNames())
	}
}

func TestParseAppliesValuesByName(t *testing.T) {
	w, err := ParseWeights("w", map[string]float64{SignalToolCalls: 2.5, SignalHedging: 0})
	if err != nil || w.ToolCalls != 2.5 || w.Hedging != 0 || w.Arithmetic != 3 {
		t.Fatalf("weights %+v, %v", w, err)
	}
	o, err := ParseOptions("o", map[string]float64{"repetition_ngram": 6, "judge_timeout_seconds": 0.5, "complexity_verified_calcs": 2.5})
	if err != nil || o.RepetitionNgram != 6 || o.JudgeTimeoutSeconds != 0.5 || o.ComplexityVerifiedCalcs != 2.5 || o.VetoCap != 0 {
		t.Fatalf("options %+v, %v", o, err)
	}
}

// outside returns values each setting must refuse, and inside values it
// must accept, from its own bounds.
func outside(s setting) (bad, good []float64) {
	bad = []float64{math.NaN(), math.Inf(1), math.Inf(-1)}
	if s.hasMin {
		bad = append(bad, s.min-0.001, s.min-1)
		good = append(good, s.min)
	}
	if s.hasAbove {
		bad = append(bad, s.above, s.above-1)
		good = append(good, s.above+0.5)
	}
	if s.hasMax {
		bad = append(bad, s.max+0.001, s.max+1)
		good = append(good, s.max)
	}
	if s.integer {
		bad = append(bad, s.min+0.5)
	}
	return bad, good
}

// The ordered pairs of options: lowerOf maps the upper one to its lower
// partner, upperOf the lower one to its upper partner.
var (
	lowerOf = map[string]string{"repetition_high": "repetition_low", "logprob_high": "logprob_low", "complexity_hard": "complexity_moderate"}
	upperOf = map[string]string{"repetition_low": "repetition_high", "logprob_low": "logprob_high", "complexity_moderate": "complexity_hard"}
)

func TestEverySettingChecksItsRange(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		fields []setting
		parse  func(string, map[string]float64) error
	}{
		{"weights", weightFields, func(f string, m map[string]float64) error { _, err := ParseWeights(f, m); return err }},
		{"options", optionFields, func(f string, m map[string]float64) error { _, err := ParseOptions(f, m); return err }},
	} {
		for _, s := range tc.fields {
			if !s.hasMin && !s.hasAbove {
				t.Errorf("%s[%s] has no lower bound", tc.kind, s.name)
			}
			bad, good := outside(s)
			for _, v := range bad {
				err := tc.parse("rules[2].gate."+tc.kind, map[string]float64{s.name: v})
				if want := "rules[2].gate." + tc.kind + "[" + s.name + "]: must be "; err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("%s = %v: err = %v, want %q...", s.name, v, err, want)
				}
			}
			for _, v := range good {
				// An option of an ordered pair gets its partner at the far
				// end, so that only its own bound is under test.
				m := map[string]float64{s.name: v}
				if p, ok := lowerOf[s.name]; ok {
					m[p] = 0
				} else if p, ok := upperOf[s.name]; ok {
					m[p] = 1
				}
				switch s.name {
				case "repetition_low", "logprob_low":
					m[s.name] = math.Min(v, 0.99) // strictly below its partner
				case "repetition_high", "logprob_high":
					if v == 0 {
						continue // nothing fits strictly below 0
					}
				}
				if err := tc.parse("x", m); err != nil {
					t.Errorf("%s = %v refused: %v", s.name, v, err)
				}
			}
		}
	}
}

func TestMessagesNameTheField(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{second(ParseWeights("gate.weights", map[string]float64{"hedgin": 1})),
			`gate.weights: unknown signal "hedgin" (known: truncation, empty, refusal, hedging, repetition, length, tool_calls, format, arithmetic, coverage, answer, complexity, logprob, judge)`},
		{second(ParseWeights("gate.weights", map[string]float64{"b": 1, "a": 1, "hedging": -2})),
			"gate.weights: unknown signals \"a\", \"b\" (known: truncation, "},
		{second(ParseWeights("gate.weights", map[string]float64{"b": 1, "a": 1, "hedging": -2})),
			"\ngate.weights[hedging]: must be a non-negative number, got -2"},
		{second(ParseOptions("gate.options", map[string]float64{"foo": 1})), `gate.options: unknown option "foo" (known: veto_cap, `},
		{second(ParseOptions("gate.options", map[string]float64{"veto_cap": 1.5})), "gate.options[veto_cap]: must be in [0, 1], got 1.5"},
		{second(ParseOptions("gate.options", map[string]float64{"repetition_ngram": 17})), "gate.options[repetition_ngram]: must be an integer in [1, 16], got 17"},
		{second(ParseOptions("gate.options", map[string]float64{"hedge_penalty": -0.1})), "gate.options[hedge_penalty]: must be a non-negative number, got -0.1"},
		{second(ParseOptions("gate.options", map[string]float64{"complexity_verified_calcs": 0.5})), "gate.options[complexity_verified_calcs]: must be at least 1, got 0.5"},
		{second(ParseOptions("gate.options", map[string]float64{"judge_timeout_seconds": 7200})), "gate.options[judge_timeout_seconds]: must be in (0, 3600], got 7200"},
		{second(ParseOptions("gate.options", map[string]float64{"logprob_low": 0.95})), "gate.options: logprob_low (0.95) must be below logprob_high (0.9)"},
		{second(ParseOptions("gate.options", map[string]float64{"complexity_hard": 0.2})), "gate.options: complexity_moderate (0.35) must not exceed complexity_hard (0.2)"},
		{CheckComplexityThresholds("gate.complexityThresholds", map[string]float64{"extreme": 1}),
			`gate.complexityThresholds: unknown complexity level "extreme" (known: simple, moderate, hard)`},
		{CheckComplexityThresholds("gate.complexityThresholds", map[string]float64{"hard": -0.5}), "gate.complexityThresholds[hard]: must be in [0, 1], got -0.5"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("err = %v\nwant it to contain %q", tc.err, tc.want)
		}
	}
	if err := CheckComplexityThresholds("x", map[string]float64{"simple": 0, "moderate": 0.5, "hard": 1}); err != nil {
		t.Errorf("valid thresholds refused: %v", err)
	}
}

func TestUnitOptions(t *testing.T) {
	unit := UnitOptions()
	for _, want := range []string{"veto_cap", "dangling_score", "hedge_floor", "coverage_unused_score", "logprob_high"} {
		if !strings.Contains(","+strings.Join(unit, ",")+",", ","+want+",") {
			t.Errorf("UnitOptions %v lacks %s", unit, want)
		}
	}
	for _, not := range []string{"hedge_penalty", "repetition_ngram", "judge_timeout_seconds", "length_min_code"} {
		if strings.Contains(","+strings.Join(unit, ",")+",", ","+not+",") {
			t.Errorf("UnitOptions %v holds %s", unit, not)
		}
	}
}

func second[T any](_ T, err error) error { return err }
