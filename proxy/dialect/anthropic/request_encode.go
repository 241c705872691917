package anthropic

import (
	"math"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// EncodeRequest writes a Messages API request for an Anthropic upstream. It
// makes a canonical request (typically from an OpenAI client) valid for the
// API: consecutive messages of one role are merged, tool_result blocks are
// moved to the front of their user message, empty messages and blocks the
// API would reject are dropped (see encodable), max_tokens defaults to
// DefaultMaxTokens, and tool_choice is sent only with tools. Blocks with
// Anthropic Raw are written verbatim. Errors are *llm.Error (invalid_request).
func (Codec) EncodeRequest(r *llm.Request) ([]byte, error) {
	b, err := encodeRequest(r)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func encodeRequest(r *llm.Request) ([]byte, *llm.Error) {
	if r == nil {
		return nil, invalid("", "no request")
	}
	if r.Model == "" {
		return nil, invalid("model", "field required")
	}
	b := make([]byte, 0, 1024+requestSizeHint(r))
	b = append(b, '{')
	b = appendStringField(b, "model", r.Model)
	b = appendIntField(b, "max_tokens", maxTokens(r))

	var err *llm.Error
	if b, err = appendSystem(b, r.System); err != nil {
		return nil, err
	}
	if b, err = appendMessages(b, r.Messages); err != nil {
		return nil, err
	}
	b = appendTools(b, r)
	b = appendThinking(b, r.Thinking)
	if len(r.StopSequences) > 0 {
		b = append(appendKey(b, "stop_sequences"), '[')
		for _, s := range r.StopSequences {
			b = jsonenc.AppendString(appendElem(b), s)
		}
		b = append(b, ']')
	}
	if r.Temperature != nil && finite(*r.Temperature) {
		// Anthropic takes 0–1; OpenAI clients may send up to 2.
		b = appendFloatField(b, "temperature", min(max(*r.Temperature, 0), 1))
	}
	if r.TopP != nil && finite(*r.TopP) {
		b = appendFloatField(b, "top_p", *r.TopP)
	}
	if r.TopK != nil {
		b = appendIntField(b, "top_k", *r.TopK)
	}
	if r.Stream {
		b = appendBoolField(b, "stream", true)
	}
	if r.User != "" {
		b = append(appendKey(b, "metadata"), '{')
		b = appendStringField(b, "user_id", r.User)
		b = append(b, '}')
	}
	if f := r.Format; f != nil && f.Type == "json_schema" && isObject(f.Schema) {
		b = append(appendKey(b, "output_config"), '{')
		b = append(appendKey(b, "format"), '{')
		b = appendStringField(b, "type", "json_schema")
		b = appendRawField(b, "schema", f.Schema)
		b = append(b, '}', '}')
	}
	return append(b, '}'), nil
}

// finite reports whether v can be written as JSON (NaN and ±Inf cannot).
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func maxTokens(r *llm.Request) int {
	if r.MaxTokens > 0 {
		return r.MaxTokens
	}
	if t := r.Thinking; t != nil && t.Type == "enabled" && t.BudgetTokens >= DefaultMaxTokens {
		return t.BudgetTokens + DefaultMaxTokens
	}
	return DefaultMaxTokens
}

// requestSizeHint guesses the encoded size to size the buffer once.
func requestSizeHint(r *llm.Request) int {
	n := 0
	for i := range r.System {
		n += len(r.System[i].Text) + len(r.System[i].Raw)
	}
	for i := range r.Messages {
		for j := range r.Messages[i].Content {
			c := &r.Messages[i].Content[j]
			n += 64 + len(c.Text) + len(c.Data) + len(c.Input) + len(c.Thinking) + len(c.Signature) + len(c.Raw)
			for k := range c.Content {
				n += 64 + len(c.Content[k].Text) + len(c.Content[k].Data)
			}
		}
	}
	for i := range r.Tools {
		n += 64 + len(r.Tools[i].Description) + len(r.Tools[i].InputSchema)
	}
	return n
}

func appendSystem(b []byte, system []llm.Block) ([]byte, *llm.Error) {
	n := 0
	for i := range system {
		if system[i].Type == llm.BlockText && encodable(&system[i]) {
			n++
		}
	}
	if n == 0 {
		return b, nil
	}
	b = append(appendKey(b, "system"), '[')
	for i := range system {
		s := &system[i]
		if s.Type != llm.BlockText || !encodable(s) {
			continue
		}
		var err *llm.Error
		if b, err = appendBlock(appendElem(b), s, "system."+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// turn is one message as it will be sent, with the canonical index of each
// block kept for error paths.
type turn struct {
	role   llm.Role
	blocks []*llm.Block
	paths  []string
}

func appendMessages(b []byte, messages []llm.Message) ([]byte, *llm.Error) {
	turns := make([]turn, 0, len(messages))
	for i := range messages {
		m := &messages[i]
		if m.Role != llm.RoleUser && m.Role != llm.RoleAssistant {
			return nil, invalid("messages."+strconv.Itoa(i)+".role", "must be \"user\" or \"assistant\", got %q", m.Role)
		}
		var t *turn
		for j := range m.Content {
			blk := &m.Content[j]
			if !encodable(blk) {
				continue
			}
			if t == nil {
				// The API requires roles to alternate: merge into the previous turn.
				if n := len(turns); n > 0 && turns[n-1].role == m.Role {
					t = &turns[n-1]
				} else {
					turns = append(turns, turn{role: m.Role})
					t = &turns[len(turns)-1]
				}
			}
			t.blocks = append(t.blocks, blk)
			t.paths = append(t.paths, "messages."+strconv.Itoa(i)+".content."+strconv.Itoa(j))
		}
	}
	b = append(appendKey(b, "messages"), '[')
	for i := range turns {
		t := &turns[i]
		if t.role == llm.RoleUser {
			toolResultsFirst(t)
		}
		b = append(appendElem(b), '{')
		b = appendStringField(b, "role", string(t.role))
		b = append(appendKey(b, "content"), '[')
		for j, blk := range t.blocks {
			var err *llm.Error
			if b, err = appendBlock(appendElem(b), blk, t.paths[j]); err != nil {
				return nil, err
			}
		}
		b = append(b, ']', '}')
	}
	return append(b, ']'), nil
}

// toolResultsFirst moves tool_result blocks to the front of a user turn,
// keeping their order: the API requires them before any other content.
func toolResultsFirst(t *turn) {
	sorted := true
	seenOther := false
	for _, blk := range t.blocks {
		if blk.Type != llm.BlockToolResult {
			seenOther = true
		} else if seenOther {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	blocks := make([]*llm.Block, 0, len(t.blocks))
	paths := make([]string, 0, len(t.paths))
	for pass := 0; pass < 2; pass++ {
		for j, blk := range t.blocks {
			if (blk.Type == llm.BlockToolResult) == (pass == 0) {
				blocks = append(blocks, blk)
				paths = append(paths, t.paths[j])
			}
		}
	}
	t.blocks, t.paths = blocks, paths
}

func appendTools(b []byte, r *llm.Request) []byte {
	if len(r.Tools) == 0 {
		return b
	}
	b = append(appendKey(b, "tools"), '[')
	for i := range r.Tools {
		t := &r.Tools[i]
		b = append(appendElem(b), '{')
		b = appendStringField(b, "name", t.Name)
		if t.Description != "" {
			b = appendStringField(b, "description", t.Description)
		}
		if isObject(t.InputSchema) {
			b = appendRawField(b, "input_schema", t.InputSchema)
		} else {
			// A function without parameters (allowed by OpenAI) still needs a schema here.
			b = appendRawField(b, "input_schema", []byte(`{"type":"object","properties":{}}`))
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case llm.ToolChoiceAuto, llm.ToolChoiceAny, llm.ToolChoiceTool, llm.ToolChoiceNone:
			b = append(appendKey(b, "tool_choice"), '{')
			b = appendStringField(b, "type", string(tc.Type))
			if tc.Type == llm.ToolChoiceTool {
				b = appendStringField(b, "name", tc.Name)
			}
			if tc.DisableParallelToolUse && tc.Type != llm.ToolChoiceNone {
				b = appendBoolField(b, "disable_parallel_tool_use", true)
			}
			b = append(b, '}')
		}
	}
	return b
}

func appendThinking(b []byte, t *llm.Thinking) []byte {
	if t == nil {
		return b
	}
	switch t.Type {
	case "enabled":
		b = append(appendKey(b, "thinking"), '{')
		b = appendStringField(b, "type", "enabled")
		b = appendIntField(b, "budget_tokens", t.BudgetTokens)
	case "adaptive":
		b = append(appendKey(b, "thinking"), '{')
		b = appendStringField(b, "type", "adaptive")
		if t.Display != "" {
			b = appendStringField(b, "display", t.Display)
		}
	case "disabled":
		b = append(appendKey(b, "thinking"), '{')
		b = appendStringField(b, "type", "disabled")
	default:
		return b
	}
	return append(b, '}')
}
