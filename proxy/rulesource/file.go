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

	"github.com/cascadeflow/cascadeflow-operator/proxy/fswatch"
)

// WatchFile calls apply with the file's content whenever it changes, until
// ctx ends. It watches the file's directory (fswatch), so the atomic symlink
// swap a kubelet does for a ConfigMap volume (..data → new dir) and an
// editor's rename-into-place are both seen; events only trigger a re-read,
// and the content hash decides whether anything changed. A poll every
// pollEvery (0: 10s) backs up the watch in case an event is missed.
//
// loaded is the content the caller already applied; if the file differs
// from it once the watch is in place (it changed in between), apply runs at
// once. With loaded nil, the content present at start counts as applied.
// log may be nil.
func WatchFile(ctx context.Context, path string, loaded []byte, pollEvery time.Duration, apply func([]byte), log *slog.Logger) error {
	return watchFile(ctx, path, loaded, pollEvery, apply, log, nil)
}

// watchFile is WatchFile with a hook called once the watch is in place and
// the current content is recorded (tests wait for it before changing files).
func watchFile(ctx context.Context, path string, loaded []byte, pollEvery time.Duration, apply func([]byte), log *slog.Logger, ready func()) error {
	if log == nil {
		log = slog.Default()
	}
	var last [32]byte
	readAndApply := func() {
		data, err := os.ReadFile(path)
		if err != nil {
			log.Warn("cannot read rules file; keeping the current rules", "path", path, "error", err.Error())
			return
		}
		if len(bytes.TrimSpace(data)) == 0 {
			// A file being rewritten in place is empty between its truncation
			// and the write; the write's own event brings the content. (An
			// empty rules file is never valid, so nothing is lost.)
			return
		}
		sum := sha256.Sum256(data)
		if sum == last {
			return
		}
		last = sum
		apply(data)
	}
	started := func() {
		if loaded != nil {
			last = sha256.Sum256(loaded)
			readAndApply() // catch a change made before the watch was in place
		} else if data, err := os.ReadFile(path); err == nil {
			last = sha256.Sum256(data)
		}
		if ready != nil {
			ready()
		}
	}
	if err := fswatch.Watch(ctx, filepath.Dir(path), pollEvery, log, started, readAndApply); err != nil {
		return fmt.Errorf("watch rules: %w", err)
	}
	return nil
}
