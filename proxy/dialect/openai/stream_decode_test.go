package openai

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func assertEvents(t *testing.T, got, want []llm.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d\ngot:  %s\nwant: %s", len(got), len(want), describe(got), describe(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event %d differs\ngot:  %s\nwant: %s", i, describe(got[i:i+1]), describe(want[i:i+1]))
		}
	}
}

func describe(evs []llm.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("\n  ")
		b.WriteString(string(ev.Type))
		switch {
		case ev.Message != nil:
			b.WriteString(" " + ev.Message.ID + " " + ev.Message.Model)
		case ev.Block != nil:
			b.WriteString(" " + string(ev.Block.Type) + " " + ev.Block.ID + " " + ev.Block.Name)
		case ev.Delta != nil:
			b.WriteString(" " + string(ev.Delta.Type) + " " + ev.Delta.Text + ev.Delta.PartialJSON)
		case ev.Type == llm.EventMessageDelta:
			b.WriteString(" " + string(ev.StopReason))
			if ev.Usage != nil {
				b.WriteString(" usage")
			}
		}
		if len(ev.Logprobs) > 0 {
			b.WriteString(" +logprobs")
		}
	}
	return b.String()
}

func TestStreamDecoderGolden(t *testing.T) {
	tests := []struct {
		file string
		want []llm.Event
	}{
		{"upstream_text.sse", []llm.Event{
			{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-123", Model: "gpt-4o-mini", Created: 1694268190}},
			blockStart(0, llm.Block{Type: llm.BlockText}),
			textDelta(0, "Hello"),
			textDelta(0, "!"),
			blockStop(0),
			{Type: llm.EventMessageDelta, StopReason: llm.StopEndTurn, Usage: &llm.Usage{}},
			{Type: llm.EventMessageStop},
		}},
		{"upstream_parallel_tools_usage.sse", []llm.Event{
			{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-9x", Model: "gpt-4o-2024-08-06", Created: 1727000000}},
			blockStart(0, llm.Block{Type: llm.BlockToolUse, ID: "call_DdmO9pD3xa9XTPNJ32zg2hcA", Name: "get_weather"}),
			jsonDelta(0, `{"`),
			jsonDelta(0, `location`),
			jsonDelta(0, `":"Paris"}`),
			blockStop(0),
			blockStart(1, llm.Block{Type: llm.BlockToolUse, ID: "call_b2", Name: "get_time"}),
			jsonDelta(1, `{"tz":"CET"}`),
			blockStop(1),
			// cached tokens are not input tokens in the canonical usage
			{Type: llm.EventMessageDelta, StopReason: llm.StopToolUse, Usage: &llm.Usage{InputTokens: 18, CacheReadInputTokens: 64, OutputTokens: 37}},
			{Type: llm.EventMessageStop},
		}},
		{"upstream_logprobs_refusal.sse", []llm.Event{
			{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-lp", Model: "gpt-4o", Created: 1727000003}},
			blockStart(0, llm.Block{Type: llm.BlockText}),
			{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaText, Text: "Hi"}, Logprobs: []llm.TokenLogprob{{Token: "Hi", Logprob: -0.0012}}},
			textDelta(0, "I can't help with that."),
			blockStop(0),
			{Type: llm.EventMessageDelta, StopReason: llm.StopRefusal, Usage: &llm.Usage{}},
			{Type: llm.EventMessageStop},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := decodeTranscript(t, readFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			assertEvents(t, got, tt.want)
		})
	}
}

func TestStreamDecoderErrors(t *testing.T) {
	t.Run("error object mid-stream", func(t *testing.T) {
		evs, err := decodeTranscript(t, readFile(t, "upstream_error.sse"))
		e := asLLMError(t, err)
		if e.Kind != llm.ErrAPI || !e.Retryable || e.UpstreamType != "server_error" || !strings.Contains(e.Message, "Sorry about that") {
			t.Fatalf("got %+v", e)
		}
		if len(evs) != 3 || evs[2].Delta == nil || evs[2].Delta.Text != "Par" {
			t.Fatalf("events before the error: %s", describe(evs))
		}
	})
	t.Run("no finish_reason", func(t *testing.T) {
		_, err := decodeTranscript(t, readFile(t, "upstream_truncated.sse"))
		if e := asLLMError(t, err); e.Kind != llm.ErrBadGateway || !strings.Contains(e.Message, "finish_reason") {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("nothing at all", func(t *testing.T) {
		d := Codec{}.NewStreamDecoder()
		if _, err := d.Decode("", []byte("[DONE]")); err != nil {
			t.Fatal(err)
		}
		_, err := d.Finish()
		if e := asLLMError(t, err); e.Kind != llm.ErrBadGateway {
			t.Fatalf("got %+v", e)
		}
	})
	tests := []struct {
		name     string
		event    string
		data     string
		wantKind llm.ErrorKind
	}{
		{"malformed chunk", "", `{"id":`, llm.ErrBadGateway},
		{"rate limit error object", "", `{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`, llm.ErrRateLimit},
		{"vLLM numeric code", "", `{"error":{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400}}`, llm.ErrInvalidRequest},
		{"error as a string", "", `{"error":"upstream exploded"}`, llm.ErrAPI},
		{"error event name", "error", `{"message":"x"}`, llm.ErrBadGateway},
		{"wrong type in chunk", "", `{"id":"x","choices":[{"index":0,"delta":{"content":5}}]}`, llm.ErrBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Codec{}.NewStreamDecoder()
			_, err := d.Decode(tt.event, []byte(tt.data))
			if e := asLLMError(t, err); e.Kind != tt.wantKind {
				t.Fatalf("kind %s, want %s (%v)", e.Kind, tt.wantKind, e)
			}
			// The decoder stays failed: later input and Finish add nothing.
			evs, err := d.Decode("", []byte(`{"id":"x","choices":[{"index":0,"delta":{"content":"more"},"finish_reason":"stop"}]}`))
			if len(evs) != 0 || err != nil {
				t.Fatalf("after failure: %s, %v", describe(evs), err)
			}
			if evs, err := d.Finish(); len(evs) != 0 || err != nil {
				t.Fatalf("Finish after failure: %s, %v", describe(evs), err)
			}
		})
	}
}

func chunkWith(choice string) string {
	return `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[` + choice + `]}`
}

func decodeChunks(t *testing.T, chunks ...string) ([]llm.Event, error) {
	t.Helper()
	d := Codec{}.NewStreamDecoder()
	var all []llm.Event
	for _, c := range chunks {
		evs, err := d.Decode("", []byte(c))
		all = append(all, evs...)
		if err != nil {
			return all, err
		}
	}
	evs, err := d.Finish()
	return append(all, evs...), err
}

func TestStreamDecoderStateMachine(t *testing.T) {
	start := llm.Event{Type: llm.EventMessageStart, Message: &llm.Response{ID: "c1", Model: "m", Created: 1}}
	end := func(s llm.StopReason, u llm.Usage) []llm.Event {
		return []llm.Event{{Type: llm.EventMessageDelta, StopReason: s, Usage: &u}, {Type: llm.EventMessageStop}}
	}
	t.Run("text then tool closes the text block", func(t *testing.T) {
		got, err := decodeChunks(t,
			chunkWith(`{"index":0,"delta":{"role":"assistant","content":"Checking."}}`),
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}}`),
			chunkWith(`{"index":0,"delta":{},"finish_reason":"tool_calls"}`),
		)
		if err != nil {
			t.Fatal(err)
		}
		assertEvents(t, got, append([]llm.Event{start,
			blockStart(0, llm.Block{Type: llm.BlockText}), textDelta(0, "Checking."), blockStop(0),
			blockStart(1, llm.Block{Type: llm.BlockToolUse, ID: "call_1", Name: "f"}), jsonDelta(1, "{}"), blockStop(1),
		}, end(llm.StopToolUse, llm.Usage{})...))
	})
	t.Run("all tool calls in one chunk (Gemini style)", func(t *testing.T) {
		got, err := decodeChunks(t,
			chunkWith(`{"index":0,"delta":{"role":"assistant","tool_calls":[
				{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
				{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls"}`),
		)
		if err != nil {
			t.Fatal(err)
		}
		assertEvents(t, got, append([]llm.Event{start,
			blockStart(0, llm.Block{Type: llm.BlockToolUse, ID: "a", Name: "f"}), jsonDelta(0, `{"x":1}`), blockStop(0),
			blockStart(1, llm.Block{Type: llm.BlockToolUse, ID: "b", Name: "g"}), jsonDelta(1, `{}`), blockStop(1),
		}, end(llm.StopToolUse, llm.Usage{})...))
	})
	t.Run("interleaved tool call indexes are refused", func(t *testing.T) {
		_, err := decodeChunks(t,
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}}]}}`),
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":""}}]}}`),
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}`),
		)
		if e := asLLMError(t, err); e.Kind != llm.ErrBadGateway {
			t.Fatalf("got %+v", e)
		}
	})
	t.Run("missing index and repeated id", func(t *testing.T) {
		got, err := decodeChunks(t,
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"q\":"}}]}}`),
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"arguments":"1}"}}]}}`),
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}`),
			chunkWith(`{"index":0,"delta":{},"finish_reason":"tool_calls"}`),
		)
		if err != nil {
			t.Fatal(err)
		}
		assertEvents(t, got, append([]llm.Event{start,
			blockStart(0, llm.Block{Type: llm.BlockToolUse, ID: "a", Name: "f"}), jsonDelta(0, `{"q":`), jsonDelta(0, `1}`), blockStop(0),
			blockStart(1, llm.Block{Type: llm.BlockToolUse, ID: "b", Name: "g"}), jsonDelta(1, `{}`), blockStop(1),
		}, end(llm.StopToolUse, llm.Usage{})...))
	})
	t.Run("index -1 for a single tool call", func(t *testing.T) {
		got, err := decodeChunks(t,
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"index":-1,"id":"a","function":{"name":"f","arguments":"{}"}}]}}`),
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"index":-1,"function":{"arguments":""}}]},"finish_reason":"tool_calls"}`),
		)
		if err != nil {
			t.Fatal(err)
		}
		assertEvents(t, got, append([]llm.Event{start,
			blockStart(0, llm.Block{Type: llm.BlockToolUse, ID: "a", Name: "f"}), jsonDelta(0, `{}`), blockStop(0),
		}, end(llm.StopToolUse, llm.Usage{})...))
	})
	t.Run("name arriving after arguments", func(t *testing.T) {
		got, err := decodeChunks(t,
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}`),
			chunkWith(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"late","arguments":":1}"}}]}}`),
			chunkWith(`{"index":0,"delta":{},"finish_reason":"tool_calls"}`),
		)
		if err != nil {
			t.Fatal(err)
		}
		assertEvents(t, got, append([]llm.Event{start,
			blockStart(0, llm.Block{Type: llm.BlockToolUse, ID: "call_0_c1", Name: "late"}), jsonDelta(0, `{"a":1}`), blockStop(0),
		}, end(llm.StopToolUse, llm.Usage{})...))
	})
	t.Run("usage chunk after the finish chunk, then EOF without [DONE]", func(t *testing.T) {
		got, err := decodeChunks(t,
			chunkWith(`{"index":0,"delta":{"content":"ok"},"finish_reason":"length"}`),
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4,"cache_write_tokens":2}}}`,
		)
		if err != nil {
			t.Fatal(err)
		}
		assertEvents(t, got, append([]llm.Event{start,
			blockStart(0, llm.Block{Type: llm.BlockText}), textDelta(0, "ok"), blockStop(0),
		}, end(llm.StopMaxTokens, llm.Usage{InputTokens: 4, CacheReadInputTokens: 4, CacheCreationInputTokens: 2, OutputTokens: 5})...))
	})
	t.Run("content after finish and other choices are ignored", func(t *testing.T) {
		got, err := decodeChunks(t,
			chunkWith(`{"index":1,"delta":{"content":"other choice"}}`),
			chunkWith(`{"index":0,"delta":{},"finish_reason":"content_filter"}`),
			chunkWith(`{"index":0,"delta":{"content":"late"}}`),
		)
		if err != nil {
			t.Fatal(err)
		}
		assertEvents(t, got, append([]llm.Event{start}, end(llm.StopRefusal, llm.Usage{})...))
	})
	t.Run("reasoning_content is not decoded", func(t *testing.T) {
		got, err := decodeChunks(t,
			chunkWith(`{"index":0,"delta":{"reasoning_content":"let me think"}}`),
			chunkWith(`{"index":0,"delta":{"content":"4"},"finish_reason":"stop"}`),
		)
		if err != nil {
			t.Fatal(err)
		}
		assertEvents(t, got, append([]llm.Event{start,
			blockStart(0, llm.Block{Type: llm.BlockText}), textDelta(0, "4"), blockStop(0),
		}, end(llm.StopEndTurn, llm.Usage{})...))
	})
	t.Run("Finish is idempotent and [DONE] ends input", func(t *testing.T) {
		d := Codec{}.NewStreamDecoder()
		for _, c := range []string{chunkWith(`{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}`), "[DONE]", chunkWith(`{"index":0,"delta":{"content":"after done"}}`)} {
			if _, err := d.Decode("", []byte(c)); err != nil {
				t.Fatal(err)
			}
		}
		first, err := d.Finish()
		if err != nil || len(first) != 2 {
			t.Fatalf("first Finish: %s, %v", describe(first), err)
		}
		if again, err := d.Finish(); len(again) != 0 || err != nil {
			t.Fatalf("second Finish: %s, %v", describe(again), err)
		}
	})
}

// TestStreamDecoderOutputEncodes checks the two halves fit: every golden
// upstream stream decodes into events the client-side encoder accepts.
func TestStreamDecoderOutputEncodes(t *testing.T) {
	for _, f := range []string{"upstream_text.sse", "upstream_parallel_tools_usage.sse", "upstream_logprobs_refusal.sse"} {
		evs, err := decodeTranscript(t, readFile(t, f))
		if err != nil {
			t.Fatal(err)
		}
		out := encodeAll(t, &llm.Request{IncludeUsage: true}, evs)
		assertStrictFraming(t, out)
	}
}
