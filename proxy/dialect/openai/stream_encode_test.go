package openai

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func textDelta(i int, s string) llm.Event {
	return llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: &llm.Delta{Type: llm.DeltaText, Text: s}}
}

func jsonDelta(i int, s string) llm.Event {
	return llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: &llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: s}}
}

func blockStart(i int, b llm.Block) llm.Event {
	return llm.Event{Type: llm.EventBlockStart, Index: i, Block: &b}
}

func blockStop(i int) llm.Event { return llm.Event{Type: llm.EventBlockStop, Index: i} }

func encodeAll(t *testing.T, req *llm.Request, evs []llm.Event) []byte {
	t.Helper()
	enc := Codec{}.NewStreamEncoder(req)
	var out []byte
	for i, ev := range evs {
		var err error
		if out, err = enc.Encode(out, ev); err != nil {
			t.Fatalf("event %d (%s): %v", i, ev.Type, err)
		}
	}
	return enc.Finish(out)
}

// thinkingThenText is an Anthropic-shaped answer: a signed thinking block
// (which Chat Completions cannot carry) and a text block.
var thinkingThenText = []llm.Event{
	{Type: llm.EventMessageStart, Message: &llm.Response{ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: "claude-sonnet-4-5", Created: 1727000000,
		Usage: llm.Usage{InputTokens: 25, CacheReadInputTokens: 100, OutputTokens: 1}}},
	{Type: llm.EventPing},
	blockStart(0, llm.Block{Type: llm.BlockThinking}),
	{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaThinking, Thinking: "The user greets me."}},
	{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaSignature, Signature: "EqQBCgIYAhIM"}},
	blockStop(0),
	blockStart(1, llm.Block{Type: llm.BlockText}),
	textDelta(1, "Hello"),
	textDelta(1, ""),
	textDelta(1, ", \"world\"\n"),
	blockStop(1),
	{Type: llm.EventMessageDelta, StopReason: llm.StopEndTurn, Usage: &llm.Usage{OutputTokens: 12}},
	{Type: llm.EventMessageStop},
}

var textThenTwoTools = []llm.Event{
	{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-abc", Model: "gpt-x", Created: 1727000001}},
	blockStart(0, llm.Block{Type: llm.BlockText}),
	textDelta(0, "Let me check."),
	blockStop(0),
	blockStart(1, llm.Block{Type: llm.BlockToolUse, ID: "toolu_1", Name: "get_weather"}),
	jsonDelta(1, ""),
	jsonDelta(1, `{"city":`),
	jsonDelta(1, ` "Paris"}`),
	blockStop(1),
	blockStart(2, llm.Block{Type: llm.BlockToolUse, ID: "toolu_2", Name: "get_time"}),
	jsonDelta(2, `{"tz":"CET"}`),
	blockStop(2),
	{Type: llm.EventMessageDelta, StopReason: llm.StopToolUse, Usage: &llm.Usage{OutputTokens: 40}},
	{Type: llm.EventMessageStop},
}

func TestStreamEncoderGolden(t *testing.T) {
	tests := []struct {
		name   string
		req    *llm.Request
		events []llm.Event
		golden string
	}{
		{"thinking dropped, text, include_usage", &llm.Request{Stream: true, IncludeUsage: true}, thinkingThenText, "client_text_usage.sse"},
		{"text then parallel tool calls", &llm.Request{Stream: true}, textThenTwoTools, "client_tools.sse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeAll(t, tt.req, tt.events)
			assertStrictFraming(t, got)
			assertSameSSE(t, got, readFile(t, tt.golden))
		})
	}
}

func TestStreamEncoderUsageChunkOrdering(t *testing.T) {
	// Without include_usage: no usage anywhere.
	got := string(encodeAll(t, &llm.Request{Stream: true}, thinkingThenText))
	if strings.Contains(got, `"usage"`) {
		t.Fatalf("usage written although the client did not ask:\n%s", got)
	}

	// With it: exactly one usage object, after the finish chunk, before [DONE].
	got = string(encodeAll(t, &llm.Request{Stream: true, IncludeUsage: true}, thinkingThenText))
	finish := strings.Index(got, `"finish_reason":"stop"`)
	usage := strings.Index(got, `"usage":{`)
	done := strings.Index(got, "data: [DONE]")
	if strings.Count(got, `"usage":{`) != 1 || !(finish >= 0 && finish < usage && usage < done) {
		t.Fatalf("want finish < usage < [DONE] with one usage chunk, got finish=%d usage=%d done=%d:\n%s", finish, usage, done, got)
	}
	if !strings.HasSuffix(got, "}\n\ndata: [DONE]\n\n") {
		t.Fatalf("stream does not end with the usage chunk then [DONE]:\n%s", got)
	}

	// message_delta without message_stop: Finish still pays the usage chunk once.
	enc := Codec{}.NewStreamEncoder(&llm.Request{IncludeUsage: true})
	var out []byte
	var err error
	for _, ev := range thinkingThenText[:len(thinkingThenText)-1] {
		if out, err = enc.Encode(out, ev); err != nil {
			t.Fatal(err)
		}
	}
	out = enc.Finish(out)
	if n := strings.Count(string(out), `"usage":{`); n != 1 {
		t.Fatalf("usage chunks = %d, want 1:\n%s", n, out)
	}
}

func TestStreamEncoderRejectsOutOfOrderEvents(t *testing.T) {
	start := llm.Event{Type: llm.EventMessageStart, Message: &llm.Response{ID: "x", Model: "m"}}
	delta := llm.Event{Type: llm.EventMessageDelta, StopReason: llm.StopEndTurn, Usage: &llm.Usage{}}
	tests := []struct {
		name string
		evs  []llm.Event
	}{
		{"delta before message_start", []llm.Event{textDelta(0, "hi")}},
		{"second message_start", []llm.Event{start, start}},
		{"second message_delta", []llm.Event{start, delta, delta}},
		{"block after message_delta", []llm.Event{start, delta, textDelta(0, "late")}},
		{"message_stop without message_delta", []llm.Event{start, {Type: llm.EventMessageStop}}},
		{"input_json_delta for a text block", []llm.Event{start, blockStart(0, llm.Block{Type: llm.BlockText}), jsonDelta(0, "{}")}},
		{"block start without block", []llm.Event{start, {Type: llm.EventBlockStart, Index: 0}}},
		{"delta without delta", []llm.Event{start, {Type: llm.EventBlockDelta, Index: 0}}},
		{"tool block started twice", []llm.Event{start, blockStart(0, llm.Block{Type: llm.BlockToolUse, ID: "a", Name: "f"}), blockStart(0, llm.Block{Type: llm.BlockToolUse, ID: "a", Name: "f"})}},
		{"unknown event", []llm.Event{start, {Type: "mystery"}}},
		{"negative block index", []llm.Event{start, blockStart(-1, llm.Block{Type: llm.BlockText})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := Codec{}.NewStreamEncoder(nil)
			var out []byte
			var err error
			for _, ev := range tt.evs {
				if out, err = enc.Encode(out, ev); err != nil {
					break
				}
			}
			if err == nil {
				t.Fatalf("no error; wrote:\n%s", out)
			}
		})
	}
}

func TestStreamEncoderLogprobsAndEscaping(t *testing.T) {
	evs := []llm.Event{
		{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-lp", Model: "m", Created: 5}},
		blockStart(0, llm.Block{Type: llm.BlockText}),
		{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaText, Text: "Hi\u2028<\x01"},
			Logprobs: []llm.TokenLogprob{{Token: "Hi", Logprob: -0.5}}},
		blockStop(0),
		{Type: llm.EventMessageDelta, StopReason: llm.StopMaxTokens, Usage: &llm.Usage{OutputTokens: 1}},
		{Type: llm.EventMessageStop},
	}
	got := encodeAll(t, nil, evs)
	assertStrictFraming(t, got)
	chunks := parseSSE(t, got)
	if len(chunks) != 4 {
		t.Fatalf("got %d records, want 4:\n%s", len(chunks), got)
	}
	assertJSONEqual(t, []byte(chunks[1].data), []byte(`{"id":"chatcmpl-lp","object":"chat.completion.chunk","created":5,"model":"m",
		"choices":[{"index":0,"delta":{"content":"Hi\u2028<\u0001"},
		"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]}],"refusal":null},"finish_reason":null}]}`))
	if !strings.Contains(chunks[1].data, `\u2028`) {
		t.Errorf("U+2028 not escaped: %s", chunks[1].data)
	}
	assertJSONEqual(t, []byte(chunks[2].data), []byte(`{"id":"chatcmpl-lp","object":"chat.completion.chunk","created":5,"model":"m",
		"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}`))
}

func TestStreamEncoderInventsIDAndCreated(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Unix(1800000000, 0) }
	evs := []llm.Event{{Type: llm.EventMessageStart, Message: &llm.Response{Model: "m"}}}
	got := encodeAll(t, nil, evs)
	chunks := parseSSE(t, got)
	if !strings.Contains(chunks[0].data, `"created":1800000000`) {
		t.Errorf("created not taken from the clock: %s", chunks[0].data)
	}
	if !strings.Contains(chunks[0].data, `"id":"chatcmpl-`) || strings.Contains(chunks[0].data, `"id":"chatcmpl-"`) {
		t.Errorf("no generated chatcmpl- id: %s", chunks[0].data)
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\n\r\t\b\f\x00\x1f", "é漢字🙂", "\u2028\u2029", "bad\xffutf8\xc3", "<&>"} {
		got := jsonenc.AppendString(nil, s)
		want, err := marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var g, w string
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if g != w {
			t.Errorf("%q: decodes to %q, encoding/json's to %q", s, g, w)
		}
	}
}

func TestStreamEncoderHugeBlockIndexes(t *testing.T) {
	// Block indexes come from upstreams; a huge one must cost nothing.
	evs := []llm.Event{
		{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-h", Model: "m", Created: 1}},
		blockStart(1<<40, llm.Block{Type: llm.BlockToolUse, ID: "a", Name: "f"}),
		jsonDelta(1<<40, `{}`),
		blockStop(1 << 40),
		{Type: llm.EventMessageDelta, StopReason: llm.StopToolUse, Usage: &llm.Usage{}},
		{Type: llm.EventMessageStop},
	}
	got := parseSSE(t, encodeAll(t, nil, evs))
	if len(got) != 5 || !strings.Contains(got[1].data, `"index":0,"id":"a"`) || !strings.Contains(got[2].data, `"index":0,"function":{"arguments":"{}"}`) {
		t.Fatalf("got %+v", got)
	}
}
