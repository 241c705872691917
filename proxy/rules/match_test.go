package rules

import "testing"

func matchSet(t *testing.T) *Set {
	t.Helper()
	s, err := Decode([]byte(baseDoc + `rules:
- name: opus
  models: [claude-opus-5-5, Opus]
  draft: {provider: anthropic, model: claude-haiku-5-5}
  verifier: {provider: anthropic, model: claude-opus-5-5}
- name: gpt
  models: [GPT-5, "Ünïcode-Model"]
  draft: {provider: anthropic, model: a}
  verifier: {provider: anthropic, model: b}
`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMatch(t *testing.T) {
	s := matchSet(t)
	ix := NewIndex(s)
	if ix.Set() != s {
		t.Error("Index.Set is not the indexed set")
	}
	for _, tt := range []struct{ model, rule string }{
		{"claude-opus-5-5", "opus"},
		{"CLAUDE-OPUS-5-5", "opus"},
		{"Claude-Opus-5-5", "opus"},
		{"opus", "opus"},
		{"OPUS", "opus"},
		{"gpt-5", "gpt"},
		{"GPT-5", "gpt"},
		{"ünïcode-model", "gpt"},
		{"ÜNÏCODE-MODEL", "gpt"},
		{"claude-opus-5", ""},
		{"claude-opus-5-5 ", ""},
		{"", ""},
		{"gpt", ""},
		{"ſonnet", ""}, // long s: folds to "s" but lowercases to itself
	} {
		for name, got := range map[string]*Rule{"Index": ix.Match(tt.model), "Set": s.Match(tt.model)} {
			switch {
			case tt.rule == "" && got != nil:
				t.Errorf("%s.Match(%q) = rule %q, want nil", name, tt.model, got.Name)
			case tt.rule != "" && (got == nil || got.Name != tt.rule):
				t.Errorf("%s.Match(%q) = %v, want rule %q", name, tt.model, got, tt.rule)
			}
		}
	}
	// The returned rule is the set's own, not a copy.
	if ix.Match("opus") != &s.Rules[0] || s.Match("opus") != &s.Rules[0] {
		t.Error("Match returned a copy of the rule")
	}
}

func TestMatchAgreesWithDuplicateCheck(t *testing.T) {
	// Kelvin sign K (U+212A) lowercases to "k", so Validate treats "Kimi" and
	// "kimi" as one model; both lookups must find it either way.
	s, err := Decode([]byte(baseDoc + "rules:\n- name: k\n  models: [\"\u212Aimi\"]\n  draft: {provider: anthropic, model: a}\n  verifier: {provider: anthropic, model: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"kimi", "KIMI", "\u212Aimi"} {
		if NewIndex(s).Match(m) == nil || s.Match(m) == nil {
			t.Errorf("Match(%q) = nil", m)
		}
	}
	if _, err := Decode([]byte(baseDoc + "rules:\n- name: k\n  models: [\"\u212Aimi\", kimi]\n  draft: {provider: anthropic, model: a}\n  verifier: {provider: anthropic, model: b}\n")); err == nil {
		t.Error("\u212Aimi and kimi accepted as two models")
	}
}

func TestEffectiveDefaults(t *testing.T) {
	var r Rule
	if r.EffectiveMode() != ModeCascade || r.EffectiveThreshold() != 0.7 || !r.WantsCascadeHeaders() {
		t.Errorf("defaults: mode %q threshold %v headers %v", r.EffectiveMode(), r.EffectiveThreshold(), r.WantsCascadeHeaders())
	}
	r = Rule{Mode: ModeDraftOnly, Threshold: f64(0), CascadeHeaders: boolp(true)}
	if r.EffectiveMode() != ModeDraftOnly || r.EffectiveThreshold() != 0 || !r.WantsCascadeHeaders() {
		t.Errorf("set: mode %q threshold %v headers %v", r.EffectiveMode(), r.EffectiveThreshold(), r.WantsCascadeHeaders())
	}
}
