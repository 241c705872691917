package anthropic

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// DecodeRequest parses a Messages API request body. Every problem is a 400
// *llm.Error whose Param is the dotted path of the offending field and whose
// Message starts with it; malformed JSON is reported with its line and
// column. Unknown fields are ignored, as the API ignores them.
func (Codec) DecodeRequest(body []byte) (*llm.Request, error) {
	r, err := decodeRequest(body)
	if err != nil {
		return nil, err // a typed nil *llm.Error must not become a non-nil error
	}
	return r, nil
}

func decodeRequest(body []byte) (*llm.Request, *llm.Error) {
	switch jsonenc.FirstByte(body) {
	case '{':
	case 0:
		return nil, invalid("", "request body is empty")
	default:
		if !json.Valid(body) {
			return nil, jsonProblem("", body, json.Unmarshal(body, new(any)))
		}
		return nil, invalid("", "request body must be a JSON object")
	}
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonProblem("", body, err)
	}

	r := &llm.Request{}
	if w.Model == nil {
		return nil, invalid("model", "field required")
	}
	if *w.Model == "" {
		return nil, invalid("model", "must not be empty")
	}
	r.Model = *w.Model
	if w.MaxTokens == nil {
		return nil, invalid("max_tokens", "field required")
	}
	if *w.MaxTokens < 1 {
		return nil, invalid("max_tokens", "must be at least 1, got %d", *w.MaxTokens)
	}
	r.MaxTokens = *w.MaxTokens
	if w.Messages == nil {
		return nil, invalid("messages", "field required")
	}
	if len(w.Messages) == 0 {
		return nil, invalid("messages", "at least one message is required")
	}

	if !isNull(w.System) {
		sys, err := decodeSystem(w.System, "system")
		if err != nil {
			return nil, err
		}
		r.System = sys
	}

	r.Messages = make([]llm.Message, 0, len(w.Messages))
	for i := range w.Messages {
		m := &w.Messages[i]
		path := "messages." + strconv.Itoa(i)
		switch m.Role {
		case "user", "assistant":
		case "system":
			// Claude Code sends one; the canonical model keeps system text in one place.
			sys, err := decodeSystem(m.Content, path+".content")
			if err != nil {
				return nil, err
			}
			r.System = append(r.System, sys...)
			continue
		case "":
			return nil, invalid(path+".role", "field required")
		default:
			return nil, invalid(path+".role", "must be \"user\" or \"assistant\", got %q", m.Role)
		}
		blocks, err := decodeContent(m.Content, path+".content", inMessage)
		if err != nil {
			return nil, err
		}
		r.Messages = append(r.Messages, llm.Message{Role: llm.Role(m.Role), Content: blocks})
	}

	if err := decodeTools(r, w.Tools); err != nil {
		return nil, err
	}
	if tc := w.ToolChoice; tc != nil {
		choice := &llm.ToolChoice{Type: llm.ToolChoiceType(tc.Type), Name: tc.Name}
		switch tc.Type {
		case "auto", "any", "none":
		case "tool":
			if tc.Name == "" {
				return nil, invalid("tool_choice.name", "field required when tool_choice.type is \"tool\"")
			}
		case "":
			return nil, invalid("tool_choice.type", "field required")
		default:
			return nil, invalid("tool_choice.type", "must be one of \"auto\", \"any\", \"tool\", \"none\", got %q", tc.Type)
		}
		if tc.DisableParallelToolUse != nil {
			choice.DisableParallelToolUse = *tc.DisableParallelToolUse
		}
		r.ToolChoice = choice
	}
	if th := w.Thinking; th != nil {
		t := &llm.Thinking{Type: th.Type, Display: th.Display}
		switch th.Type {
		case "enabled":
			if th.BudgetTokens == nil {
				return nil, invalid("thinking.budget_tokens", "field required when thinking.type is \"enabled\"")
			}
			t.BudgetTokens = *th.BudgetTokens
		case "adaptive", "disabled":
		case "":
			return nil, invalid("thinking.type", "field required")
		default:
			return nil, invalid("thinking.type", "must be one of \"enabled\", \"adaptive\", \"disabled\", got %q", th.Type)
		}
		r.Thinking = t
	}
	r.StopSequences = w.StopSequences
	r.Temperature, r.TopP, r.TopK = w.Temperature, w.TopP, w.TopK
	if w.Stream != nil {
		r.Stream = *w.Stream
	}
	if w.Metadata != nil && w.Metadata.UserID != nil {
		r.User = *w.Metadata.UserID
	}
	if oc := w.OutputConfig; oc != nil && oc.Format != nil && oc.Format.Type == "json_schema" {
		if !isObject(oc.Format.Schema) {
			return nil, invalid("output_config.format.schema", "expected an object")
		}
		r.Format = &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(oc.Format.Schema), Name: oc.Format.Name}
	}
	return r, nil
}

// decodeSystem reads a system prompt: a string, or an array of text blocks.
func decodeSystem(raw []byte, path string) ([]llm.Block, *llm.Error) {
	switch jsonenc.FirstByte(raw) {
	case '"':
		s, err := decodeText(raw, path)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, nil
		}
		return []llm.Block{{Type: llm.BlockText, Text: s}}, nil
	case '[':
		blocks, err := decodeContent(raw, path, inMessage)
		if err != nil {
			return nil, err
		}
		for i := range blocks {
			if blocks[i].Type != llm.BlockText {
				return nil, invalid(path+"."+strconv.Itoa(i)+".type", "only text blocks are allowed in a system prompt, got %q", blocks[i].Type)
			}
		}
		return blocks, nil
	case 0:
		return nil, invalid(path, "field required")
	default:
		return nil, invalid(path, "expected a string or an array of text blocks")
	}
}

// blockPlace says where a block sits, which decides the types it may have.
type blockPlace int

const (
	inMessage    blockPlace = iota // a request message's content
	inToolResult                   // a tool_result's content
	inResponse                     // an upstream's answer: any type is accepted
)

// decodeContent reads message content: a string (one text block) or an array
// of blocks.
func decodeContent(raw []byte, path string, place blockPlace) ([]llm.Block, *llm.Error) {
	switch jsonenc.FirstByte(raw) {
	case '"':
		s, err := decodeText(raw, path)
		if err != nil {
			return nil, err
		}
		return []llm.Block{{Type: llm.BlockText, Text: s}}, nil
	case '[':
	case 0:
		return nil, invalid(path, "field required")
	default:
		if isNull(raw) {
			return nil, invalid(path, "field required")
		}
		return nil, invalid(path, "expected a string or an array of content blocks")
	}
	var items []rawRef
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, jsonProblem(path, raw, err)
	}
	blocks := make([]llm.Block, 0, len(items))
	for i, item := range items {
		b, err := decodeBlock(item, path+"."+strconv.Itoa(i), place)
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// decodeBlock reads one content block. raw must stay unchanged while the
// block is in use: a client's body (see rawRef) or a copy the caller owns
// (json.RawMessage elements are). It becomes Block.Raw where one is kept,
// and the block's Input and CacheControl are slices of it.
func decodeBlock(raw []byte, path string, place blockPlace) (llm.Block, *llm.Error) {
	if jsonenc.FirstByte(raw) != '{' {
		return llm.Block{}, invalid(path, "expected a content block object")
	}
	var w wireBlock
	typeErr := json.Unmarshal(raw, &w)
	var syn *json.SyntaxError
	if errors.As(typeErr, &syn) {
		return llm.Block{}, jsonProblem(path, raw, typeErr)
	}
	if w.Type == "" {
		if typeErr != nil {
			return llm.Block{}, jsonProblem(path, raw, typeErr)
		}
		return llm.Block{}, invalid(path+".type", "field required")
	}
	opaque := func() llm.Block {
		return llm.Block{Type: llm.BlockType(w.Type), ID: w.ID, Name: w.Name, Raw: raw, RawDialect: llm.Anthropic}
	}
	switch w.Type {
	case "text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking":
		if typeErr != nil {
			return llm.Block{}, jsonProblem(path, raw, typeErr)
		}
	default:
		// Types without a canonical form (document, server_tool_use, mcp_*, and
		// any type Anthropic adds later) are kept verbatim: an Anthropic
		// upstream judges them, other dialects' encoders leave them out. Their
		// fields may have any shape: a type error in them is none of our business.
		return opaque(), nil
	}

	b := llm.Block{Type: llm.BlockType(w.Type)}
	if !isNull(w.CacheControl) {
		if jsonenc.FirstByte(w.CacheControl) != '{' {
			return llm.Block{}, invalid(path+".cache_control", "expected an object")
		}
		b.CacheControl = json.RawMessage(w.CacheControl)
	}
	switch w.Type {
	case "text":
		if isNull(w.Text) {
			return llm.Block{}, invalid(path+".text", "field required")
		}
		decode := jsonenc.DecodeStringShared // a client's body: see rawRef
		if place == inResponse {
			decode = jsonenc.DecodeString // a stream decoder's buffer may be reused
		}
		text, ok := decode(w.Text)
		if !ok {
			var probe struct {
				Text *string `json:"text"`
			}
			if err := json.Unmarshal(raw, &probe); err != nil {
				return llm.Block{}, jsonProblem(path, raw, err) // what a *string field reports
			}
			return llm.Block{}, invalid(path+".text", "expected a string")
		}
		b.Text = text
		if !isNull(w.Citations) {
			b.Raw, b.RawDialect = raw, llm.Anthropic // keeps the citations
		}
	case "image":
		if err := decodeImageSource(&b, w.Source, path+".source"); err != nil {
			return llm.Block{}, err
		}
		if b.Data == "" && b.URL == "" {
			b.Raw, b.RawDialect = raw, llm.Anthropic // a file_id source has no canonical form
		}
	case "tool_use":
		if place == inToolResult {
			return llm.Block{}, invalid(path+".type", "a tool_result cannot contain a tool_use block")
		}
		if w.ID == "" {
			return llm.Block{}, invalid(path+".id", "field required")
		}
		if w.Name == "" {
			return llm.Block{}, invalid(path+".name", "field required")
		}
		switch {
		case isObject(w.Input):
			b.Input = json.RawMessage(w.Input)
		case isNull(w.Input) && place == inResponse:
			b.Input = json.RawMessage("{}")
		case isNull(w.Input):
			return llm.Block{}, invalid(path+".input", "field required")
		default:
			return llm.Block{}, invalid(path+".input", "expected an object")
		}
		b.ID, b.Name = w.ID, w.Name
	case "tool_result":
		if place != inMessage {
			return llm.Block{}, invalid(path+".type", "a tool_result block is not allowed here")
		}
		if w.ToolUseID == "" {
			return llm.Block{}, invalid(path+".tool_use_id", "field required")
		}
		b.ToolUseID = w.ToolUseID
		if w.IsError != nil {
			b.IsError = *w.IsError
		}
		if !isNull(w.Content) {
			content, err := decodeContent(w.Content, path+".content", inToolResult)
			if err != nil {
				return llm.Block{}, err
			}
			b.Content = content
		}
	case "thinking":
		if place == inToolResult {
			return llm.Block{}, invalid(path+".type", "a tool_result cannot contain a thinking block")
		}
		if w.Thinking != nil {
			b.Thinking = *w.Thinking
		}
		b.Signature = w.Signature
		b.Raw, b.RawDialect = raw, llm.Anthropic
	case "redacted_thinking":
		if place == inToolResult {
			return llm.Block{}, invalid(path+".type", "a tool_result cannot contain a redacted_thinking block")
		}
		b.Data = w.Data
		b.Raw, b.RawDialect = raw, llm.Anthropic
	}
	return b, nil
}

// decodeText decodes a JSON string value of the request: without escapes it
// shares the body's bytes, with them it is copied once (see
// jsonenc.DecodeStringShared).
func decodeText(raw []byte, path string) (string, *llm.Error) {
	if s, ok := jsonenc.DecodeStringShared(raw); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", jsonProblem(path, raw, err)
	}
	return s, nil
}

func decodeImageSource(b *llm.Block, raw []byte, path string) *llm.Error {
	if isNull(raw) {
		return invalid(path, "field required")
	}
	if jsonenc.FirstByte(raw) != '{' {
		return invalid(path, "expected an object")
	}
	var s wireSource
	if err := json.Unmarshal(raw, &s); err != nil {
		return jsonProblem(path, raw, err)
	}
	switch s.Type {
	case "base64":
		if s.MediaType == "" {
			return invalid(path+".media_type", "field required")
		}
		if s.Data == "" {
			return invalid(path+".data", "field required")
		}
		b.MediaType, b.Data = s.MediaType, s.Data
	case "url":
		if s.URL == "" {
			return invalid(path+".url", "field required")
		}
		b.URL = s.URL
	case "file":
		if s.FileID == "" {
			return invalid(path+".file_id", "field required")
		}
	case "":
		return invalid(path+".type", "field required")
	default:
		return invalid(path+".type", "must be \"base64\", \"url\" or \"file\", got %q", s.Type)
	}
	return nil
}

// decodeTools keeps client tools. Server tools (a "type" other than
// "custom") have no canonical form and are left out; see the package doc.
func decodeTools(r *llm.Request, tools []wireTool) *llm.Error {
	if len(tools) == 0 {
		return nil
	}
	r.Tools = make([]llm.Tool, 0, len(tools))
	for i := range tools {
		t := &tools[i]
		path := "tools." + strconv.Itoa(i)
		if t.Type != "" && t.Type != "custom" {
			continue
		}
		if t.Name == nil || *t.Name == "" {
			return invalid(path+".name", "field required")
		}
		if isNull(t.InputSchema) {
			return invalid(path+".input_schema", "field required")
		}
		if jsonenc.FirstByte(t.InputSchema) != '{' {
			return invalid(path+".input_schema", "expected a JSON Schema object")
		}
		r.Tools = append(r.Tools, llm.Tool{Name: *t.Name, Description: t.Description, InputSchema: json.RawMessage(t.InputSchema)})
	}
	return nil
}
