// Package statefile keeps a standalone proxy's state in a local file across
// restarts: read once at start, written atomically, and never overwritten
// unread.
//
// Save does nothing before Load, so a state not yet read is never
// overwritten. A file that cannot be decoded (corrupt, or written by a
// version this proxy does not read) is renamed aside to
// "<path>.corrupt-<time>" and the caller starts afresh; a file that cannot
// even be read (permissions) is left alone and saving stays off, since the
// next save would replace it unread.
package statefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// File is one state file. What names the state in errors ("quality
// state", "limits state").
type File struct {
	Path string
	What string

	mu      sync.Mutex
	read    bool // Load ran
	blocked bool // the file could not be read or moved aside: never overwrite it
}

// Load reads the file and hands its bytes to decode; it reports whether a
// state was restored. A missing file is not an error; any other failure is
// returned (and the file moved aside or kept, see File).
func (f *File) Load(decode func([]byte) error) (restored bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read = true
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		f.blocked = true
		return false, fmt.Errorf("read %s %s (it will not be overwritten): %w", f.What, f.Path, err)
	}
	if err = decode(data); err == nil {
		return true, nil
	}
	aside := f.Path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	if rerr := os.Rename(f.Path, aside); rerr != nil {
		f.blocked = true
		return false, fmt.Errorf("%s %s: %w (moving it aside failed, so it will not be overwritten: %v)", f.What, f.Path, err, rerr)
	}
	return false, fmt.Errorf("%s %s: %w (moved aside to %s; starting afresh)", f.What, f.Path, err, aside)
}

// Save writes what encode returns, atomically (a temporary file in the same
// directory, synced, then renamed over the file; mode 0600): a reader, or a
// crash, sees the old file or the new one, never a part. Before Load, or
// once the file was found unreadable, it does nothing.
func (f *File) Save(encode func() ([]byte, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.read || f.blocked {
		return nil
	}
	data, err := encode()
	if err != nil {
		return fmt.Errorf("encode %s: %w", f.What, err)
	}
	if err := writeAtomic(f.Path, data); err != nil {
		return fmt.Errorf("save %s: %w", f.What, err)
	}
	return nil
}

func writeAtomic(path string, data []byte) (err error) {
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
