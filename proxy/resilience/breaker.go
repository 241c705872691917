package resilience

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// State is a circuit breaker's state.
type State int

const (
	// Closed lets every call through.
	Closed State = iota
	// HalfOpen lets one probe call through; the others fail at once.
	HalfOpen
	// Open fails every call at once until the cool-down ends.
	Open
)

func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	default:
		return "closed"
	}
}

// Breaker is one provider's circuit breaker: failures consecutive failed
// calls open it for cooldown; then one probe is let through, whose success
// closes it and whose failure opens it again. A call that ends neither way
// (canceled, a provider without a key) changes nothing. A nil *Breaker lets
// everything through.
type Breaker struct {
	provider string
	failures int
	cooldown time.Duration
	clock    Clock
	observer Observer

	mu      sync.Mutex
	state   State
	failed  int       // consecutive failures while closed
	until   time.Time // end of the cool-down while open
	probing bool      // a half-open probe is in flight
}

// State returns the breaker's state (Open turns HalfOpen only when a call asks).
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// allow returns nil when a call may be made, else the 503 to fail it
// with; probe says the call is the half-open breaker's one probe.
func (b *Breaker) allow() (probe bool, err error) {
	if b == nil {
		return false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	switch b.state {
	case Closed:
		return false, nil
	case Open:
		if now.Before(b.until) {
			return false, b.openError(b.until.Sub(now))
		}
		b.set(HalfOpen)
	}
	if b.probing {
		return false, b.openError(0)
	}
	b.probing = true
	return true, nil
}

// record counts a call's outcome: reason is Reason's classification, probe
// what allow said of the call.
func (b *Breaker) record(probe bool, reason string, err error) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	neutral := reason == "" && err != nil // canceled, or no key: says nothing of the upstream
	if probe {
		b.probing = false
		switch {
		case neutral:
		case reason == "":
			b.failed = 0
			b.set(Closed)
		default:
			b.open()
		}
		return
	}
	if b.state != Closed || neutral {
		return // a call allowed before the breaker opened
	}
	if reason == "" {
		b.failed = 0
		return
	}
	b.failed++
	if b.failed >= b.failures {
		b.open()
	}
}

func (b *Breaker) open() {
	b.until = b.clock.Now().Add(b.cooldown)
	b.failed = 0
	b.set(Open)
}

func (b *Breaker) set(s State) {
	if b.state == s {
		return
	}
	b.state = s
	if b.observer != nil {
		b.observer.BreakerChanged(b.provider, s, true)
	}
}

// openError is the 503 a call skipped by the breaker fails with; after is
// the rest of the cool-down (0: a probe is in flight).
func (b *Breaker) openError(after time.Duration) *llm.Error {
	secs := int((after + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	h := http.Header{"Retry-After": {strconv.Itoa(secs)}}
	return &llm.Error{Kind: llm.ErrOverloaded, Status: http.StatusServiceUnavailable, Retryable: true, Header: &h,
		Message: fmt.Sprintf("provider %s is unavailable after repeated failures; retry in %ds", b.provider, secs)}
}
