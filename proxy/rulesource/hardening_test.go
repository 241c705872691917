package rulesource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// A first load with a provider lacking its key is served, with that
// provider disabled and said so; nothing claims previous rules.
func TestHardeningFirstLoadWithMissingKey(t *testing.T) {
	f := newFixture(t)
	delete(f.env, "OPENAI_API_KEY")
	if res, err := f.loader.Apply([]byte(docB), "test"); err != nil || res != Loaded {
		t.Fatalf("Apply = %q, %v; want the rules loaded with openai disabled", res, err)
	}
	snap := f.store.Load()
	if reason := snap.MissingKeys["openai"]; !strings.Contains(reason, "OPENAI_API_KEY") {
		t.Errorf("MissingKeys = %v", snap.MissingKeys)
	}
	if snap.Provider("openai").HasKey() || !snap.Provider("anthropic").HasKey() {
		t.Error("wrong provider disabled")
	}
	if d := snap.Dependents("openai"); len(d.Verifier) != 1 || d.Verifier[0] != "gpt" || d.DefaultRoute {
		t.Errorf("Dependents(openai) = %+v", d)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "provider=openai") || !strings.Contains(logs, "unavailable_rules=[gpt]") {
		t.Errorf("no loud warning:\n%s", logs)
	}
}

// A document rejected before any rules were loaded says that nothing is
// served, not that previous rules are kept.
func TestHardeningFirstRejectionClaimsNoPreviousRules(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte("version: v2\n"), "test"); err == nil {
		t.Fatal("an invalid document was accepted")
	}
	logs := f.logs.String()
	if strings.Contains(logs, "previous rules") || !strings.Contains(logs, "no rules are being served") {
		t.Errorf("log:\n%s", logs)
	}
	if _, err := f.loader.Apply([]byte(docA), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.loader.Apply([]byte("version: v2\n"), "test"); err == nil {
		t.Fatal("an invalid document was accepted")
	}
	if !strings.Contains(f.logs.String(), "still serving the previous rules") {
		t.Errorf("log:\n%s", f.logs.String())
	}
}

// A reload never disables a provider that is serving with a key: a rules
// edit that adds a provider whose key is not there yet (an old pod during a
// rollout) keeps the served rules; a provider that had no key before stays
// disabled without blocking other edits.
func TestReloadNeverTakesAwayAKey(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte(docA), "test"); err != nil {
		t.Fatal(err)
	}
	delete(f.env, "OPENAI_API_KEY")
	if res, err := f.loader.Apply([]byte(docB), "test"); err == nil || res != Invalid || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Fatalf("Apply = %q, %v; want docB refused for its missing key", res, err)
	}
	if f.store.Load().Hash != hashOf(t, docA) {
		t.Fatal("the served rules changed")
	}

	g := newFixture(t)
	delete(g.env, "OPENAI_API_KEY")
	if _, err := g.loader.Apply([]byte(docB), "test"); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(docB, "models: [gpt-5]", "models: [gpt-5, gpt-5-alias]", 1)
	if res, err := g.loader.Apply([]byte(edited), "test"); err != nil || res != Loaded {
		t.Fatalf("an edit with the same key still missing: %q, %v", res, err)
	}
}

// A key file that vanishes (mid-rotation) does not disable its provider.
func TestRefreshKeepsKeyThatVanishes(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("key-one-0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := []byte("version: v1\nproviders:\n  - name: a\n    type: anthropic\n    baseURL: http://127.0.0.1:1\n    apiKey: {file: " + keyFile + "}\n")
	l := &Loader{Builder: &snapshot.Builder{Codecs: map[rules.ProviderType]dialect.Codec{rules.Anthropic: stubCodec{llm.Anthropic}}}, Store: &snapshot.Store{}}
	if _, err := l.Apply(doc, "test"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if l.Refresh() || !l.Store.Load().Provider("a").HasKey() {
		t.Fatal("a vanished key file disabled the provider")
	}
	if err := os.WriteFile(keyFile, []byte("key-two-0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !l.Refresh() || !l.Store.Load().Provider("a").HasKey() {
		t.Fatal("the new key was not picked up")
	}
}

// A rule whose models have no price is named at load, with the models.
func TestHardeningUnpricedModelsWarnedAtLoad(t *testing.T) {
	f := newFixture(t)
	doc := strings.Replace(docB, "verifier: {provider: openai, model: gpt-5}", "verifier: {provider: openai, model: house-llm-2}", 1)
	if _, err := f.loader.Apply([]byte(doc), "test"); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "rule=gpt") || !strings.Contains(logs, "verifier house-llm-2") {
		t.Errorf("no warning naming the unpriced verifier:\n%s", logs)
	}
	if strings.Contains(logs, "rule=opus") {
		t.Errorf("a fully priced rule was warned about:\n%s", logs)
	}
}
