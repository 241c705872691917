package server

import (
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
)

// Bodies and events below are the vendors' documented examples (Anthropic
// Messages API and streaming docs; OpenAI chat completion object and chunk).
func TestUsageSnifferBodies(t *testing.T) {
	a := &usageSniffer{dialect: llm.Anthropic}
	a.Body([]byte(`{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-opus-4-1",
	  "content":[{"type":"text","text":"Hi! My name is Claude. \"usage\": none"}],"stop_reason":"end_turn","stop_sequence":null,
	  "usage":{"input_tokens":2095,"output_tokens":503,"cache_creation_input_tokens":10,"cache_read_input_tokens":20}}`))
	if want := (llm.Usage{InputTokens: 2095, OutputTokens: 503, CacheCreationInputTokens: 10, CacheReadInputTokens: 20}); !a.seen || a.usage != want {
		t.Fatalf("anthropic %+v", a.usage)
	}
	o := &usageSniffer{dialect: llm.OpenAI}
	o.Body([]byte(`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4.1-2025-04-14",
	  "choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],
	  "usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0}}}`))
	if want := (llm.Usage{InputTokens: 15, OutputTokens: 10, CacheReadInputTokens: 4}); !o.seen || o.usage != want {
		t.Fatalf("openai %+v", o.usage)
	}
	n := &usageSniffer{dialect: llm.OpenAI}
	n.Body([]byte(`{"error":{"message":"x"}}`))
	if n.seen {
		t.Fatal("usage seen in a body without one")
	}
}

func TestUsageSnifferStreams(t *testing.T) {
	a := &usageSniffer{dialect: llm.Anthropic}
	a.Events([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-opus-4-1\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"))
	a.Events([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	if want := (llm.Usage{InputTokens: 25, OutputTokens: 15}); a.usage != want {
		t.Fatalf("anthropic stream %+v", a.usage)
	}
	o := &usageSniffer{dialect: llm.OpenAI}
	o.Events([]byte("data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
		"data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21}}\n\ndata: [DONE]\n\n"))
	if want := (llm.Usage{InputTokens: 9, OutputTokens: 12}); !o.seen || o.usage != want {
		t.Fatalf("openai stream %+v", o.usage)
	}
}

// The sniffer tells a relayed stream that said it was complete from one cut
// short, as the stream decoders do.
func TestHardeningUsageSnifferSeesTheStreamEnd(t *testing.T) {
	for _, tc := range []struct {
		dialect llm.Dialect
		chunks  []string
		ended   bool
	}{
		{llm.Anthropic, []string{"event: message_start\ndata: {}\n\n", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"}, true},
		{llm.Anthropic, []string{"event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"}, true},
		{llm.Anthropic, []string{"event: message_start\ndata: {}\n\n", "event: content_block_delta\ndata: {\"delta\":{\"text\":\"event: message_stop\\n\"}}\n\n"}, false},
		{llm.Anthropic, []string{"event: message_start\ndata: {}\n\n", "event: message_st"}, false},
		{llm.OpenAI, []string{"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n", "data: [DONE]\n\n"}, true},
		{llm.OpenAI, []string{"data: {\"choices\":[{\"delta\":{},\"finish_reason\": \"stop\"}]}\n\n"}, true}, // no [DONE], as some servers do
		{llm.OpenAI, []string{"data: {\"choices\":[{\"delta\":{\"content\":\"\\\"finish_reason\\\":\\\"stop\\\"\"},\"finish_reason\":null}]}\n\n"}, false},
		{llm.OpenAI, []string{"data: {\"choices\":[{\"delta\":{\"content\":\"data: [DONE]\"}}]}\n\n"}, false},
	} {
		u := &usageSniffer{dialect: tc.dialect}
		for _, c := range tc.chunks {
			u.Events([]byte(c))
		}
		if u.ended != tc.ended {
			t.Errorf("%s %q: ended %v, want %v", tc.dialect, tc.chunks, u.ended, tc.ended)
		}
	}
}

// The Responses API's usage (response object and response.completed event,
// as in OpenAI's API reference): input_tokens include the cached ones.
func TestUsageSnifferResponses(t *testing.T) {
	body := `{"id":"resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41","object":"response","created_at":1741476777,"status":"completed",
	  "model":"gpt-4o-2024-08-06","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant",
	  "content":[{"type":"output_text","text":"The \"usage\": {\"input_tokens\": 1} of it","annotations":[]}]}],
	  "usage":{"input_tokens":328,"input_tokens_details":{"cached_tokens":100},"output_tokens":52,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":380},
	  "user":null,"metadata":{}}`
	b := &usageSniffer{dialect: llm.OpenAI, kind: provider.PathResponses}
	b.Body([]byte(body))
	want := llm.Usage{InputTokens: 228, OutputTokens: 52, CacheReadInputTokens: 100}
	if !b.seen || b.usage != want {
		t.Fatalf("body: %+v", b.usage)
	}
	completed := "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":9,\"response\":" + strings.ReplaceAll(body, "\n", "") + "}\n\n"
	created := "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n"
	// Whole events, and the same bytes cut at every position (an event
	// larger than the relay's buffer arrives in pieces).
	stream := created + completed
	for cut := 0; cut <= len(stream); cut++ {
		s := &usageSniffer{dialect: llm.OpenAI, kind: provider.PathResponses}
		s.Events([]byte(stream[:cut]))
		s.Events([]byte(stream[cut:]))
		if !s.seen || s.usage != want || !s.ended {
			t.Fatalf("cut at %d: seen %v usage %+v ended %v", cut, s.seen, s.usage, s.ended)
		}
	}
	s := &usageSniffer{dialect: llm.OpenAI, kind: provider.PathResponses}
	s.Events([]byte(created))
	if s.seen || s.ended {
		t.Fatalf("response.created: seen %v ended %v", s.seen, s.ended)
	}
	s.Events([]byte("event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"x\",\"param\":null,\"sequence_number\":1}\n\n"))
	if s.ended {
		t.Fatal("an error event is not a complete stream's end")
	}
}

// Embeddings report prompt_tokens only; chat usage counts cache writes
// (prompt_tokens_details.cache_write_tokens) as the codec does.
func TestUsageSnifferEmbeddingsAndCacheWrites(t *testing.T) {
	e := &usageSniffer{dialect: llm.OpenAI, kind: provider.PathEmbeddings}
	e.Body([]byte(`{"object":"list","data":[{"object":"embedding","embedding":[0.0023064255,-0.009327292],"index":0}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`))
	if want := (llm.Usage{InputTokens: 8}); !e.seen || e.usage != want {
		t.Fatalf("embeddings %+v", e.usage)
	}
	c := &usageSniffer{dialect: llm.OpenAI, kind: provider.PathMessages}
	c.Body([]byte(`{"object":"chat.completion","usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":30,"cache_write_tokens":50}}}`))
	if want := (llm.Usage{InputTokens: 20, OutputTokens: 5, CacheReadInputTokens: 30, CacheCreationInputTokens: 50}); c.usage != want {
		t.Fatalf("chat cache writes %+v", c.usage)
	}
}
