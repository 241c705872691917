// Package resilience keeps a flaky upstream from failing requests it could
// still answer: it retries a provider's calls that failed before the
// upstream's answer began (exponential backoff with full jitter, or the
// upstream's Retry-After), and a per-provider circuit breaker stops calling
// a provider that keeps failing for a cool-down, so that requests go at once
// to a fallback or get a clean 503. It knows HTTP statuses and the data
// plane's error kinds, nothing of dialects: the provider client runs every
// upstream call through a Guard.
package resilience

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Defaults of rules.Retry and rules.CircuitBreaker.
const (
	DefaultInitialBackoff = 500 * time.Millisecond
	DefaultMaxBackoff     = 8 * time.Second
	DefaultMaxRetryAfter  = 30 * time.Second
	DefaultCooldown       = 30 * time.Second
)

// maxDrain bounds how much of a failed answer is read before it is
// discarded, so that its connection can be reused.
const maxDrain = 64 << 10

// Clock is the time a Guard waits on. Tests use a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real time.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Observer is told what the guards do (the proxy's metrics).
type Observer interface {
	// Retried counts one retry of provider's call, for reason (see Reason).
	Retried(provider, reason string)
	// BreakerChanged reports provider's breaker state (closed, open,
	// half-open); transition is false for the state a new breaker starts in.
	BreakerChanged(provider string, state State, transition bool)
}

// Registry hands out the providers' guards and keeps their circuit breakers
// across rules reloads, so that a reload does not close an open breaker.
// The zero value is ready to use (system clock, no observer).
type Registry struct {
	Observer Observer
	Clock    Clock
	// Rand returns a number in [0, 1) for the jitter (default math/rand/v2).
	Rand func() float64

	mu       sync.Mutex
	breakers map[string]*Breaker
}

// Guard returns the guard of provider p's calls under its current settings:
// its breaker is kept from an earlier call while p's breaker settings are
// unchanged. A provider with neither retries nor a breaker gets nil, which
// guards nothing.
func (r *Registry) Guard(p rules.Provider) *Guard {
	b := r.breaker(p)
	if b == nil && (p.Retry == nil || p.Retry.Attempts == 0) {
		return nil
	}
	g := &Guard{name: p.Name, breaker: b, clock: r.clock(), observer: r.Observer, rand: r.Rand}
	if g.rand == nil {
		g.rand = rand.Float64
	}
	if rt := p.Retry; rt != nil {
		g.policy = Policy{Attempts: rt.Attempts, InitialBackoff: rt.InitialBackoff.Duration, MaxBackoff: rt.MaxBackoff.Duration, MaxRetryAfter: rt.MaxRetryAfter.Duration}
	}
	g.policy = g.policy.withDefaults()
	return g
}

func (r *Registry) clock() Clock {
	if r.Clock == nil {
		return SystemClock{}
	}
	return r.Clock
}

func (r *Registry) breaker(p rules.Provider) *Breaker {
	r.mu.Lock()
	defer r.mu.Unlock()
	cb := p.CircuitBreaker
	if cb == nil {
		delete(r.breakers, p.Name)
		return nil
	}
	cooldown := cb.Cooldown.Duration
	if cooldown == 0 {
		cooldown = DefaultCooldown
	}
	if b := r.breakers[p.Name]; b != nil && b.failures == cb.Failures && b.cooldown == cooldown {
		return b
	}
	if r.breakers == nil {
		r.breakers = map[string]*Breaker{}
	}
	b := &Breaker{provider: p.Name, failures: cb.Failures, cooldown: cooldown, clock: r.clock(), observer: r.Observer}
	if r.Observer != nil {
		r.Observer.BreakerChanged(p.Name, Closed, false)
	}
	r.breakers[p.Name] = b
	return b
}

// Policy is a provider's retry settings with defaults applied.
type Policy struct {
	Attempts                                  int
	InitialBackoff, MaxBackoff, MaxRetryAfter time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultInitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = p.InitialBackoff
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return p
}

// Backoff is the wait before retry n (0 for the first retry): full jitter,
// u (in [0, 1)) times min(MaxBackoff, InitialBackoff * 2^n).
func (p Policy) Backoff(n int, u float64) time.Duration {
	ceiling := p.MaxBackoff
	if n < 32 {
		if c := p.InitialBackoff << n; c > 0 && c < ceiling {
			ceiling = c
		}
	}
	return time.Duration(u * float64(ceiling))
}

// Reason classifies a call's outcome: "" for an answer that is not a
// failure worth retrying (a success, a client error, a cancellation),
// "connection" for an unreachable upstream, "timeout" for no response
// headers in time, else the retryable status ("429", "529", ...).
func Reason(resp *http.Response, err error) string {
	if err != nil {
		var e *llm.Error
		if !errors.As(err, &e) {
			return ""
		}
		switch e.Kind {
		case llm.ErrBadGateway:
			return "connection"
		case llm.ErrTimeout:
			return "timeout"
		}
		return ""
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, 529:
		return strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// FallBack reports whether a call that failed with err may be made to a
// fallback target instead: the upstream failed in a way another upstream
// may not (overloaded, rate-limited, erring, unreachable, too slow, or its
// breaker open), not because of the request (a 400) or the client (gone).
func FallBack(err error) bool {
	var e *llm.Error
	if err == nil || !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case llm.ErrOverloaded, llm.ErrRateLimit, llm.ErrAPI, llm.ErrBadGateway, llm.ErrTimeout:
		return true
	}
	return e.HTTPStatus() == http.StatusRequestTimeout
}

// Call is one attempt at an upstream call, as provider.Client.Send makes it.
type Call func(ctx context.Context) (*http.Response, func(), error)

// Guard runs one provider's calls: through its breaker, retried under its
// policy. A nil *Guard makes each call once.
type Guard struct {
	name     string
	policy   Policy
	breaker  *Breaker
	clock    Clock
	observer Observer
	rand     func() float64
}

// Do makes call, again while it fails before its answer began and the
// policy allows, and returns the last attempt's outcome as is: a failed
// answer's response (its status for the caller to read) or error. A retry
// waits the upstream's Retry-After (or Retry-After-Ms) when it sends one no
// longer than MaxRetryAfter, else the backoff; an upstream asking for longer,
// or a wait that would end after ctx's deadline, ends the retries at once.
// While the breaker is open the call is not made: Do fails with a 503 that
// says when to come back.
func (g *Guard) Do(ctx context.Context, call Call) (*http.Response, func(), error) {
	if g == nil {
		return call(ctx)
	}
	for n := 0; ; n++ {
		probe, err := g.breaker.allow()
		if err != nil {
			return nil, nil, err
		}
		resp, stop, err := call(ctx)
		reason := Reason(resp, err)
		g.breaker.record(probe, reason, err)
		if reason == "" || n >= g.policy.Attempts {
			return resp, stop, err
		}
		wait, ok := g.wait(n, resp)
		if !ok {
			return resp, stop, err
		}
		if deadline, has := ctx.Deadline(); has && !g.clock.Now().Add(wait).Before(deadline) {
			return resp, stop, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
			resp.Body.Close()
			stop()
		}
		if g.observer != nil {
			g.observer.Retried(g.name, reason)
		}
		if err := g.clock.Sleep(ctx, wait); err != nil {
			return nil, nil, &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled", Err: err}
		}
	}
}

// wait is how long to wait before retry n; ok is false when the upstream
// asks for a longer wait than the policy honours.
func (g *Guard) wait(n int, resp *http.Response) (time.Duration, bool) {
	if resp != nil {
		if d, asked := RetryAfter(resp.Header, g.clock.Now()); asked {
			return d, d <= g.policy.MaxRetryAfter
		}
	}
	return g.policy.Backoff(n, g.rand()), true
}

// RetryAfter reads how long an upstream asks to wait: Retry-After-Ms
// (milliseconds, as the vendors' SDKs read it), else Retry-After in
// seconds or as an HTTP date (a date in the past is 0). asked is false when
// neither header holds a valid value.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, asked bool) {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 { // false for NaN
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if !(s >= 0 && s < 1e9) { // NaN too
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
