package anthropic

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, name := range []string{"testdata/claude_code_request.json"} {
		body := readFile(t, name)
		first, err := Codec{}.DecodeRequest(body)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := Codec{}.EncodeRequest(first)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(enc) {
			t.Fatalf("invalid JSON: %s", enc)
		}
		second, err := Codec{}.DecodeRequest(enc)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(first, second) {
			t.Errorf("round trip changed the request\nfirst:  %+v\nsecond: %+v", first, second)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A request as an OpenAI client would produce it, translated for Anthropic.
func TestEncodeRequestFromOtherDialect(t *testing.T) {
	r := &llm.Request{
		Model:  "claude-sonnet-5-5",
		System: []llm.Block{{Type: llm.BlockText, Text: "Be terse."}, {Type: llm.BlockText, Text: ""}},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "Weather in Paris and Rome?"},
				{Type: llm.BlockImage, URL: "data:image/png;base64,iVBORw0KGgo="}}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockThinking, Thinking: "unsigned reasoning from another vendor"},
				{Type: llm.BlockText, Text: ""},
				{Type: llm.BlockToolUse, ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Paris"}`)},
				{Type: llm.BlockToolUse, ID: "call_2", Name: "weather"}}},
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "call_1",
				Content: []llm.Block{{Type: llm.BlockText, Text: "18C"}}}}},
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "also, hurry"}}},
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "call_2", IsError: true,
				Content: []llm.Block{{Type: llm.BlockText, Text: "timeout"}}}}},
			{Role: llm.RoleAssistant, Content: []llm.Block{{Type: "document"}}}, // nothing sendable: dropped
		},
		Tools:         []llm.Tool{{Name: "weather", Description: "Get weather", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}, {Name: "now"}},
		ToolChoice:    &llm.ToolChoice{Type: llm.ToolChoiceAny, DisableParallelToolUse: true},
		Thinking:      &llm.Thinking{Type: "enabled", BudgetTokens: 8000},
		StopSequences: []string{"###"},
		Temperature:   ptr(0.2),
		TopP:          ptr(0.5),
		Stream:        true,
		User:          "u-1",
		Logprobs:      true,
		Format:        &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object"}`)},
	}
	got, err := Codec{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
	  "model": "claude-sonnet-5-5",
	  "max_tokens": 12096,
	  "system": [{"type": "text", "text": "Be terse."}],
	  "messages": [
	    {"role": "user", "content": [
	      {"type": "text", "text": "Weather in Paris and Rome?"},
	      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
	    {"role": "assistant", "content": [
	      {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
	      {"type": "tool_use", "id": "call_2", "name": "weather", "input": {}}]},
	    {"role": "user", "content": [
	      {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "18C"}]},
	      {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "timeout"}], "is_error": true},
	      {"type": "text", "text": "also, hurry"}]}
	  ],
	  "tools": [
	    {"name": "weather", "description": "Get weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
	    {"name": "now", "input_schema": {"type": "object", "properties": {}}}],
	  "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
	  "thinking": {"type": "enabled", "budget_tokens": 8000},
	  "stop_sequences": ["###"],
	  "temperature": 0.2,
	  "top_p": 0.5,
	  "stream": true,
	  "metadata": {"user_id": "u-1"},
	  "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}
	}`
	if !jsonEqual(string(got), want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestEncodeRequestDefaults(t *testing.T) {
	r := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}},
		ToolChoice: &llm.ToolChoice{Type: llm.ToolChoiceNone}}
	got, err := Codec{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`
	if !jsonEqual(string(got), want) {
		t.Errorf("got %s\nwant %s (tool_choice without tools is left out)", got, want)
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	assistant := func(b llm.Block) []llm.Message {
		return []llm.Message{{Role: llm.RoleAssistant, Content: []llm.Block{b}}}
	}
	cases := []struct {
		name  string
		req   *llm.Request
		param string
	}{
		{"nil request", nil, ""},
		{"no model", &llm.Request{}, "model"},
		{"bad role", &llm.Request{Model: "m", Messages: []llm.Message{{Role: "tool", Content: []llm.Block{{Type: llm.BlockText, Text: "x"}}}}}, "messages.0.role"},
		{"tool_use without id", &llm.Request{Model: "m", Messages: assistant(llm.Block{Type: llm.BlockToolUse, Name: "f"})}, "messages.0.content.0.id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Codec{}.EncodeRequest(tc.req)
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.ErrInvalidRequest || e.Param != tc.param {
				t.Fatalf("error %v (%+v), want invalid_request on %q", err, e, tc.param)
			}
		})
	}
}

func TestEncodeRequestKeepsRawBlocks(t *testing.T) {
	doc := `{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}`
	think := "{\"type\":\"thinking\",  \"thinking\":\"<&>\",\"signature\":\"s\"}"
	r := &llm.Request{Model: "m", Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: "document", Raw: json.RawMessage(doc), RawDialect: llm.Anthropic}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockThinking, Thinking: "changed", Signature: "s", Raw: json.RawMessage(think), RawDialect: llm.Anthropic},
			{Type: llm.BlockText, Text: "x", Raw: json.RawMessage(`{"type":"text","text":"x"}`), RawDialect: llm.OpenAI}}},
	}}
	got, err := Codec{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), doc) || !strings.Contains(string(got), think) {
		t.Errorf("raw blocks not verbatim: %s", got)
	}
}

// Tool arguments an OpenAI client sent as a string that is not a JSON object
// (cut off at max_tokens) still make a sendable Anthropic request.
func TestEncodeRequestRepairsToolInput(t *testing.T) {
	for in, want := range map[string]string{
		`"{\"city\": \"Paris\"}"`: `"input":{"city": "Paris"}`,
		`"{\"city\": \"Pa"`:       `"input":{}`,
		`{"a":`:                   `"input":{}`,
	} {
		req := &llm.Request{Model: "m", MaxTokens: 5, Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}},
			{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockToolUse, ID: "toolu_1", Name: "f", Input: json.RawMessage(in)}}},
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "toolu_1", Content: []llm.Block{{Type: llm.BlockText, Text: "ok"}}}}},
		}}
		out, err := Codec{}.EncodeRequest(req)
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("input %s: %v\n%s", in, err, out)
		}
	}
}

func TestEncodeRequestClampsTemperature(t *testing.T) {
	temp := 1.7 // an OpenAI client may send up to 2
	out, err := Codec{}.EncodeRequest(&llm.Request{Model: "m", MaxTokens: 5, Temperature: &temp,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}})
	if err != nil || !strings.Contains(string(out), `"temperature":1,`) && !strings.Contains(string(out), `"temperature":1}`) {
		t.Fatalf("%v %s", err, out)
	}
}

func TestHTML413KeepsItsMeaning(t *testing.T) {
	e := Codec{}.DecodeError(413, nil, []byte("<html><h1>413 Request Entity Too Large</h1></html>"))
	if e.Kind != llm.ErrRequestTooLarge || e.HTTPStatus() != 413 {
		t.Fatalf("%+v", e)
	}
}
