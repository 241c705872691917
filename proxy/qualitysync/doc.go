// Package qualitysync carries the proxy's quality loops (a
// routequality.Registry) beyond one process:
//
//   - File keeps a standalone proxy's samples, spend and calibrations in a
//     local file across restarts (written atomically, read once after the
//     first rules load).
//   - Publisher writes a pod's samples and spend to a ConfigMap of its own,
//     which the operator merges with the other pods' into one calibration
//     per rule, and beside them the pod's usage (Usage: every rule's
//     request counters and the budget state), which the operator sums into
//     the route's status.
//   - Calibrations puts that calibration (the rules ConfigMap's
//     calibration.json key) in effect on every route it names.
//
// Like the rules watcher, Publisher speaks to the API server over plain
// HTTP with client-go's rest package for credentials only.
package qualitysync

import (
	"context"
	"time"
)

// DefaultInterval is how often the state is saved and published.
const DefaultInterval = 30 * time.Second

// Every calls fn every interval until ctx ends (not at once, not after).
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
