package rules

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }
func boolp(v bool) *bool     { return &v }

func mustDecodeFile(t *testing.T, name string) *Set {
	t.Helper()
	s, _, err := DecodeFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("DecodeFile(%s): %v", name, err)
	}
	return s
}

func TestDecodeClaudeCodeSample(t *testing.T) {
	s := mustDecodeFile(t, "claude-code-cascade.yaml")
	if s.Version != "v1" || len(s.Providers) != 2 || len(s.Rules) != 2 {
		t.Fatalf("version %q, %d providers, %d rules", s.Version, len(s.Providers), len(s.Rules))
	}
	p := s.Providers[0]
	if p.Name != "anthropic" || p.Type != Anthropic || p.BaseURL != "https://api.anthropic.com" ||
		p.APIKey == nil || p.APIKey.Env != "ANTHROPIC_API_KEY" || p.APIKey.File != "" || p.PassthroughAuth ||
		p.Timeout.Duration != 10*time.Minute || p.Headers["anthropic-beta"] != "context-management-2025-06-27" {
		t.Errorf("provider 0 = %+v (key %+v)", p, p.APIKey)
	}
	byok := s.ProviderByName("anthropic-byok")
	if byok == nil || !byok.PassthroughAuth || byok.APIKey != nil || byok.Timeout.Duration != 0 {
		t.Errorf("passthrough provider = %+v", byok)
	}
	if s.ProviderByName("nope") != nil {
		t.Error("ProviderByName(nope) != nil")
	}

	r := s.Rules[0]
	if r.Name != "opus" || strings.Join(r.Models, ",") != "claude-opus-5-5,Opus,claude-opus-4-1-20250805" ||
		!reflect.DeepEqual(r.Draft, Target{Provider: "anthropic", Model: "claude-haiku-5-5"}) || !reflect.DeepEqual(r.Verifier, Target{Provider: "anthropic", Model: "claude-opus-5-5"}) ||
		r.EffectiveMode() != ModeCascade || r.EffectiveThreshold() != 0.72 ||
		r.DraftTimeout.Duration != 30*time.Second || r.VerifierTimeout.Duration != 9*time.Minute+30*time.Second ||
		r.ResponseModel != "" || !r.WantsCascadeHeaders() {
		t.Errorf("rule 0 = %+v", r)
	}
	g := r.Gate
	if g == nil {
		t.Fatal("rule 0 has no gate")
	}
	if len(g.Weights) != 3 || g.Weights["hedging"] != 1 || g.Weights["tool_calls"] != 2.5 || g.Weights["length"] != 0.5 {
		t.Errorf("weights = %v", g.Weights)
	}
	if len(g.ComplexityThresholds) != 3 || g.ComplexityThresholds["simple"] != 0.5 || g.ComplexityThresholds["hard"] != 0.85 {
		t.Errorf("complexityThresholds = %v", g.ComplexityThresholds)
	}
	if g.SkipDraftAbove == nil || *g.SkipDraftAbove != 0.9 || g.MinAnswerChars == nil || *g.MinAnswerChars != 20 {
		t.Errorf("skipDraftAbove/minAnswerChars = %v/%v", g.SkipDraftAbove, g.MinAnswerChars)
	}
	if j := g.Judge; j == nil || j.Provider != "anthropic" || j.Model != "claude-haiku-5-5" ||
		j.Weight == nil || *j.Weight != 0.5 || j.Timeout.Duration != 5*time.Second {
		t.Errorf("judge = %+v", g.Judge)
	}
	if g.Options["refusal_partial_score"] != 0.8 {
		t.Errorf("options = %v", g.Options)
	}

	r = s.Rules[1]
	if r.Name != "sonnet-byok" || r.EffectiveMode() != ModeVerifierOnly || r.ResponseModel != ResponseModelServed ||
		r.WantsCascadeHeaders() || r.EffectiveThreshold() != DefaultThreshold || r.Gate != nil ||
		r.Prices["claude-sonnet-5-5"] != (Price{Input: 3, Output: 15, CacheWrite: 3.75, CacheRead: 0.3}) {
		t.Errorf("rule 1 = %+v", r)
	}
	if s.Prices["claude-haiku-5-5"] != (Price{1, 5, 1.25, 0.1}) || s.Prices["claude-opus-5-5"] != (Price{Input: 5, Output: 25}) {
		t.Errorf("prices = %v", s.Prices)
	}
	if s.DefaultRoute == nil || !reflect.DeepEqual(*s.DefaultRoute, Route{Provider: "anthropic"}) {
		t.Errorf("defaultRoute = %+v", s.DefaultRoute)
	}
}

func TestDecodeOpenAISample(t *testing.T) {
	s := mustDecodeFile(t, "openai-vllm-cascade.json")
	vllm := s.ProviderByName("vllm")
	if vllm == nil || vllm.Type != OpenAI || vllm.BaseURL != "http://vllm.inference.svc.cluster.local:8000/v1" ||
		vllm.APIKey == nil || vllm.APIKey.File != "/var/run/secrets/vllm/token" || vllm.APIKey.Env != "" ||
		vllm.Timeout.Duration != 2*time.Minute {
		t.Errorf("vllm = %+v", vllm)
	}
	oai := s.ProviderByName("openai")
	if oai == nil || oai.Headers["OpenAI-Organization"] != "org-example" || len(oai.Headers) != 2 {
		t.Errorf("openai = %+v", oai)
	}
	r := s.Rules[0]
	if r.Draft.Model != "Qwen/Qwen3-32B" || r.EffectiveThreshold() != 0.65 || r.ResponseModel != ResponseModelRequested {
		t.Errorf("rule 0 = %+v", r)
	}
	r = s.Rules[1]
	// An explicit 0 is not "unset".
	if r.Threshold == nil || *r.Threshold != 0 || r.EffectiveThreshold() != 0 || r.EffectiveMode() != ModeDraftOnly {
		t.Errorf("rule 1 threshold %v mode %q", r.Threshold, r.Mode)
	}
	if s.Prices["Qwen/Qwen3-32B"] != (Price{}) || s.Prices["gpt-5"] != (Price{Input: 1.25, Output: 10, CacheRead: 0.125}) {
		t.Errorf("prices = %v", s.Prices)
	}
	if !reflect.DeepEqual(*s.DefaultRoute, Route{Provider: "openai", Model: "gpt-5-mini"}) {
		t.Errorf("defaultRoute = %+v", s.DefaultRoute)
	}
}

func TestDecodeFileReturnsBytesAndNamesMissingFile(t *testing.T) {
	_, data, err := DecodeFile(filepath.Join("testdata", "claude-code-cascade.yaml"))
	if err != nil || !strings.HasPrefix(string(data), "# Claude Code") {
		t.Errorf("data %q..., err %v", data[:min(20, len(data))], err)
	}
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	if _, _, err := DecodeFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v, want one naming %s", err, missing)
	}
}

const baseDoc = `version: v1
providers:
- name: anthropic
  type: anthropic
  baseURL: https://api.anthropic.com
  apiKey: {env: ANTHROPIC_API_KEY}
`

const ruleDoc = `rules:
- name: opus
  models: [claude-opus-5-5]
  draft: {provider: anthropic, model: claude-haiku-5-5}
  verifier: {provider: anthropic, model: claude-opus-5-5}
`

// provider returns a document whose single provider has the given lines.
func provider(lines string) string {
	return "version: v1\nproviders:\n- name: p\n  type: openai\n" + lines
}

func TestDecodeBaseDocumentsAreValid(t *testing.T) {
	for _, d := range []string{baseDoc, baseDoc + ruleDoc, provider("  baseURL: http://x\n  passthroughAuth: true\n")} {
		if _, err := Decode([]byte(d)); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
}

func TestDecodeGranularity(t *testing.T) {
	s, err := Decode([]byte(baseDoc + ruleDoc))
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Rules[0].EffectiveGranularity(); g != GranularityRequest {
		t.Errorf("default granularity %q, want request", g)
	}
	s, err = Decode([]byte(baseDoc + ruleDoc + "  granularity: turn\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Rules[0].EffectiveGranularity(); g != GranularityTurn {
		t.Errorf("granularity %q, want turn", g)
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // each must appear in the error
	}{
		{"empty file", "", []string{"empty"}},
		{"whitespace only", "  \n\t\n", []string{"empty"}},
		{"comment only", "# nothing here\n", []string{"0 YAML documents"}},
		{"two YAML documents", baseDoc + "---\n" + baseDoc, []string{"2 YAML documents"}},
		{"JSON with trailing document", `{"version":"v1"} {"version":"v1"}`, []string{"rules: parse"}},
		{"list at top level", "- version: v1\n", []string{"(document): must be an object"}},
		{"syntax error", "version: v1\nproviders: [\n", []string{"parse"}},
		{"duplicate key", baseDoc + "version: v1\n", []string{`"version" already set`}},
		{"version missing", strings.TrimPrefix(baseDoc, "version: v1\n"), []string{`version: must be "v1", got ""`}},
		{"version wrong", strings.Replace(baseDoc, "v1", "v2", 1), []string{`version: must be "v1", got "v2"`}},

		{"unknown field at top level", baseDoc + "rulez: []\n", []string{"rulez: unknown field"}},
		{"unknown field nested", baseDoc + strings.Replace(ruleDoc, "model: claude-haiku-5-5", "modle: claude-haiku-5-5", 1),
			[]string{"rules[0].draft.modle: unknown field"}},
		{"unknown field in second list item", baseDoc + ruleDoc + "- name: two\n  models: [x]\n  draft: {provider: anthropic, model: a}\n  verifier: {provider: anthropic, model: b}\n  treshold: 0.5\n",
			[]string{"rules[1].treshold: unknown field"}},
		{"unknown field in a map value", baseDoc + "prices:\n  claude-opus-5-5: {input: 1, outptu: 2}\n",
			[]string{"prices[claude-opus-5-5].outptu: unknown field"}},
		{"unknown field in judge", baseDoc + ruleDoc + "  gate:\n    judge: {provider: anthropic, model: m, wieght: 1}\n",
			[]string{"rules[0].gate.judge.wieght: unknown field"}},
		{"unknown field in apiKey", provider("  baseURL: http://x\n  apiKey: {env: K, value: sk-123}\n"),
			[]string{"providers[0].apiKey.value: unknown field"}},
		{"field name in wrong case", baseDoc + "Version: v1\n", []string{"Version: unknown field"}},
		{"nested field name in wrong case", provider("  baseurl: http://x\n  passthroughAuth: true\n"),
			[]string{"providers[0].baseurl: unknown field"}},
		{"every unknown field is reported", baseDoc + "a: 1\nb: 2\n", []string{"a: unknown field", "b: unknown field"}},

		{"wrong type: string for list", baseDoc + strings.Replace(ruleDoc, "[claude-opus-5-5]", "claude-opus-5-5", 1),
			[]string{"rules[0].models: must be a list, got a string"}},
		{"wrong type: number for string", baseDoc + strings.Replace(ruleDoc, "model: claude-haiku-5-5", "model: 5", 1),
			[]string{"rules[0].draft.model: must be a string, got a number"}},
		{"wrong type: bool in list", baseDoc + strings.Replace(ruleDoc, "[claude-opus-5-5]", "[claude-opus-5-5, true]", 1),
			[]string{"rules[0].models[1]: must be a string, got a boolean"}},
		{"wrong type: string for bool", provider("  baseURL: http://x\n  passthroughAuth: \"yes\"\n"),
			[]string{"providers[0].passthroughAuth: must be true or false, got a string"}},
		{"wrong type: string for number", baseDoc + ruleDoc + "  threshold: high\n",
			[]string{"rules[0].threshold: must be a number, got a string"}},
		{"wrong type: fraction for integer", baseDoc + ruleDoc + "  gate: {minAnswerChars: 1.5}\n",
			[]string{"rules[0].gate.minAnswerChars: must be an integer"}},
		{"wrong type: list for object", baseDoc + "defaultRoute: [anthropic]\n",
			[]string{"defaultRoute: must be an object, got a list"}},
		{"wrong type: number for duration", provider("  baseURL: http://x\n  passthroughAuth: true\n  timeout: 30\n"),
			[]string{"providers[0].timeout: duration must be a string"}},
		{"integer out of range", baseDoc + ruleDoc + "  gate: {minAnswerChars: 12345678901234567890}\n",
			[]string{"rules[0].gate.minAnswerChars: must be an integer, got 12345678901234567890"}},
		{"float out of range (YAML reads it as a string)", baseDoc + "prices:\n  m: {input: 1e999, output: 1}\n",
			[]string{"prices[m].input: must be a number, got a string"}},
		{"infinity", baseDoc + "prices:\n  m: {input: .inf, output: 1}\n", []string{"rules: parse"}},

		{"threshold above 1", baseDoc + ruleDoc + "  threshold: 1.5\n", []string{"rules[0].threshold: must be in [0, 1], got 1.5"}},
		{"threshold below 0", baseDoc + ruleDoc + "  threshold: -0.1\n", []string{"rules[0].threshold: must be in [0, 1]"}},
		{"negative duration", baseDoc + ruleDoc + "  draftTimeout: -5s\n", []string{"rules[0].draftTimeout:", "negative"}},
		{"negative judge timeout", baseDoc + ruleDoc + "  gate:\n    judge: {provider: anthropic, model: m, timeout: -1s}\n",
			[]string{"rules[0].gate.judge.timeout:", "negative"}},
		{"unparsable duration", baseDoc + ruleDoc + "  verifierTimeout: 30 seconds\n", []string{"rules[0].verifierTimeout:", `invalid duration "30 seconds"`}},
		{"duplicate model across rules, other case", baseDoc + ruleDoc +
			"- name: other\n  models: [gpt-5, Claude-OPUS-5-5]\n  draft: {provider: anthropic, model: a}\n  verifier: {provider: anthropic, model: b}\n",
			[]string{`rules[1].models[1]: model "Claude-OPUS-5-5" is already served by rule "opus"`}},
		{"duplicate model within a rule", baseDoc + strings.Replace(ruleDoc, "[claude-opus-5-5]", "[a, A]", 1),
			[]string{`rules[0].models[1]: model "A" is already served by rule "opus"`}},
		{"duplicate rule name", baseDoc + ruleDoc + "- name: opus\n  models: [x]\n  draft: {provider: anthropic, model: a}\n  verifier: {provider: anthropic, model: b}\n",
			[]string{`rules[1].name: duplicate rule "opus"`}},
		{"rule name not a DNS label", baseDoc + strings.Replace(ruleDoc, "name: opus", "name: Opus_Rule", 1), []string{"rules[0].name:"}},
		{"no models", baseDoc + strings.Replace(ruleDoc, "[claude-opus-5-5]", "[]", 1), []string{"rules[0].models: at least one"}},
		{"blank model", baseDoc + strings.Replace(ruleDoc, "[claude-opus-5-5]", `["  "]`, 1), []string{"rules[0].models[0]: must not be empty"}},
		{"bad mode", baseDoc + ruleDoc + "  mode: sometimes\n", []string{"rules[0].mode:"}},
		{"bad responseModel", baseDoc + ruleDoc + "  responseModel: draft\n", []string{"rules[0].responseModel:"}},
		{"bad granularity", baseDoc + ruleDoc + "  granularity: session\n", []string{`rules[0].granularity: must be request or turn; got "session"`}},
		{"undeclared provider", baseDoc + strings.Replace(ruleDoc, "verifier: {provider: anthropic", "verifier: {provider: openai", 1),
			[]string{`rules[0].verifier.provider: names undeclared provider "openai"`}},
		{"missing draft", baseDoc + "rules:\n- name: r\n  models: [m]\n  verifier: {provider: anthropic, model: v}\n",
			[]string{"rules[0].draft.provider: is required", "rules[0].draft.model: is required"}},
		{"judge with undeclared provider", baseDoc + ruleDoc + "  gate:\n    judge: {provider: cheap, model: m}\n",
			[]string{`rules[0].gate.judge.provider: names undeclared provider "cheap"`}},
		{"negative weight", baseDoc + ruleDoc + "  gate:\n    weights: {hedging: -1}\n", []string{"rules[0].gate.weights[hedging]:"}},
		{"complexity threshold above 1", baseDoc + ruleDoc + "  gate:\n    complexityThresholds: {hard: 2}\n",
			[]string{"rules[0].gate.complexityThresholds[hard]: must be in [0, 1]"}},
		{"skipDraftAbove above 1", baseDoc + ruleDoc + "  gate: {skipDraftAbove: 1.01}\n", []string{"rules[0].gate.skipDraftAbove:"}},
		{"negative minAnswerChars", baseDoc + ruleDoc + "  gate: {minAnswerChars: -1}\n", []string{"rules[0].gate.minAnswerChars: must not be negative"}},
		{"negative judge weight", baseDoc + ruleDoc + "  gate:\n    judge: {provider: anthropic, model: m, weight: -2}\n",
			[]string{"rules[0].gate.judge.weight:"}},
		{"quality target 0", baseDoc + ruleDoc + "  quality: {target: 0}\n", []string{"rules[0].quality.target: must be in (0, 1]"}},
		{"quality bad fields", baseDoc + ruleDoc + "  quality: {confidence: 0.3, minSamples: 5, coldStart: never, explore: 2}\n",
			[]string{"rules[0].quality.confidence:", "rules[0].quality.minSamples: must be at least 20", "rules[0].quality.coldStart:", "rules[0].quality.explore:"}},
		{"audit bad fields", baseDoc + ruleDoc + "  quality:\n    audit: {rate: 1.5, maxCostShare: -1, judgeRate: 2, comparer: vibes}\n",
			[]string{"rules[0].quality.audit.rate:", "rules[0].quality.audit.maxCostShare:", "rules[0].quality.audit.judgeRate:", "rules[0].quality.audit.comparer:"}},
		{"judge comparer without judge", baseDoc + ruleDoc + "  quality:\n    audit: {comparer: judge}\n", []string{"rules[0].quality.audit.judge: is required"}},
		{"audit judge undeclared", baseDoc + ruleDoc + "  quality:\n    audit:\n      judge: {provider: cheap, model: j}\n",
			[]string{`rules[0].quality.audit.judge.provider: names undeclared provider "cheap"`}},
		{"second opinion without targets", baseDoc + ruleDoc + "  secondOpinion: {targets: []}\n", []string{"rules[0].secondOpinion.targets: at least one target"}},
		{"second opinion undeclared", baseDoc + ruleDoc + "  secondOpinion:\n    targets: [{provider: cheap, model: o}]\n",
			[]string{`rules[0].secondOpinion.targets[0].provider: names undeclared provider "cheap"`}},
		{"unknown quality field", baseDoc + ruleDoc + "  quality: {taget: 0.9}\n", []string{"taget"}},
		{"negative price", baseDoc + "prices:\n  claude-opus-5-5: {input: 5, output: -25}\n",
			[]string{"prices[claude-opus-5-5].output: must be a non-negative number"}},
		{"negative rule price", baseDoc + ruleDoc + "  prices:\n    m: {input: -1, output: 1}\n", []string{"rules[0].prices[m].input:"}},
		{"default route to undeclared provider", baseDoc + "defaultRoute: {provider: openai}\n",
			[]string{`defaultRoute.provider: names undeclared provider "openai"`}},
		{"default route without provider", baseDoc + "defaultRoute: {model: m}\n", []string{"defaultRoute.provider: is required"}},

		{"no providers", "version: v1\nproviders: []\n", []string{"providers: at least one provider is required"}},
		{"duplicate provider", baseDoc + "- name: anthropic\n  type: anthropic\n  baseURL: https://b\n  passthroughAuth: true\n",
			[]string{`providers[1].name: duplicate provider "anthropic"`}},
		{"provider name not a DNS label", strings.Replace(baseDoc, "name: anthropic", "name: Anthropic", 1), []string{"providers[0].name:"}},
		{"unknown provider type", strings.Replace(baseDoc, "type: anthropic", "type: azure", 1), []string{"providers[0].type:", `"azure"`}},
		{"both apiKey and passthroughAuth", baseDoc + "  passthroughAuth: true\n",
			[]string{"providers[0]: apiKey and passthroughAuth are mutually exclusive"}},
		{"neither apiKey nor passthroughAuth", provider("  baseURL: http://x\n"),
			[]string{"providers[0]: one of apiKey and passthroughAuth is required"}},
		{"apiKey with env and file", provider("  baseURL: http://x\n  apiKey: {env: K, file: /k}\n"),
			[]string{"providers[0].apiKey: exactly one of env and file is required"}},
		{"apiKey with neither env nor file", provider("  baseURL: http://x\n  apiKey: {}\n"),
			[]string{"providers[0].apiKey: exactly one of env and file is required"}},
		{"bad env name", provider("  baseURL: http://x\n  apiKey: {env: OPENAI-API-KEY}\n"),
			[]string{`providers[0].apiKey.env: must be the name of an environment variable`}},
		{"env name starting with a digit", provider("  baseURL: http://x\n  apiKey: {env: 1KEY}\n"), []string{"providers[0].apiKey.env:"}},
		{"baseURL with credentials", provider("  baseURL: https://user:sk-secret@api.openai.com/v1\n  passthroughAuth: true\n"),
			[]string{"providers[0].baseURL: must not contain credentials"}},
		{"baseURL without scheme", provider("  baseURL: api.openai.com/v1\n  passthroughAuth: true\n"),
			[]string{"providers[0].baseURL: must be an absolute http(s) URL"}},
		{"baseURL with other scheme", provider("  baseURL: ftp://api.openai.com\n  passthroughAuth: true\n"),
			[]string{"providers[0].baseURL: must be an absolute http(s) URL"}},
		{"baseURL missing", provider("  passthroughAuth: true\n"), []string{"providers[0].baseURL:"}},
		{"credential header", provider("  baseURL: http://x\n  passthroughAuth: true\n  headers: {Authorization: Bearer sk-1}\n"),
			[]string{"providers[0].headers[Authorization]:", "carries credentials"}},
		{"credential header lowercase", provider("  baseURL: http://x\n  passthroughAuth: true\n  headers: {x-api-key: sk-1}\n"),
			[]string{"providers[0].headers[x-api-key]:", "carries credentials"}},
		{"invalid header name", provider("  baseURL: http://x\n  passthroughAuth: true\n  headers: {\"Bad Header\": v}\n"),
			[]string{"providers[0].headers[Bad Header]:", "not a valid header name"}},
		{"header value with newline", provider("  baseURL: http://x\n  passthroughAuth: true\n  headers: {X-A: \"a\\r\\nX-Injected: b\"}\n"),
			[]string{"providers[0].headers[X-A]: value must not contain line breaks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Decode succeeded (%+v); want an error mentioning %q", s, tt.want)
			}
			if s != nil {
				t.Errorf("Decode returned a set with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not mention %q", err, w)
				}
			}
		})
	}
}

func TestDecodeRejectsOversizedFile(t *testing.T) {
	doc := baseDoc + "# " + strings.Repeat("x", MaxFileSize) + "\n"
	if _, err := Decode([]byte(doc)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("err = %v", err)
	}
}

func TestDecodeAcceptsTrailingDocumentSeparator(t *testing.T) {
	// "---" before or after the one document adds no document.
	for _, d := range []string{"---\n" + baseDoc, baseDoc + "---\n", baseDoc + "...\n"} {
		if _, err := Decode([]byte(d)); err != nil {
			t.Errorf("%q: %v", d, err)
		}
	}
}

func TestDecodeJSONAndYAMLAgree(t *testing.T) {
	y := mustDecodeFile(t, "claude-code-cascade.yaml")
	js, err := EncodeJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	// Tabs and newlines, which JSON allows and YAML indentation does not.
	pretty := strings.ReplaceAll(strings.ReplaceAll(string(js), ",\"", ",\n\t\""), "{\"", "{\n\t\"")
	j, err := Decode([]byte(pretty))
	if err != nil {
		t.Fatalf("decode JSON form: %v\n%s", err, pretty)
	}
	if y.Hash() != j.Hash() {
		t.Error("the same rules in YAML and JSON hash differently")
	}
}

func TestDecodeFileInTempDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(baseDoc+ruleDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _, err := DecodeFile(path)
	if err != nil || s.Match("CLAUDE-OPUS-5-5") == nil {
		t.Fatalf("s=%v err=%v", s, err)
	}
}
