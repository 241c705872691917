package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

const docThinkingBlock = `{
      "type": "thinking",
      "thinking": "Let me analyze this step by step...",
      "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk..."
    }`

func TestDecodeResponse(t *testing.T) {
	r, err := Codec{}.DecodeResponse(readFile(t, "testdata/docs_response.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Response{
		ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: "claude-sonnet-4-20250514", StopReason: llm.StopToolUse,
		Usage: llm.Usage{InputTokens: 270, OutputTokens: 156, CacheReadInputTokens: 100},
		Content: []llm.Block{
			{Type: llm.BlockThinking, Thinking: "Let me analyze this step by step...", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk...",
				Raw: json.RawMessage(docThinkingBlock), RawDialect: llm.Anthropic},
			{Type: llm.BlockText, Text: "Based on my analysis, here's the solution..."},
			{Type: llm.BlockToolUse, ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Name: "get_weather", Input: json.RawMessage(`{ "location": "San Francisco" }`)},
		},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
}

func TestResponseRoundTripKeepsThinkingBytes(t *testing.T) {
	first, err := Codec{}.DecodeResponse(readFile(t, "testdata/docs_response.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Codec{}.EncodeResponse(first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(docThinkingBlock)) {
		t.Errorf("thinking block not written verbatim:\n%s", out)
	}
	second, err := Codec{}.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("round trip changed the response\n%+v\n%+v", first, second)
	}
	// And the official SDK reads it as the same message.
	c := sdkServer(t, http.StatusOK, "application/json", out)
	msg, err := c.Messages.New(context.Background(), sdkParams)
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != first.ID || msg.StopReason != "tool_use" || msg.Usage.CacheReadInputTokens != 100 ||
		msg.Content[0].Signature != first.Content[0].Signature || msg.Content[2].Name != "get_weather" {
		t.Errorf("SDK message %+v", msg)
	}
}

func TestEncodeResponseFromOtherDialect(t *testing.T) {
	r := &llm.Response{Model: "gpt-x", Content: []llm.Block{
		{Type: llm.BlockThinking, Thinking: "unsigned"}, // cannot be sent to an Anthropic client as valid thinking
		{Type: llm.BlockText, Text: "Checking."},
		{Type: llm.BlockToolUse, Name: "f", Input: json.RawMessage(`{"a":1}`)},
	}, Usage: llm.Usage{InputTokens: 5, OutputTokens: 6}}
	out, err := Codec{}.EncodeResponse(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Role    string `json:"role"`
		Content []struct {
			Type, Text, ID, Name string
		} `json:"content"`
		StopReason   string         `json:"stop_reason"`
		StopSequence *string        `json:"stop_sequence"`
		Usage        map[string]int `json:"usage"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ID, "msg_") || len(got.ID) != 28 || got.Type != "message" || got.Role != "assistant" {
		t.Errorf("envelope %s", out)
	}
	if len(got.Content) != 2 || got.Content[0].Text != "Checking." || !strings.HasPrefix(got.Content[1].ID, "toolu_") {
		t.Errorf("content %s", out)
	}
	if got.StopReason != "tool_use" || got.StopSequence != nil {
		t.Errorf("stop_reason %q stop_sequence %v (a tool call without a stop reason is tool_use)", got.StopReason, got.StopSequence)
	}
	want := map[string]int{"input_tokens": 5, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
	if !reflect.DeepEqual(got.Usage, want) {
		t.Errorf("usage %v", got.Usage)
	}
}

func TestDecodeResponseProblems(t *testing.T) {
	cases := []struct {
		name string
		body string
		kind llm.ErrorKind
		msg  string
	}{
		{"an error envelope is the error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.ErrOverloaded, "Overloaded"},
		{"html", `<html>502</html>`, llm.ErrBadGateway, "not a JSON object"},
		{"wrong type", `{"type":"completion","completion":"hi"}`, llm.ErrBadGateway, `type "completion"`},
		{"content not an array", `{"type":"message","content":"hi"}`, llm.ErrBadGateway, "not a valid message"},
		{"bad block", `{"type":"message","content":[{"type":"text"}]}`, llm.ErrBadGateway, "content.0.text: field required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Codec{}.DecodeResponse([]byte(tc.body))
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != tc.kind || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("error %v, want %s containing %q", err, tc.kind, tc.msg)
			}
		})
	}
	// Unknown block types from an upstream are kept, not refused.
	r, err := Codec{}.DecodeResponse([]byte(`{"type":"message","content":[{"type":"future_block","x":{"y":1}}]}`))
	if err != nil || r.Content[0].Type != "future_block" || string(r.Content[0].Raw) != `{"type":"future_block","x":{"y":1}}` {
		t.Errorf("future block: %v %+v", err, r)
	}
}
