package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses; utime=250, stime=50 ticks.
	line := "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 7 0 100 0 0\n"
	got, err := parseStat([]byte(line), 100)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3.0 {
		t.Fatalf("cpu = %v s, want 3 (300 ticks at 100/s)", got)
	}
	for _, bad := range []string{"4242 no parenthesis S 1", "4242 (p) S 1 2 3", "4242 (p) S 1 2 3 4 5 6 7 8 9 10 x 50"} {
		if _, err := parseStat([]byte(bad), 100); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestCPUSecondsOfThisProcess(t *testing.T) {
	v, err := cpuSeconds("self", 100)
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if v < 0 || v > 3600 {
		t.Fatalf("own cpu = %v s", v)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := pct(d, 0.50); got != 50 {
		t.Errorf("p50 = %v ms, want 50", got)
	}
	if got := pct(d, 0.99); got != 99 {
		t.Errorf("p99 = %v ms, want 99", got)
	}
	if got := pct(d[:1], 0.99); got != 1 {
		t.Errorf("p99 of one sample = %v ms, want 1", got)
	}
}

func TestAppendTailKeepsTheLastBytes(t *testing.T) {
	var tail []byte
	for range 100 {
		tail = appendTail(tail, []byte("0123456789"))
	}
	tail = appendTail(tail, []byte("END"))
	if len(tail) != 256 || !strings.HasSuffix(string(tail), "789END") {
		t.Fatalf("tail = %d bytes ending %q", len(tail), tail[len(tail)-10:])
	}
}

// testServer answers every POST with a small event stream; bad answers
// every third request with a truncated one.
func testServer(t *testing.T, bad bool) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("event: message_start\ndata: {}\n\n"))
		w.(http.Flusher).Flush()
		time.Sleep(time.Millisecond)
		if bad && i%3 == 0 {
			return
		}
		_, _ = w.Write([]byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestClosedLoop(t *testing.T) {
	srv, served := testServer(t, false)
	res, err := run(context.Background(), config{url: srv.URL, body: []byte(`{}`), header: http.Header{}, mode: "closed",
		conns: 4, warmup: 100 * time.Millisecond, duration: 400 * time.Millisecond, expectTail: "message_stop", clkTck: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 20 || res.Errors != 0 {
		t.Fatalf("%d requests, %d errors (%s); want dozens, none", res.Requests, res.Errors, res.FirstError)
	}
	if int64(res.Requests) >= served.Load() {
		t.Fatalf("counted %d of %d served: warm-up requests must not count", res.Requests, served.Load())
	}
	if res.TTFBP50 <= 0 || res.TTFBP50 > res.LatencyP50 {
		t.Fatalf("ttfb p50 %v ms, latency p50 %v ms: want 0 < ttfb <= latency", res.TTFBP50, res.LatencyP50)
	}
	if _, ok := res.CPUSeconds["load"]; !ok {
		t.Fatalf("no CPU figure for the load generator itself: %v", res.CPUSeconds)
	}
}

func TestOpenLoopRateAndTruncatedAnswers(t *testing.T) {
	srv, _ := testServer(t, true)
	res, err := run(context.Background(), config{url: srv.URL, body: []byte(`{}`), header: http.Header{}, mode: "open",
		rate: 200, warmup: 100 * time.Millisecond, duration: 500 * time.Millisecond, expectTail: "message_stop", clkTck: 100})
	if err != nil {
		t.Fatal(err)
	}
	sent := res.Requests + res.Errors + res.Dropped
	if sent < 90 || sent > 110 {
		t.Fatalf("%d requests in 0.5 s at 200/s, want about 100", sent)
	}
	if res.Errors < sent/5 || res.Errors > sent/2 || !strings.Contains(res.FirstError, "message_stop") {
		t.Fatalf("%d errors of %d (first: %q): every third answer is truncated", res.Errors, sent, res.FirstError)
	}
}
