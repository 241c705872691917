package qualitysync

import (
	"encoding/json"
	"sync"

	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/statefile"
)

// File keeps a registry's state (routequality.State as JSON) in a local
// file across restarts (statefile.File: never overwritten unread, a corrupt
// file moved aside).
//
// Load runs once the first rules are loaded (the registry's routes exist).
// A file that cannot be decoded or imported (corrupt, or written by a
// version this proxy does not read) is moved aside and the proxy starts
// afresh. State of rules absent from the rules at Load is not kept.
type File struct {
	Path     string
	Registry *routequality.Registry

	once sync.Once
	file statefile.File
}

func (f *File) state() *statefile.File {
	f.once.Do(func() { f.file = statefile.File{Path: f.Path, What: "quality state"} })
	return &f.file
}

// Load imports the file into the registry's routes and reports whether
// there was one. A missing file is not an error; any other failure is
// returned (and the file kept or moved aside, see statefile.File).
func (f *File) Load() (restored bool, err error) {
	return f.state().Load(func(data []byte) error {
		var st routequality.State
		if err := json.Unmarshal(data, &st); err != nil {
			return err
		}
		return f.Registry.Import(st)
	})
}

// Save writes the registry's state atomically (mode 0600).
func (f *File) Save() error {
	return f.state().Save(func() ([]byte, error) { return json.Marshal(f.Registry.Export()) })
}
