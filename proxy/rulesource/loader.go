// Package rulesource feeds rules into the proxy: it decodes and validates a
// rules document, builds a snapshot and swaps it in (Loader), and watches
// where documents come from (a file or directory mounted from a ConfigMap).
// An invalid document keeps the rules being served; it is logged and counted.
package rulesource

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// Loader applies rules documents to a snapshot store.
type Loader struct {
	Builder *snapshot.Builder
	Store   *snapshot.Store
	Metrics *metrics.Metrics
	Log     *slog.Logger

	mu       sync.Mutex
	lastData string // sha256 of the last document applied successfully
	lastDoc  []byte // that document, for Refresh
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
			return Loaded, nil
		}
	}
	l.count(Invalid)
	l.logger().Error("rules rejected; still serving the previous rules", "source", source, "error", err.Error())
	return Invalid, fmt.Errorf("load rules from %s: %w", source, err)
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
	if err != nil {
		l.logger().Warn("provider keys could not be re-read; keeping the current ones", "error", err.Error())
		return false
	}
	if snap.KeysDigest == cur.KeysDigest {
		return false
	}
	l.Store.Swap(snap)
	l.count(Loaded)
	l.logger().Info("provider keys rotated; new requests use the new keys", "hash", snap.Hash)
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
