// Package clientauth holds the API keys clients must present to the proxy
// (x-api-key or Authorization: Bearer). Keys come from a directory — a
// mounted Kubernetes Secret, one key per file or per line — and are
// reloaded when it changes, so keys rotate without a restart. Only SHA-256
// digests are kept, and a check compares against every key in constant time.
package clientauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fswatch"
)

// Keys is the current set of accepted client keys. The zero value accepts nothing.
type Keys struct {
	digests atomic.Pointer[[][sha256.Size]byte]
}

// Set replaces the accepted keys.
func (k *Keys) Set(keys []string) {
	d := make([][sha256.Size]byte, 0, len(keys))
	for _, key := range keys {
		if key = strings.TrimSpace(key); key != "" {
			d = append(d, sha256.Sum256([]byte(key)))
		}
	}
	k.digests.Store(&d)
}

// Len is the number of accepted keys.
func (k *Keys) Len() int {
	if d := k.digests.Load(); d != nil {
		return len(*d)
	}
	return 0
}

// Valid reports whether cred is one of the keys. It looks at every key
// whatever matches, so the time taken says nothing about which one did.
func (k *Keys) Valid(cred string) bool {
	d := k.digests.Load()
	if d == nil || cred == "" {
		return false
	}
	sum := sha256.Sum256([]byte(cred))
	ok := 0
	for i := range *d {
		ok |= subtle.ConstantTimeCompare(sum[:], (*d)[i][:])
	}
	return ok == 1
}

// ReadDir reads keys from every regular file in dir (hidden files, such as
// the kubelet's ..data links, are skipped): each non-empty line is a key.
func ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("client keys: %w", err)
	}
	var keys []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		st, err := os.Stat(path) // follows the Secret volume's symlinks
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("client keys: read %s: %w", e.Name(), err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				keys = append(keys, line)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// LoadDir reads dir into k. An empty set is an error: a proxy told to
// require keys must not start open or locked by accident.
func (k *Keys) LoadDir(dir string) error {
	keys, err := ReadDir(dir)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return errors.New("client keys: the directory holds no keys")
	}
	k.Set(keys)
	return nil
}

// WatchDir reloads the keys when dir changes (and every poll, 0: 10s), until
// ctx ends. A failed reload keeps the current keys.
func (k *Keys) WatchDir(ctx context.Context, dir string, poll time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	reload := func() {
		before := k.Len()
		if err := k.LoadDir(dir); err != nil {
			log.Warn("client keys not reloaded; keeping the current ones", "error", err.Error())
			return
		}
		if k.Len() != before {
			log.Info("client keys reloaded", "keys", k.Len())
		}
	}
	if err := fswatch.Watch(ctx, dir, poll, log, nil, reload); err != nil {
		return fmt.Errorf("watch client keys: %w", err)
	}
	return nil
}
