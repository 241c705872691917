package fakeupstream_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// clock is a settable time source for cache TTLs.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type cacheUsage struct {
	Input         int `json:"input_tokens"`
	Write         int `json:"cache_creation_input_tokens"`
	Read          int `json:"cache_read_input_tokens"`
	Output        int `json:"output_tokens"`
	CacheCreation *struct {
		E5m int `json:"ephemeral_5m_input_tokens"`
		E1h int `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

func (u cacheUsage) total() int { return u.Input + u.Write + u.Read }

// longText is about n tokens of the fake's estimate (4 bytes a token).
func longText(word string, n int) string {
	return strings.Repeat(word+" ", n*4/(len(word)+1))
}

// req builds a Messages body: one tool, system blocks, then messages, each
// block given as raw JSON.
type req struct {
	model    string
	tools    []string
	system   []string
	messages []string // raw message objects
	top      string   // top-level cache_control
	stream   bool
}

func (r req) body() string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"model":%q,"max_tokens":100,"stream":%v`, r.model, r.stream)
	if len(r.tools) > 0 {
		b.WriteString(`,"tools":[` + strings.Join(r.tools, ",") + `]`)
	}
	if len(r.system) > 0 {
		b.WriteString(`,"system":[` + strings.Join(r.system, ",") + `]`)
	}
	if r.top != "" {
		b.WriteString(`,"cache_control":` + r.top)
	}
	b.WriteString(`,"messages":[` + strings.Join(r.messages, ",") + `]}`)
	return b.String()
}

func text(s string, cc string) string {
	q, _ := json.Marshal(s)
	if cc == "" {
		return `{"type":"text","text":` + string(q) + `}`
	}
	return `{"type":"text","text":` + string(q) + `,"cache_control":` + cc + `}`
}

func user(blocks ...string) string {
	return `{"role":"user","content":[` + strings.Join(blocks, ",") + `]}`
}

func assistant(blocks ...string) string {
	return `{"role":"assistant","content":[` + strings.Join(blocks, ",") + `]}`
}

const (
	eph   = `{"type":"ephemeral"}`
	eph5m = `{"type":"ephemeral","ttl":"5m"}`
	eph1h = `{"type":"ephemeral","ttl":"1h"}`
)

type cacheRig struct {
	t   *testing.T
	srv *fakeupstream.Server
	url string
	clk *clock
}

func newCacheRig(t *testing.T) *cacheRig {
	clk := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	srv, url := startServer(t, fakeupstream.Options{PromptCache: true, Now: clk.Now})
	return &cacheRig{t: t, srv: srv, url: url, clk: clk}
}

// send posts r and returns its usage (from message_start when streaming).
func (c *cacheRig) send(r req) cacheUsage {
	c.t.Helper()
	status, body := c.raw(r)
	if status != http.StatusOK {
		c.t.Fatalf("status %d: %s", status, body)
	}
	if !r.stream {
		var m struct{ Usage cacheUsage }
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			c.t.Fatal(err)
		}
		return m.Usage
	}
	var start, delta cacheUsage
	for _, ev := range parseSSE(c.t, body, true) {
		switch ev.name {
		case "message_start":
			var m struct{ Message struct{ Usage cacheUsage } }
			_ = json.Unmarshal([]byte(ev.data), &m)
			start = m.Message.Usage
		case "message_delta":
			var m struct{ Usage cacheUsage }
			_ = json.Unmarshal([]byte(ev.data), &m)
			delta = m.Usage
		}
	}
	if start.Read != delta.Read || start.Write != delta.Write || start.Input != delta.Input {
		c.t.Fatalf("message_start usage %+v and message_delta usage %+v disagree", start, delta)
	}
	return start
}

func (c *cacheRig) raw(r req) (int, string) {
	c.t.Helper()
	resp := post(c.t, c.url+"/v1/messages", r.body(), map[string]string{"anthropic-version": "2023-06-01"})
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// count is the whole request's input estimate (count_tokens).
func (c *cacheRig) count(r req) int {
	c.t.Helper()
	resp := post(c.t, c.url+"/v1/messages/count_tokens", r.body(), map[string]string{"anthropic-version": "2023-06-01"})
	defer resp.Body.Close()
	var out struct {
		InputTokens int `json:"input_tokens"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t := c.t
		t.Fatal(err)
	}
	return out.InputTokens
}

const sonnet45 = "claude-sonnet-4-5-20250929" // minimum 1024 tokens

var (
	bigSystem = longText("instructions", 3000)
	tool      = `{"name":"Read","description":"Read a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}`
)

// withTail appends a marked message to r, so its prefix extends r's.
func withTail(r req) req {
	r.messages = append(append([]string(nil), r.messages...), assistant(text("ok", "")), user(text("more", eph)))
	return r
}

// A prefix marked once is written on the first request and read on the next;
// input_tokens is what comes after the breakpoint; the three always add up
// to the whole request.
func TestPromptCacheWriteThenRead(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			c := newCacheRig(t)
			r := req{model: sonnet45, tools: []string{tool}, system: []string{text(bigSystem, eph)},
				messages: []string{user(text("What does main.go do?", ""))}, stream: stream}
			total := c.count(r)
			first := c.send(r)
			if first.Read != 0 || first.Write < 2900 || first.total() != total || first.Input <= 0 {
				t.Fatalf("first request %+v (total %d): want a cache write of the system prefix", first, total)
			}
			if first.CacheCreation == nil || first.CacheCreation.E5m != first.Write || first.CacheCreation.E1h != 0 {
				t.Fatalf("cache_creation %+v, want all of %d at 5m", first.CacheCreation, first.Write)
			}
			second := c.send(r)
			if second.Read != first.Write || second.Write != 0 || second.Input != first.Input {
				t.Fatalf("second request %+v, want a read of %d and the same %d input tokens", second, first.Write, first.Input)
			}
		})
	}
}

// The documented rules, one row each: what the second request of a pair
// reads and writes.
func TestPromptCacheRules(t *testing.T) {
	sys := text(bigSystem, eph)
	q := user(text("question", ""))
	base := req{model: sonnet45, tools: []string{tool}, system: []string{sys}, messages: []string{q}}
	type row struct {
		name   string
		first  req
		wait   time.Duration
		second req
		// want: read = the first's write (hit), or 0 and a write (miss)
		hit bool
		// noWrite: neither request writes (below the minimum)
		noWrite bool
	}
	changed := base
	changed.system = []string{text(bigSystem+"!", eph)}
	otherModel := base
	otherModel.model = "claude-sonnet-4-20250514"
	haiku45 := base
	haiku45.model = "claude-haiku-4-5-20251001" // minimum 4096
	unmarked := base
	unmarked.system = []string{text(bigSystem, "")}
	oneHour := base
	oneHour.system = []string{text(bigSystem, eph1h)}
	billingA, billingB := base, base
	billingA.system = []string{text("x-anthropic-billing-header: cc_version=2.1.332.aaa; cc_entrypoint=sdk-cli;", ""), sys}
	billingB.system = []string{text("x-anthropic-billing-header: cc_version=2.1.332.bbb; cc_entrypoint=sdk-cli;", ""), sys}
	movedMark := base // the marker moves from the system prompt to the last message
	movedMark.system = []string{text(bigSystem, "")}
	movedMark.messages = []string{q, assistant(text("answer", "")), user(text("follow-up", eph))}
	asString := base // the question sent as a string, as a text block the first time
	asString.messages = []string{`{"role":"user","content":"question"}`}
	asBlock := base
	asBlock.system = []string{text(bigSystem, "")}
	asBlock.messages = []string{user(text("question", eph))}
	auto := base
	auto.system = []string{text(bigSystem, "")}
	auto.top = eph
	rows := []row{
		{name: "same prefix within 5 minutes hits", first: base, wait: 4*time.Minute + 59*time.Second, second: base, hit: true},
		{name: "same prefix after 5 minutes misses", first: base, wait: 5*time.Minute + time.Second, second: base},
		{name: "1h TTL still hits after 59 minutes", first: oneHour, wait: 59 * time.Minute, second: oneHour, hit: true},
		{name: "1h TTL misses after an hour", first: oneHour, wait: 61 * time.Minute, second: oneHour},
		{name: "a changed prefix misses", first: base, second: changed},
		{name: "caches are per model", first: base, second: otherModel},
		{name: "below the model's minimum nothing is cached", first: haiku45, second: haiku45, noWrite: true},
		{name: "no breakpoint, no cache", first: unmarked, second: unmarked, noWrite: true},
		{name: "the billing header block is not part of the prefix", first: billingA, second: billingB, hit: true},
		{name: "a moved breakpoint still reads the earlier prefix", first: base, second: movedMark, hit: true},
		{name: "automatic caching marks the last block", first: auto, second: auto, hit: true},
		{name: "a string content is the text block it stands for", first: asBlock, second: withTail(asString), hit: true},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := newCacheRig(t)
			a := c.send(r.first)
			c.clk.advance(r.wait)
			b := c.send(r.second)
			if b.total() != c.count(r.second) {
				t.Fatalf("second usage %+v does not add up to %d", b, c.count(r.second))
			}
			switch {
			case r.noWrite:
				if a.Write != 0 || b.Write != 0 || b.Read != 0 {
					t.Fatalf("cached: %+v then %+v", a, b)
				}
			case r.hit:
				if a.Write == 0 || b.Read != a.Write {
					t.Fatalf("want a hit: %+v then %+v", a, b)
				}
			default:
				if a.Write == 0 || b.Read != 0 || b.Write == 0 {
					t.Fatalf("want a miss and a new write: %+v then %+v", a, b)
				}
			}
		})
	}
}

// Reading an entry refreshes its TTL: hits every 4 minutes keep it warm for
// longer than 5 minutes in total.
func TestPromptCacheReadRefreshesTTL(t *testing.T) {
	c := newCacheRig(t)
	r := req{model: sonnet45, system: []string{text(bigSystem, eph)}, messages: []string{user(text("q", ""))}}
	w := c.send(r).Write
	for i := range 3 {
		c.clk.advance(4 * time.Minute)
		if u := c.send(r); u.Read != w {
			t.Fatalf("read %d after %d minutes of 4-minute hits, want %d", u.Read, 4*(i+1), w)
		}
	}
}

// A conversation grows: the breakpoint on the last message reads the previous
// request's prefix and writes only the new part.
func TestPromptCacheGrowingConversation(t *testing.T) {
	c := newCacheRig(t)
	sys := text(bigSystem, eph)
	msgs := []string{user(text("turn one", eph))}
	prev := c.send(req{model: sonnet45, system: []string{sys}, messages: msgs})
	for i := range 4 {
		last := user(text(fmt.Sprintf("turn %d %s", i+2, longText("context", 200)), eph))
		// the earlier user message loses its marker, as Claude Code does
		msgs[len(msgs)-1] = strings.Replace(msgs[len(msgs)-1], `,"cache_control":`+eph, "", 1)
		msgs = append(msgs, assistant(text(fmt.Sprintf("answer %d", i), "")), last)
		u := c.send(req{model: sonnet45, system: []string{sys}, messages: msgs})
		if u.Read != prev.Read+prev.Write || u.Write < 190 || u.Input > 1 {
			t.Fatalf("turn %d: %+v, want a read of the previous prefix (%d) and a write of the new turn", i+2, u, prev.Read+prev.Write)
		}
		prev = u
	}
}

// The lookback reaches the block 20 blocks before a breakpoint, no further.
func TestPromptCacheLookback(t *testing.T) {
	for _, tc := range []struct {
		added int
		hit   bool
	}{{19, true}, {20, false}} {
		t.Run(fmt.Sprint(tc.added), func(t *testing.T) {
			c := newCacheRig(t)
			first := []string{user(text(bigSystem, eph))}
			a := c.send(req{model: sonnet45, messages: first})
			var blocks []string
			for i := range tc.added {
				blocks = append(blocks, text(fmt.Sprintf("block %d", i), ""))
			}
			blocks[len(blocks)-1] = text("last", eph)
			second := []string{user(text(bigSystem, "")), assistant(text("ok", "")), user(blocks...)}
			b := c.send(req{model: sonnet45, messages: second})
			if got := b.Read == a.Write; got != tc.hit {
				t.Fatalf("breakpoint %d blocks later: first %+v, second %+v, hit=%v want %v", tc.added+1, a, b, got, tc.hit)
			}
		})
	}
}

// Markers the API rejects, with its 400 invalid_request_error.
func TestPromptCacheInvalidMarkers(t *testing.T) {
	five := []string{text("a", eph), text("b", eph), text("c", eph), text("d", eph), text("e", eph)}
	for _, tc := range []struct {
		name string
		r    req
		want string
	}{
		{"five breakpoints", req{model: sonnet45, messages: []string{user(five...)}},
			"A maximum of 4 blocks with cache_control may be provided. Found 5."},
		{"four blocks and automatic caching", req{model: sonnet45, messages: []string{user(five[:4]...), assistant(text("x", "")), user(text("y", ""))}, top: eph},
			"A maximum of 4 blocks with cache_control may be provided. Found 5."},
		{"1h after 5m", req{model: sonnet45, system: []string{text("s", eph5m)}, messages: []string{user(text("q", eph1h))}},
			`ttl="1h"`},
		{"unknown ttl", req{model: sonnet45, messages: []string{user(text("q", `{"type":"ephemeral","ttl":"2h"}`))}},
			"cache_control.ttl"},
		{"unknown type", req{model: sonnet45, messages: []string{user(text("q", `{"type":"persistent"}`))}},
			"cache_control.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCacheRig(t)
			status, body := c.raw(tc.r)
			var e struct {
				Type  string `json:"type"`
				Error struct{ Type, Message string }
			}
			if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Type != "error" ||
				e.Error.Type != "invalid_request_error" || !strings.Contains(e.Error.Message, tc.want) {
				t.Fatalf("status %d body %s, want 400 invalid_request_error containing %q", status, body, tc.want)
			}
			if len(c.srv.Billing()) != 0 {
				t.Fatal("a rejected request was billed")
			}
		})
	}
	// Four are fine.
	c := newCacheRig(t)
	if status, body := c.raw(req{model: sonnet45, messages: []string{user(five[:4]...)}}); status != http.StatusOK {
		t.Fatalf("four breakpoints: %d %s", status, body)
	}
}

// 1h writes are reported in usage.cache_creation and billed at their rate;
// the billing adds up per model.
func TestPromptCacheBilling(t *testing.T) {
	c := newCacheRig(t)
	r := req{model: sonnet45, system: []string{text(bigSystem, eph1h), text(longText("more", 1500), eph5m)}, messages: []string{user(text("q", ""))}}
	a := c.send(r)
	if a.CacheCreation == nil || a.CacheCreation.E1h < 2900 || a.CacheCreation.E5m < 1400 || a.CacheCreation.E1h+a.CacheCreation.E5m != a.Write {
		t.Fatalf("usage %+v cache_creation %+v: want the system prompt at 1h and the rest at 5m", a, a.CacheCreation)
	}
	b := c.send(r)
	bill := c.srv.Billing()[sonnet45]
	want := fakeupstream.Charge{Requests: 2, Input: a.Input + b.Input, CacheWrite5m: a.CacheCreation.E5m, CacheWrite1h: a.CacheCreation.E1h,
		CacheRead: b.Read, Output: a.Output + b.Output}
	if bill != want {
		t.Fatalf("billing %+v, want %+v", bill, want)
	}
	rates := fakeupstream.AnthropicRates(3, 15)
	usd := (float64(want.Input)*3 + float64(want.Output)*15 + float64(want.CacheWrite5m)*3.75 + float64(want.CacheWrite1h)*6 + float64(want.CacheRead)*0.3) / 1e6
	if got := bill.USD(rates); fmt.Sprintf("%.9f", got) != fmt.Sprintf("%.9f", usd) {
		t.Fatalf("USD %.9f, want %.9f", got, usd)
	}
	if r := bill.CacheHitRatio(); r < 0.45 || r > 0.5 {
		t.Fatalf("hit ratio %.3f, want about half (one write, one read)", r)
	}
	c.srv.ResetBilling()
	if len(c.srv.Billing()) != 0 || c.send(r).Read != 0 {
		t.Fatal("ResetBilling must forget the billing and the cache")
	}
}

// Without PromptCache usage is unchanged and markers are not checked.
func TestPromptCacheOff(t *testing.T) {
	srv, url := startServer(t, fakeupstream.Options{})
	_ = srv
	five := []string{text("a", eph), text("b", eph), text("c", eph), text("d", eph), text("e", eph)}
	resp := post(t, url+"/v1/messages", req{model: sonnet45, messages: []string{user(five...)}}.body(), map[string]string{"anthropic-version": "2023-06-01"})
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), "cache_creation\"") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestMinCacheableTokens(t *testing.T) {
	for model, want := range map[string]int{
		"claude-sonnet-4-5-20250929": 1024, "claude-opus-4-1-20250805": 1024, "claude-opus-4-6": 4096,
		"claude-haiku-4-5-20251001": 4096, "claude-3-5-haiku-20241022": 2048, "claude-3-haiku-20240307": 2048,
		"claude-opus-5-5": 4096, "claude-sonnet-5-5": 1024, "claude-haiku-5-5": 4096, "gpt-5": 1024,
	} {
		if got := fakeupstream.MinCacheableTokens(model); got != want {
			t.Errorf("%s: %d, want %d", model, got, want)
		}
	}
}
