package qualitysync

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// File keeps a registry's state (routequality.State as JSON) in a local
// file across restarts.
//
// Load runs once the first rules are loaded (the registry's routes exist);
// Save does nothing before Load, so a state not yet read is never
// overwritten. A file that cannot be decoded or imported (corrupt, or
// written by a version this proxy does not read) is renamed aside to
// "<path>.corrupt-<time>" and the proxy starts afresh; a file that cannot
// even be read (permissions) is left alone and saving stays off, since the
// next save would replace it unread. State of rules absent from the rules
// at Load is not kept.
type File struct {
	Path     string
	Registry *routequality.Registry

	mu      sync.Mutex
	read    bool // Load ran
	blocked bool // the file could not be read or moved aside: never overwrite it
}

// Load imports the file into the registry's routes and reports whether
// there was one. A missing file is not an error; any other failure is
// returned (and the file kept, see File).
func (f *File) Load() (restored bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read = true
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		f.blocked = true
		return false, fmt.Errorf("read quality state %s (it will not be overwritten): %w", f.Path, err)
	}
	var st routequality.State
	if err = json.Unmarshal(data, &st); err == nil {
		err = f.Registry.Import(st)
	}
	if err == nil {
		return true, nil
	}
	aside := f.Path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	if rerr := os.Rename(f.Path, aside); rerr != nil {
		f.blocked = true
		return false, fmt.Errorf("quality state %s: %w (moving it aside failed, so it will not be overwritten: %v)", f.Path, err, rerr)
	}
	return false, fmt.Errorf("quality state %s: %w (moved aside to %s; starting afresh)", f.Path, err, aside)
}

// Save writes the registry's state atomically (a temporary file in the same
// directory, synced, then renamed over the file; mode 0600).
func (f *File) Save() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.read || f.blocked {
		return nil
	}
	data, err := json.Marshal(f.Registry.Export())
	if err != nil {
		return fmt.Errorf("encode quality state: %w", err)
	}
	dir, base := filepath.Split(f.Path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("save quality state: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save quality state: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save quality state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save quality state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save quality state: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("save quality state: %w", err)
	}
	done = true
	if d, err := os.Open(dir); err == nil { // make the rename itself durable
		_ = d.Sync()
		d.Close()
	}
	return nil
}
