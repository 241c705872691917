package openai

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func assertResponse(t *testing.T, got, want *llm.Response) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	t.Fatalf("response differs\ngot:  %s\nwant: %s", g, w)
}

func TestDecodeResponseDocumentedExamples(t *testing.T) {
	tests := []struct {
		file string
		want *llm.Response
	}{
		{"response_text.json", &llm.Response{
			ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", Model: "gpt-4o-2024-08-06", Created: 1741570283,
			Content:    []llm.Block{{Type: llm.BlockText, Text: "The image shows a wooden boardwalk extending through a lush green marshland."}},
			StopReason: llm.StopEndTurn,
			// 1117 prompt tokens of which 1024 were cached
			Usage: llm.Usage{InputTokens: 93, CacheReadInputTokens: 1024, OutputTokens: 46},
		}},
		{"response_tool_calls.json", &llm.Response{
			ID: "chatcmpl-abc123", Model: "gpt-4o-mini", Created: 1699896916,
			Content: []llm.Block{{Type: llm.BlockToolUse, ID: "call_abc123", Name: "get_current_weather",
				Input: json.RawMessage("{\n\"location\": \"Boston, MA\"\n}")}},
			StopReason: llm.StopToolUse,
			Usage:      llm.Usage{InputTokens: 82, OutputTokens: 17},
		}},
		{"response_logprobs.json", &llm.Response{
			ID: "chatcmpl-123", Model: "gpt-4o-mini", Created: 1702685778,
			Content:    []llm.Block{{Type: llm.BlockText, Text: "Hello! How can I assist you today?"}},
			StopReason: llm.StopMaxTokens,
			Usage:      llm.Usage{InputTokens: 9, OutputTokens: 9},
			Logprobs:   []llm.TokenLogprob{{Token: "Hello", Logprob: -0.31725305}, {Token: "!", Logprob: -0.02380986}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Codec{}.DecodeResponse(readFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			assertResponse(t, got, tt.want)
		})
	}
}

func TestDecodeResponseVariants(t *testing.T) {
	wrap := func(message, finish string) string {
		return `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":` + message + `,"finish_reason":` + finish + `}]}`
	}
	tests := []struct {
		name string
		body string
		want *llm.Response
	}{
		{"refusal", wrap(`{"role":"assistant","content":null,"refusal":"I'm sorry, I cannot help."}`, `"stop"`), &llm.Response{
			ID: "c", Model: "m", Created: 1, StopReason: llm.StopRefusal,
			Content: []llm.Block{{Type: llm.BlockText, Text: "I'm sorry, I cannot help."}}}},
		{"content_filter", wrap(`{"role":"assistant","content":"Partial"}`, `"content_filter"`), &llm.Response{
			ID: "c", Model: "m", Created: 1, StopReason: llm.StopRefusal,
			Content: []llm.Block{{Type: llm.BlockText, Text: "Partial"}}}},
		{"content as parts, null finish", wrap(`{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`, `null`), &llm.Response{
			ID: "c", Model: "m", Created: 1, StopReason: llm.StopEndTurn,
			Content: []llm.Block{{Type: llm.BlockText, Text: "ab"}}}},
		{"text and tool call with bad arguments, reasoning_content ignored", wrap(`{"role":"assistant","content":"Let me see.","reasoning_content":"hmm",
			"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{oops"}}]}`, `"tool_calls"`), &llm.Response{
			ID: "c", Model: "m", Created: 1, StopReason: llm.StopToolUse,
			Content: []llm.Block{{Type: llm.BlockText, Text: "Let me see."}, {Type: llm.BlockToolUse, ID: "t", Name: "f", Input: json.RawMessage(`"{oops"`)}}}},
		{"cache write tokens", `{"id":"c","model":"m","created":1,"choices":[{"index":0,"message":{"content":"x"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":100,"completion_tokens":3,"total_tokens":103,"prompt_tokens_details":{"cached_tokens":10,"cache_write_tokens":80}}}`, &llm.Response{
			ID: "c", Model: "m", Created: 1, StopReason: llm.StopEndTurn, Content: []llm.Block{{Type: llm.BlockText, Text: "x"}},
			Usage: llm.Usage{InputTokens: 10, CacheReadInputTokens: 10, CacheCreationInputTokens: 80, OutputTokens: 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Codec{}.DecodeResponse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			assertResponse(t, got, tt.want)
		})
	}
}

func TestDecodeResponseFailures(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantKind llm.ErrorKind
	}{
		{"html", `<html><body>502 Bad Gateway</body></html>`, llm.ErrBadGateway},
		{"no choices", `{"id":"c","choices":[]}`, llm.ErrBadGateway},
		{"content number", `{"id":"c","choices":[{"index":0,"message":{"content":5}}]}`, llm.ErrBadGateway},
		{"error with 200", `{"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`, llm.ErrRateLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Codec{}.DecodeResponse([]byte(tt.body))
			if e := asLLMError(t, err); e.Kind != tt.wantKind {
				t.Fatalf("kind %s, want %s", e.Kind, tt.wantKind)
			}
		})
	}
}

func TestEncodeResponse(t *testing.T) {
	tests := []struct {
		name string
		in   *llm.Response
		want string
	}{
		{"text with thinking and cache usage", &llm.Response{
			ID: "msg_01", Model: "claude-haiku-5-5", Created: 1727000000, StopReason: llm.StopEndTurn,
			Content: []llm.Block{{Type: llm.BlockThinking, Thinking: "secret", Signature: "sig"}, {Type: llm.BlockText, Text: "Hello "}, {Type: llm.BlockText, Text: "<world> & co"}},
			Usage:   llm.Usage{InputTokens: 10, CacheReadInputTokens: 100, CacheCreationInputTokens: 5, OutputTokens: 7},
		}, `{"id":"chatcmpl-msg_01","object":"chat.completion","created":1727000000,"model":"claude-haiku-5-5",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Hello <world> & co","refusal":null},"logprobs":null,"finish_reason":"stop"}],
			"usage":{"prompt_tokens":115,"completion_tokens":7,"total_tokens":122,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":5}}}`},
		{"only tool calls: content null", &llm.Response{
			ID: "chatcmpl-x", Model: "m", Created: 2, StopReason: llm.StopToolUse,
			Content: []llm.Block{
				{Type: llm.BlockToolUse, ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":1}`)},
				{Type: llm.BlockToolUse, ID: "toolu_2", Name: "g"},
			},
		}, `{"id":"chatcmpl-x","object":"chat.completion","created":2,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[
				{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
				{"id":"toolu_2","type":"function","function":{"name":"g","arguments":"{}"}}]},
			"logprobs":null,"finish_reason":"tool_calls"}],
			"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0}}}`},
		{"refusal, context limit, logprobs", &llm.Response{
			ID: "chatcmpl-y", Model: "m", Created: 3, StopReason: llm.StopRefusal,
			Content:  []llm.Block{{Type: llm.BlockText, Text: "No."}},
			Logprobs: []llm.TokenLogprob{{Token: "No", Logprob: -0.25}, {Token: ".", Logprob: 0}},
		}, `{"id":"chatcmpl-y","object":"chat.completion","created":3,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":"No.","refusal":null},
			"logprobs":{"content":[{"token":"No","logprob":-0.25,"bytes":[78,111],"top_logprobs":[]},{"token":".","logprob":0,"bytes":[46],"top_logprobs":[]}],"refusal":null},
			"finish_reason":"content_filter"}],
			"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0}}}`},
		{"empty answer at context limit", &llm.Response{ID: "chatcmpl-z", Model: "m", Created: 4, StopReason: llm.StopContextLimit},
			`{"id":"chatcmpl-z","object":"chat.completion","created":4,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":"length"}],
			"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Codec{}.EncodeResponse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, got, []byte(tt.want))
		})
	}
}

func TestEncodeResponseInventsIDAndCreated(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Unix(1800000000, 0) }
	a, err := Codec{}.EncodeResponse(&llm.Response{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Codec{}.EncodeResponse(&llm.Response{Model: "m"})
	var ra, rb struct {
		ID      string `json:"id"`
		Created int64  `json:"created"`
	}
	if err := json.Unmarshal(a, &ra); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(b, &rb)
	if !strings.HasPrefix(ra.ID, "chatcmpl-") || len(ra.ID) < len("chatcmpl-")+20 || ra.ID == rb.ID {
		t.Errorf("ids %q and %q: want distinct generated chatcmpl- ids", ra.ID, rb.ID)
	}
	if ra.Created != 1800000000 {
		t.Errorf("created %d, want the clock's 1800000000", ra.Created)
	}
}

// TestResponseRoundTrip: what Chat Completions can express survives
// canonical → chat.completion → canonical.
func TestResponseRoundTrip(t *testing.T) {
	for _, want := range []*llm.Response{
		{ID: "chatcmpl-1", Model: "m", Created: 9, StopReason: llm.StopEndTurn,
			Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}},
			Usage:   llm.Usage{InputTokens: 3, CacheReadInputTokens: 4, CacheCreationInputTokens: 5, OutputTokens: 6}},
		{ID: "chatcmpl-2", Model: "m", Created: 9, StopReason: llm.StopToolUse,
			Content:  []llm.Block{{Type: llm.BlockText, Text: "calling"}, {Type: llm.BlockToolUse, ID: "t", Name: "f", Input: json.RawMessage(`{"q":"x"}`)}, {Type: llm.BlockToolUse, ID: "u", Name: "f", Input: json.RawMessage(`"half"`)}},
			Logprobs: []llm.TokenLogprob{{Token: "calling", Logprob: -1.5}}},
		{ID: "chatcmpl-3", Model: "m", Created: 9, StopReason: llm.StopMaxTokens, Content: []llm.Block{{Type: llm.BlockText, Text: "trunc"}}},
		{ID: "chatcmpl-4", Model: "m", Created: 9, StopReason: llm.StopRefusal, Content: []llm.Block{{Type: llm.BlockText, Text: "no"}}},
	} {
		body, err := Codec{}.EncodeResponse(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Codec{}.DecodeResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		assertResponse(t, got, want)
	}
}
