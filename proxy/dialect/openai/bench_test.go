package openai

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// chatHistoryRequest is a typical agent request: system prompt, three
// tools, twenty turns including a tool round trip.
func chatHistoryRequest() []byte {
	msgs := []any{map[string]any{"role": "system", "content": strings.Repeat("You are a careful assistant. ", 40)}}
	for i := 0; i < 8; i++ {
		msgs = append(msgs,
			map[string]any{"role": "user", "content": fmt.Sprintf("Question %d: %s", i, strings.Repeat("some context words ", 20))},
			map[string]any{"role": "assistant", "content": strings.Repeat("An answer with several sentences. ", 10)})
	}
	msgs = append(msgs,
		map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "search", "arguments": `{"query":"cascade proxies","limit":5}`}}}},
		map[string]any{"role": "tool", "tool_call_id": "call_1", "content": strings.Repeat("result line\n", 30)},
		map[string]any{"role": "user", "content": "Summarise the results."})
	tool := func(name string) any {
		return map[string]any{"type": "function", "function": map[string]any{"name": name, "description": "Does " + name,
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}, "limit": map[string]any{"type": "integer"}}, "required": []string{"query"}}}}
	}
	b, _ := json.Marshal(map[string]any{
		"model": "gpt-4o-mini", "messages": msgs, "stream": true, "stream_options": map[string]any{"include_usage": true},
		"max_completion_tokens": 1024, "temperature": 0.3, "tools": []any{tool("search"), tool("fetch"), tool("summarise")},
	})
	return b
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := chatHistoryRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	r, err := Codec{}.DecodeRequest(chatHistoryRequest())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Codec{}).EncodeRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEncoderTextDelta is the per-token cost of turning a text
// delta into a chunk (the server reuses its buffer).
func BenchmarkStreamEncoderTextDelta(b *testing.B) {
	enc := Codec{}.NewStreamEncoder(&llm.Request{IncludeUsage: true})
	buf, err := enc.Encode(nil, llm.Event{Type: llm.EventMessageStart, Message: &llm.Response{ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: "claude-haiku-5-5", Created: 1727000000}})
	if err != nil {
		b.Fatal(err)
	}
	ev := textDelta(0, " the quick")
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = enc.Encode(buf[:0], ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamEncoderToolArguments(b *testing.B) {
	enc := Codec{}.NewStreamEncoder(nil)
	buf, _ := enc.Encode(nil, llm.Event{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-1", Model: "m", Created: 1}})
	buf, _ = enc.Encode(buf, blockStart(0, llm.Block{Type: llm.BlockToolUse, ID: "toolu_1", Name: "search"}))
	ev := jsonDelta(0, `{"query": "casc`)
	b.ReportAllocs()
	var err error
	for b.Loop() {
		if buf, err = enc.Encode(buf[:0], ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecoderTextChunk is the per-chunk cost of reading an
// upstream text chunk.
func BenchmarkStreamDecoderTextChunk(b *testing.B) {
	d := Codec{}.NewStreamDecoder()
	if _, err := d.Decode("", []byte(chunkWith(`{"index":0,"delta":{"role":"assistant","content":"Hi"}}`))); err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":" the quick"},"logprobs":null,"finish_reason":null}]}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode("", data); err != nil {
			b.Fatal(err)
		}
	}
}
