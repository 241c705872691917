package main

import (
	"fmt"
	"strings"
	"time"
)

// report formats the medians, the ratios to the bare proxy and the targets.
type report struct {
	o         options
	targets   []target
	procs     []string
	results   map[key][]*loadResult
	shape     map[string]string
	loadStart string
	loadEnd   string
	elapsed   time.Duration
}

// column is one figure of a table: a header, how to pick it from a
// result, and which scenario's results to pick it from.
type column struct {
	head     string
	scenario string
	pick     picker
	proxy    bool // the proxy's own CPU: no value for the direct target
	rss      bool // with proxy: its peak RSS instead
}

func (c column) picker() picker {
	switch {
	case c.proxy && c.rss:
		return proxyRSS
	case c.proxy:
		return proxyCPU
	}
	return c.pick
}

// picker reads one figure from a result of the named target.
type picker func(r *loadResult, target string) float64

func cpu(proc string) picker {
	return func(r *loadResult, _ string) float64 { return r.cpuPerRequest(proc) }
}

// proxyCPU picks the CPU of the process serving the target itself.
func proxyCPU(r *loadResult, target string) float64 { return r.cpuPerRequest(target) }

// proxyCPUPerFakeCPU is the proxy's CPU per request over the fake
// upstream's in the same measurement.
func proxyCPUPerFakeCPU(r *loadResult, target string) float64 {
	if f := r.cpuPerRequest("fake"); f > 0 {
		return r.cpuPerRequest(target) / f
	}
	return 0
}

// proxyRSS picks the peak RSS of the process serving the target itself.
func proxyRSS(r *loadResult, target string) float64 { return r.PeakRSS[target] }

func rps(r *loadResult, _ string) float64  { return r.RPS }
func p50(r *loadResult, _ string) float64  { return r.LatencyP50 }
func p99(r *loadResult, _ string) float64  { return r.LatencyP99 }
func ttfb(r *loadResult, _ string) float64 { return r.TTFBP50 }
func ttfb99(r *loadResult, _ string) float64 {
	return r.TTFBP99
}

func (rep *report) String() string {
	var b strings.Builder
	o := rep.o
	fmt.Fprintf(&b, "\ncascadeflow pass-through benchmark (%s, %s, elapsed %s)\n", time.Now().UTC().Format(time.RFC3339), goVersion(), rep.elapsed.Round(time.Second))
	fmt.Fprintf(&b, "  loopback 127.0.0.1; every target is its own process, the load generator a fresh process per measurement.\n")
	fmt.Fprintf(&b, "  The machine's CPUs are shared by the fake upstream, the proxy under test, the load generator and any other\n")
	fmt.Fprintf(&b, "  work on the machine (load average %s at start, %s at end), so absolute figures are noisy; the\n", rep.loadStart, rep.loadEnd)
	fmt.Fprintf(&b, "  targets run back to back in a rotating order, %d rounds; figures are medians of rounds and ratios are\n", o.rounds)
	fmt.Fprintf(&b, "  medians of per-round ratios to the bare proxy (measured seconds apart).\n")
	fmt.Fprintf(&b, "  request: POST /v1/messages, Anthropic, 1.4 KB body; answer: %s, or a stream of %s with %s between events\n",
		rep.shape["false"], rep.shape["true"], o.chunkDelay)
	fmt.Fprintf(&b, "  closed loop: %d connections; open loop: %.0f req/s non-streaming, %.0f streams/s; each %s warm-up + %s measured\n",
		o.conns, o.rate, o.streamRate, o.warmup, o.duration)
	fmt.Fprintf(&b, "  CPU: utime+stime from /proc/<pid>/stat over the measured window ÷ requests answered in it\n")
	fmt.Fprintf(&b, "  cascadeflow: no rules, a default route; the access log (info, JSON) on stderr, a pipe this command drains;\n")
	fmt.Fprintf(&b, "  \"log off\" runs at --log-level warn; \"tracing\" samples every request and exports over OTLP/HTTP to a\n")
	fmt.Fprintf(&b, "  loopback collector that discards the spans\n")

	rateLabel := func(r float64) string { return fmt.Sprintf("@%.0f/s", r) }
	nonstream := []column{
		{head: "req/s@" + fmt.Sprint(o.conns), scenario: "nonstream-closed", pick: rps},
		{head: "p50 ms", scenario: "nonstream-closed", pick: p50},
		{head: "p99 ms", scenario: "nonstream-closed", pick: p99},
		{head: "p50 " + rateLabel(o.rate), scenario: "nonstream-open", pick: p50},
		{head: "p99 " + rateLabel(o.rate), scenario: "nonstream-open", pick: p99},
		{head: "proxy CPU µs/req", scenario: "nonstream-closed", proxy: true},
		{head: "…" + rateLabel(o.rate), scenario: "nonstream-open", proxy: true},
		{head: "proxy RSS MiB", scenario: "nonstream-closed", proxy: true, rss: true},
		{head: "fake µs/req", scenario: "nonstream-closed", pick: cpu("fake")},
		{head: "load µs/req", scenario: "nonstream-closed", pick: cpu("load")},
	}
	stream := []column{
		{head: "streams/s@" + fmt.Sprint(o.conns), scenario: "stream-closed", pick: rps},
		{head: "p50 ms", scenario: "stream-closed", pick: p50},
		{head: "p99 ms", scenario: "stream-closed", pick: p99},
		{head: "TTFB p50", scenario: "stream-closed", pick: ttfb},
		{head: "TTFB p99", scenario: "stream-closed", pick: ttfb99},
		{head: "TTFB p50" + rateLabel(o.streamRate), scenario: "stream-open", pick: ttfb},
		{head: "TTFB p99" + rateLabel(o.streamRate), scenario: "stream-open", pick: ttfb99},
		{head: "proxy CPU µs/stream", scenario: "stream-closed", proxy: true},
		{head: "…" + rateLabel(o.streamRate), scenario: "stream-open", proxy: true},
		{head: "proxy RSS MiB", scenario: "stream-closed", proxy: true, rss: true},
		{head: "fake µs/stream", scenario: "stream-closed", pick: cpu("fake")},
		{head: "load µs/stream", scenario: "stream-closed", pick: cpu("load")},
	}
	rep.table(&b, "NON-STREAMING (latency in ms)", nonstream, []string{"nonstream-closed", "nonstream-open"})
	rep.table(&b, "STREAMING (latency and time to first body byte in ms)", stream, []string{"stream-closed", "stream-open"})

	closedRSS := map[string]float64{}
	allRSS := map[string]float64{}
	for k, rs := range rep.results {
		for _, r := range rs {
			for p, v := range r.PeakRSS {
				allRSS[p] = max(allRSS[p], v)
				if strings.HasSuffix(k.scenario, "-closed") {
					closedRSS[p] = max(closedRSS[p], v)
				}
			}
		}
	}
	fmt.Fprintf(&b, "\npeak RSS (VmHWM, reset before each measurement; max over the run):\n")
	for _, p := range rep.procs {
		fmt.Fprintf(&b, "  %-12s %6.1f MiB at %d connections, %6.1f MiB in any measurement\n", p, closedRSS[p], o.conns, allRSS[p])
	}

	rep.targets13(&b, closedRSS, allRSS)
	return b.String()
}

func (rep *report) table(b *strings.Builder, title string, cols []column, scenarios []string) {
	const nameW = 30
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = max(len([]rune(c.head)), 8)
	}
	fmt.Fprintf(b, "\n%-*s", nameW, title)
	for i, c := range cols {
		fmt.Fprintf(b, "  %*s", widths[i], c.head)
	}
	fmt.Fprintf(b, "  %8s\n", "err+drop")
	for _, t := range rep.targets {
		fmt.Fprintf(b, "%-*s", nameW, t.label)
		for i, c := range cols {
			if c.proxy && t.name == "direct" {
				fmt.Fprintf(b, "  %*s", widths[i], "—")
				continue
			}
			fmt.Fprintf(b, "  %*s", widths[i], num(rep.median(c.scenario, t.name, c.picker())))
		}
		errs := 0
		for _, sc := range scenarios {
			for _, r := range rep.results[key{sc, t.name}] {
				errs += r.Errors + r.Dropped
			}
		}
		fmt.Fprintf(b, "  %8d\n", errs)
	}
	for _, t := range rep.targets {
		if t.name == "bare" {
			continue
		}
		fmt.Fprintf(b, "%-*s", nameW, "  "+t.name+" ÷ bare")
		for i, c := range cols {
			if c.proxy && t.name == "direct" {
				fmt.Fprintf(b, "  %*s", widths[i], "")
				continue
			}
			pick := c.picker()
			fmt.Fprintf(b, "  %*s", widths[i], fmt.Sprintf("%.2f×", rep.ratio(c.scenario, t.name, pick)))
		}
		fmt.Fprintln(b)
	}
}

// num prints a figure with 3-4 significant digits.
func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	case v >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func (rep *report) has(t string) bool {
	for _, x := range rep.targets {
		if x.name == t {
			return true
		}
	}
	return false
}

// targets13 checks the proxy against the bare one: the access log on (as
// deployed) must match or beat it, and tracing every request may add at
// most a tenth to the CPU per request.
func (rep *report) targets13(b *strings.Builder, closedRSS, allRSS map[string]float64) {
	o := rep.o
	note := ""
	check := func(what string, got, limit float64, atLeast, strict bool, unit string) {
		defer func() { note = "" }()
		ok, cmp := got <= limit, "≤"
		switch {
		case atLeast:
			ok, cmp = got >= limit, "≥"
		case strict:
			ok, cmp = got < limit, "<"
		}
		verdict := "met"
		if !ok {
			verdict = "NOT MET"
		}
		fmt.Fprintf(b, "  %-58s %8.2f%s  (target %s %.2f%s)  %-8s%s\n", what, got, unit, cmp, limit, unit, verdict, note)
	}
	// CPU time per request also moves with the machine (other work, cache
	// and frequency contention): the fake upstream's own CPU per request in
	// the same measurement, identical work for every target, gauges that.
	cpuNote := func(sc, t, base string) {
		note = fmt.Sprintf("  (÷ the fake's CPU/request in the same measurement: %.2f×)", rep.ratioTo(sc, t, base, proxyCPUPerFakeCPU))
	}
	for _, t := range []string{"cascadeflow", "cascadeflow-nolog"} {
		if !rep.has(t) {
			continue
		}
		label := "with the access log on (as deployed)"
		if t == "cascadeflow-nolog" {
			label = "with the access log off"
		}
		fmt.Fprintf(b, "\ntargets: cascadeflow pass-through %s vs the bare proxy:\n", label)
		check(fmt.Sprintf("requests/s at %d connections, non-streaming", o.conns), rep.ratio("nonstream-closed", t, rps), 1.0, true, false, "×")
		cpuNote("nonstream-closed", t, "bare")
		check(fmt.Sprintf("CPU per request, non-streaming, %d connections", o.conns), rep.ratio("nonstream-closed", t, proxyCPU), 1.0, false, false, "×")
		cpuNote("nonstream-open", t, "bare")
		check(fmt.Sprintf("CPU per request, non-streaming, %.0f req/s", o.rate), rep.ratio("nonstream-open", t, proxyCPU), 1.0, false, false, "×")
		check(fmt.Sprintf("p50 at %.0f req/s, non-streaming", o.rate), rep.ratio("nonstream-open", t, p50), 1.1, false, false, "×")
		check(fmt.Sprintf("streaming TTFB p50 at %.0f streams/s", o.streamRate), rep.ratio("stream-open", t, ttfb), 1.1, false, false, "×")
		check(fmt.Sprintf("streaming TTFB p50 at %d connections", o.conns), rep.ratio("stream-closed", t, ttfb), 1.1, false, false, "×")
		check(fmt.Sprintf("peak RSS at %d connections", o.conns), closedRSS[t], 40, false, true, " MiB")
		check("peak RSS in any measurement", allRSS[t], 40, false, true, " MiB")
		fmt.Fprintf(b, "  also: streams/s at %d connections %.2f×, CPU per stream %.2f× (%d connections) and %.2f× (%.0f streams/s)\n",
			o.conns, rep.ratio("stream-closed", t, rps), rep.ratio("stream-closed", t, proxyCPU), o.conns, rep.ratio("stream-open", t, proxyCPU), o.streamRate)
	}
	if rep.has("cascadeflow-traced") && rep.has("cascadeflow") {
		fmt.Fprintf(b, "\ntargets: tracing every request (OTLP/HTTP to a loopback collector) vs tracing off, both with the access log on:\n")
		for _, c := range []struct{ what, sc string }{
			{fmt.Sprintf("CPU per request, non-streaming, %d connections", o.conns), "nonstream-closed"},
			{fmt.Sprintf("CPU per request, non-streaming, %.0f req/s", o.rate), "nonstream-open"},
			{fmt.Sprintf("CPU per stream, %d connections", o.conns), "stream-closed"},
			{fmt.Sprintf("CPU per stream, %.0f streams/s", o.streamRate), "stream-open"},
		} {
			cpuNote(c.sc, "cascadeflow-traced", "cascadeflow")
			check(c.what, rep.ratioTo(c.sc, "cascadeflow-traced", "cascadeflow", proxyCPU), 1.1, false, false, "×")
		}
		fmt.Fprintf(b, "  also: requests/s at %d connections %.2f×, p50 at %.0f req/s %.2f×, peak RSS %.1f MiB\n",
			o.conns, rep.ratioTo("nonstream-closed", "cascadeflow-traced", "cascadeflow", rps),
			o.rate, rep.ratioTo("nonstream-open", "cascadeflow-traced", "cascadeflow", p50), allRSS["cascadeflow-traced"])
	}
}
