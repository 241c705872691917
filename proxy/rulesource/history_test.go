package rulesource

import (
	"strings"
	"testing"
)

// The history lists loads and rejections newest first with the hash served
// after each, skips unchanged documents, and keeps at most HistoryLen.
func TestHistoryListsReloadsNewestFirst(t *testing.T) {
	f := newFixture(t)
	if _, err := f.loader.Apply([]byte(docA), "file a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.loader.Apply([]byte(docA), "file a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.loader.Apply([]byte("version: v1\nrules: [{name: BAD}]"), "file bad"); err == nil {
		t.Fatal("an invalid document was accepted")
	}
	if _, err := f.loader.Apply([]byte(docB), "configmap ns/b"); err != nil {
		t.Fatal(err)
	}
	h := f.loader.History()
	if len(h) != 3 {
		t.Fatalf("history has %d entries, want 3 (unchanged skipped): %+v", len(h), h)
	}
	if h[0].Source != "configmap ns/b" || h[0].Result != Loaded || h[0].Hash != hashOf(t, docB) || h[0].Error != "" {
		t.Errorf("newest = %+v; want the load of docB", h[0])
	}
	if h[1].Result != Invalid || h[1].Error == "" || h[1].Hash != hashOf(t, docA) {
		t.Errorf("second = %+v; want the rejection, with its error and docA's hash still served", h[1])
	}
	if h[2].Source != "file a" || h[2].Result != Loaded || h[2].Time.IsZero() {
		t.Errorf("oldest = %+v; want the first load", h[2])
	}
	for range HistoryLen + 5 {
		_, _ = f.loader.Apply([]byte("not: [valid"), "loop")
	}
	if n := len(f.loader.History()); n != HistoryLen {
		t.Errorf("history grew to %d entries; want at most %d", n, HistoryLen)
	}
}

// A rejected document's error is passed through the served rules' redactor:
// a resolved key that an error quotes never reaches the history.
func TestHistoryErrorHidesServedKeys(t *testing.T) {
	f := newFixture(t)
	f.env["ANTHROPIC_API_KEY"] = "sk-ant-history-secret-0123456789"
	if _, err := f.loader.Apply([]byte(docA), "file"); err != nil {
		t.Fatal(err)
	}
	// A key pasted where a value belongs is quoted by the decoder.
	bad := "version: v1\nproviders: [{name: a, type: sk-ant-history-secret-0123456789}]"
	if _, err := f.loader.Apply([]byte(bad), "file"); err == nil {
		t.Fatal("an invalid document was accepted")
	}
	got := f.loader.History()[0]
	if got.Result != Invalid || !strings.Contains(got.Error, "[REDACTED]") {
		t.Fatalf("newest = %+v; want the rejection", got)
	}
	if strings.Contains(got.Error, "sk-ant-history-secret") {
		t.Errorf("history error holds the key: %q", got.Error)
	}
}
