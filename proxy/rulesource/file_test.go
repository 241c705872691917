package rulesource

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// within is how soon a change must reach apply.
const within = 2 * time.Second

// watch starts the watcher on path and returns the channel apply sends to.
// It returns once the watch is in place. The watcher stops at test end, and
// the test fails if it does not.
func watch(t *testing.T, path string, pollEvery time.Duration) <-chan string {
	t.Helper()
	got := make(chan string, 16)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchFile(ctx, path, nil, pollEvery, func(b []byte) { got <- string(b) }, nil, func() { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("watchFile ended before it was ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("watchFile not ready after 5s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("watchFile returned %v", err)
			}
		case <-time.After(within):
			t.Error("watchFile did not end after its context was canceled")
		}
	})
	return got
}

func expectApply(t *testing.T, got <-chan string, want string) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case s := <-got:
			if s == want {
				return
			}
			// An intermediate state (e.g. a truncated file) may be seen first; the final one must follow.
		case <-deadline:
			t.Fatalf("apply not called with %q within %s", want, within)
		}
	}
}

func expectNoApply(t *testing.T, got <-chan string, wait time.Duration) {
	t.Helper()
	select {
	case s := <-got:
		t.Fatalf("apply called with %q; want no call", s)
	case <-time.After(wait):
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The watch, not the poll, must see these: the poll is an hour away.
const noPoll = time.Hour

func TestWatchFilePlainWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "one")
	got := watch(t, path, noPoll)
	write(t, path, "two")
	expectApply(t, got, "two")
	write(t, path, "three")
	expectApply(t, got, "three")
}

func TestWatchFileUnchangedRewriteDoesNotApply(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "same")
	got := watch(t, path, 50*time.Millisecond) // polls too: they must not apply either
	write(t, path, "same")
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "other-file"), "x") // an unrelated file in the directory
	expectNoApply(t, got, 500*time.Millisecond)
	// A real change after all that still comes through, once.
	write(t, path, "changed")
	expectApply(t, got, "changed")
	write(t, path, "changed")
	expectNoApply(t, got, 300*time.Millisecond)
}

func TestWatchFileRenameIntoPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "old")
	got := watch(t, path, noPoll)
	// An editor's save: write a temporary file, then rename it over the original.
	tmp := filepath.Join(dir, ".rules.yaml.swp")
	write(t, tmp, "new")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	expectApply(t, got, "new")
}

func TestWatchFileDeletedAndRecreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "first")
	got := watch(t, path, noPoll) // nil logger: the missing file is logged without a panic
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	expectNoApply(t, got, 300*time.Millisecond)
	write(t, path, "second")
	expectApply(t, got, "second")
}

// kubeletDir lays out a ConfigMap volume as the kubelet's atomic writer does:
//
//	dir/..2026_11_26_15_00_00.000000001/rules.yaml
//	dir/..data -> ..2026_11_26_15_00_00.000000001
//	dir/rules.yaml -> ..data/rules.yaml
type kubeletDir struct {
	t   *testing.T
	dir string
	n   int
	cur string
}

func newKubeletDir(t *testing.T, content string) *kubeletDir {
	k := &kubeletDir{t: t, dir: t.TempDir()}
	k.cur = k.payload(content)
	if err := os.Symlink(k.cur, filepath.Join(k.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "rules.yaml"), filepath.Join(k.dir, "rules.yaml")); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *kubeletDir) payload(content string) string {
	k.n++
	name := "..2026_11_26_15_00_00.00000000" + string(rune('0'+k.n))
	if err := os.Mkdir(filepath.Join(k.dir, name), 0o755); err != nil {
		k.t.Fatal(err)
	}
	write(k.t, filepath.Join(k.dir, name, "rules.yaml"), content)
	return name
}

// update swaps ..data to a new timestamped directory: a ..data_tmp symlink
// renamed over ..data, then the old directory removed.
func (k *kubeletDir) update(content string) {
	next := k.payload(content)
	tmp := filepath.Join(k.dir, "..data_tmp")
	if err := os.Symlink(next, tmp); err != nil {
		k.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, "..data")); err != nil {
		k.t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(k.dir, k.cur)); err != nil {
		k.t.Fatal(err)
	}
	k.cur = next
}

func TestWatchFileKubeletConfigMapSwap(t *testing.T) {
	k := newKubeletDir(t, "v1 rules")
	path := filepath.Join(k.dir, "rules.yaml")
	if b, err := os.ReadFile(path); err != nil || string(b) != "v1 rules" {
		t.Fatalf("layout broken: %q %v", b, err)
	}
	got := watch(t, path, noPoll)
	k.update("v2 rules")
	expectApply(t, got, "v2 rules")
	k.update("v3 rules")
	expectApply(t, got, "v3 rules")
	// The kubelet re-projects unchanged data on resync: no apply.
	k.update("v3 rules")
	expectNoApply(t, got, 500*time.Millisecond)
}

func TestWatchFilePollCatchesChangesTheWatchCannotSee(t *testing.T) {
	// rules.yaml links to a file in another directory: writes there raise no
	// event in the watched directory, so only the poll sees them.
	elsewhere := filepath.Join(t.TempDir(), "real.yaml")
	write(t, elsewhere, "before")
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	got := watch(t, path, 100*time.Millisecond)
	write(t, elsewhere, "after")
	expectApply(t, got, "after")
}

func TestWatchFileEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "x")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WatchFile(ctx, path, nil, time.Hour, func([]byte) {}, nil) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WatchFile = %v, want nil after cancel", err)
		}
	case <-time.After(within):
		t.Fatal("WatchFile still running after its context was canceled")
	}
}

func TestWatchFileMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "rules.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	err := WatchFile(ctx, path, nil, time.Hour, func([]byte) { t.Error("apply called") }, nil)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("WatchFile = %v (ctx %v); want an immediate error", err, ctx.Err())
	}
}

// A change made between the caller's load and the watch start is applied.
func TestWatchFileCatchesChangeBeforeStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 1)
	go func() { _ = WatchFile(ctx, path, []byte("old"), time.Hour, func(b []byte) { got <- string(b) }, nil) }()
	select {
	case s := <-got:
		if s != "new" {
			t.Fatalf("applied %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a change made before the watch started was never applied")
	}
}
