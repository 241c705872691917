// Package fswatch tells when the files of a directory may have changed: an
// fsnotify watch on the directory, whose bursts of events are debounced, and
// a periodic poll as a backup in case an event is missed. Watching the
// directory rather than a file sees the kubelet's atomic symlink swap of a
// ConfigMap or Secret volume (..data → a new directory) and an editor's
// rename-into-place alike. Callers re-read and compare: a call says "look",
// not "this changed".
package fswatch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce is how long a burst of events must be quiet before changed runs.
const Debounce = 50 * time.Millisecond

// DefaultPoll is the poll interval when none is given.
const DefaultPoll = 10 * time.Second

// Watch watches dir until ctx ends, then returns nil. started runs once the
// watch is in place, before any call to changed: there the caller re-reads
// what may have changed before the watch began. changed runs when events
// (other than a mere chmod) have settled, and every poll (0: DefaultPoll).
// Both run on Watch's goroutine; either may be nil. log may be nil.
func Watch(ctx context.Context, dir string, poll time.Duration, log *slog.Logger, started, changed func()) error {
	if poll <= 0 {
		poll = DefaultPoll
	}
	if log == nil {
		log = slog.Default()
	}
	if changed == nil {
		changed = func() {}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	if started != nil {
		started()
	}
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			settle = time.After(Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("file watch error; the poll still runs", "dir", dir, "error", err.Error())
		case <-settle:
			settle = nil
			changed()
		case <-tick.C:
			changed()
		}
	}
}
