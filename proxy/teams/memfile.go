package teams

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// memoryStateVersion is the format of a MemoryFile; a file of another
// version is not read.
const memoryStateVersion = 1

// memoryState is a Memory store as it is saved.
type memoryState struct {
	Version  int                      `json:"version"`
	Counters map[string]memoryCounter `json:"counters"`
}

type memoryCounter struct {
	Value   int64     `json:"value"`
	Expires time.Time `json:"expires,omitzero"` // zero: never
}

// export copies the live counters.
func (s *Memory) export() memoryState {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	st := memoryState{Version: memoryStateVersion, Counters: make(map[string]memoryCounter, len(s.m))}
	for k, c := range s.m {
		if c.expires.IsZero() || now.Before(c.expires) {
			st.Counters[k] = memoryCounter{Value: c.v, Expires: c.expires}
		}
	}
	return st
}

// decodeMemoryState parses and checks a saved store.
func decodeMemoryState(data []byte) (memoryState, error) {
	var st memoryState
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("decode: %w", err)
	}
	if st.Version != memoryStateVersion {
		return st, fmt.Errorf("version %d, this proxy reads version %d", st.Version, memoryStateVersion)
	}
	for k := range st.Counters {
		if !strings.HasPrefix(k, "cascadeflow:") {
			return st, fmt.Errorf("counter %q is not one of the proxy's", k)
		}
	}
	return st, nil
}

// restore replaces the store's counters with st's live ones.
func (s *Memory) restore(st memoryState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.m = make(map[string]memCounter, len(st.Counters))
	for k, c := range st.Counters {
		if c.Expires.IsZero() || now.Before(c.Expires) {
			s.m[k] = memCounter{v: c.Value, expires: c.Expires}
		}
	}
}

// MemoryFile keeps a Memory store's counters (spend, in-flight estimates,
// rate-limit windows) in a local file across restarts of a single proxy.
//
// Save does nothing before Load, so a file not yet read is never
// overwritten. A file that cannot be decoded (corrupt, or of another
// version) is renamed aside to "<path>.corrupt-<time>" and counting starts
// from zero; a file that cannot even be read is left alone and saving stays
// off, since the next save would replace it unread.
type MemoryFile struct {
	Path  string
	Store *Memory

	mu      sync.Mutex
	read    bool
	blocked bool
}

// Load reads the file into the store and reports whether there was one. A
// missing file is not an error; any other failure is returned (see MemoryFile).
func (f *MemoryFile) Load() (restored bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read = true
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		f.blocked = true
		return false, fmt.Errorf("read limits state %s (it will not be overwritten): %w", f.Path, err)
	}
	st, err := decodeMemoryState(data)
	if err == nil {
		f.Store.restore(st)
		return true, nil
	}
	aside := f.Path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	if rerr := os.Rename(f.Path, aside); rerr != nil {
		f.blocked = true
		return false, fmt.Errorf("limits state %s: %w (moving it aside failed, so it will not be overwritten: %v)", f.Path, err, rerr)
	}
	return false, fmt.Errorf("limits state %s: %w (moved aside to %s; counting starts from zero)", f.Path, err, aside)
}

// Save writes the store's live counters atomically (a temporary file in the
// same directory, synced, then renamed over the file; mode 0600).
func (f *MemoryFile) Save() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.read || f.blocked {
		return nil
	}
	data, err := json.Marshal(f.Store.export())
	if err != nil {
		return fmt.Errorf("encode limits state: %w", err)
	}
	if err := writeFileAtomic(f.Path, data); err != nil {
		return fmt.Errorf("save limits state: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data: a reader (or a crash) sees the
// old file or the new one, never a part.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename itself durable
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
