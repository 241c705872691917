// Command load is the benchmark's load generator: it sends one request
// shape to one URL, closed loop (N connections, each sending as soon as
// its previous answer ended) or open loop (a fixed request rate, latency
// measured from the scheduled send time so a slow server cannot hide its
// queueing), and reports throughput, latency and time-to-first-byte
// percentiles, and the CPU time other processes (by pid) spent during the
// measured window, read from /proc/<pid>/stat.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/internal/progress"
)

type config struct {
	url        string
	body       []byte
	header     http.Header
	mode       string
	conns      int
	rate       float64
	warmup     time.Duration
	duration   time.Duration
	expectTail string
	pids       map[string]int
	clkTck     float64
	timeout    time.Duration
}

// Result is what one run reports (JSON with --json).
type Result struct {
	Mode        string             `json:"mode"`
	Conns       int                `json:"conns,omitempty"`
	Rate        float64            `json:"rate,omitempty"`
	Seconds     float64            `json:"seconds"`
	Requests    int                `json:"requests"`
	Errors      int                `json:"errors"`
	FirstError  string             `json:"first_error,omitempty"`
	Dropped     int                `json:"dropped,omitempty"` // open loop: sends skipped because too many were outstanding
	RPS         float64            `json:"rps"`
	LatencyP50  float64            `json:"latency_p50_ms"`
	LatencyP90  float64            `json:"latency_p90_ms"`
	LatencyP99  float64            `json:"latency_p99_ms"`
	TTFBP50     float64            `json:"ttfb_p50_ms"`
	TTFBP99     float64            `json:"ttfb_p99_ms"`
	BytesPerReq float64            `json:"bytes_per_request"`
	CPUSeconds  map[string]float64 `json:"cpu_seconds"` // by pid name, "load" is this process
}

func main() {
	var (
		c        config
		bodyFile string
		headers  multiFlag
		pids     string
		asJSON   bool
	)
	flag.StringVar(&c.url, "url", "", "URL to POST to")
	flag.StringVar(&bodyFile, "body", "", "file holding the request body")
	flag.Var(&headers, "header", "request header \"Name: value\" (repeatable)")
	flag.StringVar(&c.mode, "mode", "closed", "closed (fixed connections) or open (fixed rate)")
	flag.IntVar(&c.conns, "conns", 50, "closed loop: concurrent connections")
	flag.Float64Var(&c.rate, "rate", 1000, "open loop: requests per second")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "load before the measured window (not counted)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured window")
	flag.StringVar(&c.expectTail, "expect-tail", "", "a response body must contain this in its last 256 bytes (e.g. \"message_stop\"), else it counts as an error")
	flag.StringVar(&pids, "pids", "", "processes whose CPU time to report over the window: name=pid,name=pid")
	flag.Float64Var(&c.clkTck, "clk-tck", 100, "kernel clock ticks per second (getconf CLK_TCK)")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	flag.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	flag.Parse()

	var err error
	if c.body, err = os.ReadFile(bodyFile); err != nil {
		fail(fmt.Errorf("read --body: %w", err))
	}
	if c.header, err = parseHeaders(headers); err != nil {
		fail(err)
	}
	if c.pids, err = parsePids(pids); err != nil {
		fail(err)
	}
	if c.url == "" || (c.mode != "closed" && c.mode != "open") {
		fail(errors.New("--url is required and --mode must be closed or open"))
	}
	res, err := run(context.Background(), c)
	if err != nil {
		fail(err)
	}
	if asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("%s: %d requests in %.1fs = %.0f req/s, %d errors; latency p50 %.2fms p90 %.2fms p99 %.2fms; ttfb p50 %.2fms p99 %.2fms; cpu %v\n",
		res.Mode, res.Requests, res.Seconds, res.RPS, res.Errors, res.LatencyP50, res.LatencyP90, res.LatencyP99, res.TTFBP50, res.TTFBP99, res.CPUSeconds)
}

// showProgress redraws the phase (warm-up, measuring) and its time on a
// terminal until the returned stop is called.
func showProgress(bar *progress.Line, mode string, measureFrom, measureTo time.Time) (stop func()) {
	if !bar.Live() {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				bar.Done()
				return
			case now := <-t.C:
				if now.Before(measureFrom) {
					bar.Show("load %s: warming up, measuring in %s", mode, progress.Elapsed(measureFrom.Sub(now)))
				} else {
					bar.Show("load %s: measuring, %s left", mode, progress.Elapsed(max(0, measureTo.Sub(now))))
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseHeaders(hs []string) (http.Header, error) {
	h := http.Header{}
	for _, kv := range hs {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return nil, fmt.Errorf("--header %q: want \"Name: value\"", kv)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h, nil
}

func parsePids(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		name, p, ok := strings.Cut(kv, "=")
		pid, err := strconv.Atoi(p)
		if !ok || err != nil {
			return nil, fmt.Errorf("--pids %q: want name=pid", kv)
		}
		out[name] = pid
	}
	return out, nil
}

// sample is one finished request.
type sample struct {
	latency, ttfb time.Duration
	bytes         int
	err           error
}

// recorder keeps the samples of the measured window.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

func run(ctx context.Context, c config) (*Result, error) {
	maxConns := c.conns
	if c.mode == "open" {
		maxConns = 256
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: c.timeout}

	start := time.Now()
	measureFrom := start.Add(c.warmup)
	measureTo := measureFrom.Add(c.duration)
	rec := &recorder{samples: make([]sample, 0, 1<<16)}

	var cpuFrom, cpuTo map[string]float64
	window := make(chan struct{})
	go func() { // sample CPU at the window's edges
		time.Sleep(time.Until(measureFrom))
		cpuFrom = c.readCPU()
		time.Sleep(time.Until(measureTo))
		cpuTo = c.readCPU()
		close(window)
	}()

	stopProgress := showProgress(progress.New(os.Stderr), c.mode, measureFrom, measureTo)
	defer stopProgress()

	res := &Result{Mode: c.mode, Seconds: c.duration.Seconds(), CPUSeconds: map[string]float64{}}
	switch c.mode {
	case "closed":
		res.Conns = c.conns
		var wg sync.WaitGroup
		for i := range c.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Stagger the starts over the first half of the warm-up: started
				// together, equally long streams would end together in waves,
				// and the count in the window would move in steps of conns.
				time.Sleep(time.Duration(i) * c.warmup / time.Duration(2*c.conns))
				buf := make([]byte, 32<<10)
				for {
					t0 := time.Now()
					if !t0.Before(measureTo) {
						return
					}
					s := c.do(ctx, client, t0, buf)
					if end := t0.Add(s.latency); !end.Before(measureFrom) && end.Before(measureTo) {
						rec.add(s)
					}
				}
			}()
		}
		wg.Wait()
	case "open":
		res.Rate = c.rate
		res.Dropped = c.openLoop(ctx, client, start, measureFrom, measureTo, rec)
	}
	<-window

	for name, v := range cpuTo {
		res.CPUSeconds[name] = v - cpuFrom[name]
	}
	summarize(res, rec.samples)
	return res, nil
}

// openLoop sends at a fixed rate from start to measureTo; requests
// scheduled inside the window are recorded, latency counted from their
// scheduled time.
func (c config) openLoop(ctx context.Context, client *http.Client, start, measureFrom, measureTo time.Time, rec *recorder) (dropped int) {
	// Past this many requests in flight the target is overloaded: further
	// sends are dropped (and counted) rather than opening ever more
	// connections, which would measure the overload, not the target.
	const maxOutstanding = 256
	interval := time.Duration(float64(time.Second) / c.rate)
	var outstanding atomic.Int64
	var wg sync.WaitGroup
	bufs := sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !due.Before(measureTo) {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if outstanding.Load() >= maxOutstanding {
			if !due.Before(measureFrom) {
				dropped++
			}
			continue
		}
		outstanding.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer outstanding.Add(-1)
			bp := bufs.Get().(*[]byte)
			s := c.do(ctx, client, due, *bp)
			bufs.Put(bp)
			if !due.Before(measureFrom) {
				rec.add(s)
			}
		}()
	}
	wg.Wait()
	return dropped
}

// do sends one request; latency and ttfb count from t0.
func (c config) do(ctx context.Context, client *http.Client, t0 time.Time, buf []byte) sample {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		return sample{err: err}
	}
	req.Header = c.header.Clone()
	req.ContentLength = int64(len(c.body))
	resp, err := client.Do(req)
	if err != nil {
		return sample{latency: time.Since(t0), err: err}
	}
	defer resp.Body.Close()
	var s sample
	var tail []byte
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if s.bytes == 0 {
				s.ttfb = time.Since(t0)
			}
			s.bytes += n
			tail = appendTail(tail, buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.err = err
			break
		}
	}
	s.latency = time.Since(t0)
	switch {
	case s.err != nil:
	case resp.StatusCode != http.StatusOK:
		s.err = fmt.Errorf("status %d: %.200s", resp.StatusCode, tail)
	case c.expectTail != "" && !bytes.Contains(tail, []byte(c.expectTail)):
		s.err = fmt.Errorf("body does not end with %q: ...%.200s", c.expectTail, tail)
	}
	return s
}

func appendTail(tail, b []byte) []byte {
	const keep = 256
	if len(b) >= keep {
		return append(tail[:0], b[len(b)-keep:]...)
	}
	tail = append(tail, b...)
	if len(tail) > keep {
		tail = append(tail[:0], tail[len(tail)-keep:]...)
	}
	return tail
}

func summarize(res *Result, samples []sample) {
	var lat, ttfb []time.Duration
	var bytesTotal int
	for _, s := range samples {
		if s.err != nil {
			if res.Errors == 0 {
				res.FirstError = s.err.Error()
			}
			res.Errors++
			continue
		}
		lat = append(lat, s.latency)
		ttfb = append(ttfb, s.ttfb)
		bytesTotal += s.bytes
	}
	res.Requests = len(lat)
	res.RPS = float64(len(lat)) / res.Seconds
	if len(lat) == 0 {
		return
	}
	res.BytesPerReq = float64(bytesTotal) / float64(len(lat))
	slices.Sort(lat)
	slices.Sort(ttfb)
	res.LatencyP50, res.LatencyP90, res.LatencyP99 = pct(lat, 0.50), pct(lat, 0.90), pct(lat, 0.99)
	res.TTFBP50, res.TTFBP99 = pct(ttfb, 0.50), pct(ttfb, 0.99)
}

// pct is the q-quantile of sorted d in milliseconds (nearest rank).
func pct(d []time.Duration, q float64) float64 {
	i := int(q*float64(len(d))+0.5) - 1
	i = max(0, min(i, len(d)-1))
	return float64(d[i]) / float64(time.Millisecond)
}

// readCPU returns utime+stime in seconds of every named pid, and of this
// process as "load".
func (c config) readCPU() map[string]float64 {
	out := map[string]float64{}
	for name, pid := range c.pids {
		if v, err := cpuSeconds(strconv.Itoa(pid), c.clkTck); err == nil {
			out[name] = v
		}
	}
	if v, err := cpuSeconds("self", c.clkTck); err == nil {
		out["load"] = v
	}
	return out
}

// cpuSeconds reads utime+stime (all threads) from /proc/<pid>/stat.
func cpuSeconds(pid string, clkTck float64) (float64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	v, err := parseStat(b, clkTck)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%s/stat: %w", pid, err)
	}
	return v, nil
}

// parseStat reads utime+stime in seconds from the text of /proc/<pid>/stat.
func parseStat(b []byte, clkTck float64) (float64, error) {
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	// f[0] is field 3 (state), so utime (14) and stime (15) are f[11], f[12].
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q or stime %q is not a number", f[11], f[12])
	}
	return (ut + st) / clkTck, nil
}
