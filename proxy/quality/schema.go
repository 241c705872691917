package quality

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaCacheSize bounds the compiled schemas kept. Agentic clients send the
// same dozen tool schemas every turn, so a small cache hits almost always.
const schemaCacheSize = 512

// sharedSchemas is shared by all gates: a schema compiles the same whatever
// rule it arrived under.
var sharedSchemas = newSchemaCache(schemaCacheSize)

// schemaCache is an LRU of compiled JSON Schemas keyed by the SHA-256 of the
// schema bytes. Compile failures are cached too (as an error), so a broken
// client schema is not recompiled every turn.
type schemaCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[[32]byte]*list.Element
}

type schemaEntry struct {
	key [32]byte
	sch *jsonschema.Schema
	err error
}

func newSchemaCache(max int) *schemaCache {
	return &schemaCache{max: max, ll: list.New(), items: make(map[[32]byte]*list.Element)}
}

// get returns the compiled schema for raw, compiling it on a miss.
func (c *schemaCache) get(raw []byte) (*jsonschema.Schema, error) {
	key := sha256.Sum256(raw)
	c.mu.Lock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		ent := e.Value.(*schemaEntry)
		c.mu.Unlock()
		return ent.sch, ent.err
	}
	c.mu.Unlock()

	// Compile outside the lock; a concurrent duplicate compile is harmless.
	sch, err := compileSchema(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		ent := e.Value.(*schemaEntry)
		return ent.sch, ent.err
	}
	c.items[key] = c.ll.PushFront(&schemaEntry{key: key, sch: sch, err: err})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*schemaEntry).key)
	}
	return sch, err
}

func (c *schemaCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// refusingLoader keeps a client-supplied schema from reading local files or
// the network through "$ref" (the library's default loader reads file URLs).
type refusingLoader struct{}

func (refusingLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external $ref %q not allowed", url)
}

const schemaURL = "mem:///schema.json"

func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(refusingLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	return sch, nil
}

// validateJSON parses instance and validates it against the schema raw. A
// schema that does not compile is not held against the draft (errSchema).
func (c *schemaCache) validateJSON(raw, instance []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(instance))
	if err != nil {
		return errors.Join(errNotJSON, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	sch, err := c.get(raw)
	if err != nil {
		return errors.Join(errSchema, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("does not satisfy schema: %w", err)
	}
	return nil
}

// errNotJSON marks an instance that does not parse.
var errNotJSON = errors.New("not valid JSON")

// errSchema marks a broken schema from the request (not the draft's fault).
var errSchema = errors.New("unusable schema")
