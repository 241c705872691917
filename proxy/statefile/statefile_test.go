package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateRoundTripAndNeverOverwrittenUnread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &File{Path: path, What: "test state"}
	// Before Load a save must not replace the file it has not read.
	if err := f.Save(func() ([]byte, error) { return []byte("new"), nil }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("saved before Load: %q", b)
	}
	var got string
	if ok, err := f.Load(func(b []byte) error { got = string(b); return nil }); !ok || err != nil || got != "old" {
		t.Fatalf("Load = %v, %v, %q", ok, err, got)
	}
	if err := f.Save(func() ([]byte, error) { return []byte("new"), nil }); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(b) != "new" || st.Mode().Perm() != 0o600 {
		t.Errorf("after Save: %q, mode %v", b, st.Mode().Perm())
	}
	if left, _ := filepath.Glob(path + ".tmp-*"); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestMissingCorruptAndUnreadable(t *testing.T) {
	dir := t.TempDir()
	f := &File{Path: filepath.Join(dir, "missing.json"), What: "test state"}
	if ok, err := f.Load(func([]byte) error { t.Fatal("decode called for a missing file"); return nil }); ok || err != nil {
		t.Fatalf("missing file: %v, %v", ok, err)
	}

	corrupt := filepath.Join(dir, "corrupt.json")
	os.WriteFile(corrupt, []byte("{"), 0o600)
	f = &File{Path: corrupt, What: "test state"}
	ok, err := f.Load(func([]byte) error { return errors.New("bad") })
	if ok || err == nil || !strings.Contains(err.Error(), "moved aside") {
		t.Fatalf("corrupt file: %v, %v", ok, err)
	}
	if aside, _ := filepath.Glob(corrupt + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("corrupt file not moved aside: %v", aside)
	}
	if err := f.Save(func() ([]byte, error) { return []byte("fresh"), nil }); err != nil {
		t.Errorf("a fresh start must save: %v", err)
	}

	// A path that cannot be read (a directory here: root reads any file) is
	// left alone, and saving stays off.
	unreadable := filepath.Join(dir, "unreadable")
	os.Mkdir(unreadable, 0o700)
	os.WriteFile(filepath.Join(unreadable, "inside"), []byte("keep"), 0o600)
	f = &File{Path: unreadable, What: "test state"}
	if _, err := f.Load(func([]byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "will not be overwritten") {
		t.Fatalf("unreadable file: %v", err)
	}
	if err := f.Save(func() ([]byte, error) { return []byte("over"), nil }); err != nil {
		t.Errorf("Save of a file found unreadable should do nothing, got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(unreadable, "inside")); string(b) != "keep" {
		t.Errorf("an unreadable path was touched: %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".unreadable.tmp-*")); len(left) != 0 {
		t.Errorf("Save wrote a temporary file for an unreadable path: %v", left)
	}
}
