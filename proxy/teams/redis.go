package teams

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// FailPolicy says what a Redis-backed store does while Redis is unreachable.
type FailPolicy string

const (
	// FailOpen keeps serving, enforcing limits on this replica's own count
	// (from the last values Redis reported) until Redis is back.
	FailOpen FailPolicy = "open"
	// FailClosed refuses requests of limited keys until Redis is back.
	FailClosed FailPolicy = "closed"
)

// reserveScript checks every counter, then adds to all of them: one atomic
// step, so two replicas cannot both take the last of a budget.
// KEYS: the counters; ARGV: limit, amount, ttl in ms, for each key in turn.
// Returns {0 or the 1-based index of the failing check, value...}.
var reserveScript = redis.NewScript(`
local out = {0}
for i = 1, #KEYS do
  local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
  local limit = tonumber(ARGV[3*i-2])
  local amount = tonumber(ARGV[3*i-1])
  if limit > 0 and amount > 0 and cur + amount > limit then
    return {i}
  end
end
for i = 1, #KEYS do
  local v = redis.call('INCRBY', KEYS[i], ARGV[3*i-1])
  local ttl = tonumber(ARGV[3*i])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
  out[i+1] = v
end
return out
`)

// RedisConfig connects to the shared counter store.
type RedisConfig struct {
	Addr     string // host:port
	Username string
	Password string
	DB       int
	TLS      *tls.Config // nil: plain TCP
	Policy   FailPolicy  // "": FailOpen
	// Timeout bounds each Redis call (0: 500ms): a slow Redis must not stall requests.
	Timeout time.Duration
}

// Redis is a Store shared by every replica. While Redis is unreachable it
// counts locally (see FailPolicy) and keeps every change it could not write;
// those are replayed, in one transaction, once Redis answers again, so no
// committed spend is lost.
type Redis struct {
	c       *redis.Client
	policy  FailPolicy
	timeout time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	pending  map[string]pendingDelta // changes Redis has not seen yet
	lastSeen map[string]int64        // counter values Redis last reported
	down     bool
	retryAt  time.Time // when to try Redis again while down
	// reconciling: one replay at a time
	reconciling bool
	local       *Memory // this replica's count while down, on top of lastSeen
}

type pendingDelta struct {
	amount int64
	ttl    time.Duration
}

// retryEvery is how often a degraded store tries Redis again.
const retryEvery = time.Second

// NewRedis returns a store on the Redis at cfg.Addr. It does not dial yet.
func NewRedis(cfg RedisConfig, log *slog.Logger) (*Redis, error) {
	if cfg.Addr == "" {
		return nil, errors.New("redis: an address is required")
	}
	switch cfg.Policy {
	case "":
		cfg.Policy = FailOpen
	case FailOpen, FailClosed:
	default:
		return nil, fmt.Errorf("redis: fail policy must be %q or %q, got %q", FailOpen, FailClosed, cfg.Policy)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	if log == nil {
		log = slog.Default()
	}
	c := redis.NewClient(&redis.Options{
		Addr: cfg.Addr, Username: cfg.Username, Password: cfg.Password, DB: cfg.DB, TLSConfig: cfg.TLS,
		DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
		MaxRetries:      -1, // a failure falls back at once; retries happen per retryEvery
		PoolSize:        64,
		DisableIdentity: true,
	})
	return &Redis{c: c, policy: cfg.Policy, timeout: cfg.Timeout, log: log,
		pending: map[string]pendingDelta{}, lastSeen: map[string]int64{}, local: NewMemory()}, nil
}

// Close closes the connections.
func (s *Redis) Close() error { return s.c.Close() }

// Degraded reports whether the store is counting locally because Redis is unreachable.
func (s *Redis) Degraded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// Pending is the number of counters with changes Redis has not seen yet.
func (s *Redis) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// usable reports whether to try Redis now; while down, once per retryEvery,
// after replaying what Redis missed.
func (s *Redis) usable(ctx context.Context) bool {
	s.mu.Lock()
	if !s.down {
		s.mu.Unlock()
		return true
	}
	if time.Now().Before(s.retryAt) {
		s.mu.Unlock()
		return false
	}
	s.retryAt = time.Now().Add(retryEvery)
	s.mu.Unlock()
	return s.Reconcile(ctx) == nil
}

// Reconcile replays the changes made while Redis was unreachable. On
// success the store leaves local counting. Requests keep counting locally
// meanwhile: the lock is not held across a network call.
func (s *Redis) Reconcile(ctx context.Context) error {
	s.mu.Lock()
	if s.reconciling {
		s.mu.Unlock()
		return errors.New("redis: a reconciliation is already running")
	}
	s.reconciling = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.reconciling = false
		s.mu.Unlock()
	}()
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	err := s.c.Ping(pctx).Err()
	cancel()
	if err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	replayed := 0
	for range 8 { // changes made during one replay go in the next
		s.mu.Lock()
		batch := s.pending
		if len(batch) == 0 {
			s.local = NewMemory()
			s.down = false
			s.mu.Unlock()
			if replayed > 0 {
				s.log.Info("limits store: Redis is back; local counts replayed", "counters", replayed)
			}
			return nil
		}
		s.pending = map[string]pendingDelta{}
		s.mu.Unlock()
		if err := s.replay(ctx, batch); err != nil {
			s.mu.Lock()
			for k, d := range batch { // keep them for the next attempt
				s.addPendingLocked(k, d.amount, d.ttl)
			}
			s.mu.Unlock()
			return err
		}
		replayed += len(batch)
	}
	return errors.New("redis: local counts keep arriving faster than they replay")
}

// replay writes batch in one transaction: all of it or none.
func (s *Redis) replay(ctx context.Context, batch map[string]pendingDelta) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*s.timeout)
	defer cancel()
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for k, d := range batch {
			p.IncrBy(ctx, k, d.amount)
			if d.ttl > 0 {
				p.PExpire(ctx, k, d.ttl)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: replay %d counters: %w", len(batch), err)
	}
	return nil
}

// Run replays local counts once Redis is back, without waiting for a
// request, until ctx ends. What is still pending then is logged: it was
// counted and enforced here, but Redis never saw it.
func (s *Redis) Run(ctx context.Context) {
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if n := s.Pending(); n > 0 {
				s.log.Warn("limits store: stopping with counts Redis has not seen", "counters", n)
			}
			return
		case <-t.C:
			if s.Degraded() {
				_ = s.usable(ctx)
			}
		}
	}
}

// fail switches to local counting after err.
func (s *Redis) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		s.log.Warn("limits store: Redis unreachable; counting locally", "policy", string(s.policy), "error", err.Error())
	}
	s.down = true
	s.retryAt = time.Now().Add(retryEvery)
}

// Reserve implements Store.
func (s *Redis) Reserve(ctx context.Context, checks []Check) (int, error) {
	if len(checks) == 0 {
		return -1, nil
	}
	if s.usable(ctx) {
		denied, vals, err := s.reserveRedis(ctx, checks)
		if err == nil {
			s.mu.Lock()
			for i, v := range vals {
				s.lastSeen[checks[i].Key] = v
			}
			s.mu.Unlock()
			return denied, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.fail(err)
	}
	if s.policy == FailClosed {
		return 0, ErrUnavailable
	}
	return s.reserveLocal(checks), nil
}

func (s *Redis) reserveRedis(ctx context.Context, checks []Check) (denied int, vals []int64, err error) {
	keys := make([]string, len(checks))
	args := make([]any, 0, 3*len(checks))
	for i, c := range checks {
		keys[i] = c.Key
		args = append(args, c.Limit, c.Amount, c.TTL.Milliseconds())
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := reserveScript.Run(ctx, s.c, keys, args...).Int64Slice()
	if err != nil {
		return 0, nil, fmt.Errorf("redis: reserve: %w", err)
	}
	if len(res) == 0 {
		return 0, nil, errors.New("redis: reserve: empty reply")
	}
	if res[0] > 0 {
		return int(res[0]) - 1, nil, nil
	}
	return -1, res[1:], nil
}

// reserveLocal checks against the last values Redis reported plus this
// replica's own count since, and records the reservation for replay.
func (s *Redis) reserveLocal(checks []Check) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	local := make([]Check, len(checks))
	for i, c := range checks {
		c.Limit -= s.lastSeen[c.Key]
		if checks[i].Limit > 0 && c.Limit <= 0 {
			c.Limit = -1 // spent already: refuse any positive amount
		}
		local[i] = c
	}
	denied := s.reserveMemLocked(local)
	if denied >= 0 {
		return denied
	}
	for _, c := range checks {
		s.addPendingLocked(c.Key, c.Amount, c.TTL)
	}
	return -1
}

// reserveMemLocked is Memory.Reserve where a negative limit refuses everything.
func (s *Redis) reserveMemLocked(checks []Check) int {
	vals, _ := s.local.Get(context.Background(), keysOf(checks))
	for i, c := range checks {
		if c.Amount > 0 && (c.Limit < 0 || (c.Limit > 0 && vals[i]+c.Amount > c.Limit)) {
			return i
		}
	}
	deltas := make([]Delta, len(checks))
	for i, c := range checks {
		deltas[i] = Delta{Key: c.Key, Amount: c.Amount, TTL: c.TTL}
	}
	_ = s.local.Add(context.Background(), deltas)
	return -1
}

func keysOf(checks []Check) []string {
	keys := make([]string, len(checks))
	for i, c := range checks {
		keys[i] = c.Key
	}
	return keys
}

func (s *Redis) addPendingLocked(key string, amount int64, ttl time.Duration) {
	d := s.pending[key]
	d.amount += amount
	if ttl > d.ttl {
		d.ttl = ttl
	}
	s.pending[key] = d
}

// Add implements Store. Changes Redis cannot take now are kept for replay:
// a commit is never dropped, whatever the policy.
func (s *Redis) Add(ctx context.Context, deltas []Delta) error {
	if len(deltas) == 0 {
		return nil
	}
	if s.usable(ctx) {
		err := s.addRedis(ctx, deltas)
		if err == nil {
			return nil
		}
		s.fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range deltas {
		s.addPendingLocked(d.Key, d.Amount, d.TTL)
	}
	_ = s.local.Add(ctx, deltas)
	return nil
}

func (s *Redis) addRedis(ctx context.Context, deltas []Delta) error {
	// A commit outlives the request it ends: a client gone must not lose it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range deltas {
			p.IncrBy(ctx, d.Key, d.Amount)
			if d.TTL > 0 {
				p.PExpire(ctx, d.Key, d.TTL)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: add: %w", err)
	}
	return nil
}

// Get implements Store: Redis's values plus what it has not seen yet.
func (s *Redis) Get(ctx context.Context, keys []string) ([]int64, error) {
	out := make([]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	var err error
	if s.usable(ctx) {
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		var vals []any
		if vals, err = s.c.MGet(ctx, keys...).Result(); err == nil {
			for i, v := range vals {
				if str, ok := v.(string); ok {
					out[i], _ = strconv.ParseInt(str, 10, 64)
				}
			}
			return out, nil
		}
		s.fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		out[i] = s.lastSeen[k] + s.pending[k].amount
	}
	return out, nil
}
