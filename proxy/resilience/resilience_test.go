package resilience

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// fakeClock advances only when slept on.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.advance(d)
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

type observed struct {
	mu      sync.Mutex
	retries []string
	states  []string
}

func (o *observed) Retried(p, reason string) {
	o.mu.Lock()
	o.retries = append(o.retries, p+":"+reason)
	o.mu.Unlock()
}

func (o *observed) BreakerChanged(p string, s State, transition bool) {
	o.mu.Lock()
	if transition {
		o.states = append(o.states, p+":"+s.String())
	}
	o.mu.Unlock()
}

// script answers calls with statuses in turn (0: a connection error);
// closed counts the failed answers discarded.
type script struct {
	statuses []int
	header   http.Header
	calls    int
	closed   int
}

func (s *script) call(context.Context) (*http.Response, func(), error) {
	st := s.statuses[min(s.calls, len(s.statuses)-1)]
	s.calls++
	if st == 0 {
		return nil, nil, &llm.Error{Kind: llm.ErrBadGateway, Message: "unreachable"}
	}
	body := io.NopCloser(strings.NewReader("{}"))
	return &http.Response{StatusCode: st, Header: s.header.Clone(), Body: body}, func() { s.closed++ }, nil
}

func guard(t *testing.T, p rules.Provider) (*Guard, *fakeClock, *observed) {
	t.Helper()
	clk, obs := newClock(), &observed{}
	r := &Registry{Clock: clk, Observer: obs, Rand: func() float64 { return 0.5 }}
	if p.Name == "" {
		p.Name = "up"
	}
	return r.Guard(p), clk, obs
}

func retry(n int) *rules.Retry {
	return &rules.Retry{Attempts: n, InitialBackoff: rules.Duration{Duration: 100 * time.Millisecond}, MaxBackoff: rules.Duration{Duration: 300 * time.Millisecond}}
}

func TestBackoffFullJitterCapped(t *testing.T) {
	p := Policy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if got := p.Backoff(n, 0.999999); got > want*time.Millisecond || got < want*time.Millisecond*99/100 {
			t.Errorf("Backoff(%d, ~1) = %s, want just under %dms", n, got, want)
		}
		if got := p.Backoff(n, 0); got != 0 {
			t.Errorf("Backoff(%d, 0) = %s, want 0 (full jitter)", n, got)
		}
	}
	if got := p.Backoff(200, 0.5); got != 500*time.Millisecond {
		t.Errorf("Backoff(200) = %s: the shift overflowed the cap", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		h     http.Header
		want  time.Duration
		asked bool
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second, true},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond, true},
		{http.Header{"Retry-After": {now.Add(7 * time.Second).Format(http.TimeFormat)}}, 7 * time.Second, true},
		{http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0, true},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond, true},
		{http.Header{"Retry-After-Ms": {"soon"}, "Retry-After": {"2"}}, 2 * time.Second, true},
		{http.Header{"Retry-After": {"-1"}}, 0, false},
		{http.Header{"Retry-After": {"tomorrow"}}, 0, false},
		{http.Header{"Retry-After": {"1e300"}}, 0, false},
		{http.Header{}, 0, false},
	} {
		got, asked := RetryAfter(c.h, now)
		if got != c.want || asked != c.asked {
			t.Errorf("RetryAfter(%v) = %s, %v; want %s, %v", c.h, got, asked, c.want, c.asked)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"3", "0.5", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "NaN", "Inf", "1e308", ""} {
		f.Add(s, "")
		f.Add("", s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, ra, ms string) {
		d, asked := RetryAfter(http.Header{"Retry-After": {ra}, "Retry-After-Ms": {ms}}, now)
		if d < 0 || (!asked && d != 0) {
			t.Fatalf("RetryAfter(%q, %q) = %s, %v", ra, ms, d, asked)
		}
	})
}

// Retryable failures are retried with backoff and the success returned;
// the failed answers are discarded.
func TestGuardRetriesThenSucceeds(t *testing.T) {
	g, clk, obs := guard(t, rules.Provider{Retry: retry(3)})
	s := &script{statuses: []int{0, 529, 503, 200}}
	resp, _, err := g.Do(context.Background(), s.call)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Do = %v, %v", resp, err)
	}
	if s.calls != 4 || s.closed != 2 {
		t.Errorf("calls %d, discarded %d; want 4, 2", s.calls, s.closed)
	}
	// Rand 0.5 of ceilings 100ms, 200ms, 300ms (capped).
	if got := clk.sleeps(); len(got) != 3 || got[0] != 50*time.Millisecond || got[1] != 100*time.Millisecond || got[2] != 150*time.Millisecond {
		t.Errorf("slept %v", got)
	}
	if strings.Join(obs.retries, ",") != "up:connection,up:529,up:503" {
		t.Errorf("retries %v", obs.retries)
	}
}

// The last failure is returned as is once attempts run out; client errors
// are never retried.
func TestGuardGivesUp(t *testing.T) {
	g, _, _ := guard(t, rules.Provider{Retry: retry(2)})
	s := &script{statuses: []int{429}}
	resp, _, err := g.Do(context.Background(), s.call)
	if err != nil || resp.StatusCode != 429 || s.calls != 3 {
		t.Fatalf("Do = %v, %v after %d calls; want the third 429", resp, err, s.calls)
	}
	s = &script{statuses: []int{400, 200}}
	if resp, _, _ := g.Do(context.Background(), s.call); resp.StatusCode != 400 || s.calls != 1 {
		t.Errorf("a 400 was retried (%d calls)", s.calls)
	}
}

// Retry-After is waited as asked; a longer one than MaxRetryAfter, or one
// past the request's deadline, ends the retries at once.
func TestGuardHonoursRetryAfter(t *testing.T) {
	g, clk, _ := guard(t, rules.Provider{Retry: retry(3)})
	s := &script{statuses: []int{429, 200}, header: http.Header{"Retry-After": {"2"}}}
	if resp, _, _ := g.Do(context.Background(), s.call); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := clk.sleeps(); len(got) != 1 || got[0] != 2*time.Second {
		t.Errorf("slept %v, want [2s]", got)
	}

	s = &script{statuses: []int{429, 200}, header: http.Header{"Retry-After": {"31"}}}
	if resp, _, _ := g.Do(context.Background(), s.call); resp.StatusCode != 429 || s.calls != 1 {
		t.Errorf("a Retry-After over the 30s default cap was waited (%d calls)", s.calls)
	}

	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(time.Second))
	defer cancel()
	s = &script{statuses: []int{503, 200}, header: http.Header{"Retry-After": {"2"}}}
	if resp, _, _ := g.Do(ctx, s.call); resp.StatusCode != 503 || s.calls != 1 {
		t.Errorf("a retry past the deadline was made (%d calls)", s.calls)
	}
	if n := len(clk.sleeps()); n != 1 {
		t.Errorf("slept %d times, want only the first test's sleep", n)
	}
}

// A canceled request stops retrying.
func TestGuardStopsWhenCanceled(t *testing.T) {
	g, _, _ := guard(t, rules.Provider{Retry: retry(3)})
	ctx, cancel := context.WithCancel(context.Background())
	s := &script{statuses: []int{503}}
	call := func(c context.Context) (*http.Response, func(), error) {
		cancel()
		return s.call(c)
	}
	_, _, err := g.Do(ctx, call)
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.ErrCanceled || s.calls != 1 {
		t.Errorf("Do = %v after %d calls; want canceled after 1", err, s.calls)
	}
}

// The breaker opens after consecutive failures, fails calls at once with a
// 503 and Retry-After, lets one probe through after the cool-down, and
// closes when it succeeds (or opens again when it fails).
func TestBreaker(t *testing.T) {
	g, clk, obs := guard(t, rules.Provider{CircuitBreaker: &rules.CircuitBreaker{Failures: 3, Cooldown: rules.Duration{Duration: 10 * time.Second}}})
	s := &script{statuses: []int{500, 500, 200, 500, 0, 529}}
	for range 6 {
		_, _, _ = g.Do(context.Background(), s.call)
	}
	if g.breaker.State() != Open || s.calls != 6 {
		t.Fatalf("state %s after %d calls; a success in between must reset the count, the next 3 failures open it", g.breaker.State(), s.calls)
	}
	_, _, err := g.Do(context.Background(), s.call)
	var e *llm.Error
	if !errors.As(err, &e) || e.HTTPStatus() != 503 || s.calls != 6 || e.Header == nil || e.Header.Get("Retry-After") != "10" {
		t.Fatalf("open breaker: %v (calls %d)", err, s.calls)
	}
	if !FallBack(err) {
		t.Error("an open breaker's error does not lead to a fallback")
	}
	clk.advance(4 * time.Second)
	if _, _, err := g.Do(context.Background(), s.call); err == nil || e.Header.Get("Retry-After") == "" {
		t.Fatal("the breaker let a call through during its cool-down")
	} else if errors.As(err, &e); e.Header.Get("Retry-After") != "6" {
		t.Errorf("Retry-After %q, want the rest of the cool-down (6)", e.Header.Get("Retry-After"))
	}

	// The probe fails: open again.
	clk.advance(6 * time.Second)
	s.statuses = []int{503}
	_, _, _ = g.Do(context.Background(), s.call)
	if g.breaker.State() != Open || s.calls != 7 {
		t.Fatalf("state %s after a failed probe (calls %d)", g.breaker.State(), s.calls)
	}
	// The next probe succeeds: closed.
	clk.advance(10 * time.Second)
	s.statuses = []int{200}
	if resp, _, err := g.Do(context.Background(), s.call); err != nil || resp.StatusCode != 200 {
		t.Fatalf("probe: %v %v", resp, err)
	}
	if g.breaker.State() != Closed {
		t.Errorf("state %s after a good probe", g.breaker.State())
	}
	want := "up:open,up:half-open,up:open,up:half-open,up:closed"
	if got := strings.Join(obs.states, ","); got != want {
		t.Errorf("transitions %s, want %s", got, want)
	}
}

// While a half-open probe is in flight, other calls fail at once; a
// canceled probe frees the slot without closing or opening.
func TestBreakerSingleProbe(t *testing.T) {
	g, clk, _ := guard(t, rules.Provider{CircuitBreaker: &rules.CircuitBreaker{Failures: 1, Cooldown: rules.Duration{Duration: time.Second}}})
	_, _, _ = g.Do(context.Background(), (&script{statuses: []int{500}}).call)
	clk.advance(time.Second)
	inner := &script{statuses: []int{200}}
	var during error
	_, _, _ = g.Do(context.Background(), func(ctx context.Context) (*http.Response, func(), error) {
		_, _, during = g.Do(ctx, inner.call) // a concurrent call while the probe is out
		return nil, nil, &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled"}
	})
	if during == nil || inner.calls != 0 {
		t.Fatalf("a second call went through during the probe (%v)", during)
	}
	if g.breaker.State() != HalfOpen {
		t.Fatalf("a canceled probe changed the state to %s", g.breaker.State())
	}
	if resp, _, err := g.Do(context.Background(), inner.call); err != nil || resp.StatusCode != 200 || g.breaker.State() != Closed {
		t.Errorf("the next probe: %v %v, state %s", resp, err, g.breaker.State())
	}
}

// The registry keeps a provider's breaker across reloads that keep its
// settings, and gives a fresh one when they change.
func TestRegistryKeepsBreakers(t *testing.T) {
	r := &Registry{Clock: newClock()}
	p := rules.Provider{Name: "a", CircuitBreaker: &rules.CircuitBreaker{Failures: 1}}
	g := r.Guard(p)
	_, _, _ = g.Do(context.Background(), (&script{statuses: []int{500}}).call)
	if r.Guard(p).breaker.State() != Open {
		t.Error("a reload closed the open breaker")
	}
	p.CircuitBreaker = &rules.CircuitBreaker{Failures: 2}
	if r.Guard(p).breaker.State() != Closed {
		t.Error("new breaker settings kept the old breaker")
	}
	if r.Guard(rules.Provider{Name: "b"}) != nil {
		t.Error("a provider with neither retries nor breaker got a guard")
	}
}

// A call let through before the breaker opened and answering while it is
// half-open neither closes it nor frees the probe's slot.
func TestBreakerIgnoresCallsFromBeforeItOpened(t *testing.T) {
	g, clk, _ := guard(t, rules.Provider{CircuitBreaker: &rules.CircuitBreaker{Failures: 1, Cooldown: rules.Duration{Duration: time.Second}}})
	b := g.breaker
	stale, _ := b.allow()
	p, _ := b.allow()
	b.record(p, "500", nil)
	clk.advance(time.Second)
	probe, err := b.allow()
	if !probe || err != nil || b.State() != HalfOpen {
		t.Fatalf("after the cool-down: probe %v, %v, state %s", probe, err, b.State())
	}
	b.record(stale, "", nil)
	if b.State() != HalfOpen {
		t.Fatalf("a stale success moved the breaker to %s", b.State())
	}
	if _, err := b.allow(); err == nil {
		t.Fatal("a second probe was let through")
	}
	b.record(probe, "", nil)
	if b.State() != Closed {
		t.Errorf("state %s after the probe succeeded", b.State())
	}
}
