package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// DecodeRequest parses a client's Chat Completions request body. Every
// problem is an *llm.Error of kind invalid_request whose Param names the
// field (e.g. "messages[2].content[0].image_url.url"). Unknown fields are
// ignored so newer clients keep working.
func (Codec) DecodeRequest(body []byte) (*llm.Request, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("", "request body is empty")
	}
	var w chatRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, requestJSONError(body, err)
	}
	if w.Model == "" {
		return nil, invalid("model", "model is required")
	}
	if w.Messages == nil {
		return nil, invalid("messages", "messages is required")
	}
	if len(w.Messages) == 0 {
		return nil, invalid("messages", "messages must contain at least one message")
	}
	if !isNull(w.Functions) {
		return nil, invalid("functions", "functions is deprecated and not supported; use tools")
	}
	if w.N != nil && *w.N != 1 {
		return nil, invalid("n", "n must be 1: this endpoint returns a single choice")
	}

	r := &llm.Request{
		Model:    w.Model,
		Stream:   w.Stream,
		Logprobs: w.Logprobs,
		User:     w.User,
	}
	if r.User == "" {
		r.User = w.SafetyIdentifier
	}
	if w.StreamOptions != nil {
		r.IncludeUsage = w.StreamOptions.IncludeUsage
	}
	switch {
	case w.MaxCompletionTokens != nil:
		if *w.MaxCompletionTokens < 1 {
			return nil, invalid("max_completion_tokens", "max_completion_tokens must be at least 1")
		}
		r.MaxTokens = *w.MaxCompletionTokens
	case w.MaxTokens != nil:
		if *w.MaxTokens < 1 {
			return nil, invalid("max_tokens", "max_tokens must be at least 1")
		}
		r.MaxTokens = *w.MaxTokens
	}
	if w.Temperature != nil && (*w.Temperature < 0 || *w.Temperature > 2) {
		return nil, invalid("temperature", "temperature must be between 0 and 2")
	}
	r.Temperature = w.Temperature
	if w.TopP != nil && (*w.TopP < 0 || *w.TopP > 1) {
		return nil, invalid("top_p", "top_p must be between 0 and 1")
	}
	r.TopP = w.TopP
	if w.TopLogprobs != nil {
		if *w.TopLogprobs < 0 || *w.TopLogprobs > 20 {
			return nil, invalid("top_logprobs", "top_logprobs must be between 0 and 20")
		}
		r.TopLogprobs = *w.TopLogprobs
	}

	var err error
	if r.StopSequences, err = decodeStop(w.Stop); err != nil {
		return nil, err
	}
	if err = decodeMessages(r, w.Messages); err != nil {
		return nil, err
	}
	if r.Tools, err = decodeTools(w.Tools); err != nil {
		return nil, err
	}
	if r.ToolChoice, err = decodeToolChoice(w.ToolChoice); err != nil {
		return nil, err
	}
	if w.ParallelToolCalls != nil && !*w.ParallelToolCalls {
		if r.ToolChoice == nil {
			r.ToolChoice = &llm.ToolChoice{Type: llm.ToolChoiceAuto}
		}
		r.ToolChoice.DisableParallelToolUse = true
	}
	if r.Format, err = decodeResponseFormat(w.ResponseFormat); err != nil {
		return nil, err
	}
	return r, nil
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	switch jsonenc.FirstByte(raw) {
	case 0, 'n':
		return nil, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, jsonError(raw, err, "stop")
		}
		return []string{s}, nil
	case '[':
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return nil, invalid("stop", "stop must be a string or an array of strings")
		}
		return ss, nil
	default:
		return nil, invalid("stop", "stop must be a string or an array of strings")
	}
}

// decodeMessages maps the message list. System and developer messages go to
// r.System; consecutive tool messages, and a user message right after them,
// share one user message (tool results first), as Anthropic requires.
func decodeMessages(r *llm.Request, msgs []chatMessage) error {
	toolTurn := false // the last canonical message holds tool results
	for i := range msgs {
		m := &msgs[i]
		switch m.Role {
		case "system", "developer":
			blocks, err := decodeTextContent(json.RawMessage(m.Content), msgParam(i, ".content"))
			if err != nil {
				return err
			}
			r.System = append(r.System, blocks...)
			toolTurn = false
		case "user":
			blocks, err := decodeUserContent(json.RawMessage(m.Content), msgParam(i, ".content"))
			if err != nil {
				return err
			}
			if toolTurn {
				last := &r.Messages[len(r.Messages)-1]
				last.Content = append(last.Content, blocks...)
			} else {
				r.Messages = append(r.Messages, llm.Message{Role: llm.RoleUser, Content: blocks})
			}
			toolTurn = false
		case "assistant":
			blocks, err := decodeAssistant(m, i)
			if err != nil {
				return err
			}
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleAssistant, Content: blocks})
			toolTurn = false
		case "tool":
			if m.ToolCallID == "" {
				return invalid(msgParam(i, ".tool_call_id"), "%s is required for tool messages", msgParam(i, ".tool_call_id"))
			}
			content, err := decodeTextContent(json.RawMessage(m.Content), msgParam(i, ".content"))
			if err != nil {
				return err
			}
			result := llm.Block{Type: llm.BlockToolResult, ToolUseID: m.ToolCallID, Content: content}
			if toolTurn {
				last := &r.Messages[len(r.Messages)-1]
				last.Content = append(last.Content, result)
			} else {
				r.Messages = append(r.Messages, llm.Message{Role: llm.RoleUser, Content: []llm.Block{result}})
			}
			toolTurn = true
		case "function":
			return invalid(msgParam(i, ".role"), "%s: the deprecated function role is not supported; use tool messages", msgParam(i, ".role"))
		case "":
			return invalid(msgParam(i, ".role"), "%s is required", msgParam(i, ".role"))
		default:
			return invalid(msgParam(i, ".role"), "%s: unknown role %q", msgParam(i, ".role"), m.Role)
		}
	}
	return nil
}

// decodeTextContent reads a string or an array of text parts (system,
// developer and tool messages). Null is empty.
func decodeTextContent(raw json.RawMessage, param string) ([]llm.Block, error) {
	switch jsonenc.FirstByte(raw) {
	case 0, 'n':
		return nil, nil
	case '"':
		s, err := unmarshalString(raw, param)
		if err != nil || s == "" {
			return nil, err
		}
		return []llm.Block{{Type: llm.BlockText, Text: s}}, nil
	case '[':
		return decodeParts(raw, param, false)
	default:
		return nil, invalid(param, "%s must be a string or an array of content parts", param)
	}
}

// decodeUserContent reads a string or an array of text and image parts.
func decodeUserContent(raw json.RawMessage, param string) ([]llm.Block, error) {
	switch jsonenc.FirstByte(raw) {
	case 0, 'n':
		return nil, invalid(param, "%s is required for user messages", param)
	case '"':
		s, err := unmarshalString(raw, param)
		if err != nil {
			return nil, err
		}
		return []llm.Block{{Type: llm.BlockText, Text: s}}, nil
	case '[':
		return decodeParts(raw, param, true)
	default:
		return nil, invalid(param, "%s must be a string or an array of content parts", param)
	}
}

func decodeParts(raw json.RawMessage, param string, images bool) ([]llm.Block, error) {
	var parts []jsonenc.RawRef
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, jsonError(raw, err, param)
	}
	blocks := make([]llm.Block, 0, len(parts))
	for j, praw := range parts {
		pp := param + "[" + strconv.Itoa(j) + "]"
		if jsonenc.FirstByte(praw) != '{' {
			return nil, invalid(pp, "%s must be an object", pp)
		}
		var p requestPart
		if err := json.Unmarshal(praw, &p); err != nil {
			return nil, jsonError(json.RawMessage(praw), err, pp)
		}
		switch p.Type {
		case "text":
			text := ""
			if !isNull(json.RawMessage(p.Text)) {
				var err error
				if text, err = partText(praw, p.Text, pp); err != nil {
					return nil, err
				}
			}
			blocks = append(blocks, llm.Block{Type: llm.BlockText, Text: text})
		case "refusal":
			// An assistant's earlier refusal is part of the history as text.
			blocks = append(blocks, llm.Block{Type: llm.BlockText, Text: p.Refusal})
		case "image_url":
			if !images {
				return nil, invalid(pp+".type", "%s.type: image_url parts are only allowed in user messages", pp)
			}
			b, err := decodeImageURL(json.RawMessage(p.ImageURL), pp+".image_url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case "":
			return nil, invalid(pp+".type", "%s.type is required", pp)
		default:
			return nil, invalid(pp+".type", "%s.type: content part type %q is not supported", pp, p.Type)
		}
	}
	return blocks, nil
}

// decodeImageURL accepts {"url": ...} (and the bare string some clients
// send). data: URLs must be base64; http(s) URLs are passed by reference.
func decodeImageURL(raw json.RawMessage, param string) (llm.Block, error) {
	var u imageURL
	switch jsonenc.FirstByte(raw) {
	case '{':
		if err := json.Unmarshal(raw, &u); err != nil {
			return llm.Block{}, jsonError(raw, err, param)
		}
	case '"':
		s, err := unmarshalString(raw, param)
		if err != nil {
			return llm.Block{}, err
		}
		u.URL = s
	default:
		return llm.Block{}, invalid(param, "%s must be an object with a url", param)
	}
	param += ".url"
	switch {
	case strings.HasPrefix(u.URL, "data:"):
		meta, data, ok := strings.Cut(u.URL[len("data:"):], ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return llm.Block{}, invalid(param, "%s: data URLs must be base64-encoded (data:<media type>;base64,<data>)", param)
		}
		mediaType, _, _ := strings.Cut(meta, ";")
		if mediaType == "" {
			return llm.Block{}, invalid(param, "%s: the data URL has no media type", param)
		}
		if data == "" {
			return llm.Block{}, invalid(param, "%s: the data URL has no data", param)
		}
		return llm.Block{Type: llm.BlockImage, MediaType: mediaType, Data: data}, nil
	case strings.HasPrefix(u.URL, "https://"), strings.HasPrefix(u.URL, "http://"):
		return llm.Block{Type: llm.BlockImage, URL: u.URL}, nil
	case u.URL == "":
		return llm.Block{}, invalid(param, "%s is required", param)
	default:
		return llm.Block{}, invalid(param, "%s must be an http(s) URL or a base64 data: URL", param)
	}
}

// decodeAssistant maps an assistant turn: its text (or refusal) then its
// tool calls as tool_use blocks. Empty text is dropped; Anthropic rejects
// empty text blocks and "" is the usual content beside tool calls.
func decodeAssistant(m *chatMessage, i int) ([]llm.Block, error) {
	blocks, err := decodeTextContent(json.RawMessage(m.Content), msgParam(i, ".content"))
	if err != nil {
		return nil, err
	}
	if m.Refusal != nil && *m.Refusal != "" {
		blocks = append(blocks, llm.Block{Type: llm.BlockText, Text: *m.Refusal})
	}
	out := blocks[:0]
	for _, b := range blocks {
		if b.Text != "" {
			out = append(out, b)
		}
	}
	blocks = out
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		p := msgParam(i, ".tool_calls["+strconv.Itoa(j)+"]")
		if tc.Type != "" && tc.Type != "function" {
			return nil, invalid(p+".type", "%s.type: tool call type %q is not supported", p, tc.Type)
		}
		if tc.ID == "" {
			return nil, invalid(p+".id", "%s.id is required", p)
		}
		if tc.Function.Name == "" {
			return nil, invalid(p+".function.name", "%s.function.name is required", p)
		}
		input, err := toolInput(tc.Function.Arguments, p+".function.arguments")
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, llm.Block{Type: llm.BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

var emptyObject = json.RawMessage(`{}`)

// toolInput turns a tool call's arguments into a tool_use Input. The wire
// value is a string holding JSON; a JSON object is used as is, an empty
// string means {}, and anything else (truncated or invalid JSON) is kept as a
// JSON string so nothing the model produced is lost. Some servers send the
// arguments as an object instead of a string; that is accepted too.
func toolInput(raw json.RawMessage, param string) (json.RawMessage, error) {
	switch jsonenc.FirstByte(raw) {
	case 0, 'n':
		return emptyObject, nil
	case '{':
		return raw, nil
	case '"':
		s, err := unmarshalString(raw, param)
		if err != nil {
			return nil, err
		}
		return argumentsInput(s), nil
	default:
		return nil, invalid(param, "%s must be a string", param)
	}
}

// argumentsInput converts an arguments string (see toolInput).
func argumentsInput(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if t == "" {
		return emptyObject
	}
	if t[0] == '{' && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	q, _ := json.Marshal(s) // a string always marshals
	return q
}

func decodeTools(defs []toolDefinition) ([]llm.Tool, error) {
	if len(defs) == 0 {
		return nil, nil
	}
	tools := make([]llm.Tool, 0, len(defs))
	for j := range defs {
		t := &defs[j]
		p := "tools[" + strconv.Itoa(j) + "]"
		if t.Type != "function" {
			if t.Type == "" {
				return nil, invalid(p+".type", "%s.type is required", p)
			}
			return nil, invalid(p+".type", "%s.type: tool type %q is not supported; only function tools are", p, t.Type)
		}
		if t.Function == nil || t.Function.Name == "" {
			return nil, invalid(p+".function.name", "%s.function.name is required", p)
		}
		var schema json.RawMessage
		switch jsonenc.FirstByte(t.Function.Parameters) {
		case 0, 'n':
		case '{':
			schema = t.Function.Parameters
		default:
			return nil, invalid(p+".function.parameters", "%s.function.parameters must be a JSON Schema object", p)
		}
		tools = append(tools, llm.Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	return tools, nil
}

func decodeToolChoice(raw json.RawMessage) (*llm.ToolChoice, error) {
	switch jsonenc.FirstByte(raw) {
	case 0, 'n':
		return nil, nil
	case '"':
		s, err := unmarshalString(raw, "tool_choice")
		if err != nil {
			return nil, err
		}
		switch s {
		case "auto":
			return &llm.ToolChoice{Type: llm.ToolChoiceAuto}, nil
		case "none":
			return &llm.ToolChoice{Type: llm.ToolChoiceNone}, nil
		case "required":
			return &llm.ToolChoice{Type: llm.ToolChoiceAny}, nil
		}
		return nil, invalid("tool_choice", "tool_choice must be \"auto\", \"none\", \"required\" or a named function, not %q", s)
	case '{':
		var c namedToolChoice
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, jsonError(raw, err, "tool_choice")
		}
		if c.Type != "function" {
			return nil, invalid("tool_choice.type", "tool_choice.type %q is not supported; use \"function\"", c.Type)
		}
		if c.Function.Name == "" {
			return nil, invalid("tool_choice.function.name", "tool_choice.function.name is required")
		}
		return &llm.ToolChoice{Type: llm.ToolChoiceTool, Name: c.Function.Name}, nil
	default:
		return nil, invalid("tool_choice", "tool_choice must be a string or an object")
	}
}

func decodeResponseFormat(raw json.RawMessage) (*llm.ResponseFormat, error) {
	switch jsonenc.FirstByte(raw) {
	case 0, 'n':
		return nil, nil
	case '{':
	default:
		return nil, invalid("response_format", "response_format must be an object")
	}
	var f responseFormat
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, jsonError(raw, err, "response_format")
	}
	switch f.Type {
	case "text", "json_object":
		return &llm.ResponseFormat{Type: f.Type}, nil
	case "json_schema":
		if f.JSONSchema == nil {
			return nil, invalid("response_format.json_schema", "response_format.json_schema is required when type is json_schema")
		}
		if jsonenc.FirstByte(f.JSONSchema.Schema) != '{' {
			return nil, invalid("response_format.json_schema.schema", "response_format.json_schema.schema must be a JSON Schema object")
		}
		return &llm.ResponseFormat{Type: f.Type, Name: f.JSONSchema.Name, Schema: f.JSONSchema.Schema}, nil
	case "":
		return nil, invalid("response_format.type", "response_format.type is required")
	default:
		return nil, invalid("response_format.type", "response_format.type %q is not supported", f.Type)
	}
}

// requestJSONError explains a failed decode of the whole body. A type error
// inside messages or tools is located by decoding those arrays element by
// element (slow, but only on this error path) so the param has indexes.
func requestJSONError(body []byte, err error) *llm.Error {
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) || !(strings.HasPrefix(typ.Field, "messages") || strings.HasPrefix(typ.Field, "tools")) {
		return jsonError(body, err, "")
	}
	var shape requestShape
	if err := json.Unmarshal(body, &shape); err != nil {
		return jsonError(body, err, "")
	}
	for i, raw := range shape.Messages {
		p := msgParam(i, "")
		e := elementError(raw, p, &chatMessage{})
		if e == nil {
			continue
		}
		if strings.HasPrefix(e.Param, p+".tool_calls") {
			// Which tool call? (An error about tool_calls itself stays.)
			var ms messageShape
			if json.Unmarshal(raw, &ms) == nil {
				for j, tc := range ms.ToolCalls {
					if te := elementError(tc, p+".tool_calls["+strconv.Itoa(j)+"]", &toolCall{}); te != nil {
						return te
					}
				}
			}
		}
		return e
	}
	for j, raw := range shape.Tools {
		if e := elementError(raw, "tools["+strconv.Itoa(j)+"]", &toolDefinition{}); e != nil {
			return e
		}
	}
	return jsonError(body, err, "")
}

// elementError decodes one array element into v and describes the first
// problem, naming param.
func elementError(raw json.RawMessage, param string, v any) *llm.Error {
	if k := jsonenc.FirstByte(raw); k != '{' && k != 'n' {
		return invalid(param, "%s must be an object", param)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return jsonError(raw, err, param)
	}
	return nil
}

// invalid builds the invalid_request error naming param.
func invalid(param, format string, args ...any) *llm.Error {
	e := llm.Errorf(llm.ErrInvalidRequest, format, args...)
	e.Param = param
	return e
}

// jsonError turns an encoding/json error into an invalid_request error that
// says where: the line and column of a syntax error, or the field whose type
// is wrong (prefixed with the path of the value being decoded).
func jsonError(data []byte, err error, prefix string) *llm.Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		where := "request body"
		if prefix != "" {
			where = prefix
		}
		e := invalid(prefix, "%s is not valid JSON: %s at line %d, column %d (byte %d)", where, syn.Error(), line, col, syn.Offset)
		e.Err = err
		return e
	case errors.As(err, &typ):
		param := prefix
		if typ.Field != "" {
			if param != "" {
				param += "."
			}
			param += typ.Field
		}
		if param == "" {
			return invalid("", "request body must be a JSON object, not %s", typ.Value)
		}
		return invalid(param, "%s must be %s, not %s", param, jsonenc.TypeName(typ.Type), typ.Value)
	default:
		e := invalid(prefix, "invalid JSON: %v", err)
		e.Err = err
		return e
	}
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset < 0 {
		offset = 0
	}
	before := data[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}

func isNull(raw json.RawMessage) bool {
	k := jsonenc.FirstByte(raw)
	return k == 0 || k == 'n'
}

// unmarshalString decodes a JSON string of the client's body: without
// escapes it shares the body's bytes, with them it is copied once (see
// jsonenc.DecodeStringShared); anything else gets encoding/json's error.
func unmarshalString(raw json.RawMessage, param string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if s, ok := jsonenc.DecodeStringShared(raw); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", jsonError(raw, err, param)
	}
	return s, nil
}

// partText decodes a text part's text; one that is not a string gets the
// error a string field of the part reports.
func partText(part, text []byte, param string) (string, error) {
	if s, ok := jsonenc.DecodeStringShared(bytes.TrimSpace(text)); ok {
		return s, nil
	}
	var p contentPart
	if err := json.Unmarshal(part, &p); err != nil {
		return "", jsonError(json.RawMessage(part), err, param)
	}
	return p.Text, nil
}

func msgParam(i int, rest string) string {
	return "messages[" + strconv.Itoa(i) + "]" + rest
}
