// Package clientauth holds the API keys clients must present to the proxy
// (x-api-key or Authorization: Bearer). Keys come from a directory — a
// mounted Kubernetes Secret, one key per file or per line — and are
// reloaded when it changes, so keys rotate without a restart. Only SHA-256
// digests are kept, and a check compares against every key in constant time.
// Each key remembers the file it came from (the Secret's data key): the
// rules' clientKeys name and limit keys by that file.
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
	entries atomic.Pointer[[]entry]
}

type entry struct {
	digest [sha256.Size]byte
	source string // the file the key was read from; "" for keys given by Set
}

// Set replaces the accepted keys with keys of no source.
func (k *Keys) Set(keys []string) { k.SetSources(map[string][]string{"": keys}) }

// SetSources replaces the accepted keys: each source's keys.
func (k *Keys) SetSources(keys map[string][]string) {
	var es []entry
	for source, list := range keys {
		for _, key := range list {
			if key = strings.TrimSpace(key); key != "" {
				es = append(es, entry{digest: sha256.Sum256([]byte(key)), source: source})
			}
		}
	}
	k.entries.Store(&es)
}

// Len is the number of accepted keys.
func (k *Keys) Len() int {
	if e := k.entries.Load(); e != nil {
		return len(*e)
	}
	return 0
}

// Valid reports whether cred is one of the keys.
func (k *Keys) Valid(cred string) bool {
	_, ok := k.Lookup(cred)
	return ok
}

// Lookup reports whether cred is one of the keys and the file it came
// from. It looks at every key whatever matches, so the time taken says
// nothing about which one did.
func (k *Keys) Lookup(cred string) (source string, ok bool) {
	e := k.entries.Load()
	if e == nil || cred == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(cred))
	found := -1
	for i := range *e {
		eq := subtle.ConstantTimeCompare(sum[:], (*e)[i].digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return "", false
	}
	return (*e)[found].source, true
}

// ReadDir reads keys from every regular file in dir (hidden files, such as
// the kubelet's ..data links, are skipped): each non-empty line is a key.
func ReadDir(dir string) ([]string, error) {
	bySource, err := ReadDirSources(dir)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, list := range bySource {
		keys = append(keys, list...)
	}
	sort.Strings(keys)
	return keys, nil
}

// ReadDirSources is ReadDir keeping each key's file: keys by file name.
func ReadDirSources(dir string) (map[string][]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("client keys: %w", err)
	}
	keys := map[string][]string{}
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
				keys[e.Name()] = append(keys[e.Name()], line)
			}
		}
	}
	return keys, nil
}

// LoadDir reads dir into k. An empty set is an error: a proxy told to
// require keys must not start open or locked by accident.
func (k *Keys) LoadDir(dir string) error {
	keys, err := ReadDirSources(dir)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return errors.New("client keys: the directory holds no keys")
	}
	k.SetSources(keys)
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
