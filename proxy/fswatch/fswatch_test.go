package fswatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// watch runs Watch on dir and returns a channel that receives on each call of
// changed, once started has run. The watch stops at test end, and the test
// fails if it does not.
func watch(t *testing.T, dir string, poll time.Duration) <-chan struct{} {
	t.Helper()
	calls := make(chan struct{}, 64)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, dir, poll, nil, func() { close(ready) }, func() { calls <- struct{}{} })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Watch ended before it started: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Watch not started after 5s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("Watch did not end after its context was canceled")
		}
	})
	return calls
}

func expectCall(t *testing.T, calls <-chan struct{}) {
	t.Helper()
	select {
	case <-calls:
	case <-time.After(2 * time.Second):
		t.Fatal("changed not called within 2s")
	}
}

func expectQuiet(t *testing.T, calls <-chan struct{}, wait time.Duration) {
	t.Helper()
	select {
	case <-calls:
		t.Fatal("changed called; want no call")
	case <-time.After(wait):
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatchBurstIsDebounced(t *testing.T) {
	dir := t.TempDir()
	calls := watch(t, dir, time.Hour)
	const writes = 20 // each a create or truncate and a write event
	for i := range writes {
		write(t, filepath.Join(dir, "f"), string(rune('a'+i)))
	}
	expectCall(t, calls)
	// One call when the burst is quicker than Debounce, as it is unless the
	// machine stalls this goroutine; never one an event.
	n := 1
	for quiet := time.After(10 * Debounce); ; {
		select {
		case <-calls:
			n++
			continue
		case <-quiet:
		}
		break
	}
	if n > writes/4 {
		t.Fatalf("%d calls for a burst of %d writes", n, writes)
	}
}

func TestWatchSeesRenameAndRemove(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f"), "old")
	calls := watch(t, dir, time.Hour)
	tmp := filepath.Join(dir, ".f.tmp")
	write(t, tmp, "new")
	expectCall(t, calls)
	if err := os.Rename(tmp, filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	expectCall(t, calls)
	if err := os.Remove(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	expectCall(t, calls)
}

func TestWatchIgnoresChmod(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	write(t, path, "x")
	calls := watch(t, dir, time.Hour)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, calls, 5*Debounce)
}

func TestWatchPolls(t *testing.T) {
	calls := watch(t, t.TempDir(), 20*time.Millisecond)
	expectCall(t, calls)
	expectCall(t, calls)
}

func TestWatchMissingDirectory(t *testing.T) {
	err := Watch(context.Background(), filepath.Join(t.TempDir(), "absent"), time.Hour, nil, nil, nil)
	if err == nil {
		t.Fatal("watching a missing directory succeeded")
	}
}
