package teams

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/statefile"
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
// rate-limit windows) in a local file across restarts of a single proxy
// (statefile.File: never overwritten unread; a file that cannot be decoded,
// corrupt or of another version, is moved aside and counting starts from
// zero).
type MemoryFile struct {
	Path  string
	Store *Memory

	once sync.Once
	file statefile.File
}

func (f *MemoryFile) state() *statefile.File {
	f.once.Do(func() { f.file = statefile.File{Path: f.Path, What: "limits state"} })
	return &f.file
}

// Load reads the file into the store and reports whether there was one. A
// missing file is not an error; any other failure is returned (see
// statefile.File).
func (f *MemoryFile) Load() (restored bool, err error) {
	return f.state().Load(func(data []byte) error {
		st, err := decodeMemoryState(data)
		if err == nil {
			f.Store.restore(st)
		}
		return err
	})
}

// Save writes the store's live counters atomically (mode 0600).
func (f *MemoryFile) Save() error {
	return f.state().Save(func() ([]byte, error) { return json.Marshal(f.Store.export()) })
}
