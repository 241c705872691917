package provider_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// fakeClock advances only when slept on, so that backoffs take no time.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// guarded is newClient with retries (and mod's other settings) under a fake clock.
func guarded(t *testing.T, typ rules.ProviderType, mod func(*rules.Provider)) (*provider.Client, *fakeupstream.Server, *fakeClock) {
	t.Helper()
	var p rules.Provider
	c, fake := newClient(t, typ, func(q *rules.Provider) {
		q.Retry = &rules.Retry{Attempts: 3, InitialBackoff: rules.Duration{Duration: 100 * time.Millisecond}, MaxBackoff: rules.Duration{Duration: time.Second}}
		if mod != nil {
			mod(q)
		}
		p = *q
	})
	clk := &fakeClock{now: time.Now()}
	c.SetGuard((&resilience.Registry{Clock: clk, Rand: func() float64 { return 0.5 }}).Guard(p))
	return c, fake, clk
}

var dialects = []rules.ProviderType{rules.Anthropic, rules.OpenAI}

// Overloaded and rate-limited answers are retried before the answer began,
// streamed or not; the client gets the success.
func TestRetryThenSuccess(t *testing.T) {
	for _, typ := range dialects {
		for _, stream := range []bool{false, true} {
			t.Run(string(typ)+map[bool]string{false: "", true: "/stream"}[stream], func(t *testing.T) {
				c, fake, clk := guarded(t, typ, nil)
				fake.Fail("m", 1, fakeupstream.Reply{Status: 529})
				fake.Fail("m", 1, fakeupstream.Reply{Status: http.StatusTooManyRequests})
				fake.SetReply("m", fakeupstream.Reply{Text: "fine"})
				text := call(t, c, stream)
				if text != "fine" {
					t.Fatalf("answer %q", text)
				}
				if n := len(fake.Requests()); n != 3 {
					t.Errorf("%d upstream requests, want 3", n)
				}
				if got := clk.sleeps(); len(got) != 2 || got[0] != 50*time.Millisecond || got[1] != 100*time.Millisecond {
					t.Errorf("backoffs %v, want [50ms 100ms]", got)
				}
			})
		}
	}
}

// call asks c for an answer and returns its text.
func call(t *testing.T, c *provider.Client, stream bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := request("m")
	if !stream {
		resp, err := c.Complete(ctx, req, nil, http.Header{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Content[0].Text
	}
	req.Stream = true
	s, err := c.Stream(ctx, req, nil, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var acc llm.Accumulator
	for {
		ev, err := s.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_ = acc.Add(ev)
	}
	return acc.Response().Content[0].Text
}

// Retry-After (seconds, HTTP date, or Retry-After-Ms) is waited as asked.
func TestRetryAfterHonoured(t *testing.T) {
	for _, c := range []struct {
		name   string
		header func(now time.Time) http.Header
		want   time.Duration
	}{
		{"seconds", func(time.Time) http.Header { return http.Header{"Retry-After": {"3"}} }, 3 * time.Second},
		{"date", func(now time.Time) http.Header {
			return http.Header{"Retry-After": {now.Add(5 * time.Second).UTC().Format(http.TimeFormat)}}
		}, 5 * time.Second},
		{"ms", func(time.Time) http.Header { return http.Header{"Retry-After-Ms": {"1500"}} }, 1500 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, fake, clk := guarded(t, rules.Anthropic, nil)
			// An HTTP date has whole seconds: the fake clock starts on one.
			clk.now = clk.now.Truncate(time.Second)
			fake.Fail("m", 1, fakeupstream.Reply{Status: 503, Header: c.header(clk.Now())})
			if text := call(t, cl, false); text == "" {
				t.Fatal("no answer")
			}
			if got := clk.sleeps(); len(got) != 1 || got[0] != c.want {
				t.Errorf("waited %v, want [%s]", got, c.want)
			}
		})
	}
}

// A Retry-After longer than maxRetryAfter, or past the request's deadline,
// is not waited: the upstream's error (and its Retry-After) comes back at once.
func TestRetryAfterTooLongOrPastDeadline(t *testing.T) {
	c, fake, clk := guarded(t, rules.OpenAI, func(p *rules.Provider) { p.Retry.MaxRetryAfter = rules.Duration{Duration: 10 * time.Second} })
	fake.Fail("m", 1, fakeupstream.Reply{Status: 429, Header: http.Header{"Retry-After": {"11"}}})
	_, err := c.Complete(context.Background(), request("m"), nil, http.Header{})
	var e *llm.Error
	if !errors.As(err, &e) || e.HTTPStatus() != 429 || e.Header == nil || e.Header.Get("Retry-After") != "11" {
		t.Fatalf("Complete = %v; want the 429 with its Retry-After", err)
	}
	// The request's own deadline: 2s left, the upstream asks for 3s.
	fake.Fail("m", 1, fakeupstream.Reply{Status: 529, Header: http.Header{"Retry-After": {"3"}}})
	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(2*time.Second))
	defer cancel()
	if _, err := c.Complete(ctx, request("m"), nil, http.Header{}); !errors.As(err, &e) || e.HTTPStatus() != 529 {
		t.Fatalf("Complete = %v; want the 529", err)
	}
	if n, s := len(fake.Requests()), clk.sleeps(); n != 2 || len(s) != 0 {
		t.Errorf("%d requests and waits %v; want 2 and none", n, s)
	}
}

// Once a stream has begun, a failure is the caller's: nothing is retried.
func TestNoRetryAfterFirstByte(t *testing.T) {
	for _, typ := range dialects {
		t.Run(string(typ), func(t *testing.T) {
			c, fake, _ := guarded(t, typ, nil)
			fake.Fail("m", 1, fakeupstream.Reply{Text: "a long answer with many tokens", StreamErrorAfterEvents: 2, StreamErrorStatus: 529})
			fake.SetReply("m", fakeupstream.Reply{Text: "never"})
			req := request("m")
			req.Stream = true
			ctx := context.Background()
			s, err := c.Stream(ctx, req, nil, http.Header{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for err == nil {
				_, err = s.Next(ctx)
			}
			if errors.Is(err, io.EOF) {
				t.Fatal("the stream ended cleanly; the test does not test a failure mid-stream")
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("%d upstream requests after a failure mid-stream, want 1", n)
			}
		})
	}
}

// Client errors are never retried.
func TestNoRetryOfClientErrors(t *testing.T) {
	c, fake, _ := guarded(t, rules.Anthropic, nil)
	fake.Fail("m", 1, fakeupstream.Reply{Status: 400})
	if _, err := c.Complete(context.Background(), request("m"), nil, http.Header{}); err == nil {
		t.Fatal("a 400 succeeded")
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// An unreachable upstream is retried, then reported as such.
func TestRetryConnectionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := rules.Provider{Name: "gone", Type: rules.Anthropic, BaseURL: "http://" + addr, APIKey: &rules.KeySource{Env: "K"},
		Retry: &rules.Retry{Attempts: 2}}
	c, err := provider.New(p, anthropic.Codec{}, "sk-test-key", provider.NewTransport())
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Now()}
	c.SetGuard((&resilience.Registry{Clock: clk, Rand: func() float64 { return 1 }}).Guard(p))
	_, err = c.Complete(context.Background(), request("m"), nil, http.Header{})
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.ErrBadGateway {
		t.Fatalf("Complete = %v; want unreachable", err)
	}
	if got := clk.sleeps(); len(got) != 2 || got[0] != resilience.DefaultInitialBackoff || got[1] != 2*resilience.DefaultInitialBackoff {
		t.Errorf("backoffs %v, want the defaults' ceilings (500ms, 1s)", got)
	}
}

// The breaker opens after consecutive failures and then answers 503 with a
// Retry-After without calling the upstream.
func TestBreakerSkipsUpstream(t *testing.T) {
	c, fake, _ := guarded(t, rules.Anthropic, func(p *rules.Provider) {
		p.Retry = nil
		p.CircuitBreaker = &rules.CircuitBreaker{Failures: 2, Cooldown: rules.Duration{Duration: time.Minute}}
	})
	fake.Fail("m", 2, fakeupstream.Reply{Status: 500})
	for range 2 {
		_, _ = c.Complete(context.Background(), request("m"), nil, http.Header{})
	}
	_, err := c.Complete(context.Background(), request("m"), nil, http.Header{})
	var e *llm.Error
	if !errors.As(err, &e) || e.HTTPStatus() != 503 || e.Header == nil || e.Header.Get("Retry-After") != "60" {
		t.Fatalf("Complete = %v; want 503 with Retry-After 60", err)
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("%d upstream requests, want 2 (the third skipped)", n)
	}
}
