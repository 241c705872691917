package rulesource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchFile calls apply with the file's content whenever it changes, until
// ctx ends. It watches the file's directory, not the file, so the atomic
// symlink swap a kubelet does for a ConfigMap volume (..data → new dir) and
// an editor's rename-into-place are both seen; events only trigger a re-read,
// and the content hash decides whether anything changed. A poll every
// pollEvery (0: 10s) backs up the watch in case an event is missed.
//
// The content present when WatchFile starts counts as applied already (the
// caller loaded it), so only later changes call apply. log may be nil.
func WatchFile(ctx context.Context, path string, pollEvery time.Duration, apply func([]byte), log *slog.Logger) error {
	return watchFile(ctx, path, pollEvery, apply, log, nil)
}

// watchFile is WatchFile with a hook called once the watch is in place and
// the current content is recorded (tests wait for it before changing files).
func watchFile(ctx context.Context, path string, pollEvery time.Duration, apply func([]byte), log *slog.Logger, ready func()) error {
	if pollEvery <= 0 {
		pollEvery = 10 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch rules: %w", err)
	}
	defer w.Close()
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch rules directory %s: %w", dir, err)
	}
	var last [32]byte
	readAndApply := func() {
		data, err := os.ReadFile(path)
		if err != nil {
			log.Warn("cannot read rules file; keeping the current rules", "path", path, "error", err.Error())
			return
		}
		sum := sha256.Sum256(data)
		if bytes.Equal(sum[:], last[:]) {
			return
		}
		last = sum
		apply(data)
	}
	// Seed the hash with the current content, which the caller loaded already.
	if data, err := os.ReadFile(path); err == nil {
		last = sha256.Sum256(data)
	}
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	if ready != nil {
		ready()
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
			log.Warn("rules watch error", "error", err.Error())
		case <-settle:
			settle = nil
			readAndApply()
		case <-poll.C:
			readAndApply()
		}
	}
}
