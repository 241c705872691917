package quality

import (
	"strings"
	"testing"
	"time"

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
	if got := g.cfg.w(SignalArithmetic); got != 3 {
		t.Fatalf("default arithmetic weight = %v, want 3", got)
	}
	if g.cfg.judgeTimeout != 10*time.Second {
		t.Fatalf("judge timeout = %v, want 10s", g.cfg.judgeTimeout)
	}
}

func TestNewRejectsUnknownAndInvalidSettings(t *testing.T) {
	for name, tc := range map[string]struct {
		gate *rules.Gate
		th   float64
		want string
	}{
		"unknown weight":   {&rules.Gate{Weights: map[string]float64{"vibes": 1}}, 0.7, `unknown signal weight "vibes"`},
		"negative weight":  {&rules.Gate{Weights: map[string]float64{"hedging": -1}}, 0.7, "non-negative"},
		"unknown option":   {&rules.Gate{Options: map[string]float64{"hedge_penalt": 1}}, 0.7, `unknown option "hedge_penalt"`},
		"unknown level":    {&rules.Gate{ComplexityThresholds: map[string]float64{"extreme": 0.9}}, 0.7, `unknown complexity level "extreme"`},
		"level range":      {&rules.Gate{ComplexityThresholds: map[string]float64{"hard": 1.5}}, 0.7, "must be in [0, 1]"},
		"inverted ramp":    {&rules.Gate{Options: map[string]float64{"repetition_low": 0.9, "repetition_high": 0.5}}, 0.7, "repetition_low must be below"},
		"ngram not int":    {&rules.Gate{Options: map[string]float64{"repetition_ngram": 2.5}}, 0.7, "repetition_ngram"},
		"cap out of range": {&rules.Gate{Options: map[string]float64{"veto_cap": 2}}, 0.7, "veto_cap must be in [0, 1]"},
		"threshold":        {nil, 1.2, "threshold must be in [0, 1]"},
		"flaw score":       {&rules.Gate{Options: map[string]float64{"answer_flaw_score": 1.5}}, 0.7, "answer_flaw_score must be in [0, 1]"},
		"coverage score":   {&rules.Gate{Options: map[string]float64{"coverage_unused_score": -0.1}}, 0.7, "coverage_unused_score must be in [0, 1]"},
		"discount":         {&rules.Gate{Options: map[string]float64{"complexity_verified_discount": 2}}, 0.7, "complexity_verified_discount must be in [0, 1]"},
		"verified calcs":   {&rules.Gate{Options: map[string]float64{"complexity_verified_calcs": 0}}, 0.7, "complexity_verified_calcs must be at least 1"},
		"min chars":        {&rules.Gate{MinAnswerChars: ptr(-1)}, 0.7, "minAnswerChars"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.gate, tc.th)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNewAppliesSettings(t *testing.T) {
	g, err := New(&rules.Gate{
		Weights:              map[string]float64{"hedging": 0, "arithmetic": 5},
		Options:              map[string]float64{"hedge_penalty": 0.5},
		ComplexityThresholds: map[string]float64{"hard": 0.9},
		SkipDraftAbove:       ptr(0.8),
		MinAnswerChars:       ptr(3),
		Judge:                &rules.Judge{Weight: ptr(2.0), Timeout: rules.Duration{Duration: 3 * time.Second}},
	}, 0.6)
	if err != nil {
		t.Fatal(err)
	}
	c := g.cfg
	if c.w("hedging") != 0 || c.w("arithmetic") != 5 || c.o("hedge_penalty") != 0.5 {
		t.Fatalf("weights/options not applied: %v %v %v", c.w("hedging"), c.w("arithmetic"), c.o("hedge_penalty"))
	}
	if g.Threshold(LevelHard) != 0.9 || g.Threshold(LevelModerate) != 0.6 {
		t.Fatalf("thresholds hard=%v moderate=%v, want 0.9 and 0.6", g.Threshold(LevelHard), g.Threshold(LevelModerate))
	}
	if c.skipDraftAbove != 0.8 || c.minAnswerChars != 3 || c.judgeWeight != 2 || c.judgeTimeout != 3*time.Second {
		t.Fatalf("skip=%v min=%v judgeWeight=%v judgeTimeout=%v", c.skipDraftAbove, c.minAnswerChars, c.judgeWeight, c.judgeTimeout)
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
