package rules

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
)

// smallSet and its encodings, written by hand: schema field order in JSON,
// sorted keys everywhere, unset optional fields omitted.
func smallSet() *Set {
	return &Set{
		Version:   "v1",
		Providers: []Provider{{Name: "a", Type: Anthropic, BaseURL: "https://x", PassthroughAuth: true}},
		Rules: []Rule{{
			Name: "r", Models: []string{"m"},
			Draft: Target{Provider: "a", Model: "d"}, Verifier: Target{Provider: "a", Model: "v"},
			Threshold: f64(0.5), DraftTimeout: Duration{30 * time.Second},
		}},
		Prices: map[string]Price{"z": {Input: 1, Output: 2}, "b": {Input: 3, Output: 4.5}},
	}
}

const smallJSON = `{"version":"v1","providers":[{"name":"a","type":"anthropic","baseURL":"https://x","passthroughAuth":true}],` +
	`"rules":[{"name":"r","models":["m"],"draft":{"provider":"a","model":"d"},"verifier":{"provider":"a","model":"v"},` +
	`"threshold":0.5,"draftTimeout":"30s"}],"prices":{"b":{"input":3,"output":4.5},"z":{"input":1,"output":2}}}`

const smallYAML = `prices:
  b:
    input: 3
    output: 4.5
  z:
    input: 1
    output: 2
providers:
- baseURL: https://x
  name: a
  passthroughAuth: true
  type: anthropic
rules:
- draft:
    model: d
    provider: a
  draftTimeout: 30s
  models:
  - m
  name: r
  threshold: 0.5
  verifier:
    model: v
    provider: a
version: v1
`

func TestEncodeJSONExact(t *testing.T) {
	b, err := EncodeJSON(smallSet())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != smallJSON {
		t.Errorf("EncodeJSON:\n got %s\nwant %s", b, smallJSON)
	}
}

func TestEncodeYAMLExact(t *testing.T) {
	b, err := EncodeYAML(smallSet())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != smallYAML {
		t.Errorf("EncodeYAML:\n got:\n%s\nwant:\n%s", b, smallYAML)
	}
}

// notAllowed are fallbacks where Validate rejects them (a judge, a second
// opinion): fullSet sets them to cover the schema, validVariant removes them.
var notAllowed = []Fallback{{Provider: "vllm", Model: "x"}}

// fullSet sets every field of the schema (a test below checks that), with
// maps of many keys built in an order decided by rng.
func fullSet(rng *rand.Rand) *Set {
	keys := func(prefix string, n int) []string {
		ks := make([]string, n)
		for i := range ks {
			ks[i] = fmt.Sprintf("%s-%02d", prefix, i)
		}
		rng.Shuffle(n, func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
		return ks
	}
	headers := map[string]string{}
	for _, k := range keys("X-H", 40) {
		headers[k] = "v" + k
	}
	// The gate's maps hold every name the gate knows, inserted in rng's order.
	shuffled := func(names []string) []string {
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		return names
	}
	weights, thresholds, options := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, k := range shuffled(gateconfig.SignalNames()) {
		weights[k] = float64(len(k)) / 7
	}
	for _, k := range shuffled(gateconfig.Levels()) {
		thresholds[k] = 0.25
	}
	defaults := gateconfig.DefaultOptions().Map()
	for _, k := range shuffled(gateconfig.OptionNames()) {
		// Non-zero, so that any map entry the walk below picks counts as set.
		options[k] = defaults[k]
		if options[k] == 0 {
			options[k] = 1
		}
	}
	prices := map[string]Price{}
	for _, k := range keys("model", 60) {
		prices[k] = Price{Input: 1.25, Output: 10, CacheWrite: 1.5, CacheRead: 0.125}
	}
	return &Set{
		Version: "v1",
		Providers: []Provider{
			{Name: "anthropic", Type: Anthropic, BaseURL: "https://api.anthropic.com", APIKey: &KeySource{Env: "ANTHROPIC_API_KEY", File: "/keys/a"},
				PassthroughAuth: true, Timeout: Duration{10 * time.Minute}, IdleTimeout: Duration{2 * time.Minute}, Headers: headers,
				Retry:          &Retry{Attempts: 2, InitialBackoff: Duration{250 * time.Millisecond}, MaxBackoff: Duration{4 * time.Second}, MaxRetryAfter: Duration{20 * time.Second}},
				CircuitBreaker: &CircuitBreaker{Failures: 5, Cooldown: Duration{30 * time.Second}}},
			{Name: "vllm", Type: OpenAI, BaseURL: "http://vllm:8000/v1", APIKey: &KeySource{File: "/var/run/key"}},
		},
		Rules: []Rule{{
			Name: "opus", Models: []string{"claude-opus-5-5", "Opus"}, Mode: ModeCascade,
			Draft:     Target{Provider: "vllm", Model: "qwen", Fallbacks: []Fallback{{Provider: "anthropic", Model: "claude-haiku-5-5"}}},
			Verifier:  Target{Provider: "anthropic", Model: "claude-opus-5-5", Fallbacks: []Fallback{{Provider: "vllm", Model: "kimi"}, {Provider: "anthropic", Model: "claude-sonnet-5-5"}}},
			Threshold: f64(0.7), DraftTimeout: Duration{30 * time.Second}, VerifierTimeout: Duration{5 * time.Minute},
			ResponseModel: ResponseModelServed,
			Gate: &Gate{
				Weights: weights, ComplexityThresholds: thresholds, SkipDraftAbove: f64(0.9), MinAnswerChars: intp(20),
				Judge:   &Judge{Target: Target{Provider: "anthropic", Model: "claude-haiku-5-5", Fallbacks: notAllowed}, Weight: f64(0.5), Timeout: Duration{5 * time.Second}},
				Options: options,
			},
			Prices:         map[string]Price{"qwen": {Input: 0.1, Output: 0.2, CacheWrite: 0.3, CacheRead: 0.05}},
			CascadeHeaders: boolp(false),
			Quality: &Quality{
				Target: f64(0.95), Confidence: f64(0.9), MinSamples: intp(100), Learn: boolp(true),
				ColdStart: ColdStartVerifier, Explore: f64(0.1),
				Audit: &Audit{
					Rate: f64(0.05), MaxCostShare: f64(0.1), Comparer: ComparerAuto, JudgeRate: f64(0.2),
					Judge:    &AuditJudge{Target: Target{Provider: "anthropic", Model: "claude-haiku-5-5", Fallbacks: notAllowed}, Timeout: Duration{time.Minute}},
					KeepText: true,
				},
			},
			SecondOpinion: &SecondOpinion{
				Targets: []Target{{Provider: "vllm", Model: "llama", Fallbacks: notAllowed}, {Provider: "anthropic", Model: "claude-haiku-5-5"}},
				Timeout: Duration{2 * time.Second},
			},
			Granularity: GranularityTurn,
		}},
		DefaultRoute: &Route{Provider: "anthropic", Model: "claude-sonnet-5-5", Fallbacks: []Fallback{{Provider: "vllm", Model: "qwen"}}},
		Prices:       prices,
		ClientKeys: []ClientKey{{
			Name: "alice", Team: "payments", SecretKey: "alice",
			Budget:            &Budget{USD: 50, Period: "week", Enforcement: "soft"},
			RequestsPerMinute: 60, TokensPerMinute: 100000, Models: []string{"claude-sonnet-5-5", "sonnet"},
		}},
		Teams: []Team{{Name: "payments", Budget: &Budget{USD: 500, Period: "month", Enforcement: "hard"}}},
	}
}

func TestEncodeDeterministic(t *testing.T) {
	wantJSON, err := EncodeJSON(fullSet(rand.New(rand.NewSource(1))))
	if err != nil {
		t.Fatal(err)
	}
	wantYAML, err := EncodeYAML(fullSet(rand.New(rand.NewSource(1))))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		s := fullSet(rand.New(rand.NewSource(int64(i)))) // same set, maps filled in another order
		js, err := EncodeJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		y, err := EncodeYAML(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(js, wantJSON) || !bytes.Equal(y, wantYAML) {
			t.Fatalf("encode %d differs", i)
		}
	}
	// Sorted keys: the map entries appear in lexical order.
	if a, b := bytes.Index(wantJSON, []byte(`"model-00"`)), bytes.Index(wantJSON, []byte(`"model-59"`)); a < 0 || a > b {
		t.Errorf("price keys not sorted: model-00 at %d, model-59 at %d", a, b)
	}
}

func TestRoundTrip(t *testing.T) {
	sets := map[string]*Set{
		"claude-code sample": mustDecodeFile(t, "claude-code-cascade.yaml"),
		"openai sample":      mustDecodeFile(t, "openai-vllm-cascade.json"),
		"small":              smallSet(),
	}
	// fullSet is not valid (a provider has both key kinds); make a valid variant.
	full := fullSet(rand.New(rand.NewSource(3)))
	full.Providers[0].APIKey = &KeySource{Env: "ANTHROPIC_API_KEY"}
	full.Providers[0].PassthroughAuth = false
	full.Rules[0].Gate.Judge.Fallbacks = nil
	full.Rules[0].Quality.Audit.Judge.Fallbacks = nil
	full.Rules[0].SecondOpinion.Targets[0].Fallbacks = nil
	// Strings a YAML 1.1 reader would take for other types if left unquoted.
	full.Rules[0].Models = []string{"yes", "on", "null", "1.0", "0x10", "~", "2026-01-01", "true", "- x", "a: b", "#c", "'q'", " sp "}
	full.Providers[0].Headers = map[string]string{"X-On": "on", "X-Num": "010", "X-Empty": "", "X-Multi": "a # b"}
	sets["full"] = full
	for name, s := range sets {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(); err != nil {
				t.Fatalf("test set is invalid: %v", err)
			}
			y, err := EncodeYAML(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(y)
			if err != nil {
				t.Fatalf("Decode(EncodeYAML(s)): %v\n%s", err, y)
			}
			if !reflect.DeepEqual(back, s) {
				t.Errorf("YAML round trip changed the set:\n got %+v\nwant %+v", back, s)
			}
			js, err := EncodeJSON(s)
			if err != nil {
				t.Fatal(err)
			}
			back, err = Decode(js)
			if err != nil {
				t.Fatalf("Decode(EncodeJSON(s)): %v", err)
			}
			if !reflect.DeepEqual(back, s) {
				t.Errorf("JSON round trip changed the set:\n got %+v\nwant %+v", back, s)
			}
		})
	}
}

// mutation changes one thing in a set and undoes it.
type mutation struct {
	path        string
	apply, undo func()
}

// mutations lists a change of every leaf, pointer, slice and map in v; set
// writes a new value where v lives.
func mutations(v reflect.Value, path string, set func(reflect.Value), out *[]mutation) {
	orig := reflect.New(v.Type()).Elem()
	orig.Set(v)
	add := func(p string, nv reflect.Value) {
		*out = append(*out, mutation{p, func() { set(nv) }, func() { set(orig) }})
	}
	if v.Type() == reflect.TypeFor[Duration]() {
		add(path, reflect.ValueOf(Duration{v.Interface().(Duration).Duration + time.Second}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		add(path, reflect.ValueOf(v.String()+"x").Convert(v.Type()))
	case reflect.Bool:
		add(path, reflect.ValueOf(!v.Bool()))
	case reflect.Float64:
		add(path, reflect.ValueOf(v.Float()+0.125))
	case reflect.Int:
		add(path, reflect.ValueOf(int(v.Int())+1))
	case reflect.Pointer:
		if v.IsNil() {
			add(path+"(set)", reflect.New(v.Type().Elem()))
			return
		}
		add(path+"(nil)", reflect.Zero(v.Type()))
		// The pointee is shared with the original; write through it.
		mutations(v.Elem(), path, func(n reflect.Value) { v.Elem().Set(n) }, out)
	case reflect.Struct:
		cp := reflect.New(v.Type()).Elem()
		cp.Set(v)
		for i := 0; i < v.NumField(); i++ {
			i := i
			mutations(cp.Field(i), path+"."+v.Type().Field(i).Name, func(n reflect.Value) {
				cp.Field(i).Set(n)
				set(cp)
			}, out)
		}
	case reflect.Slice:
		if v.Len() > 0 {
			add(path+"(append)", reflect.Append(v, v.Index(v.Len()-1)))
			add(path+"(drop)", v.Slice(0, v.Len()-1))
		} else {
			add(path+"(append)", reflect.Append(v, reflect.Zero(v.Type().Elem())))
		}
		for i := 0; i < v.Len(); i++ {
			i := i
			mutations(v.Index(i), fmt.Sprintf("%s[%d]", path, i), func(n reflect.Value) { v.Index(i).Set(n) }, out)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			k := k
			ev := v.MapIndex(k)
			renamed := reflect.ValueOf(k.String() + "~")
			*out = append(*out, mutation{path + "[" + k.String() + "](rename)",
				func() { v.SetMapIndex(k, reflect.Value{}); v.SetMapIndex(renamed, ev) },
				func() { v.SetMapIndex(renamed, reflect.Value{}); v.SetMapIndex(k, ev) }})
			cp := reflect.New(ev.Type()).Elem()
			cp.Set(ev)
			mutations(cp, path+"["+k.String()+"]", func(n reflect.Value) { v.SetMapIndex(k, n) }, out)
		}
		if v.Len() == 0 {
			// An empty map and no map encode alike (omitempty); add an entry.
			m := reflect.MakeMapWithSize(v.Type(), 1)
			m.SetMapIndex(reflect.ValueOf("added"), reflect.Zero(v.Type().Elem()))
			add(path+"(add)", m)
		}
	default:
		panic("mutations: unhandled kind " + v.Kind().String() + " at " + path)
	}
}

func TestHashChangesWithEveryField(t *testing.T) {
	s := fullSet(rand.New(rand.NewSource(7)))
	base := s.Hash()
	if len(base) != 64 {
		t.Fatalf("Hash = %q, want 64 hex digits", base)
	}
	var ms []mutation
	root := reflect.ValueOf(s).Elem()
	mutations(root, "", func(n reflect.Value) { root.Set(n) }, &ms)
	if len(ms) < 500 {
		t.Fatalf("only %d mutations; the walker missed fields", len(ms))
	}
	for _, m := range ms {
		m.apply()
		if s.Hash() == base {
			t.Errorf("changing %s does not change the hash", m.path)
		}
		m.undo()
		if got := s.Hash(); got != base {
			t.Fatalf("undoing %s left the hash at %s (test bug)", m.path, got)
		}
	}
}

func TestFullSetSetsEveryField(t *testing.T) {
	// So that a field added to the schema must be added to fullSet too, and
	// the hash test covers it.
	var zero []string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if v.IsZero() {
			zero = append(zero, path)
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if v.Elem().Kind() == reflect.Struct {
				walk(v.Elem(), path)
			} // a non-nil pointer to false or 0 is set
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[Duration]() {
				return
			}
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		case reflect.Slice:
			walk(v.Index(0), path+"[0]")
		case reflect.Map:
			walk(v.MapIndex(v.MapKeys()[0]), path+"[k]")
		}
	}
	walk(reflect.ValueOf(fullSet(rand.New(rand.NewSource(1)))), "")
	if len(zero) > 0 {
		t.Errorf("fullSet leaves these unset: %v", zero)
	}
}

func TestHashStableForEqualSets(t *testing.T) {
	a := fullSet(rand.New(rand.NewSource(1))).Hash()
	b := fullSet(rand.New(rand.NewSource(99))).Hash()
	if a != b {
		t.Error("equal sets built in a different map order hash differently")
	}
	// Spellings of the same value: "1m" and "60s", "0.50" and "0.5".
	d1, err := Decode([]byte(baseDoc + ruleDoc + "  draftTimeout: 1m\n  threshold: 0.50\n"))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Decode([]byte(baseDoc + ruleDoc + "  draftTimeout: 60s\n  threshold: 0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d1.Hash() != d2.Hash() {
		t.Error("the same rules written differently hash differently")
	}
	d3, err := Decode([]byte(baseDoc + ruleDoc + "  draftTimeout: 61s\n  threshold: 0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d3.Hash() == d2.Hash() {
		t.Error("different rules hash the same")
	}
}

func TestValidateMessagesAreDeterministic(t *testing.T) {
	s := smallSet()
	s.Providers[0].Headers = map[string]string{}
	for i := 0; i < 30; i++ {
		s.Providers[0].Headers[fmt.Sprintf("Bad Header %02d", i)] = "v"
	}
	s.Providers[0].Headers["Authorization"] = "x"
	weights, thresholds := map[string]float64{}, map[string]float64{}
	for i := 0; i < 30; i++ {
		weights[fmt.Sprintf("w%02d", i)] = -1
		thresholds[fmt.Sprintf("t%02d", i)] = 2
	}
	s.Rules[0].Gate = &Gate{Weights: weights, ComplexityThresholds: thresholds}
	s.Prices = map[string]Price{}
	for i := 0; i < 30; i++ {
		s.Prices[fmt.Sprintf("m%02d", i)] = Price{Input: -1, Output: -1, CacheWrite: -1, CacheRead: -1}
	}
	first := s.Validate()
	if first == nil {
		t.Fatal("Validate accepted the bad set")
	}
	for i := 0; i < 50; i++ {
		if got := s.Validate(); got.Error() != first.Error() {
			t.Fatalf("Validate's message changed between calls:\n%s\n---\n%s", first, got)
		}
	}
	lines := strings.Split(first.Error(), "\n")
	// The unknown names of a map are one problem.
	if len(lines) != 30+1+1+1+30*4 {
		t.Errorf("%d problems reported, want %d", len(lines), 30+1+1+1+30*4)
	}
	// In key order: Authorization < Bad Header 00 < ... ; input < output < cacheWrite < cacheRead.
	want := []string{
		"providers[0].headers[Authorization]:",
		"providers[0].headers[Bad Header 00]:",
		"providers[0].headers[Bad Header 29]:",
		`rules[0].gate.weights: unknown signals "w00", "w01",`,
		`rules[0].gate.complexityThresholds: unknown complexity levels "t00", "t01",`,
		"prices[m00].input:", "prices[m00].output:", "prices[m00].cacheWrite:", "prices[m00].cacheRead:",
		"prices[m29].cacheRead:",
	}
	at := 0
	for _, w := range want {
		i := strings.Index(first.Error()[at:], w)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", w, first)
		}
		at += i
	}
}

func TestValidateGoBuiltSets(t *testing.T) {
	// Values the decoder cannot produce but a Go caller (the operator) can.
	s := smallSet()
	s.Rules[0].DraftTimeout = Duration{-time.Second}
	s.Providers[0].Timeout = Duration{-time.Minute}
	s.Rules[0].Gate = &Gate{Judge: &Judge{Target: Target{Provider: "a", Model: "j"}, Weight: f64(posInf())}}
	err := s.Validate()
	for _, w := range []string{"providers[0].timeout: must not be negative", "rules[0].draftTimeout: must not be negative", "rules[0].gate.judge.weight:"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want it to mention %q", err, w)
		}
	}
}

func posInf() float64 { v := 1e308; return v * 10 }

func TestValidateJoinsAllProblems(t *testing.T) {
	s := &Set{}
	err := s.Validate()
	if err == nil {
		t.Fatal("empty set is valid")
	}
	for _, w := range []string{"version:", "providers:"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q missing from %v", w, err)
		}
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("want 2 joined errors, got %v", err)
	}
}
