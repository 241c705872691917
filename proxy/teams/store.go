package teams

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Check is one counter a reservation touches: Amount is added when every
// check passes; a check with a Limit above zero fails when the counter plus
// Amount would exceed it.
type Check struct {
	Key    string
	Limit  int64 // 0: count, never refuse
	Amount int64
	TTL    time.Duration // the counter expires this long after its last change
}

// Delta is an unconditional change to a counter (a commit).
type Delta struct {
	Key    string
	Amount int64
	TTL    time.Duration
}

// Store holds the counters. Implementations are safe for concurrent use.
type Store interface {
	// Reserve checks every check atomically and, when all pass, adds their
	// amounts. It returns the index of the first failing check, or -1.
	Reserve(ctx context.Context, checks []Check) (denied int, err error)
	// Add applies deltas unconditionally.
	Add(ctx context.Context, deltas []Delta) error
	// Get reads counters (0 for a missing one).
	Get(ctx context.Context, keys []string) ([]int64, error)
}

// ErrUnavailable wraps failures of the shared store under a fail-closed policy.
var ErrUnavailable = errors.New("the limits store is unavailable")

// Memory is a Store in process memory: for a single proxy, and the local
// count a Redis store falls back to.
type Memory struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]memCounter
}

type memCounter struct {
	v       int64
	expires time.Time
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{now: time.Now, m: map[string]memCounter{}} }

func (s *Memory) get(key string, now time.Time) int64 {
	c, ok := s.m[key]
	if !ok {
		return 0
	}
	if !c.expires.IsZero() && !now.Before(c.expires) {
		delete(s.m, key)
		return 0
	}
	return c.v
}

func (s *Memory) add(key string, amount int64, ttl time.Duration, now time.Time) int64 {
	c := memCounter{v: s.get(key, now) + amount}
	if ttl > 0 {
		c.expires = now.Add(ttl)
	}
	s.m[key] = c
	return c.v
}

// Reserve implements Store.
func (s *Memory) Reserve(_ context.Context, checks []Check) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for i, c := range checks {
		if c.Limit > 0 && c.Amount > 0 && s.get(c.Key, now)+c.Amount > c.Limit {
			return i, nil
		}
	}
	for _, c := range checks {
		s.add(c.Key, c.Amount, c.TTL, now)
	}
	return -1, nil
}

// Add implements Store.
func (s *Memory) Add(_ context.Context, deltas []Delta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, d := range deltas {
		s.add(d.Key, d.Amount, d.TTL, now)
	}
	return nil
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, keys []string) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = s.get(k, now)
	}
	return out, nil
}
