// Command passthrough benchmarks the proxy's data plane in pass-through
// against a bare httputil.ReverseProxy and against no proxy at all, in one
// run on loopback. Each target is its own process, so its CPU time and peak
// RSS can be read from /proc; the load generator (bench/load) is a fresh
// process per measurement. Scenarios run in rounds, the three targets back
// to back in a rotating order, and the report shows per-round medians, so
// the noise of a shared machine hits every target alike.
//
// Use bench/passthrough/run.sh; it builds the binaries this command runs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/internal/progress"
)

// upstreamKeyEnv names the variable holding the key both proxies send upstream.
const upstreamKeyEnv = "BENCH_UPSTREAM_KEY"

type options struct {
	bin        string
	rounds     int
	warmup     time.Duration
	duration   time.Duration
	conns      int
	rate       float64
	streamRate float64
	filler     int
	chunkDelay time.Duration
	out        string
	workDir    string
	clkTck     float64
	bareFlush0 bool
	variants   bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory holding fakeupstream, bareproxy, proxy and load")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of every scenario (the report shows medians)")
	flag.DurationVar(&o.warmup, "warmup", 750*time.Millisecond, "load before each measured window")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured window of each measurement")
	flag.IntVar(&o.conns, "conns", 50, "closed loop: concurrent connections")
	flag.Float64Var(&o.rate, "rate", 1000, "open loop: non-streaming requests per second")
	flag.Float64Var(&o.streamRate, "stream-rate", 200, "open loop: streams per second (1,000 paced streams/s need more than this machine's 2 cores)")
	flag.IntVar(&o.filler, "filler-words", 100, "words the fake appends to its answer (answer length)")
	flag.DurationVar(&o.chunkDelay, "chunk-delay", time.Millisecond, "the fake's pause between SSE events")
	flag.StringVar(&o.out, "out", "", "also write the report (and every round's raw figures) to this file")
	flag.Float64Var(&o.clkTck, "clk-tck", 100, "kernel clock ticks per second (getconf CLK_TCK)")
	flag.BoolVar(&o.bareFlush0, "bare-flush0", false, "also measure the bare proxy with FlushInterval 0 (non-streaming headers leave with the body)")
	flag.BoolVar(&o.variants, "variants", true, "also measure the proxy with the access log off, and with tracing on (every request sampled, exported over OTLP/HTTP to a loopback collector)")
	flag.Parse()
	ctx := context.Background()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "passthrough:", err)
		os.Exit(1)
	}
}

// target is one thing the load generator is pointed at.
type target struct {
	name  string // direct, bare, cascadeflow
	label string
	url   string
}

// scenario is one kind of measurement.
type scenario struct {
	name   string
	stream bool
	open   bool
	rate   float64
}

// loadResult mirrors bench/load's JSON output.
type loadResult struct {
	Requests   int                `json:"requests"`
	Errors     int                `json:"errors"`
	FirstError string             `json:"first_error"`
	Dropped    int                `json:"dropped"`
	RPS        float64            `json:"rps"`
	LatencyP50 float64            `json:"latency_p50_ms"`
	LatencyP99 float64            `json:"latency_p99_ms"`
	TTFBP50    float64            `json:"ttfb_p50_ms"`
	TTFBP99    float64            `json:"ttfb_p99_ms"`
	Bytes      float64            `json:"bytes_per_request"`
	CPUSeconds map[string]float64 `json:"cpu_seconds"`
	// PeakRSS is each process's VmHWM in MiB over this measurement (the
	// peak is reset just before it starts).
	PeakRSS map[string]float64 `json:"-"`
}

// cpuPerRequest is a process's CPU microseconds per answered request.
func (r *loadResult) cpuPerRequest(proc string) float64 {
	v, ok := r.CPUSeconds[proc]
	if !ok || r.Requests == 0 {
		return 0
	}
	return v / float64(r.Requests) * 1e6
}

type key struct{ scenario, target string }

func run(ctx context.Context, o options) error {
	if o.workDir == "" {
		d, err := os.MkdirTemp("", "bench-passthrough-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.workDir = d
	}
	startLoad := loadAvg()
	started := time.Now()
	env := append(os.Environ(), upstreamKeyEnv+"=sk-bench-upstream-key")

	bodies, err := writeBodies(o.workDir)
	if err != nil {
		return err
	}
	procs := &processes{dir: o.workDir}
	defer procs.stopAll()

	fakeURL, err := procs.startFake(ctx, filepath.Join(o.bin, "fakeupstream"), "-filler-words", strconv.Itoa(o.filler), "-chunk-delay", o.chunkDelay.String())
	if err != nil {
		return err
	}
	bareAddr, oursAddr, err := freeAddr(), freeAddr(), error(nil)
	if err = procs.start(ctx, "bare", env, filepath.Join(o.bin, "bareproxy"), "--listen", bareAddr, "--upstream", fakeURL, "--api-key-env", upstreamKeyEnv); err != nil {
		return err
	}
	rulesFile := filepath.Join(o.workDir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(passthroughRules(fakeURL)), 0o600); err != nil {
		return err
	}
	// The proxy as deployed: the access log on (info, JSON, to stderr, which
	// a pipe drains as a container runtime would), tracing off.
	proxyArgs := []string{"--rules", rulesFile, "--demo", "off"}
	if err = procs.start(ctx, "cascadeflow", env, filepath.Join(o.bin, "proxy"), append([]string{"--listen", oursAddr, "--log-level", "info"}, proxyArgs...)...); err != nil {
		return err
	}
	targets := []target{
		{"direct", "direct to the fake upstream", fakeURL},
		{"bare", "bare httputil.ReverseProxy", "http://" + bareAddr},
		{"cascadeflow", "cascadeflow (log on, default)", "http://" + oursAddr},
	}
	var coll *collector
	if o.variants {
		addr := freeAddr()
		if err = procs.start(ctx, "cascadeflow-nolog", env, filepath.Join(o.bin, "proxy"), append([]string{"--listen", addr, "--log-level", "warn"}, proxyArgs...)...); err != nil {
			return err
		}
		targets = append(targets, target{"cascadeflow-nolog", "cascadeflow, log off", "http://" + addr})
		if coll, err = startCollector(); err != nil {
			return err
		}
		defer coll.Close()
		tracedEnv := append(slices.Clone(env), "OTEL_EXPORTER_OTLP_ENDPOINT="+coll.URL, "OTEL_TRACES_SAMPLER=always_on")
		addr = freeAddr()
		if err = procs.start(ctx, "cascadeflow-traced", tracedEnv, filepath.Join(o.bin, "proxy"), append([]string{"--listen", addr, "--log-level", "info"}, proxyArgs...)...); err != nil {
			return err
		}
		targets = append(targets, target{"cascadeflow-traced", "cascadeflow, log on + tracing", "http://" + addr})
	}
	if o.bareFlush0 {
		addr := freeAddr()
		if err = procs.start(ctx, "bare-flush0", env, filepath.Join(o.bin, "bareproxy"), "--listen", addr, "--upstream", fakeURL, "--api-key-env", upstreamKeyEnv, "--flush-interval", "0"); err != nil {
			return err
		}
		targets = append(targets, target{"bare-flush0", "bare, FlushInterval 0", "http://" + addr})
	}
	shape := map[string]string{}
	for _, t := range targets {
		for _, stream := range []bool{false, true} {
			info, err := smoke(ctx, t.url, bodies[stream])
			if err != nil {
				return fmt.Errorf("%s is not answering: %w", t.name, err)
			}
			shape[fmt.Sprint(stream)] = info
		}
	}

	scenarios := []scenario{
		{name: "nonstream-closed"},
		{name: "nonstream-open", open: true, rate: o.rate},
		{name: "stream-closed", stream: true},
		{name: "stream-open", stream: true, open: true, rate: o.streamRate},
	}
	var pidList []string
	for _, name := range procs.order {
		pidList = append(pidList, fmt.Sprintf("%s=%d", name, procs.pid(name)))
	}
	pids := strings.Join(pidList, ",")
	results := map[key][]*loadResult{}
	var raw bytes.Buffer
	total := o.rounds * len(scenarios) * len(targets)
	n := 0
	// Progress on a terminal only: a CI log gets the report alone.
	bar := progress.New(os.Stderr)
	defer bar.Done()
	for round := range o.rounds {
		for _, sc := range scenarios {
			for i := range targets {
				t := targets[(i+round)%len(targets)] // rotate who goes first
				n++
				row := fmt.Sprintf("[%2d/%d] round %d %-16s %-11s", n, total, round+1, sc.name, t.name)
				bar.Show("%s measuring (warmup %s, window %s)", row, o.warmup, o.duration)
				procs.resetPeakRSS()
				res, line, err := measure(ctx, o, sc, t, bodies[sc.stream], pids)
				if err != nil {
					return err
				}
				res.PeakRSS = map[string]float64{}
				for _, name := range procs.order {
					res.PeakRSS[name] = vmHWM(procs.pid(name))
				}
				bar.Println("%s %7.0f req/s p50 %6.2fms cpu %v errors %d", row, res.RPS, res.LatencyP50, compactCPU(res), res.Errors)
				fmt.Fprintf(&raw, "round=%d scenario=%s target=%s peak_rss_mib=%v %s", round+1, sc.name, t.name, compactRSS(res), line)
				results[key{sc.name, t.name}] = append(results[key{sc.name, t.name}], res)
			}
		}
	}
	bar.Done()
	rep := &report{o: o, targets: targets, procs: procs.order, results: results, shape: shape,
		loadStart: startLoad, loadEnd: loadAvg(), elapsed: time.Since(started)}
	text := rep.String()
	if coll != nil {
		text += coll.summary()
	}
	text += procs.logSummary()
	fmt.Print(text)
	if warn := procs.stderrSummary(); warn != "" {
		fmt.Print(warn)
		text += warn
	}
	if o.out != "" {
		text += "\nraw figures per round (bench/load JSON):\n" + raw.String()
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.out, err)
		}
	}
	return nil
}

func compactRSS(r *loadResult) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.PeakRSS)) {
		parts = append(parts, fmt.Sprintf("%s=%.1f", k, r.PeakRSS[k]))
	}
	return strings.Join(parts, ",")
}

func compactCPU(r *loadResult) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.CPUSeconds)) {
		if v := r.CPUSeconds[k]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%.2fs", k, v))
		}
	}
	return strings.Join(parts, " ")
}

// passthroughRules is a rules file with no rules: every model goes to the
// default route, the Anthropic provider served by the fake.
func passthroughRules(fakeURL string) string {
	return `version: v1
providers:
  - name: anthropic
    type: anthropic
    baseURL: ` + fakeURL + `
    apiKey: {env: ` + upstreamKeyEnv + `}
defaultRoute:
  provider: anthropic
`
}

// writeBodies writes the request bodies: an Anthropic Messages request of
// about 1.4 KB (system prompt, three turns), without and with "stream".
func writeBodies(dir string) (map[bool]string, error) {
	system := strings.Repeat("You are a helpful assistant that answers questions about software design concisely. ", 4)
	req := map[string]any{
		"model":      "claude-sonnet-4-5-20250929",
		"max_tokens": 1024,
		"system":     system,
		"messages": []map[string]string{
			{"role": "user", "content": strings.Repeat("Summarise the attached design document in three bullet points. ", 8)},
			{"role": "assistant", "content": strings.Repeat("Here is a summary of the design: the proxy forwards requests and relays answers as they arrive. ", 3)},
			{"role": "user", "content": "Now list the risks you see in the rollout plan, one line each."},
		},
	}
	out := map[bool]string{}
	for _, stream := range []bool{false, true} {
		if stream {
			req["stream"] = true
		}
		b, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, fmt.Sprintf("body-stream-%v.json", stream))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, err
		}
		out[stream] = p
	}
	return out, nil
}

var clientHeaders = []string{
	"x-api-key: sk-client-key",
	"anthropic-version: 2023-06-01",
	"content-type: application/json",
}

// smoke sends one request and describes the answer.
func smoke(ctx context.Context, url, bodyFile string) (string, error) {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return "", err
	}
	var last error
	for range 50 { // the process may still be starting
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/messages", bytes.NewReader(body))
		for _, h := range clientHeaders {
			k, v, _ := strings.Cut(h, ": ")
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("status %d: %.300s", resp.StatusCode, b)
		}
		events := bytes.Count(b, []byte("\nevent: ")) + bytes.Count(b[:min(len(b), 7)], []byte("event: "))
		if events > 0 {
			return fmt.Sprintf("%d events, %.1f KB", events, float64(len(b))/1024), nil
		}
		return fmt.Sprintf("%.1f KB JSON", float64(len(b))/1024), nil
	}
	return "", last
}

// measure runs one bench/load process.
func measure(ctx context.Context, o options, sc scenario, t target, bodyFile, pids string) (*loadResult, string, error) {
	args := []string{"-json", "-url", t.url + "/v1/messages", "-body", bodyFile,
		"-warmup", o.warmup.String(), "-duration", o.duration.String(), "-pids", pids,
		"-clk-tck", strconv.FormatFloat(o.clkTck, 'f', -1, 64)}
	for _, h := range clientHeaders {
		args = append(args, "-header", h)
	}
	if sc.stream {
		args = append(args, "-expect-tail", `"message_stop"`)
	} else {
		args = append(args, "-expect-tail", `"usage"`)
	}
	if sc.open {
		args = append(args, "-mode", "open", "-rate", strconv.FormatFloat(sc.rate, 'f', -1, 64))
	} else {
		args = append(args, "-mode", "closed", "-conns", strconv.Itoa(o.conns))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(o.bin, "load"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("load %s %s: %w: %s", sc.name, t.name, err, stderr.String())
	}
	var r loadResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, "", fmt.Errorf("load %s %s: decode %q: %w", sc.name, t.name, out, err)
	}
	return &r, string(out), nil
}

// processes are the long-running targets.
type processes struct {
	dir    string
	cmds   map[string]*exec.Cmd
	drains map[string]*logDrain
	order  []string
}

func (p *processes) start(ctx context.Context, name string, env []string, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	f, err := os.Create(filepath.Join(p.dir, name+".stderr"))
	if err != nil {
		return err
	}
	// Through a pipe, read as a container runtime reads a pod's stderr: the
	// access log's lines are counted, anything else kept for the report.
	d := &logDrain{other: f}
	cmd.Stderr = d
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if p.cmds == nil {
		p.cmds = map[string]*exec.Cmd{}
	}
	if p.drains == nil {
		p.drains = map[string]*logDrain{}
	}
	p.cmds[name] = cmd
	p.drains[name] = d
	p.order = append(p.order, name)
	return nil
}

// logDrain takes a process's stderr: info lines (the access log) are
// counted, other lines written to other.
type logDrain struct {
	mu        sync.Mutex
	other     io.Writer
	partial   []byte
	info      int
	infoBytes int
}

func (d *logDrain) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			d.partial = append(d.partial, b...)
			break
		}
		line := b[:i+1]
		if len(d.partial) > 0 {
			line = append(d.partial, line...)
			d.partial = d.partial[:0]
		}
		if bytes.Contains(line, []byte(`"level":"INFO"`)) {
			d.info++
			d.infoBytes += len(line)
		} else {
			_, _ = d.other.Write(line)
		}
		b = b[i+1:]
	}
	return n, nil
}

func (d *logDrain) counts() (lines, bytes int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info, d.infoBytes
}

// logSummary says how much each process logged at info level.
func (p *processes) logSummary() string {
	var b strings.Builder
	for _, name := range p.order {
		if d := p.drains[name]; d != nil {
			if n, size := d.counts(); n > 0 {
				fmt.Fprintf(&b, "%s logged %d info lines (%.1f MB, %.0f bytes a line) to a pipe\n", name, n, float64(size)/1e6, float64(size)/float64(n))
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n" + b.String()
}

// startFake starts the fake upstream and returns the URL it prints.
func (p *processes) startFake(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(p.dir, "fake.stderr"))
	if err != nil {
		return "", err
	}
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start fake upstream: %w", err)
	}
	if p.cmds == nil {
		p.cmds = map[string]*exec.Cmd{}
	}
	p.cmds["fake"] = cmd
	p.order = append(p.order, "fake")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read fake upstream URL: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func (p *processes) pid(name string) int { return p.cmds[name].Process.Pid }

func (p *processes) stopAll() {
	for _, name := range slices.Backward(p.order) {
		cmd := p.cmds[name]
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// resetPeakRSS restarts every process's VmHWM from its current RSS
// (Linux: write 5 to /proc/<pid>/clear_refs), so the next reading is the
// peak of one measurement.
func (p *processes) resetPeakRSS() {
	for _, name := range p.order {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid(name)), []byte("5"), 0)
	}
}

// stderrSummary reports anything the targets logged (at warn level and up).
func (p *processes) stderrSummary() string {
	var b strings.Builder
	for _, name := range p.order {
		data, _ := os.ReadFile(filepath.Join(p.dir, name+".stderr"))
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "\n%s wrote %d line(s) to stderr; first: %.300s\n", name, len(lines), lines[0])
	}
	return b.String()
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// vmHWM is a process's peak resident set in MiB (/proc/<pid>/status).
func vmHWM(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// median of the figure f picks from each round's result of target t.
func (rep *report) median(sc, t string, f picker) float64 {
	var v []float64
	for _, r := range rep.results[key{sc, t}] {
		v = append(v, f(r, t))
	}
	return medianOf(v)
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// ratio is the median over rounds of (target's figure ÷ the bare proxy's
// figure in the same round): the two ran seconds apart, so a round's noise
// mostly cancels.
func (rep *report) ratio(sc, t string, f picker) float64 {
	return rep.ratioTo(sc, t, "bare", f)
}

// ratioTo is ratio with another target than the bare proxy as the base.
func (rep *report) ratioTo(sc, t, base string, f picker) float64 {
	a, b := rep.results[key{sc, t}], rep.results[key{sc, base}]
	var v []float64
	for i := range min(len(a), len(b)) {
		if d := f(b[i], base); d > 0 {
			v = append(v, f(a[i], t)/d)
		}
	}
	return medianOf(v)
}

func goVersion() string { return runtime.Version() }
