package clientauth

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestValid(t *testing.T) {
	var k Keys
	if k.Valid("anything") {
		t.Fatal("zero Keys accepted a key")
	}
	k.Set([]string{"alpha", " beta ", ""})
	for cred, want := range map[string]bool{"alpha": true, "beta": true, "": false, "alph": false, "alpha ": false, "gamma": false} {
		if got := k.Valid(cred); got != want {
			t.Errorf("Valid(%q) = %v, want %v", cred, got, want)
		}
	}
	if k.Len() != 2 {
		t.Fatalf("Len %d", k.Len())
	}
}

func TestReadDirSecretLayout(t *testing.T) {
	dir := t.TempDir()
	// The kubelet's Secret volume: ..<ts>/ holds files, ..data links to it, keys link through ..data.
	ts := filepath.Join(dir, "..2026_11_26_15_00_00.1")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ts, "team-a"), []byte("key-a\n"), 0o600)
	os.WriteFile(filepath.Join(ts, "team-b"), []byte("key-b1\nkey-b2\n\n"), 0o600)
	os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data"))
	os.Symlink("..data/team-a", filepath.Join(dir, "team-a"))
	os.Symlink("..data/team-b", filepath.Join(dir, "team-b"))
	keys, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0] != "key-a" || keys[1] != "key-b1" || keys[2] != "key-b2" {
		t.Fatalf("keys %v", keys)
	}
	var k Keys
	if err := k.LoadDir(t.TempDir()); err == nil {
		t.Fatal("an empty key directory must be an error")
	}
}

func TestWatchDirRotates(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keys"), []byte("old-key"), 0o600)
	var k Keys
	if err := k.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.WatchDir(ctx, dir, time.Hour, slog.Default())
	time.Sleep(50 * time.Millisecond)
	tmp := filepath.Join(dir, ".keys.tmp")
	os.WriteFile(tmp, []byte("new-key"), 0o600)
	os.Rename(tmp, filepath.Join(dir, "keys"))
	deadline := time.Now().Add(3 * time.Second)
	for !k.Valid("new-key") {
		if time.Now().After(deadline) {
			t.Fatal("rotation not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if k.Valid("old-key") {
		t.Fatal("rotated-out key still accepted")
	}
}

func TestLookupNamesTheSource(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "alice"), []byte("key-a1\nkey-a2\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bob"), []byte("key-b\n"), 0o600)
	var k Keys
	if err := k.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	for cred, want := range map[string]string{"key-a1": "alice", "key-a2": "alice", "key-b": "bob"} {
		if got, ok := k.Lookup(cred); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", cred, got, ok, want)
		}
	}
	if src, ok := k.Lookup("key-c"); ok || src != "" {
		t.Errorf("unknown key found in %q", src)
	}
	if k.Len() != 3 || !k.Valid("key-b") {
		t.Errorf("Len %d", k.Len())
	}
}
