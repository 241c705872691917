package teams

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/teams/redistest"
)

func newRedisStore(t testing.TB, addr string, policy FailPolicy) *Redis {
	t.Helper()
	// Generous timeouts: the race detector on a shared machine must not
	// make a healthy Redis look unreachable (the kill tests end a call fast:
	// the connection is refused).
	s, err := NewRedis(RedisConfig{Addr: addr, Policy: policy, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestNewRedisValidates(t *testing.T) {
	if _, err := NewRedis(RedisConfig{}, nil); err == nil {
		t.Error("an address is required")
	}
	if _, err := NewRedis(RedisConfig{Addr: "x:1", Policy: "maybe"}, nil); err == nil {
		t.Error("an unknown policy is an error")
	}
}

// Two replicas on one Redis enforce one budget: the spend committed never
// exceeds it by more than the estimates in flight, and the estimates bound
// the actual spend here, so it never exceeds it at all.
func TestRedisTwoReplicasShareOneHardBudget(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	id := &Identity{Name: "alice", Team: "t", Limits: Limits{Budget: &Budget{USD: 5, Period: Day}}, TeamBudget: &Budget{USD: 100, Period: Month}}
	replicas := []*Limiter{
		NewLimiter(newRedisStore(t, srv.Addr, FailOpen), nil, nil),
		NewLimiter(newRedisStore(t, srv.Addr, FailOpen), nil, nil),
	}
	var committed atomic.Int64 // µUSD, what the clients were charged
	var refused atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < 100; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := replicas[c%2]
			for j := 0; j < 10; j++ {
				ls, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.02})
				var r *Refusal
				if errors.As(err, &r) {
					refused.Add(1)
					continue
				} else if err != nil {
					t.Error(err)
					return
				}
				actual := 0.005 + 0.015*float64(j%3)/2 // ≤ the estimate
				ls.Commit(ctx, Usage{USD: actual})
				committed.Add(toMicro(actual))
			}
		}()
	}
	wg.Wait()
	for _, l := range replicas {
		if l.Store().(*Redis).Degraded() {
			t.Fatal("a replica lost Redis during the run")
		}
	}
	st, err := replicas[0].Budgets(ctx, []*Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	key := st[0]
	if got := toMicro(key.SpentUSD); got != committed.Load() {
		t.Errorf("Redis says %d µUSD spent, the clients were charged %d", got, committed.Load())
	}
	if key.SpentUSD > 5 {
		t.Errorf("spent $%v of a $5 hard budget", key.SpentUSD)
	}
	if key.SpentUSD < 4.9 || refused.Load() == 0 {
		t.Errorf("the budget should be used up: spent $%v, %d refused", key.SpentUSD, refused.Load())
	}
	if key.InFlightUSD != 0 {
		t.Errorf("nothing in flight after the run, got $%v", key.InFlightUSD)
	}
	if team := st[1]; team.Scope != "team" || team.SpentUSD != key.SpentUSD {
		t.Errorf("team state %+v", team)
	}
}

// Rate limits across replicas hold exactly within a fixed minute window.
func TestRedisRequestsPerMinuteAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	id := &Identity{Name: "bob", Limits: Limits{RequestsPerMinute: 50}}
	now := time.Date(2026, 12, 3, 14, 0, 5, 0, time.UTC)
	a := NewLimiter(newRedisStore(t, srv.Addr, FailOpen), nil, nil)
	b := NewLimiter(newRedisStore(t, srv.Addr, FailOpen), nil, nil)
	a.now, b.now = fixedClock(now), fixedClock(now)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < 40; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if c%2 == 1 {
				l = b
			}
			for j := 0; j < 5; j++ {
				if _, err := l.Admit(ctx, id, "m", "", Estimate{}); err == nil {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 50 {
		t.Errorf("admitted %d requests in one minute, limit 50", admitted.Load())
	}
}

// Redis killed mid-run: replicas count locally (fail open), keep every
// commit, and replay them when Redis is back, so no committed spend is lost.
func TestRedisKilledAndRestartedLosesNoSpend(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	id := &Identity{Name: "carol", Limits: Limits{Budget: &Budget{USD: 1000, Period: Month}}}
	stores := []*Redis{newRedisStore(t, srv.Addr, FailOpen), newRedisStore(t, srv.Addr, FailOpen)}
	replicas := []*Limiter{NewLimiter(stores[0], nil, nil), NewLimiter(stores[1], nil, nil)}
	var committed atomic.Int64
	run := func(n int) {
		var wg sync.WaitGroup
		for c := 0; c < 20; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < n; j++ {
					ls, err := replicas[c%2].Admit(ctx, id, "m", "", Estimate{USD: 0.5})
					if err != nil {
						t.Error(err)
						return
					}
					ls.Commit(ctx, Usage{USD: 0.25})
					committed.Add(toMicro(0.25))
				}
			}()
		}
		wg.Wait()
	}
	run(5)
	// Reservations taken before the crash, committed while Redis is down.
	var open []*Lease
	for i := 0; i < 4; i++ {
		ls, err := replicas[i%2].Admit(ctx, id, "m", "", Estimate{USD: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, ls)
	}
	srv.Kill()
	run(5)
	for _, ls := range open {
		ls.Commit(ctx, Usage{USD: 0.25})
		committed.Add(toMicro(0.25))
	}
	if !stores[0].Degraded() || stores[0].Pending() == 0 {
		t.Fatal("with Redis down the store should be counting locally")
	}
	srv.Restart()
	for _, s := range stores {
		if err := s.Reconcile(ctx); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if s.Degraded() || s.Pending() != 0 {
			t.Fatal("reconciled store should be back on Redis with nothing pending")
		}
	}
	run(2)
	st, err := NewLimiter(newRedisStore(t, srv.Addr, FailClosed), nil, nil).Budgets(ctx, []*Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if got := toMicro(st[0].SpentUSD); got != committed.Load() {
		t.Errorf("Redis says %d µUSD spent after the restart, the clients were charged %d", got, committed.Load())
	}
	if st[0].InFlightUSD != 0 {
		t.Errorf("reservations leaked: $%v in flight", st[0].InFlightUSD)
	}
}

// Fail closed: a limited key is refused while Redis is down; commits are
// still kept for replay.
func TestRedisFailClosed(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	store := newRedisStore(t, srv.Addr, FailClosed)
	l := NewLimiter(store, nil, nil)
	id := &Identity{Name: "dave", Limits: Limits{Budget: &Budget{USD: 10, Period: Day}}}
	ls, err := l.Admit(ctx, id, "m", "", Estimate{USD: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if _, err := l.Admit(ctx, id, "m", "", Estimate{USD: 1}); refusal(t, err).Reason != ReasonStore {
		t.Fatalf("want a store refusal, got %v", err)
	}
	ls.Commit(ctx, Usage{USD: 0.75})
	srv.Restart()
	if err := store.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := l.Budgets(ctx, []*Identity{id})
	if err != nil || st[0].SpentUSD != 0.75 || st[0].InFlightUSD != 0 {
		t.Fatalf("after recovery %+v %v", st, err)
	}
}

// Fail open with a budget already spent in Redis: local counting starts
// from the last value Redis reported, so the key stays refused.
func TestRedisFailOpenRemembersSpend(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	l := NewLimiter(newRedisStore(t, srv.Addr, FailOpen), nil, nil)
	id := &Identity{Name: "erin", Limits: Limits{Budget: &Budget{USD: 1, Period: Day}}}
	ls, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	ls.Commit(ctx, Usage{USD: 0.9})
	if _, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.01}); err != nil { // refreshes what Redis reported
		t.Fatal(err)
	}
	srv.Kill()
	if _, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.5}); refusal(t, err).Reason != ReasonBudget {
		t.Fatalf("a spent budget must stay refused while Redis is down: %v", err)
	}
	if _, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.05}); err != nil {
		t.Fatalf("what is left stays usable: %v", err)
	}
}

// The limiter's own overhead per request (admit + commit) on a loopback
// Redis and in memory. Report p99 with -bench; the target is under 1 ms.
func BenchmarkLimiterRedis(b *testing.B) {
	srv := redistest.StartFast(b)
	benchLimiter(b, NewLimiter(newRedisStore(b, srv.Addr, FailOpen), nil, nil))
}

func BenchmarkLimiterMemory(b *testing.B) { benchLimiter(b, NewLimiter(NewMemory(), nil, nil)) }

func benchLimiter(b *testing.B, l *Limiter) {
	ctx := context.Background()
	id := &Identity{Name: "bench", Team: "t", Limits: Limits{Budget: &Budget{USD: 1e9, Period: Month}, RequestsPerMinute: 1e12, TokensPerMinute: 1e15}, TeamBudget: &Budget{USD: 1e9, Period: Month}}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		ls, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.01, Tokens: 1000})
		if err != nil {
			b.Fatal(err)
		}
		ls.Commit(ctx, Usage{USD: 0.005, InputTokens: 500, OutputTokens: 100})
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	if len(lat) > 0 {
		slicesSort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// A password-protected Redis: the right password counts there; a wrong one
// is an unreachable store (refused under fail closed), and the password
// never appears in the error a client could see.
func TestRedisPassword(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret-pass")
	ctx := context.Background()
	id := &Identity{Name: "frank", Limits: Limits{RequestsPerMinute: 100}}
	good, err := NewRedis(RedisConfig{Addr: srv.Addr, Password: "s3cret-pass", Policy: FailClosed, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if _, err := NewLimiter(good, nil, nil).Admit(ctx, id, "m", "", Estimate{}); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	if good.Degraded() {
		t.Fatal("the right password should reach Redis")
	}
	bad, err := NewRedis(RedisConfig{Addr: srv.Addr, Password: "wrong", Policy: FailClosed, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = NewLimiter(bad, nil, nil).Admit(ctx, id, "m", "", Estimate{})
	if r := refusal(t, err); r.Reason != ReasonStore || strings.Contains(r.Message, "wrong") || strings.Contains(r.Message, "s3cret") {
		t.Fatalf("a wrong password: %+v", r)
	}
}
