package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// The TestHardening tests play a hostile client or a failing upstream
// against the proxy's HTTP shell (make reliability runs them alone).

// rawRequest opens a connection to the proxy and writes head (a request
// line and headers, without the blank line) and then body.
func rawRequest(t *testing.T, url, head, body string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readRawResponse reads one response from conn within d.
func readRawResponse(t *testing.T, conn net.Conn, d time.Duration) (*http.Response, string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response within %s: %v", d, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client announcing a large body and sending nothing must not make the
// proxy allocate the announced size.
func TestHardeningAnnouncedLengthDoesNotAllocate(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{bodyTimeout: 10 * time.Second})
	const conns, announced = 8, 32<<20 - 1024
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range conns {
		rawRequest(t, h.url, "POST /v1/messages HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"+
			"Anthropic-Version: 2023-06-01\r\nContent-Length: "+strconv.Itoa(announced), `{"model":`)
	}
	waitFor(t, "the requests to be in flight", func() bool { return testutil.ToFloat64(h.metrics.InFlight) == conns })
	time.Sleep(50 * time.Millisecond) // let every handler reach its body read
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if limit := int64(conns) << 20; growth > limit {
		t.Fatalf("%d idle connections announcing %d MiB each grew the heap by %d MiB (limit %d MiB)",
			conns, announced>>20, growth>>20, limit>>20)
	}
}

// A client that sends its headers and then dribbles (or withholds) the body
// gets a 408 in its own dialect once the body read timeout passes; a stream
// that outlasts that timeout is not affected.
func TestHardeningBodyReadTimeout(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{bodyTimeout: 300 * time.Millisecond})
	for _, c := range []struct{ name, path, header string }{
		{"anthropic", "/v1/messages", "Anthropic-Version: 2023-06-01\r\n"},
		{"openai", "/v1/chat/completions", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			conn := rawRequest(t, h.url, "POST "+c.path+" HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"+
				c.header+"Content-Length: 1000", `{"model":"claude-haiku-5-5",`)
			resp, body := readRawResponse(t, conn, 3*time.Second)
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("status %d, want 408: %s", resp.StatusCode, body)
			}
			if c.name == "anthropic" {
				anthropicEnvelope(t, body, "timeout_error")
			} else {
				openAIEnvelope(t, body)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("answered after %s", d)
			}
		})
	}
	t.Run("long stream", func(t *testing.T) {
		h.fake.Enqueue(fakeupstream.Reply{Text: "one two three four five six", ChunkDelay: 80 * time.Millisecond})
		msg, _, err := streamAnthropic(t, h.anthropic(), userParams("claude-haiku-5-5", "count"))
		if err != nil || len(msg.Content) == 0 || msg.Content[0].Text != "one two three four five six" {
			t.Fatalf("a stream longer than the body read timeout: %v %+v", err, msg.Content)
		}
	})
}

// An upstream's 429/529/503 tells the client when to retry on every route
// (cascade and translated, both client dialects), its rate-limit headers
// renamed to the client's vendor.
func TestHardeningRetryAfterOnEveryRoute(t *testing.T) {
	h := newHarness(t, cascadeRules("defaultRoute: {provider: oai}\n"), harnessOptions{})
	reset := time.Now().Add(30 * time.Second).UTC().Format(time.RFC3339)
	anthropicLimited := fakeupstream.Reply{Status: http.StatusTooManyRequests, Header: http.Header{
		"Retry-After": {"7"}, "Anthropic-Ratelimit-Requests-Remaining": {"0"}, "Anthropic-Ratelimit-Requests-Reset": {reset}}}
	h.fake.SetReply("claude-haiku-5-5", anthropicLimited) // the draft
	h.fake.SetReply("claude-opus-5-5", anthropicLimited)  // the verifier
	h.fake.SetReply("gpt-5-mini", fakeupstream.Reply{Status: http.StatusTooManyRequests, Header: http.Header{
		"Retry-After": {"3"}, "X-Ratelimit-Remaining-Tokens": {"0"}, "X-Ratelimit-Reset-Tokens": {"6m0s"}}})
	h.fake.SetReply("gpt-5", fakeupstream.Reply{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"11"}}})
	anth := map[string]string{"anthropic-version": "2023-06-01"}
	msg := func(model string) string {
		return `{"model":"` + model + `","max_tokens":64,"messages":[{"role":"user","content":"What is the capital of France?"}]}`
	}
	inSeconds := func(t *testing.T, v string, lo, hi time.Duration) {
		t.Helper()
		at, err := time.Parse(time.RFC3339, v)
		if d := time.Until(at); err != nil || d < lo || d > hi {
			t.Fatalf("reset %q is not %s..%s from now (%v)", v, lo, hi, err)
		}
	}
	t.Run("cascade/anthropic", func(t *testing.T) {
		status, hdr, body := h.post("/v1/messages", msg("claude-opus-5-5"), anth)
		if status != 429 || hdr.Get("Retry-After") != "7" || hdr.Get("Anthropic-Ratelimit-Requests-Remaining") != "0" ||
			hdr.Get("Anthropic-Ratelimit-Requests-Reset") != reset || hdr.Get("X-Upstream-Request-Id") == "" {
			t.Fatalf("%d %v\n%s", status, hdr, body)
		}
		anthropicEnvelope(t, body, "rate_limit_error")
	})
	t.Run("cascade/openai", func(t *testing.T) {
		status, hdr, body := h.post("/v1/chat/completions", `{"model":"opus","messages":[{"role":"user","content":"What is the capital of France?"}]}`, nil)
		if status != 429 || hdr.Get("Retry-After") != "7" || hdr.Get("X-Ratelimit-Remaining-Requests") != "0" {
			t.Fatalf("%d %v\n%s", status, hdr, body)
		}
		d, err := time.ParseDuration(hdr.Get("X-Ratelimit-Reset-Requests"))
		if err != nil || d < 20*time.Second || d > 31*time.Second {
			t.Fatalf("x-ratelimit-reset-requests %q", hdr.Get("X-Ratelimit-Reset-Requests"))
		}
		openAIEnvelope(t, body)
	})
	t.Run("translated/anthropic", func(t *testing.T) {
		status, hdr, body := h.post("/v1/messages", msg("gpt-5-mini"), anth)
		if status != 429 || hdr.Get("Retry-After") != "3" || hdr.Get("Anthropic-Ratelimit-Tokens-Remaining") != "0" {
			t.Fatalf("%d %v\n%s", status, hdr, body)
		}
		inSeconds(t, hdr.Get("Anthropic-Ratelimit-Tokens-Reset"), 5*time.Minute, 6*time.Minute+time.Second)
		anthropicEnvelope(t, body, "rate_limit_error")
	})
	t.Run("translated/overloaded", func(t *testing.T) {
		status, hdr, body := h.post("/v1/messages", msg("gpt-5"), anth)
		if status != 529 && status != 503 || hdr.Get("Retry-After") != "11" {
			t.Fatalf("%d %v\n%s", status, hdr, body)
		}
	})
}

// An upstream that cuts a pass-through answer mid-body: a non-streamed
// answer becomes a clean 502 in the client's envelope (never a 200 with half
// a body); a stream that has begun ends with an in-band error event.
func TestHardeningPassthroughCutBody(t *testing.T) {
	for _, c := range []struct {
		name, provider, path, body string
		header                     map[string]string
	}{
		{"anthropic", "anth", "/v1/messages", `{"model":"claude-haiku-5-5","max_tokens":64,%s"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"anthropic-version": "2023-06-01"}},
		{"openai", "oai", "/v1/chat/completions", `{"model":"gpt-5-mini",%s"messages":[{"role":"user","content":"hi"}]}`, nil},
	} {
		h := newHarness(t, passthroughRules(c.provider, ""), harnessOptions{})
		t.Run(c.name+"/body", func(t *testing.T) {
			h.fake.Enqueue(fakeupstream.Reply{Text: "a whole answer that is cut", ResetAfterBytes: 40})
			status, _, body := h.post(c.path, strings.Replace(c.body, "%s", "", 1), c.header)
			if status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", status, body)
			}
			if c.name == "anthropic" {
				anthropicEnvelope(t, body, "api_error")
			} else {
				openAIEnvelope(t, body)
			}
		})
		t.Run(c.name+"/stream", func(t *testing.T) {
			h.fake.Enqueue(fakeupstream.Reply{Text: "one two three four five six", ResetAfterEvents: 3})
			status, _, body := h.post(c.path, strings.Replace(c.body, "%s", `"stream":true,`, 1), c.header)
			last := body[strings.LastIndex(strings.TrimSuffix(body, "\n\n"), "\n\n")+2:]
			if status != 200 || !strings.Contains(last, `"error":{`) || (c.name == "anthropic" && !strings.HasPrefix(last, "event: error\n")) {
				t.Fatalf("status %d, last event %q", status, last)
			}
		})
	}
}

// Model names invented by clients do not become metric series: 300 of them
// add a handful at most (an "other" label), while known names keep theirs.
func TestHardeningMetricCardinality(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{})
	anth := map[string]string{"anthropic-version": "2023-06-01"}
	send := func(model string) {
		status, _, body := h.post("/v1/messages", `{"model":"`+model+`","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`, anth)
		if status != 200 {
			t.Fatalf("%s: %d %s", model, status, body)
		}
	}
	series := func() int {
		mfs, err := h.metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "cascadeflow_") {
				n += len(mf.GetMetric())
			}
		}
		return n
	}
	send("claude-haiku-5-5")
	before := series()
	const invented = 300
	var wg sync.WaitGroup
	names := make(chan string)
	for range 8 {
		wg.Go(func() {
			for name := range names {
				send(name)
			}
		})
	}
	for i := range invented {
		names <- "made-up-model-" + strconv.Itoa(i)
	}
	close(names)
	wg.Wait()
	if added := series() - before; added > 5 {
		t.Fatalf("%d invented model names added %d series", invented, added)
	}
	if v := testutil.ToFloat64(h.metrics.Tokens.WithLabelValues("other", "output")); v == 0 {
		t.Fatal("the invented names' tokens are not counted under other")
	}
	// A dated name is recorded under its price-table entry, a known name under its own.
	send("claude-sonnet-4-5-20250929")
	send("CLAUDE-HAIKU-5-5")
	if testutil.ToFloat64(h.metrics.Tokens.WithLabelValues("claude-sonnet-4-5", "output")) == 0 ||
		testutil.ToFloat64(h.metrics.CostUSD.WithLabelValues("", "claude-haiku-5-5")) == 0 {
		t.Fatal("known models lost their labels")
	}
}

// A shutdown whose timeout passes ends each open stream with an error event
// in its client's dialect (pass-through and translated) and returns cleanly.
func TestHardeningShutdownEndsStreams(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{shutdownWait: 300 * time.Millisecond})
	long := fakeupstream.Reply{Text: strings.Repeat("word ", 40), ChunkDelay: 100 * time.Millisecond}
	type result struct {
		name, body string
		err        error
	}
	results := make(chan result, 2)
	started := make(chan struct{}, 2)
	stream := func(name, path, body string, header map[string]string) {
		req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			results <- result{name, "", err}
			return
		}
		defer resp.Body.Close()
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			if len(got) == 0 && n > 0 {
				started <- struct{}{}
			}
			got = append(got, buf[:n]...)
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				results <- result{name, string(got), err}
				return
			}
		}
	}
	h.fake.SetReply("claude-haiku-5-5", long)
	go stream("anthropic", "/v1/messages", `{"model":"claude-haiku-5-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"talk"}]}`,
		map[string]string{"anthropic-version": "2023-06-01"})
	go stream("openai", "/v1/chat/completions", `{"model":"claude-haiku-5-5","stream":true,"messages":[{"role":"user","content":"talk"}]}`, nil)
	for range 2 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("streams did not start")
		}
	}
	start := time.Now()
	h.cancel()
	for range 2 {
		r := <-results
		last := r.body[strings.LastIndex(strings.TrimSuffix(r.body, "\n\n"), "\n\n")+2:]
		ended := r.name == "anthropic" && strings.HasPrefix(last, "event: error\n") && strings.Contains(last, `"overloaded_error"`) ||
			r.name == "openai" && strings.HasPrefix(last, `data: {"error":`) && strings.Contains(last, `"server_is_overloaded"`)
		if r.err != nil || !ended {
			t.Errorf("%s: stream not ended with an error event (%v); last event %q", r.name, r.err, last)
		}
	}
	select {
	case err := <-h.done:
		h.done <- nil // for the harness's cleanup
		if err != nil {
			t.Fatalf("shutdown returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not return")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
}

// requestLogs returns the access log lines ("request") logged so far.
func requestLogs(t *testing.T, h *harness) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// The access log line says what a request cost and who served it: tokens,
// cost, served model, the vendor's request id of every upstream call (relayed,
// cascaded, translated), and the client key by a fingerprint (never the key).
func TestHardeningRequestLogLine(t *testing.T) {
	h := newHarness(t, cascadeRules("defaultRoute: {provider: anth}\n"), harnessOptions{})
	h.fake.SetReply("claude-sonnet-5-5", fakeupstream.Reply{Text: "Logged.", Usage: &fakeupstream.Usage{InputTokens: 100, OutputTokens: 20}})
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer, Usage: &fakeupstream.Usage{InputTokens: 50, OutputTokens: 30}})
	h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Text: refusal, Usage: &fakeupstream.Usage{InputTokens: 40, OutputTokens: 10}})
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: goodAnswer, Usage: &fakeupstream.Usage{InputTokens: 60, OutputTokens: 30}})
	const clientKey = "sk-client-LOGGED-NEVER"
	hdr := map[string]string{"anthropic-version": "2023-06-01", "x-api-key": clientKey}
	const question = `"messages":[{"role":"user","content":"What is the capital of France? Answer in two sentences."}]}`
	for _, r := range []struct{ path, body string }{
		{"/v1/messages", `{"model":"claude-sonnet-5-5","max_tokens":64,` + question},         // relayed
		{"/v1/messages", `{"model":"claude-opus-5-5","max_tokens":64,` + question},           // draft accepted
		{"/v1/messages", `{"model":"gpt-4.1","max_tokens":64,` + question},                   // draft (translated) refused, verifier
		{"/v1/chat/completions", `{"model":"claude-sonnet-5-5","max_tokens":64,` + question}, // translated
	} {
		if status, _, out := h.post(r.path, r.body, hdr); status != 200 {
			t.Fatalf("%s: %d %s", r.body, status, out)
		}
	}
	if strings.Contains(h.logs.String(), clientKey) {
		t.Fatal("the client key appeared in the logs")
	}
	var lines []map[string]any
	waitFor(t, "four request log lines", func() bool { lines = requestLogs(t, h); return len(lines) == 4 })
	want := []struct {
		served  string
		in, out float64
		calls   int // upstream calls, each with its request id
	}{{"claude-sonnet-5-5", 100, 20, 1}, {"claude-haiku-5-5", 50, 30, 1}, {"claude-opus-5-5", 100, 40, 2}, {"claude-sonnet-5-5", 100, 20, 1}}
	for i, l := range lines {
		w := want[i]
		cost, _ := l["cost_usd"].(float64)
		key, _ := l["client_key"].(string)
		if l["served_model"] != w.served || l["input_tokens"] != w.in || l["output_tokens"] != w.out || cost <= 0 ||
			len(key) != len("sha256:")+8 || !strings.HasPrefix(key, "sha256:") {
			t.Errorf("log line %d: %v", i, l)
		}
		if id, _ := l["upstream_request_id"].(string); !strings.HasPrefix(id, "req_fake_") {
			t.Errorf("log line %d: upstream_request_id %q", i, id)
		}
		ids, _ := l["upstream_request_ids"].([]any)
		switch {
		case w.calls == 1 && ids != nil:
			t.Errorf("log line %d: upstream_request_ids %v for one call", i, ids)
		case w.calls > 1 && (len(ids) != w.calls || ids[w.calls-1] != l["upstream_request_id"] || ids[0] == ids[1]):
			t.Errorf("log line %d: upstream_request_ids %v, want %d distinct ids ending with upstream_request_id", i, ids, w.calls)
		}
	}
}

// A cascade request with a large body allocates a bounded multiple of it
// (it was 8.4 times, then 5.1: the body read into a buffer grown from
// scratch, a model rewrite per target, raw copies of the content in the
// decoder, the prompt lower-cased whole, then 2.2: the text decoded from
// it). About 1 is the floor: the body, whose text the canonical request
// shares. BenchmarkCascadeLargeBody reports the figure.
func TestHardeningCascadeMemoryPerRequest(t *testing.T) {
	body := largeCascadeBody(2 << 20)
	h := newCascadeBenchProxy(t, startDiscardingUpstream(t))
	w := newBenchWriter()
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a collection would empty the pools
	serveEscalated(t, h, w, body)                    // connections, pools and caches
	// The fewest bytes of several requests: sync.Pool keeps a buffer per
	// processor, so a request on another one may find its pool empty once,
	// while a copy of the body too many is made by every request.
	perByte := math.Inf(1)
	var all []string
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		serveEscalated(t, h, w, body)
		runtime.ReadMemStats(&after)
		n := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(body))
		perByte = min(perByte, n)
		all = append(all, strconv.FormatFloat(n, 'f', 2, 64))
	}
	t.Logf("%.2f bytes allocated per body byte (requests: %s)", perByte, strings.Join(all, " "))
	if limit := maxBytesPerBodyByte(); perByte > limit {
		t.Fatalf("a cascade request allocated %.2f times its %d byte body, want at most %.1f", perByte, len(body), limit)
	}
}
