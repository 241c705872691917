package rulesource

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// stubCodec is the least dialect.Codec a snapshot needs: Loader never
// translates anything, and the real codecs belong to other packages' tests.
type stubCodec struct{ d llm.Dialect }

var _ dialect.Codec = stubCodec{}

func (c stubCodec) Dialect() llm.Dialect                              { return c.d }
func (stubCodec) DecodeRequest([]byte) (*llm.Request, error)          { return nil, nil }
func (stubCodec) EncodeRequest(*llm.Request) ([]byte, error)          { return nil, nil }
func (stubCodec) DecodeResponse([]byte) (*llm.Response, error)        { return nil, nil }
func (stubCodec) EncodeResponse(*llm.Response) ([]byte, error)        { return nil, nil }
func (stubCodec) NewStreamEncoder(*llm.Request) dialect.StreamEncoder { return nil }
func (stubCodec) NewStreamDecoder() dialect.StreamDecoder             { return nil }
func (stubCodec) ErrorResponse(error) (int, []byte)                   { return 500, nil }
func (stubCodec) ErrorEvent(error) []byte                             { return nil }
func (stubCodec) DecodeError(int, http.Header, []byte) *llm.Error     { return nil }

// docA and docB are two valid rules files; docAComment is docA with a comment
// (different bytes, same rules).
const docA = `version: v1
providers:
- name: anthropic
  type: anthropic
  baseURL: https://api.anthropic.com
  apiKey: {env: ANTHROPIC_API_KEY}
rules:
- name: opus
  models: [claude-opus-5-5]
  draft: {provider: anthropic, model: claude-haiku-5-5}
  verifier: {provider: anthropic, model: claude-opus-5-5}
`

const docAComment = "# reformatted\n" + docA

// docB adds a second provider and rule to docA.
const docB = `version: v1
providers:
- name: anthropic
  type: anthropic
  baseURL: https://api.anthropic.com
  apiKey: {env: ANTHROPIC_API_KEY}
- name: openai
  type: openai
  baseURL: https://api.openai.com/v1
  apiKey: {env: OPENAI_API_KEY}
rules:
- name: opus
  models: [claude-opus-5-5, claude-sonnet-5-5]
  draft: {provider: anthropic, model: claude-haiku-5-5}
  verifier: {provider: anthropic, model: claude-opus-5-5}
- name: gpt
  models: [gpt-5]
  draft: {provider: openai, model: gpt-5-mini}
  verifier: {provider: openai, model: gpt-5}
`

type fixture struct {
	loader *Loader
	store  *snapshot.Store
	m      *metrics.Metrics
	logs   *bytes.Buffer
	env    map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: &snapshot.Store{}, m: metrics.New(), logs: &bytes.Buffer{},
		env: map[string]string{"ANTHROPIC_API_KEY": "sk-ant-test", "OPENAI_API_KEY": "sk-oai-test"}}
	var mu sync.Mutex
	builder := &snapshot.Builder{
		Codecs: map[rules.ProviderType]dialect.Codec{rules.Anthropic: stubCodec{llm.Anthropic}, rules.OpenAI: stubCodec{llm.OpenAI}},
		LookupEnv: func(k string) (string, bool) {
			mu.Lock()
			defer mu.Unlock()
			v, ok := f.env[k]
			return v, ok
		},
	}
	f.loader = &Loader{Builder: builder, Store: f.store, Metrics: f.m, Log: slog.New(slog.NewTextHandler(&syncWriter{w: f.logs}, nil))}
	return f
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (f *fixture) reloads(result string) float64 {
	return testutil.ToFloat64(f.m.RulesReloads.WithLabelValues(result))
}

func hashOf(t *testing.T, doc string) string {
	t.Helper()
	s, err := rules.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s.Hash()
}

func TestApplyValidSwapsIn(t *testing.T) {
	f := newFixture(t)
	res, err := f.loader.Apply([]byte(docA), "test")
	if err != nil || res != Loaded {
		t.Fatalf("Apply = %q, %v; want %q", res, err, Loaded)
	}
	snap := f.store.Load()
	if snap == nil {
		t.Fatal("no snapshot after a valid Apply")
	}
	if snap.Hash != hashOf(t, docA) {
		t.Errorf("snapshot hash %s, want %s", snap.Hash, hashOf(t, docA))
	}
	if snap.Index.Match("CLAUDE-OPUS-5-5") == nil || snap.Provider("anthropic") == nil {
		t.Error("snapshot does not serve docA")
	}
	if got := f.reloads("ok"); got != 1 {
		t.Errorf("reloads{result=ok} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(f.m.RulesInfo.WithLabelValues(snap.Hash)); got != 1 {
		t.Errorf("rules_info{hash} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(f.m.RulesLoaded); got < float64(snap.LoadedAt.Unix()) {
		t.Errorf("rules_loaded_timestamp = %v, want >= %d", got, snap.LoadedAt.Unix())
	}

	// A second valid document replaces it, and the info metric moves with it.
	res, err = f.loader.Apply([]byte(docB), "test")
	if err != nil || res != Loaded {
		t.Fatalf("Apply(docB) = %q, %v", res, err)
	}
	if f.store.Load().Hash != hashOf(t, docB) || f.store.Load().Provider("openai") == nil {
		t.Error("docB not served")
	}
	if got := testutil.CollectAndCount(f.m.RulesInfo); got != 1 {
		t.Errorf("rules_info has %d series, want only the current hash", got)
	}
	if got := f.reloads("ok"); got != 2 {
		t.Errorf("reloads{result=ok} = %v, want 2", got)
	}
}

func TestApplySameBytesIsUnchanged(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte(docA), "test"); err != nil {
		t.Fatal(err)
	}
	before := f.store.Load()
	for _, doc := range []string{docA, docAComment} {
		res, err := f.loader.Apply([]byte(doc), "test")
		if err != nil || res != Unchanged {
			t.Errorf("Apply = %q, %v; want %q", res, err, Unchanged)
		}
	}
	if f.store.Load() != before {
		t.Error("an unchanged Apply replaced the snapshot")
	}
	if ok, un := f.reloads("ok"), f.reloads("unchanged"); ok != 1 || un != 2 {
		t.Errorf("reloads ok=%v unchanged=%v, want 1 and 2", ok, un)
	}
}

func TestApplyInvalidKeepsOldSnapshot(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte(docA), "test"); err != nil {
		t.Fatal(err)
	}
	before := f.store.Load()
	bad := strings.Replace(docB, "model: gpt-5-mini", "modle: gpt-5-mini", 1)
	res, err := f.loader.Apply([]byte(bad), "/etc/cascadeflow/rules.yaml")
	if res != Invalid || err == nil {
		t.Fatalf("Apply(bad) = %q, %v; want %q and an error", res, err, Invalid)
	}
	for _, want := range []string{"rules[1].draft.modle", "/etc/cascadeflow/rules.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if f.store.Load() != before {
		t.Error("an invalid document replaced the snapshot")
	}
	if got := f.reloads("invalid"); got != 1 {
		t.Errorf("reloads{result=invalid} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(f.m.RulesInfo.WithLabelValues(before.Hash)); got != 1 {
		t.Error("rules_info no longer shows the served hash")
	}
	if !strings.Contains(f.logs.String(), "rules[1].draft.modle") {
		t.Errorf("the rejection was not logged with its reason: %s", f.logs)
	}
	// The good document again is still "unchanged": nothing was swapped.
	if res, err := f.loader.Apply([]byte(docA), "test"); res != Unchanged || err != nil {
		t.Errorf("Apply(docA) after a rejection = %q, %v", res, err)
	}
}

// A gate configuration the quality gate refuses is a load error naming the
// rule's field, found when the rules are loaded rather than by the first
// request; the rules being served keep serving, compiled as they were.
func TestApplyUncompilableGateKeepsOldSnapshot(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte(docB), "test"); err != nil {
		t.Fatal(err)
	}
	before := f.store.Load()
	served := before.Rule("gpt-5")
	if served == nil || served.Gate == nil || served.Prices == nil || served.VerifierProvider == nil {
		t.Fatalf("docB's gpt rule was not compiled: %+v", served)
	}
	bad := docB + "  gate: {weights: {hedgin: 1.0}}\n" // on the last rule, gpt
	res, err := f.loader.Apply([]byte(bad), "/etc/cascadeflow/rules.yaml")
	if res != Invalid || err == nil {
		t.Fatalf("Apply(bad gate) = %q, %v; want %q and an error", res, err, Invalid)
	}
	for _, want := range []string{"rules[1].gate", `"hedgin"`, "/etc/cascadeflow/rules.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if f.store.Load() != before || before.Rule("gpt-5") != served {
		t.Error("a rules set that cannot compile replaced the one being served")
	}
	if got := f.reloads("invalid"); got != 1 {
		t.Errorf("reloads{result=invalid} = %v, want 1", got)
	}
	if !strings.Contains(f.logs.String(), "hedgin") {
		t.Errorf("the rejection was not logged with its reason: %s", f.logs)
	}
}

func TestApplyBuildFailureKeepsOldSnapshot(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte(docA), "test"); err != nil {
		t.Fatal(err)
	}
	before := f.store.Load()
	delete(f.env, "OPENAI_API_KEY")
	res, err := f.loader.Apply([]byte(docB), "test")
	if res != Invalid || err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Fatalf("Apply = %q, %v; want %q naming the missing variable", res, err, Invalid)
	}
	if strings.Contains(err.Error(), "sk-ant-test") || strings.Contains(f.logs.String(), "sk-ant-test") {
		t.Error("a key leaked into the error or the logs")
	}
	if f.store.Load() != before {
		t.Error("a document whose keys are missing replaced the snapshot")
	}
	// Once the key exists, the same bytes load: the failure did not mark them as applied.
	f.env["OPENAI_API_KEY"] = "sk-oai"
	if res, err := f.loader.Apply([]byte(docB), "test"); res != Loaded || err != nil {
		t.Errorf("retry = %q, %v; want %q", res, err, Loaded)
	}
}

func TestApplyInvalidFirstDocument(t *testing.T) {
	f := newFixture(t)
	res, err := f.loader.Apply([]byte("version: v1\n"), "test")
	if res != Invalid || err == nil || f.store.Load() != nil {
		t.Fatalf("Apply = %q, %v, snapshot %v", res, err, f.store.Load())
	}
}

func TestApplyWithoutMetricsOrLogger(t *testing.T) {
	f := newFixture(t)
	l := &Loader{Builder: f.loader.Builder, Store: f.store}
	if res, err := l.Apply([]byte(docA), "test"); res != Loaded || err != nil {
		t.Fatalf("Apply = %q, %v", res, err)
	}
	if res, _ := l.Apply([]byte("nope"), "test"); res != Invalid {
		t.Fatalf("Apply(bad) = %q", res)
	}
}

// A request that took a snapshot before a reload finishes on it.
func TestSnapshotTakenBeforeSwapStaysUsable(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte(docB), "test"); err != nil {
		t.Fatal(err)
	}
	inflight := f.store.Load()
	if _, err := f.loader.Apply([]byte(docA), "test"); err != nil {
		t.Fatal(err)
	}
	now := f.store.Load()
	if now == inflight || now.Index.Match("gpt-5") != nil {
		t.Fatal("docA is not being served")
	}
	// The old snapshot still has everything docB had.
	if r := inflight.Index.Match("gpt-5"); r == nil || r.Name != "gpt" {
		t.Errorf("in-flight snapshot lost rule gpt: %v", r)
	}
	if inflight.Provider("openai") == nil || inflight.Rules.ProviderByName("openai") == nil {
		t.Error("in-flight snapshot lost provider openai")
	}
	if inflight.Hash != hashOf(t, docB) {
		t.Error("in-flight snapshot's hash changed")
	}
}

func TestApplyConcurrentWithReaders(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte(docA), "test"); err != nil {
		t.Fatal(err)
	}
	hashes := map[string]bool{hashOf(t, docA): true, hashOf(t, docB): true}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := f.store.Load()
				if !hashes[s.Hash] || s.Index.Match("claude-opus-5-5") == nil {
					t.Errorf("reader saw a snapshot that was never loaded: %s", s.Hash)
					return
				}
				runtime.Gosched()
			}
		}()
	}
	var writers sync.WaitGroup
	for i := 0; i < 4; i++ {
		writers.Add(1)
		go func(i int) {
			defer writers.Done()
			for j := 0; j < 25; j++ {
				doc := docA
				if (i+j)%2 == 0 {
					doc = docB
				}
				if j%5 == 0 {
					doc = fmt.Sprintf("%s\nbogus%d: 1\n", docA, j)
				}
				_, _ = f.loader.Apply([]byte(doc), "test")
			}
		}(i)
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	total := f.reloads("ok") + f.reloads("unchanged") + f.reloads("invalid")
	if total != 1+100 || f.reloads("invalid") != 20 {
		t.Errorf("counted %v applies (%v invalid), want 101 (20 invalid)", total, f.reloads("invalid"))
	}
}

// A rotated key file is picked up by Refresh although the rules are unchanged.
func TestRefreshPicksUpRotatedKeyFile(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("key-one"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := []byte("version: v1\nproviders:\n  - name: a\n    type: anthropic\n    baseURL: http://127.0.0.1:1\n    apiKey: {file: " + keyFile + "}\n")
	l := &Loader{Builder: &snapshot.Builder{Codecs: map[rules.ProviderType]dialect.Codec{rules.Anthropic: stubCodec{llm.Anthropic}}}, Store: &snapshot.Store{}}
	if _, err := l.Apply(doc, "test"); err != nil {
		t.Fatal(err)
	}
	before := l.Store.Load()
	if l.Refresh() {
		t.Fatal("Refresh reported a rotation without one")
	}
	if err := os.WriteFile(keyFile, []byte("key-two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !l.Refresh() {
		t.Fatal("rotation not detected")
	}
	after := l.Store.Load()
	if after == before || after.Hash != before.Hash || after.KeysDigest == before.KeysDigest {
		t.Fatalf("snapshot not swapped for the new key: %v", after == before)
	}
	if strings.Contains(after.KeysDigest, "key-two") {
		t.Fatal("digest holds the key")
	}
}
