package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Wire types written to an OpenAI-compatible upstream.

type outRequest struct {
	Model               string             `json:"model"`
	Messages            []outMessage       `json:"messages"`
	MaxTokens           int                `json:"max_tokens,omitempty"`
	MaxCompletionTokens int                `json:"max_completion_tokens,omitempty"`
	Temperature         *float64           `json:"temperature,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	Stop                []string           `json:"stop,omitempty"`
	Stream              bool               `json:"stream,omitempty"`
	StreamOptions       *outStreamOptions  `json:"stream_options,omitempty"`
	Tools               []outTool          `json:"tools,omitempty"`
	ToolChoice          any                `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *outResponseFormat `json:"response_format,omitempty"`
	Logprobs            bool               `json:"logprobs,omitempty"`
	TopLogprobs         int                `json:"top_logprobs,omitempty"`
	User                string             `json:"user,omitempty"`
}

type outStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type outMessage struct {
	Role string `json:"role"`
	// Content is a string, a []outPart, or nil (JSON null: an assistant turn
	// made only of tool calls).
	Content    any           `json:"content"`
	ToolCalls  []outToolCall `json:"tool_calls,omitempty"`
	ToolCallID string        `json:"tool_call_id,omitempty"`
}

type outPart struct {
	Type     string       `json:"type"`
	Text     *string      `json:"text,omitempty"`
	ImageURL *outImageURL `json:"image_url,omitempty"`
}

type outImageURL struct {
	URL string `json:"url"`
}

type outToolCall struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Function outToolFunction `json:"function"`
}

type outToolFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type outTool struct {
	Type     string     `json:"type"`
	Function outToolDef `json:"function"`
}

type outToolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type outNamedToolChoice struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

type outResponseFormat struct {
	Type       string         `json:"type"`
	JSONSchema *outJSONSchema `json:"json_schema,omitempty"`
}

type outJSONSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema,omitempty"`
}

// EncodeRequest writes a canonical request for an OpenAI-compatible
// upstream. What Chat Completions cannot express is dropped on purpose (see
// the package comment): thinking blocks and config, cache_control, top_k.
func (c Codec) EncodeRequest(r *llm.Request) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("encode openai request: nil request")
	}
	out := outRequest{
		Model:       r.Model,
		Temperature: r.Temperature,
		TopP:        r.TopP,
		Stop:        r.StopSequences,
		Stream:      r.Stream,
		Logprobs:    r.Logprobs,
		User:        r.User,
	}
	if r.Logprobs {
		out.TopLogprobs = r.TopLogprobs
	}
	if c.MaxCompletionTokens {
		out.MaxCompletionTokens = r.MaxTokens
	} else {
		out.MaxTokens = r.MaxTokens
	}
	if r.Stream {
		// Always ask for the usage chunk: the proxy accounts every stream.
		out.StreamOptions = &outStreamOptions{IncludeUsage: true}
	}

	out.Messages = make([]outMessage, 0, len(r.Messages)+1)
	if system := systemText(r.System); system != "" {
		out.Messages = append(out.Messages, outMessage{Role: "system", Content: system})
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		switch m.Role {
		case llm.RoleAssistant:
			out.Messages = append(out.Messages, encodeAssistant(m.Content))
		case llm.RoleUser:
			out.Messages = encodeUser(out.Messages, m.Content)
		default:
			return nil, fmt.Errorf("encode openai request: message %d has unknown role %q", i, m.Role)
		}
	}

	if len(r.Tools) > 0 {
		out.Tools = make([]outTool, len(r.Tools))
		for i, t := range r.Tools {
			out.Tools[i] = outTool{Type: "function", Function: outToolDef{Name: t.Name, Description: t.Description, Parameters: t.InputSchema}}
		}
		// OpenAI rejects tool_choice and parallel_tool_calls without tools.
		if tc := r.ToolChoice; tc != nil {
			switch tc.Type {
			case llm.ToolChoiceAuto:
				out.ToolChoice = "auto"
			case llm.ToolChoiceAny:
				out.ToolChoice = "required"
			case llm.ToolChoiceNone:
				out.ToolChoice = "none"
			case llm.ToolChoiceTool:
				var named outNamedToolChoice
				named.Type = "function"
				named.Function.Name = tc.Name
				out.ToolChoice = named
			}
			if tc.DisableParallelToolUse {
				f := false
				out.ParallelToolCalls = &f
			}
		}
	}

	if f := r.Format; f != nil {
		switch f.Type {
		case "json_schema":
			name := f.Name
			if name == "" {
				name = "response" // required by OpenAI
			}
			out.ResponseFormat = &outResponseFormat{Type: f.Type, JSONSchema: &outJSONSchema{Name: name, Schema: f.Schema}}
		case "json_object", "text":
			out.ResponseFormat = &outResponseFormat{Type: f.Type}
		}
	}
	return marshal(out)
}

// systemText joins the system blocks with a blank line, leaving out Claude
// Code's billing header block.
func systemText(blocks []llm.Block) string {
	var b strings.Builder
	for _, blk := range blocks {
		if blk.Type != llm.BlockText || blk.Text == "" || llm.IsBillingHeader(blk) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(blk.Text)
	}
	return b.String()
}

// encodeAssistant writes one assistant message: the text blocks joined (as a
// streaming client would have accumulated them) and the tool calls. Thinking
// blocks are dropped.
func encodeAssistant(blocks []llm.Block) outMessage {
	msg := outMessage{Role: "assistant"}
	var text strings.Builder
	for _, b := range blocks {
		switch b.Type {
		case llm.BlockText:
			text.WriteString(b.Text)
		case llm.BlockToolUse:
			msg.ToolCalls = append(msg.ToolCalls, outToolCall{
				ID:       b.ID,
				Type:     "function",
				Function: outToolFunction{Name: b.Name, Arguments: inputArguments(b.Input)},
			})
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = text.String()
	}
	return msg
}

// inputArguments is the inverse of argumentsInput: a JSON string Input (kept
// from invalid arguments) is sent back verbatim.
func inputArguments(input json.RawMessage) string {
	switch jsonenc.FirstByte(input) {
	case 0, 'n':
		return "{}"
	case '"':
		var s string
		if json.Unmarshal(input, &s) == nil {
			return s
		}
	}
	return string(input)
}

// encodeUser appends the messages for one canonical user turn: first a tool
// message per tool_result (they must follow the assistant's tool calls), then
// a user message with the remaining text and images, including images that
// tool results carried (tool messages hold text only).
func encodeUser(dst []outMessage, blocks []llm.Block) []outMessage {
	var parts []outPart
	for _, b := range blocks {
		switch b.Type {
		case llm.BlockToolResult:
			var text strings.Builder
			if b.IsError {
				text.WriteString("Error: ")
			}
			for i, c := range b.Content {
				switch c.Type {
				case llm.BlockText:
					if i > 0 && text.Len() > 0 {
						text.WriteByte('\n')
					}
					text.WriteString(c.Text)
				case llm.BlockImage:
					if hasImage(c) {
						parts = append(parts, imagePart(c))
					}
				}
			}
			dst = append(dst, outMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: text.String()})
		case llm.BlockText:
			t := b.Text
			parts = append(parts, outPart{Type: "text", Text: &t})
		case llm.BlockImage:
			if hasImage(b) {
				parts = append(parts, imagePart(b))
			}
		}
	}
	switch {
	case len(parts) == 0:
		if len(dst) == 0 || dst[len(dst)-1].Role != "tool" {
			// Keep the turn even if it held nothing expressible.
			dst = append(dst, outMessage{Role: "user", Content: ""})
		}
	case len(parts) == 1 && parts[0].Type == "text":
		// The plain string form is the one every compatible server accepts.
		dst = append(dst, outMessage{Role: "user", Content: *parts[0].Text})
	default:
		dst = append(dst, outMessage{Role: "user", Content: parts})
	}
	return dst
}

func imagePart(b llm.Block) outPart {
	url := b.URL
	if b.Data != "" {
		mediaType := b.MediaType
		if mediaType == "" {
			mediaType = "image/png"
		}
		url = "data:" + mediaType + ";base64," + b.Data
	}
	return outPart{Type: "image_url", ImageURL: &outImageURL{URL: url}}
}

// marshal encodes v without HTML escaping (prompts are full of < and &).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode openai json: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// hasImage reports whether an image block carries something OpenAI can take
// (inline data or a URL); Anthropic's file references do not.
func hasImage(b llm.Block) bool { return b.Data != "" || b.URL != "" }
