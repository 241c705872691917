// Package snapshot turns a validated rules set into what requests are served
// with (model index, provider clients with their keys, the rules compiled:
// quality gates, price tables, resolved providers) and holds the current one
// behind an atomic pointer: a reload swaps it whole, so a request that took
// a snapshot finishes on it, and the hot path takes no lock. A set that
// cannot be built or compiled is an error; the caller keeps serving the
// previous snapshot.
package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Snapshot is one loaded rules set, ready to serve.
type Snapshot struct {
	Rules     *rules.Set
	Index     *rules.Index
	Hash      string
	Providers map[string]*provider.Client
	// Compiled holds each rule ready to run and the set's price table.
	Compiled *cascade.Compiled
	LoadedAt time.Time
	// KeysDigest fingerprints the resolved provider keys (never the keys
	// themselves), so a rotated key can be told from an unchanged one.
	KeysDigest string
	// Redactor hides the resolved provider keys; every provider client
	// applies it to upstream errors before they are relayed or logged.
	Redactor *provider.Redactor
	// MissingKeys names the providers whose API key could not be resolved,
	// with why (never the key). Their clients answer every call with 503;
	// see Dependents for what that disables.
	MissingKeys map[string]string
}

// Dependents is what relies on one provider.
type Dependents struct {
	// Verifier and Draft name the rules using the provider in that role; a
	// rule whose draft fails escalates to its verifier. Judge names the
	// rules whose gate judge it serves (a failed judge is skipped).
	Verifier, Draft, Judge []string
	// DefaultRoute is true when the default route goes to the provider.
	DefaultRoute bool
}

// Dependents lists what relies on the named provider.
func (s *Snapshot) Dependents(name string) Dependents {
	var d Dependents
	for _, r := range s.Rules.Rules {
		if r.Verifier.Provider == name {
			d.Verifier = append(d.Verifier, r.Name)
		}
		if r.Draft.Provider == name {
			d.Draft = append(d.Draft, r.Name)
		}
		if r.Gate != nil && r.Gate.Judge != nil && r.Gate.Judge.Provider == name {
			d.Judge = append(d.Judge, r.Name)
		}
	}
	d.DefaultRoute = s.Rules.DefaultRoute != nil && s.Rules.DefaultRoute.Provider == name
	return d
}

// Provider returns the named provider client, or nil.
func (s *Snapshot) Provider(name string) *provider.Client { return s.Providers[name] }

// Rule returns the compiled rule serving model, or nil.
func (s *Snapshot) Rule(model string) *cascade.CompiledRule {
	return s.Compiled.For(s.Index.Match(model))
}

// lookup resolves provider names for the cascade (a missing one is a nil
// interface, not a nil *provider.Client in one).
func (s *Snapshot) lookup(name string) cascade.Provider {
	if c := s.Providers[name]; c != nil {
		return c
	}
	return nil
}

// Builder makes snapshots: it knows the codecs, how to resolve keys, and the
// shared transport.
type Builder struct {
	Codecs    map[rules.ProviderType]dialect.Codec
	Transport http.RoundTripper
	// LookupEnv resolves apiKey.env (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// ReadFile resolves apiKey.file (default os.ReadFile).
	ReadFile func(string) ([]byte, error)
	// BaseURLOverride, when set, replaces every provider's base URL (demo mode).
	BaseURLOverride func(rules.Provider) string
	// Prices is the built-in price table the rules' prices override
	// (default pricing.Default()).
	Prices *pricing.Table
	// Quality keeps the rules' quality loops across the snapshots it builds
	// (nil: each snapshot starts fresh ones).
	Quality *routequality.Registry
	// Resilience guards the providers' calls (retries, circuit breakers) and
	// keeps their breakers across the snapshots it builds (nil: each
	// snapshot starts with closed breakers).
	Resilience *resilience.Registry
}

// Build resolves keys, builds clients and compiles the rules. A provider
// whose key cannot be resolved does not fail the build: it is listed in
// MissingKeys and its client answers 503, so the rest of the rules are
// served. Errors name the provider and the key's source (never the key), or
// the rule field that cannot be compiled.
func (b *Builder) Build(set *rules.Set) (*Snapshot, error) {
	lookup, read := b.LookupEnv, b.ReadFile
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if read == nil {
		read = os.ReadFile
	}
	snap := &Snapshot{Rules: set, Index: rules.NewIndex(set), Hash: set.Hash(), Providers: map[string]*provider.Client{}, LoadedAt: time.Now()}
	var errs []error
	var secrets []string
	keys := sha256.New()
	guards := b.Resilience
	if guards == nil {
		guards = &resilience.Registry{}
	}
	for _, p := range set.Providers {
		codec := b.Codecs[p.Type]
		if codec == nil {
			errs = append(errs, fmt.Errorf("provider %s: unsupported type %q", p.Name, p.Type))
			continue
		}
		key, err := ResolveKey(p, lookup, read)
		if err != nil {
			c, cerr := provider.NewWithoutKey(p, codec)
			if cerr != nil {
				errs = append(errs, cerr)
				continue
			}
			if snap.MissingKeys == nil {
				snap.MissingKeys = map[string]string{}
			}
			snap.MissingKeys[p.Name] = err.Error()
			snap.Providers[p.Name] = c
			continue
		}
		fmt.Fprintf(keys, "%s\x00%s\x00", p.Name, key)
		secrets = append(secrets, key)
		if b.BaseURLOverride != nil {
			p.BaseURL = b.BaseURLOverride(p)
		}
		c, err := provider.New(p, codec, key, b.Transport)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.SetGuard(guards.Guard(p))
		snap.Providers[p.Name] = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("build snapshot: %w", err)
	}
	compiled, err := cascade.Compile(set, b.Prices, snap.lookup, b.Quality)
	if err != nil {
		return nil, fmt.Errorf("compile rules: %w", err)
	}
	snap.Compiled = compiled
	snap.KeysDigest = hex.EncodeToString(keys.Sum(nil))
	snap.Redactor = provider.NewRedactor(secrets...)
	for _, c := range snap.Providers {
		c.SetRedactor(snap.Redactor)
	}
	return snap, nil
}

// ResolveKey reads a provider's key from its environment variable or file.
func ResolveKey(p rules.Provider, lookup func(string) (string, bool), read func(string) ([]byte, error)) (string, error) {
	if p.PassthroughAuth || p.APIKey == nil {
		return "", nil
	}
	if p.APIKey.Env != "" {
		v, ok := lookup(p.APIKey.Env)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("provider %s: environment variable %s is not set", p.Name, p.APIKey.Env)
		}
		return strings.TrimSpace(v), nil
	}
	data, err := read(p.APIKey.File)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return "", fmt.Errorf("provider %s: read key file %s: %w", p.Name, p.APIKey.File, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("provider %s: key file %s is empty", p.Name, p.APIKey.File)
	}
	return v, nil
}

// Store holds the snapshot being served.
type Store struct{ p atomic.Pointer[Snapshot] }

// Load returns the current snapshot (nil before the first successful load).
func (s *Store) Load() *Snapshot { return s.p.Load() }

// Swap installs a new snapshot and returns the previous one.
func (s *Store) Swap(n *Snapshot) *Snapshot { return s.p.Swap(n) }
