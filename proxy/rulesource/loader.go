// Package rulesource feeds rules into the proxy: it decodes and validates a
// rules document, builds a snapshot and swaps it in (Loader), and watches
// where documents come from (a file or directory mounted from a ConfigMap).
// An invalid document keeps the rules being served; it is logged and counted.
package rulesource

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// Loader applies rules documents to a snapshot store.
type Loader struct {
	Builder *snapshot.Builder
	Store   *snapshot.Store
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Prices is the price table the accounting uses (default
	// pricing.Default()); loaded rules are checked against it.
	Prices *pricing.Table

	mu       sync.Mutex
	lastData string // sha256 of the last document applied successfully
	lastDoc  []byte // that document, for Refresh
	history  []Reload
}

// Reload is one change of the served rules, or one rejected document, as
// the status page lists them. It never holds a key: the rules name where
// keys come from, and the error is passed through the served redactor.
type Reload struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"`
	Result Result    `json:"result"`
	// Hash is the hash of the rules served after the attempt.
	Hash  string `json:"hash,omitempty"`
	Error string `json:"error,omitempty"`
	// KeysRotated marks a reload of the same rules with rotated provider keys.
	KeysRotated bool `json:"keysRotated,omitempty"`
}

// HistoryLen bounds the reloads History keeps.
const HistoryLen = 20

// maxReloadError bounds an error message kept in the history.
const maxReloadError = 400

// History returns the last HistoryLen reloads and rejections, newest first.
// Unchanged documents (a poll re-reading the same file) are not listed.
func (l *Loader) History() []Reload {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Reload, len(l.history))
	for i, r := range l.history {
		out[len(out)-1-i] = r
	}
	return out
}

// remember appends r to the history; l.mu is held.
func (l *Loader) remember(r Reload) {
	r.Time = time.Now()
	if cur := l.Store.Load(); cur != nil {
		r.Hash = cur.Hash
		r.Error = cur.Redactor.String(r.Error)
	}
	if len(r.Error) > maxReloadError {
		r.Error = strings.ToValidUTF8(r.Error[:maxReloadError], "") + "…"
	}
	if len(l.history) == HistoryLen {
		l.history = append(l.history[:0], l.history[1:]...)
	}
	l.history = append(l.history, r)
}

// Result of one Apply.
type Result string

const (
	Loaded    Result = "ok"
	Unchanged Result = "unchanged"
	Invalid   Result = "invalid"
)

// Apply decodes data and, when it is valid and differs from what is served,
// swaps it in. source names where data came from, for logs.
func (l *Loader) Apply(data []byte, source string) (Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sum := sha256.Sum256(data)
	docHash := hex.EncodeToString(sum[:])
	if docHash == l.lastData && l.Store.Load() != nil {
		l.count(Unchanged)
		return Unchanged, nil
	}
	set, err := rules.Decode(data)
	if err == nil {
		var snap *snapshot.Snapshot
		snap, err = l.Builder.Build(set)
		if err == nil {
			err = keysLost(l.Store.Load(), snap)
		}
		if err == nil {
			if cur := l.Store.Load(); cur != nil && cur.Hash == snap.Hash && cur.KeysDigest == snap.KeysDigest {
				l.lastData, l.lastDoc = docHash, data
				l.count(Unchanged)
				return Unchanged, nil
			}
			prev := l.Store.Swap(snap)
			l.lastData, l.lastDoc = docHash, data
			l.count(Loaded)
			if l.Metrics != nil {
				l.Metrics.SetRulesHash(snap.Hash)
				l.Metrics.RulesLoaded.Set(float64(snap.LoadedAt.UnixNano()) / 1e9)
			}
			prevHash := ""
			if prev != nil {
				prevHash = prev.Hash
			}
			l.logger().Info("rules loaded", "source", source, "hash", snap.Hash, "previous_hash", prevHash,
				"rules", len(set.Rules), "providers", len(set.Providers))
			l.remember(Reload{Source: source, Result: Loaded})
			l.warnMissingKeys(snap)
			l.warnUnpriced(set)
			return Loaded, nil
		}
	}
	l.count(Invalid)
	l.remember(Reload{Source: source, Result: Invalid, Error: err.Error()})
	if l.Store.Load() != nil {
		l.logger().Error("rules rejected; still serving the previous rules", "source", source, "error", err.Error())
	} else {
		l.logger().Error("rules rejected; no rules are being served", "source", source, "error", err.Error())
	}
	return Invalid, fmt.Errorf("load rules from %s: %w", source, err)
}

// keysLost refuses a snapshot that would take away a provider key the
// served one has (a key file caught mid-rotation, a Secret not yet mounted
// on an old pod): the served rules stay. With nothing served yet, or for a
// provider that had no key before either, a missing key only disables what
// depends on it (warnMissingKeys).
func keysLost(cur, next *snapshot.Snapshot) error {
	if cur == nil {
		return nil
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(next.MissingKeys)) {
		if _, before := cur.MissingKeys[name]; !before {
			errs = append(errs, errors.New(next.MissingKeys[name]))
		}
	}
	return errors.Join(errs...)
}

// warnUnpriced names, rule by rule, the models without a price: their
// requests get no cost figures, which otherwise only a counter
// (cascadeflow_unknown_price_total) would reveal.
func (l *Loader) warnUnpriced(set *rules.Set) {
	missing := pricing.UnpricedModels(set, l.Prices)
	for i := 0; i < len(missing); {
		rule := missing[i].Rule
		var models []string
		calls := false
		for ; i < len(missing) && missing[i].Rule == rule; i++ {
			models = append(models, missing[i].Role+" "+missing[i].Model)
			calls = calls || missing[i].Role != "requested"
		}
		msg := "rule names models without a price: the baseline of these requested names is priced as the verifier"
		if calls {
			msg = "rule names models without a price: its requests get no cost or savings figures " +
				"(x-cascade-cost-usd, cascadeflow_cost_usd_total) until the models are priced under prices"
		}
		l.logger().Warn(msg, "rule", rule, "unpriced", models)
	}
}

// warnMissingKeys says loudly what a provider without a key disables.
func (l *Loader) warnMissingKeys(snap *snapshot.Snapshot) {
	for _, name := range slices.Sorted(maps.Keys(snap.MissingKeys)) {
		d := snap.Dependents(name)
		l.logger().Warn("provider has no API key, so what depends on it is disabled: its calls answer 503 "+
			"\"provider "+name+" has no API key\" (a cascade whose draft it serves escalates to the verifier)",
			"provider", name, "reason", snap.MissingKeys[name],
			"unavailable_rules", d.Verifier, "escalating_rules", d.Draft, "judge_skipped_rules", d.Judge,
			"default_route_unavailable", d.DefaultRoute)
	}
}

// Refresh rebuilds the served rules from the last applied document and
// swaps them in when a provider key read from a file or the environment has
// changed (a rotated Secret); the rules themselves are unchanged. It reports
// whether keys rotated.
func (l *Loader) Refresh() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.Store.Load()
	if cur == nil || l.lastDoc == nil {
		return false
	}
	snap, err := l.Builder.Build(cur.Rules)
	if err == nil {
		err = keysLost(cur, snap)
	}
	if err != nil {
		l.logger().Warn("provider keys could not be re-read; keeping the current ones", "error", err.Error())
		return false
	}
	if snap.KeysDigest == cur.KeysDigest {
		return false
	}
	l.Store.Swap(snap)
	l.count(Loaded)
	l.remember(Reload{Source: "provider keys", Result: Loaded, KeysRotated: true})
	l.logger().Info("provider keys rotated; new requests use the new keys", "hash", snap.Hash)
	l.warnMissingKeys(snap)
	return true
}

func (l *Loader) count(r Result) {
	if l.Metrics != nil {
		l.Metrics.RulesReloads.WithLabelValues(string(r)).Inc()
	}
}

func (l *Loader) logger() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.Default()
}
