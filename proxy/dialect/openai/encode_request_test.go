package openai

import (
	"encoding/json"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// anthropicShaped is what a Claude Code request looks like once decoded:
// billing header and cached system blocks, thinking in history, tool results
// (one failed, one with an image) followed by text, top_k and thinking config.
func anthropicShaped() *llm.Request {
	text := func(s string) llm.Block { return llm.Block{Type: llm.BlockText, Text: s} }
	return &llm.Request{
		Model: "claude-haiku-5-5",
		System: []llm.Block{
			text("x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=cli"),
			{Type: llm.BlockText, Text: "You are Claude Code.", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)},
			{Type: llm.BlockText, Text: "Be brief.", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)},
		},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{text("List files & show <README>")}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockThinking, Thinking: "I should run ls.", Signature: "EqQBCgIYAhIM"},
				text("I'll look."),
				{Type: llm.BlockToolUse, ID: "toolu_01", Name: "Bash", Input: json.RawMessage(`{"command":"ls"}`)},
				{Type: llm.BlockToolUse, ID: "toolu_02", Name: "Screenshot", Input: json.RawMessage(`{}`)},
				{Type: llm.BlockToolUse, ID: "toolu_03", Name: "Read", Input: json.RawMessage(`"{\"path\":"`)},
			}},
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolUseID: "toolu_01", Content: []llm.Block{text("a.go"), text("b.go")}},
				{Type: llm.BlockToolResult, ToolUseID: "toolu_02", Content: []llm.Block{{Type: llm.BlockImage, MediaType: "image/png", Data: "iVBORw0KGgo="}}},
				{Type: llm.BlockToolResult, ToolUseID: "toolu_03", IsError: true, Content: []llm.Block{text("no such file")}},
				text("Now summarise."),
			}},
			{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockRedactedThinking, Data: "opaque"}}},
			{Role: llm.RoleUser, Content: []llm.Block{text("And this?"), {Type: llm.BlockImage, URL: "https://example.com/x.jpg"}}},
		},
		MaxTokens:     128000,
		Temperature:   ptr(1.0),
		TopK:          ptr(40),
		StopSequences: []string{"\n\nHuman:"},
		Stream:        true,
		Tools: []llm.Tool{
			{Name: "Bash", Description: "Run a command", InputSchema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}`)},
			{Name: "Screenshot"},
		},
		ToolChoice: &llm.ToolChoice{Type: llm.ToolChoiceAny, DisableParallelToolUse: true},
		Thinking:   &llm.Thinking{Type: "adaptive", Display: "omitted"},
		User:       "user_abc",
	}
}

func TestEncodeRequestFromAnthropicShape(t *testing.T) {
	got, err := Codec{}.EncodeRequest(anthropicShaped())
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, got, []byte(`{
	  "model": "claude-haiku-5-5",
	  "messages": [
	    {"role": "system", "content": "You are Claude Code.\n\nBe brief."},
	    {"role": "user", "content": "List files & show <README>"},
	    {"role": "assistant", "content": "I'll look.", "tool_calls": [
	      {"id": "toolu_01", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
	      {"id": "toolu_02", "type": "function", "function": {"name": "Screenshot", "arguments": "{}"}},
	      {"id": "toolu_03", "type": "function", "function": {"name": "Read", "arguments": "{\"path\":"}}
	    ]},
	    {"role": "tool", "tool_call_id": "toolu_01", "content": "a.go\nb.go"},
	    {"role": "tool", "tool_call_id": "toolu_02", "content": ""},
	    {"role": "tool", "tool_call_id": "toolu_03", "content": "Error: no such file"},
	    {"role": "user", "content": [
	      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
	      {"type": "text", "text": "Now summarise."}
	    ]},
	    {"role": "assistant", "content": ""},
	    {"role": "user", "content": [
	      {"type": "text", "text": "And this?"},
	      {"type": "image_url", "image_url": {"url": "https://example.com/x.jpg"}}
	    ]}
	  ],
	  "max_tokens": 128000,
	  "temperature": 1,
	  "stop": ["\n\nHuman:"],
	  "stream": true,
	  "stream_options": {"include_usage": true},
	  "tools": [
	    {"type": "function", "function": {"name": "Bash", "description": "Run a command", "parameters": {"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}},
	    {"type": "function", "function": {"name": "Screenshot"}}
	  ],
	  "tool_choice": "required",
	  "parallel_tool_calls": false,
	  "user": "user_abc"
	}`))
}

func TestEncodeRequestOptions(t *testing.T) {
	base := func() *llm.Request {
		return &llm.Request{Model: "o4", MaxTokens: 500, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}}
	}
	tests := []struct {
		name  string
		codec Codec
		edit  func(r *llm.Request)
		want  string
	}{
		{"max_completion_tokens when asked", Codec{MaxCompletionTokens: true}, func(r *llm.Request) {},
			`{"model":"o4","max_completion_tokens":500,"messages":[{"role":"user","content":"hi"}]}`},
		{"tool_choice without tools is dropped", Codec{}, func(r *llm.Request) {
			r.ToolChoice = &llm.ToolChoice{Type: llm.ToolChoiceNone, DisableParallelToolUse: true}
		}, `{"model":"o4","max_tokens":500,"messages":[{"role":"user","content":"hi"}]}`},
		{"named tool choice, json_schema without name, logprobs", Codec{}, func(r *llm.Request) {
			r.Tools = []llm.Tool{{Name: "f"}}
			r.ToolChoice = &llm.ToolChoice{Type: llm.ToolChoiceTool, Name: "f"}
			r.Format = &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object"}`)}
			r.Logprobs, r.TopLogprobs = true, 2
			r.TopP = ptr(0.5)
		}, `{"model":"o4","max_tokens":500,"messages":[{"role":"user","content":"hi"}],
			"tools":[{"type":"function","function":{"name":"f"}}],
			"tool_choice":{"type":"function","function":{"name":"f"}},
			"response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object"}}},
			"logprobs":true,"top_logprobs":2,"top_p":0.5}`},
		{"auto and none", Codec{}, func(r *llm.Request) {
			r.Tools = []llm.Tool{{Name: "f"}}
			r.ToolChoice = &llm.ToolChoice{Type: llm.ToolChoiceAuto}
			r.Format = &llm.ResponseFormat{Type: "json_object"}
		}, `{"model":"o4","max_tokens":500,"messages":[{"role":"user","content":"hi"}],
			"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto","response_format":{"type":"json_object"}}`},
		{"no max tokens, empty user turn kept", Codec{}, func(r *llm.Request) {
			r.MaxTokens = 0
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "yes"}}}, llm.Message{Role: llm.RoleUser})
		}, `{"model":"o4","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yes"},{"role":"user","content":""}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(r)
			got, err := tt.codec.EncodeRequest(r)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, got, []byte(tt.want))
		})
	}
	if _, err := (Codec{}).EncodeRequest(&llm.Request{Model: "m", Messages: []llm.Message{{Role: "system"}}}); err == nil {
		t.Error("unknown role encoded without error")
	}
	if _, err := (Codec{}).EncodeRequest(nil); err == nil {
		t.Error("nil request encoded without error")
	}
}

// TestRequestRoundTripOpenAI: a request in normal form survives
// OpenAI → canonical → OpenAI unchanged.
func TestRequestRoundTripOpenAI(t *testing.T) {
	in := `{
	  "model": "gpt-4o",
	  "messages": [
	    {"role": "system", "content": "Be brief."},
	    {"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]},
	    {"role": "assistant", "content": null, "tool_calls": [
	      {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
	      {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{\"broken\":"}}]},
	    {"role": "tool", "tool_call_id": "call_1", "content": "one"},
	    {"role": "tool", "tool_call_id": "call_2", "content": "two"},
	    {"role": "user", "content": "and?"},
	    {"role": "assistant", "content": "done"},
	    {"role": "user", "content": "thanks"}
	  ],
	  "max_tokens": 300,
	  "temperature": 0.5,
	  "top_p": 1,
	  "stop": ["x", "y"],
	  "stream": true,
	  "stream_options": {"include_usage": true},
	  "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}, {"type": "function", "function": {"name": "g"}}],
	  "tool_choice": {"type": "function", "function": {"name": "f"}},
	  "parallel_tool_calls": false,
	  "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
	  "logprobs": true,
	  "top_logprobs": 4,
	  "user": "u"
	}`
	r, err := Codec{}.DecodeRequest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Codec{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, out, []byte(in))
}

// TestRequestRoundTripCanonical: a canonical request whose content Chat
// Completions can express survives canonical → OpenAI → canonical.
func TestRequestRoundTripCanonical(t *testing.T) {
	text := func(s string) llm.Block { return llm.Block{Type: llm.BlockText, Text: s} }
	want := &llm.Request{
		Model:  "m",
		System: []llm.Block{text("sys")},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{text("q"), {Type: llm.BlockImage, URL: "https://e.com/i.png"}}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				text("calling"),
				{Type: llm.BlockToolUse, ID: "t1", Name: "f", Input: json.RawMessage(`{"x":[1,2]}`)},
				{Type: llm.BlockToolUse, ID: "t2", Name: "f", Input: json.RawMessage(`"not json"`)},
			}},
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolUseID: "t1", Content: []llm.Block{text("r1")}},
				{Type: llm.BlockToolResult, ToolUseID: "t2", Content: []llm.Block{text("r2")}},
				text("go on"),
			}},
		},
		MaxTokens:     10,
		StopSequences: []string{"s"},
		Stream:        true,
		IncludeUsage:  true, // EncodeRequest always asks for usage when streaming
		Tools:         []llm.Tool{{Name: "f", InputSchema: json.RawMessage(`{"type":"object"}`)}},
		ToolChoice:    &llm.ToolChoice{Type: llm.ToolChoiceAny},
		Format:        &llm.ResponseFormat{Type: "json_object"},
		User:          "u",
	}
	body, err := Codec{}.EncodeRequest(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Codec{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	assertRequest(t, got, want)
}
