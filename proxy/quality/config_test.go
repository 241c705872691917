package quality

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func TestNewDefaults(t *testing.T) {
	g, err := New(nil, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	if g.Threshold(LevelHard) != 0.7 || g.Threshold(LevelSimple) != 0.7 {
		t.Fatalf("thresholds = %v/%v, want 0.7", g.Threshold(LevelHard), g.Threshold(LevelSimple))
	}
	if got := g.cfg.weights.Arithmetic; got != 3 {
		t.Fatalf("default arithmetic weight = %v, want 3", got)
	}
	if g.cfg.judgeTimeout != 10*time.Second {
		t.Fatalf("judge timeout = %v, want 10s", g.cfg.judgeTimeout)
	}
	if err := Validate(nil); err != nil {
		t.Fatalf("Validate(nil) = %v", err)
	}
}

// badGate is one gate setting New and Validate must refuse, and what the
// error must say: the field first.
type badGate struct {
	gate *rules.Gate
	want []string
}

// badGates covers every field of rules.Gate: a misspelt name where the field
// is a map, and values outside the allowed range.
func badGates() map[string]badGate {
	return map[string]badGate{
		"weights: misspelt signal": {&rules.Gate{Weights: map[string]float64{"hedgin": 1}},
			[]string{`gate.weights: unknown signal "hedgin" (known: truncation, empty, refusal, hedging,`}},
		"weights: negative": {&rules.Gate{Weights: map[string]float64{"hedging": -1}},
			[]string{"gate.weights[hedging]: must be a non-negative number, got -1"}},
		"weights: not a number": {&rules.Gate{Weights: map[string]float64{"arithmetic": math.NaN()}},
			[]string{"gate.weights[arithmetic]: must be a finite number"}},
		"options: misspelt option": {&rules.Gate{Options: map[string]float64{"hedge_penalt": 0.1}},
			[]string{`gate.options: unknown option "hedge_penalt" (known: veto_cap, dangling_score,`}},
		"options: score above 1": {&rules.Gate{Options: map[string]float64{"veto_cap": 2}},
			[]string{"gate.options[veto_cap]: must be in [0, 1], got 2"}},
		"options: not an integer": {&rules.Gate{Options: map[string]float64{"repetition_ngram": 2.5}},
			[]string{"gate.options[repetition_ngram]: must be an integer in [1, 16], got 2.5"}},
		"options: below the minimum": {&rules.Gate{Options: map[string]float64{"complexity_verified_calcs": 0}},
			[]string{"gate.options[complexity_verified_calcs]: must be at least 1, got 0"}},
		"options: zero timeout": {&rules.Gate{Options: map[string]float64{"judge_timeout_seconds": 0}},
			[]string{"gate.options[judge_timeout_seconds]: must be in (0, 3600], got 0"}},
		"options: inverted ramp": {&rules.Gate{Options: map[string]float64{"repetition_low": 0.9, "repetition_high": 0.5}},
			[]string{"gate.options: repetition_low (0.9) must be below repetition_high (0.5)"}},
		"options: inverted levels": {&rules.Gate{Options: map[string]float64{"complexity_moderate": 0.7}},
			[]string{"gate.options: complexity_moderate (0.7) must not exceed complexity_hard (0.6)"}},
		"complexityThresholds: misspelt level": {&rules.Gate{ComplexityThresholds: map[string]float64{"hrad": 0.9}},
			[]string{`gate.complexityThresholds: unknown complexity level "hrad" (known: simple, moderate, hard)`}},
		"complexityThresholds: above 1": {&rules.Gate{ComplexityThresholds: map[string]float64{"hard": 1.5}},
			[]string{"gate.complexityThresholds[hard]: must be in [0, 1], got 1.5"}},
		"skipDraftAbove: above 1": {&rules.Gate{SkipDraftAbove: ptr(1.2)},
			[]string{"gate.skipDraftAbove: must be in [0, 1], got 1.2"}},
		"minAnswerChars: negative": {&rules.Gate{MinAnswerChars: ptr(-1)},
			[]string{"gate.minAnswerChars: must not be negative, got -1"}},
		"judge.weight: negative": {&rules.Gate{Judge: &rules.Judge{Weight: ptr(-0.5)}},
			[]string{"gate.judge.weight: must be a non-negative number, got -0.5"}},
		"judge.timeout: negative": {&rules.Gate{Judge: &rules.Judge{Timeout: rules.Duration{Duration: -time.Second}}},
			[]string{"gate.judge.timeout: must not be negative, got -1s"}},
		"several at once": {&rules.Gate{Weights: map[string]float64{"vibes": 1}, Options: map[string]float64{"veto_cap": -1}},
			[]string{`gate.weights: unknown signal "vibes"`, "gate.options[veto_cap]: must be in [0, 1], got -1"}},
	}
}

func TestNewAndValidateRefuseEveryBadField(t *testing.T) {
	for name, tc := range badGates() {
		t.Run(name, func(t *testing.T) {
			errV := Validate(tc.gate)
			g, errN := New(tc.gate, 0.7)
			if errV == nil || errN == nil || g != nil {
				t.Fatalf("accepted: Validate = %v, New = %v", errV, errN)
			}
			for _, w := range tc.want {
				if !strings.Contains(errV.Error(), w) || !strings.Contains(errN.Error(), w) {
					t.Errorf("error does not say %q:\nValidate: %v\nNew: %v", w, errV, errN)
				}
			}
		})
	}
	// Every field of rules.Gate has a case (the judge's target is the rules
	// contract's to check: it names a provider).
	covered := map[string]bool{}
	for name := range badGates() {
		covered[strings.SplitN(name, ":", 2)[0]] = true
	}
	gt := reflect.TypeFor[rules.Gate]()
	for i := range gt.NumField() {
		f := strings.Split(gt.Field(i).Tag.Get("json"), ",")[0]
		if f == "judge" {
			continue
		}
		if !covered[f] {
			t.Errorf("no case for rules.Gate field %q", f)
		}
	}
	for _, f := range []string{"judge.weight", "judge.timeout"} {
		if !covered[f] {
			t.Errorf("no case for %q", f)
		}
	}

	if _, err := New(nil, 1.2); err == nil || !strings.Contains(err.Error(), "threshold: must be in [0, 1], got 1.2") {
		t.Errorf("threshold 1.2: err = %v", err)
	}
}

// Every signal and every option is checked by name and by value.
func TestNewChecksEverySignalAndOption(t *testing.T) {
	for _, s := range gateconfig.SignalNames() {
		typo := s[:len(s)-1]
		if err := Validate(&rules.Gate{Weights: map[string]float64{typo: 1}}); err == nil || !strings.Contains(err.Error(), `gate.weights: unknown signal "`+typo+`"`) {
			t.Errorf("weight %q: err = %v", typo, err)
		}
		if err := Validate(&rules.Gate{Weights: map[string]float64{s: -1}}); err == nil || !strings.Contains(err.Error(), "gate.weights["+s+"]: ") {
			t.Errorf("weight %s = -1: err = %v", s, err)
		}
		if err := Validate(&rules.Gate{Weights: map[string]float64{s: 0}}); err != nil {
			t.Errorf("weight %s = 0 (signal off): %v", s, err)
		}
	}
	_, defaultOptions := Defaults()
	for _, o := range gateconfig.OptionNames() {
		typo := o + "s"
		if err := Validate(&rules.Gate{Options: map[string]float64{typo: 1}}); err == nil || !strings.Contains(err.Error(), `gate.options: unknown option "`+typo+`"`) {
			t.Errorf("option %q: err = %v", typo, err)
		}
		for _, bad := range []float64{-1, math.Inf(1), math.NaN()} {
			if err := Validate(&rules.Gate{Options: map[string]float64{o: bad}}); err == nil || !strings.Contains(err.Error(), "gate.options["+o+"]: ") {
				t.Errorf("option %s = %v: err = %v", o, bad, err)
			}
		}
		if err := Validate(&rules.Gate{Options: map[string]float64{o: defaultOptions[o]}}); err != nil {
			t.Errorf("option %s at its default %v: %v", o, defaultOptions[o], err)
		}
	}
}

// A misspelt gate setting is refused where the rules are loaded, naming the
// field, and again by the gate itself, instead of being accepted and failing
// every request of the rule.
func TestHardeningGateTypoRefusedAtLoad(t *testing.T) {
	const doc = `version: v1
providers:
- {name: anthropic, type: anthropic, baseURL: "https://api.anthropic.com", apiKey: {env: ANTHROPIC_API_KEY}}
rules:
- name: opus
  models: [claude-opus-5-5]
  draft: {provider: anthropic, model: claude-haiku-5-5}
  verifier: {provider: anthropic, model: claude-opus-5-5}
  gate:
`
	for gate, want := range map[string]string{
		"    weights: {hedgin: 1}":                       `rules[0].gate.weights: unknown signal "hedgin" (known: `,
		"    options: {hedge_penalt: 0.2}":               `rules[0].gate.options: unknown option "hedge_penalt" (known: `,
		"    complexityThresholds: {extreme: 0.9}":       `rules[0].gate.complexityThresholds: unknown complexity level "extreme"`,
		"    options: {repetition_ngram: 0}":             `rules[0].gate.options[repetition_ngram]: must be an integer in [1, 16], got 0`,
		"    options: {logprob_low: 1, logprob_high: 1}": `rules[0].gate.options: logprob_low (1) must be below logprob_high (1)`,
	} {
		_, err := rules.Decode([]byte(doc + gate + "\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rules.Decode with %q: err = %v, want it to say %q", gate, err, want)
		}
	}
	// The same typo in a set built in Go reaches the gate, which refuses it too.
	_, err := New(&rules.Gate{Weights: map[string]float64{"hedgin": 1}}, 0.7)
	if err == nil || !strings.Contains(err.Error(), `gate.weights: unknown signal "hedgin"`) || !strings.Contains(err.Error(), "hedging") {
		t.Fatalf("New: err = %v, want the field, the name and the known names", err)
	}
	// And the correct spelling loads and applies.
	set, err := rules.Decode([]byte(doc + "    weights: {hedging: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(set.Rules[0].Gate, set.Rules[0].EffectiveThreshold())
	if err != nil || g.cfg.weights.Hedging != 2 {
		t.Fatalf("New: %v, hedging weight %v", err, g.cfg.weights.Hedging)
	}
}

func TestNewAppliesSettings(t *testing.T) {
	g, err := New(&rules.Gate{
		Weights:              map[string]float64{"hedging": 0, "arithmetic": 5},
		Options:              map[string]float64{"hedge_penalty": 0.5, "repetition_ngram": 3},
		ComplexityThresholds: map[string]float64{"hard": 0.9},
		SkipDraftAbove:       ptr(0.8),
		MinAnswerChars:       ptr(3),
		Judge:                &rules.Judge{Weight: ptr(2.0), Timeout: rules.Duration{Duration: 3 * time.Second}},
	}, 0.6)
	if err != nil {
		t.Fatal(err)
	}
	c := g.cfg
	if c.weights.Hedging != 0 || c.weights.Arithmetic != 5 || c.opt.HedgePenalty != 0.5 || c.opt.RepetitionNgram != 3 {
		t.Fatalf("weights/options not applied: %+v %+v", c.weights, c.opt)
	}
	if c.weights.Truncation != 1 || c.opt.HedgeFloor != 0.3 {
		t.Fatalf("unset weights/options lost their defaults: %+v %+v", c.weights, c.opt)
	}
	if g.Threshold(LevelHard) != 0.9 || g.Threshold(LevelModerate) != 0.6 {
		t.Fatalf("thresholds hard=%v moderate=%v, want 0.9 and 0.6", g.Threshold(LevelHard), g.Threshold(LevelModerate))
	}
	if c.skipDraftAbove != 0.8 || c.minAnswerChars != 3 || c.weights.Judge != 2 || c.judgeTimeout != 3*time.Second {
		t.Fatalf("skip=%v min=%v judgeWeight=%v judgeTimeout=%v", c.skipDraftAbove, c.minAnswerChars, c.weights.Judge, c.judgeTimeout)
	}
	g2, err := New(&rules.Gate{Options: map[string]float64{"judge_timeout_seconds": 2.5}}, 0.6)
	if err != nil || g2.cfg.judgeTimeout != 2500*time.Millisecond {
		t.Fatalf("judge_timeout_seconds 2.5: %v, timeout %v", err, g2.cfg.judgeTimeout)
	}
}

func TestDefaultsNameEverySignalAndAreCopies(t *testing.T) {
	w, o := Defaults()
	for _, name := range []string{SignalTruncation, SignalEmpty, SignalRefusal, SignalHedging, SignalRepetition,
		SignalLength, SignalToolCalls, SignalFormat, SignalArithmetic, SignalCoverage, SignalAnswer, SignalComplexity,
		SignalLogprob, SignalJudge} {
		if _, ok := w[name]; !ok {
			t.Errorf("Defaults has no weight for %q", name)
		}
	}
	if len(w) != 14 {
		t.Errorf("Defaults names %d signals: %v", len(w), w)
	}
	if len(o) != len(gateconfig.OptionNames()) || o["hedge_penalty"] != 0.12 || o["repetition_ngram"] != 4 {
		t.Errorf("Defaults options = %v", o)
	}
	if _, err := New(&rules.Gate{Weights: w, Options: o}, 0.7); err != nil {
		t.Fatalf("the defaults themselves are rejected: %v", err)
	}
	w[SignalArithmetic] = 99
	o["veto_cap"] = 0.5
	w2, o2 := Defaults()
	if w2[SignalArithmetic] != 3 || o2["veto_cap"] != 0 {
		t.Fatal("Defaults returned the package's own maps")
	}
}
