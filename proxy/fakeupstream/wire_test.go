package fakeupstream_test

import (
	"bytes"
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

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

// parseSSE splits a complete event stream and checks its framing strictly:
// every event is "[event: NAME\n]data: ONE-LINE\n" followed by a blank line.
func parseSSE(t *testing.T, body string, withNames bool) []sseEvent {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Fatalf("stream does not end with a blank line: %q", tail(body))
	}
	var events []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		lines := strings.Split(block, "\n")
		var ev sseEvent
		if withNames {
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
				t.Fatalf("bad event framing: %q", block)
			}
			ev = sseEvent{strings.TrimPrefix(lines[0], "event: "), strings.TrimPrefix(lines[1], "data: ")}
		} else {
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "data: ") {
				t.Fatalf("bad event framing: %q", block)
			}
			ev = sseEvent{"", strings.TrimPrefix(lines[0], "data: ")}
		}
		events = append(events, ev)
	}
	return events
}

func tail(s string) string {
	if len(s) > 80 {
		return s[len(s)-80:]
	}
	return s
}

func post(t *testing.T, url, body string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decode(t *testing.T, data string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	return m
}

const anthropicBody = `{"model":"claude-opus-5-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

func TestAnthropicSSEFramingAndOrder(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	input := `{"path": "/tmp/a.txt", "mode": "read"}`
	s.Enqueue(fakeupstream.Reply{
		Thinking:  "First, read the file.",
		Text:      "Reading it now.",
		ToolCalls: []fakeupstream.ToolCall{{Name: "read_file", Input: json.RawMessage(input)}},
	})
	res := post(t, url+"/v1/messages?beta=true", anthropicBody, map[string]string{"anthropic-version": "2023-06-01"})
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content-type %q", ct)
	}
	if res.Header.Get("request-id") == "" {
		t.Fatal("no request-id header")
	}
	events := parseSSE(t, readAll(t, res), true)

	// Every data object's type names its event.
	for _, ev := range events {
		if typ := decode(t, ev.data)["type"]; typ != ev.name {
			t.Fatalf("event %q carries type %v", ev.name, typ)
		}
	}
	if events[0].name != "message_start" || events[1].name != "ping" || events[len(events)-1].name != "message_stop" {
		t.Fatalf("stream starts %s,%s and ends %s", events[0].name, events[1].name, events[len(events)-1].name)
	}
	start := decode(t, events[0].data)["message"].(map[string]any)
	if start["stop_reason"] != nil || start["usage"].(map[string]any)["input_tokens"] == nil {
		t.Fatalf("message_start message = %v", start)
	}

	// Walk the blocks: each is start, deltas, stop, with matching indexes.
	type block struct {
		kind   string
		deltas []map[string]any
	}
	var blocks []block
	messageDeltas := 0
	open := -1
	for _, ev := range events[2 : len(events)-1] {
		d := decode(t, ev.data)
		switch ev.name {
		case "content_block_start":
			if open != -1 || int(d["index"].(float64)) != len(blocks) {
				t.Fatalf("block start %v while block %d open", d, open)
			}
			open = len(blocks)
			blocks = append(blocks, block{kind: d["content_block"].(map[string]any)["type"].(string)})
		case "content_block_delta":
			if int(d["index"].(float64)) != open {
				t.Fatalf("delta for %v while %d open", d["index"], open)
			}
			blocks[open].deltas = append(blocks[open].deltas, d["delta"].(map[string]any))
		case "content_block_stop":
			if int(d["index"].(float64)) != open {
				t.Fatalf("stop for %v while %d open", d["index"], open)
			}
			open = -1
		case "message_delta":
			messageDeltas++
			if open != -1 {
				t.Fatal("message_delta inside a block")
			}
			delta := d["delta"].(map[string]any)
			usage := d["usage"].(map[string]any)
			if delta["stop_reason"] != "tool_use" || usage["output_tokens"].(float64) < 1 {
				t.Fatalf("message_delta = %v", d)
			}
		default:
			t.Fatalf("unexpected event %q", ev.name)
		}
	}
	if messageDeltas != 1 || len(blocks) != 3 {
		t.Fatalf("%d message_delta, %d blocks", messageDeltas, len(blocks))
	}

	// Thinking: thinking_delta(s), then exactly one signature_delta, last.
	th := blocks[0]
	last := th.deltas[len(th.deltas)-1]
	if th.kind != "thinking" || last["type"] != "signature_delta" || last["signature"] != fakeupstream.Signature("claude-opus-5-5", "First, read the file.") {
		t.Fatalf("thinking block = %+v", th)
	}
	var thinking string
	for _, d := range th.deltas[:len(th.deltas)-1] {
		if d["type"] != "thinking_delta" {
			t.Fatalf("thinking delta type %v", d["type"])
		}
		thinking += d["thinking"].(string)
	}
	if thinking != "First, read the file." {
		t.Fatalf("thinking = %q", thinking)
	}

	var text string
	for _, d := range blocks[1].deltas {
		if d["type"] != "text_delta" {
			t.Fatalf("text delta type %v", d["type"])
		}
		text += d["text"].(string)
	}
	if blocks[1].kind != "text" || text != "Reading it now." {
		t.Fatalf("text block %q: %q", blocks[1].kind, text)
	}

	var partial string
	for _, d := range blocks[2].deltas {
		if d["type"] != "input_json_delta" {
			t.Fatalf("tool delta type %v", d["type"])
		}
		partial += d["partial_json"].(string)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, []byte(input))
	if blocks[2].kind != "tool_use" || len(blocks[2].deltas) < 2 || partial != compact.String() {
		t.Fatalf("tool block: %d fragments joined to %q", len(blocks[2].deltas), partial)
	}
}

func TestOpenAISSEFraming(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	s.Enqueue(fakeupstream.Reply{Text: "Sure.", ToolCalls: []fakeupstream.ToolCall{{Name: "lookup", Input: json.RawMessage(`{"key":"some longer value"}`)}}})
	body := `{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	res := post(t, url+"/v1/chat/completions", body, nil)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") || res.Header.Get("x-request-id") == "" {
		t.Fatalf("headers %v", res.Header)
	}
	events := parseSSE(t, readAll(t, res), false)
	if events[len(events)-1].data != "[DONE]" {
		t.Fatalf("last event %q", events[len(events)-1].data)
	}
	chunks := events[:len(events)-1]
	var id string
	var content, args string
	var finish []string
	for i, ev := range chunks {
		c := decode(t, ev.data)
		if c["object"] != "chat.completion.chunk" || c["model"] != "gpt-5" {
			t.Fatalf("chunk %d = %v", i, c)
		}
		if id == "" {
			id = c["id"].(string)
		} else if c["id"] != id {
			t.Fatalf("chunk %d id %v != %s", i, c["id"], id)
		}
		usage, hasUsage := c["usage"]
		choices := c["choices"].([]any)
		if i == len(chunks)-1 {
			if len(choices) != 0 || usage == nil {
				t.Fatalf("final chunk = %v", c)
			}
			u := usage.(map[string]any)
			if u["total_tokens"].(float64) != u["prompt_tokens"].(float64)+u["completion_tokens"].(float64) {
				t.Fatalf("usage = %v", u)
			}
			continue
		}
		if !hasUsage || usage != nil {
			t.Fatalf("chunk %d: usage must be present and null with include_usage: %v", i, c)
		}
		ch := choices[0].(map[string]any)
		delta := ch["delta"].(map[string]any)
		if i == 0 && delta["role"] != "assistant" {
			t.Fatalf("first delta %v", delta)
		}
		if i > 0 && delta["role"] != nil {
			t.Fatalf("role repeated in chunk %d", i)
		}
		if s, ok := delta["content"].(string); ok {
			content += s
		}
		if tcs, ok := delta["tool_calls"].([]any); ok {
			tc := tcs[0].(map[string]any)
			fn := tc["function"].(map[string]any)
			if tc["index"].(float64) != 0 {
				t.Fatalf("tool index %v", tc["index"])
			}
			if tc["id"] != nil {
				if tc["type"] != "function" || fn["name"] != "lookup" || fn["arguments"] != "" || args != "" {
					t.Fatalf("first tool delta %v", tc)
				}
			} else {
				if fn["name"] != nil {
					t.Fatalf("name repeated: %v", tc)
				}
				args += fn["arguments"].(string)
			}
		}
		if f, ok := ch["finish_reason"].(string); ok {
			finish = append(finish, f)
		}
	}
	if content != "Sure." || args != `{"key":"some longer value"}` || len(finish) != 1 || finish[0] != "tool_calls" {
		t.Fatalf("content %q args %q finish %v", content, args, finish)
	}
}

func TestResetAfterEventsClosesConnection(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
	}{
		{"anthropic", "/v1/messages", anthropicBody},
		{"openai", "/v1/chat/completions", `{"model":"gpt-5","stream":true,"messages":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, url := startServer(t, fakeupstream.Options{})
			s.Enqueue(fakeupstream.Reply{Text: "one two three four five six", ResetAfterEvents: 3})
			res := post(t, url+tc.path, tc.body, nil)
			defer res.Body.Close()
			got, err := io.ReadAll(res.Body)
			if err == nil {
				t.Fatalf("body ended cleanly after %q", got)
			}
			if n := strings.Count(string(got), "data: "); n != 3 {
				t.Fatalf("%d events before the reset, want 3: %q", n, got)
			}
		})
	}
}

func TestResetAfterBytesCutsTheBody(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
	}{
		{"anthropic", "/v1/messages", `{"model":"claude-haiku-5-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`},
		{"openai", "/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, url := startServer(t, fakeupstream.Options{})
			s.Enqueue(fakeupstream.Reply{Text: "a whole answer", ResetAfterBytes: 20})
			res := post(t, url+tc.path, tc.body, nil)
			defer res.Body.Close()
			got, err := io.ReadAll(res.Body)
			if res.StatusCode != 200 || err == nil || len(got) != 20 || res.ContentLength <= 20 {
				t.Fatalf("status %d, announced %d, read %d bytes (%q), error %v", res.StatusCode, res.ContentLength, len(got), got, err)
			}
		})
	}
}

func TestHTMLErrorBodyIsSentVerbatim(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	page := "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
	s.Enqueue(fakeupstream.Reply{Status: 502, RawBody: []byte(page), ContentType: "text/html", Header: http.Header{"Retry-After": {"3"}}})
	res := post(t, url+"/v1/messages", anthropicBody, nil)
	if got := readAll(t, res); res.StatusCode != 502 || got != page || res.Header.Get("Content-Type") != "text/html" || res.Header.Get("Retry-After") != "3" {
		t.Fatalf("%d %v %q", res.StatusCode, res.Header, got)
	}
}

func TestJSONToStreamRequest(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	s.Enqueue(fakeupstream.Reply{Text: "plain", JSONToStreamRequest: true})
	res := post(t, url+"/v1/messages", anthropicBody, nil)
	body := readAll(t, res)
	m := decode(t, body)
	if res.Header.Get("Content-Type") != "application/json" || m["type"] != "message" || m["stop_reason"] != "end_turn" {
		t.Fatalf("%v %s", res.Header, body)
	}
}

func TestErrorEnvelopes(t *testing.T) {
	_, url := startServer(t, fakeupstream.Options{RequireKey: "k"})
	res := post(t, url+"/v1/messages", anthropicBody, nil)
	body := readAll(t, res)
	var a struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || res.StatusCode != 401 || a.Type != "error" || a.Error.Type != "authentication_error" || a.Error.Message == "" {
		t.Fatalf("anthropic 401: %d %s", res.StatusCode, body)
	}
	if res.Header.Get("request-id") == "" {
		t.Fatal("anthropic error without request-id")
	}

	res = post(t, url+"/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, nil)
	body = readAll(t, res)
	var o struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &o); err != nil || res.StatusCode != 401 {
		t.Fatalf("openai 401: %d %s", res.StatusCode, body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := o.Error[k]; !ok {
			t.Fatalf("openai error lacks %q: %s", k, body)
		}
	}

	// Both key styles are accepted on both dialects.
	for _, h := range []map[string]string{{"x-api-key": "k"}, {"Authorization": "Bearer k"}} {
		if res := post(t, url+"/v1/messages", anthropicBody, h); res.StatusCode != 200 {
			t.Fatalf("%v: %d", h, res.StatusCode)
		} else {
			readAll(t, res)
		}
		if res := post(t, url+"/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, h); res.StatusCode != 200 {
			t.Fatalf("%v: %d", h, res.StatusCode)
		} else {
			readAll(t, res)
		}
	}
}

func TestAnthropicRequestValidation(t *testing.T) {
	_, url := startServer(t, fakeupstream.Options{})
	for body, want := range map[string]string{
		`{"model":"claude-opus-5-5","messages":[]}`:    "max_tokens: Field required",
		`{"max_tokens":5,"messages":[]}`:               "model: Field required",
		`{"model":"claude-opus-5-5","max_tokens":5}`:   "messages: Field required",
		`{"model":"claude-opus-5-5","max_tokens":5,`:   "invalid JSON body",
		`{"model":"claude-opus-5-5","max_tokens":"x"}`: "invalid JSON body",
	} {
		res := post(t, url+"/v1/messages", body, nil)
		got := readAll(t, res)
		if res.StatusCode != 400 || !strings.Contains(got, want) || !strings.Contains(got, `"invalid_request_error"`) {
			t.Fatalf("%s: %d %s", body, res.StatusCode, got)
		}
	}
}

func TestModelsDialectFollowsAnthropicVersionHeader(t *testing.T) {
	_, url := startServer(t, fakeupstream.Options{Models: []string{"a", "b", "c"}})
	get := func(path string, h map[string]string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, decode(t, readAll(t, res))
	}
	_, o := get("/v1/models", nil)
	if o["object"] != "list" || len(o["data"].([]any)) != 3 {
		t.Fatalf("openai list = %v", o)
	}
	_, a := get("/v1/models?limit=2&after_id=a", map[string]string{"anthropic-version": "2023-06-01"})
	if a["has_more"] != false || a["first_id"] != "b" || a["last_id"] != "c" || len(a["data"].([]any)) != 2 {
		t.Fatalf("anthropic page = %v", a)
	}
	_, a = get("/v1/models?limit=1&before_id=c", map[string]string{"anthropic-version": "2023-06-01"})
	if a["has_more"] != true || a["first_id"] != "b" {
		t.Fatalf("before_id page = %v", a)
	}
	if status, _ := get("/v1/models?limit=0", map[string]string{"anthropic-version": "2023-06-01"}); status != 400 {
		t.Fatalf("limit=0 status %d", status)
	}
}

func TestRequestsAreRecorded(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	res := post(t, url+"/v1/messages?beta=true", anthropicBody, map[string]string{"anthropic-beta": "x,y", "x-api-key": "secret"})
	readAll(t, res)
	res = post(t, url+"/chat/completions", `{"model":"gpt-5","messages":[]}`, nil)
	readAll(t, res)

	reqs := s.Requests()
	if len(reqs) != 2 || s.RequestCount() != 2 {
		t.Fatalf("%d recorded, %d served", len(reqs), s.RequestCount())
	}
	a := reqs[0]
	if a.Method != "POST" || a.Path != "/v1/messages" || a.Query.Get("beta") != "true" || a.Header.Get("anthropic-beta") != "x,y" ||
		string(a.Body) != anthropicBody || a.Dialect != fakeupstream.DialectAnthropic || a.Endpoint != fakeupstream.EndpointMessages ||
		a.Model != "claude-opus-5-5" || !a.Stream {
		t.Fatalf("anthropic record = %+v", a)
	}
	o := reqs[1]
	if o.Dialect != fakeupstream.DialectOpenAI || o.Endpoint != fakeupstream.EndpointChatCompletions || o.Model != "gpt-5" || o.Stream {
		t.Fatalf("openai record = %+v", o)
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Fatal("Reset kept requests")
	}

	limited, url2 := startServer(t, fakeupstream.Options{RecordLimit: 2})
	for i := range 5 {
		readAll(t, post(t, url2+"/v1/chat/completions", fmt.Sprintf(`{"model":"m%d","messages":[]}`, i), nil))
	}
	if r := limited.Requests(); len(r) != 2 || r[0].Model != "m3" || r[1].Model != "m4" {
		t.Fatalf("limited record = %+v", r)
	}
}

func TestReplySelectionPrecedence(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	text := func(model string) string {
		res := post(t, url+"/v1/chat/completions", `{"model":"`+model+`","messages":[]}`, nil)
		m := decode(t, readAll(t, res))
		return m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
	}
	if got := text("gpt-5"); got != "Hello from gpt-5." {
		t.Fatalf("default = %q", got)
	}
	s.SetReply("gpt-5", fakeupstream.Reply{Text: "per-model"})
	if got := text("gpt-5"); got != "per-model" {
		t.Fatalf("per-model = %q", got)
	}
	if got := text("gpt-4o-mini"); got != "Hello from gpt-4o-mini." {
		t.Fatalf("other model = %q", got)
	}
	s.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		return fakeupstream.Reply{Text: "responder for " + r.Model}
	})
	if got := text("gpt-5"); got != "responder for gpt-5" {
		t.Fatalf("responder = %q", got)
	}
	s.Enqueue(fakeupstream.Reply{Text: "queued 1"})
	s.Enqueue(fakeupstream.Reply{Text: ""})
	if s.Pending() != 2 {
		t.Fatalf("pending = %d", s.Pending())
	}
	if got := text("gpt-5"); got != "queued 1" {
		t.Fatalf("queue = %q", got)
	}
	if got := text("gpt-5"); got != "" {
		t.Fatalf("scripted empty answer = %q", got)
	}
	if got := text("gpt-5"); got != "responder for gpt-5" {
		t.Fatalf("after queue = %q", got)
	}
	s.ClearReplies()
	if got := text("gpt-5"); got != "Hello from gpt-5." {
		t.Fatalf("after clear = %q", got)
	}
}

func TestStopReasonMapping(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	for _, tc := range []struct{ stop, finish string }{
		{fakeupstream.StopMaxTokens, "length"},
		{fakeupstream.StopEndTurn, "stop"},
		{fakeupstream.StopSequenceStop, "stop"},
	} {
		r := fakeupstream.Reply{Text: "cut", StopReason: tc.stop, StopSequence: "###"}
		s.Enqueue(r)
		a := decode(t, readAll(t, post(t, url+"/v1/messages", strings.Replace(anthropicBody, `"stream":true,`, "", 1), nil)))
		if a["stop_reason"] != tc.stop {
			t.Fatalf("anthropic stop_reason %v, want %s", a["stop_reason"], tc.stop)
		}
		if seq := a["stop_sequence"]; (tc.stop == fakeupstream.StopSequenceStop) != (seq == "###") {
			t.Fatalf("stop_sequence %v for %s", seq, tc.stop)
		}
		s.Enqueue(r)
		o := decode(t, readAll(t, post(t, url+"/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, nil)))
		if got := o["choices"].([]any)[0].(map[string]any)["finish_reason"]; got != tc.finish {
			t.Fatalf("finish_reason %v, want %s", got, tc.finish)
		}
	}
}

func TestChunkDelayAndLatency(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{Latency: 50 * time.Millisecond})
	s.Enqueue(fakeupstream.Reply{Text: "a b c", ChunkDelay: 20 * time.Millisecond})
	begin := time.Now()
	res := post(t, url+"/v1/chat/completions", `{"model":"gpt-5","stream":true,"messages":[]}`, nil)
	events := parseSSE(t, readAll(t, res), false)
	// 50ms latency + (events-1) gaps of 20ms.
	if min := 50*time.Millisecond + time.Duration(len(events)-1)*20*time.Millisecond; time.Since(begin) < min {
		t.Fatalf("took %v, want at least %v", time.Since(begin), min)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				model := fmt.Sprintf("m%d", g)
				s.SetReply(model, fakeupstream.Reply{Text: model})
				if i%3 == 0 {
					s.Enqueue(fakeupstream.Reply{Text: "q"})
				}
				path, body := "/v1/messages", `{"model":"`+model+`","max_tokens":5,"stream":true,"messages":[]}`
				if i%2 == 0 {
					path, body = "/v1/chat/completions", `{"model":"`+model+`","stream":true,"messages":[]}`
				}
				res, err := http.Post(url+path, "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 || !bytes.Contains(b, []byte("data: ")) {
					errs <- fmt.Errorf("%d %v %s", res.StatusCode, err, b)
					return
				}
				_ = s.Requests()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.RequestCount() != 80 {
		t.Fatalf("served %d", s.RequestCount())
	}
}
