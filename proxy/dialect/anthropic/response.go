package anthropic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// DecodeResponse parses an upstream's Message object. Every content block
// type is accepted (unknown ones are kept in Raw); thinking blocks keep their
// exact bytes. A body that is an error envelope yields that error; any other
// problem is a bad_gateway *llm.Error.
func (c Codec) DecodeResponse(body []byte) (*llm.Response, error) {
	if jsonenc.FirstByte(body) != '{' {
		return nil, badResponse("the response is not a JSON object", nil)
	}
	var w wireResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, badResponse("the response is not a valid message", err)
	}
	if w.Type == "error" || (w.Type == "" && !isNull(w.Error)) {
		return nil, c.DecodeError(0, nil, body)
	}
	if w.Type != "" && w.Type != "message" {
		return nil, badResponse(fmt.Sprintf("the response has type %q, not \"message\"", w.Type), nil)
	}
	r := &llm.Response{ID: w.ID, Model: w.Model}
	if w.StopReason != nil {
		r.StopReason = llm.StopReason(*w.StopReason)
	}
	if w.StopSequence != nil {
		r.StopSequence = *w.StopSequence
	}
	if w.Usage != nil {
		r.Usage = w.Usage.apply(llm.Usage{})
	}
	r.Content = make([]llm.Block, 0, len(w.Content))
	for i, raw := range w.Content {
		b, err := decodeBlock(raw, "content."+strconv.Itoa(i), inResponse)
		if err != nil {
			return nil, badResponse("the response's "+err.Message, err)
		}
		r.Content = append(r.Content, b)
	}
	return r, nil
}

func badResponse(msg string, err error) *llm.Error {
	return &llm.Error{Kind: llm.ErrBadGateway, Status: http.StatusBadGateway, Retryable: true,
		Message: "upstream sent an invalid Anthropic response: " + msg, Err: err}
}

// apply overwrites the counts u carries onto base.
func (u *wireUsage) apply(base llm.Usage) llm.Usage {
	if u.InputTokens != nil {
		base.InputTokens = *u.InputTokens
	}
	if u.OutputTokens != nil {
		base.OutputTokens = *u.OutputTokens
	}
	if u.CacheCreationInputTokens != nil {
		base.CacheCreationInputTokens = *u.CacheCreationInputTokens
	}
	if u.CacheReadInputTokens != nil {
		base.CacheReadInputTokens = *u.CacheReadInputTokens
	}
	if u.CacheCreation != nil && u.CacheCreation.Ephemeral1h != nil {
		base.CacheCreation1hInputTokens = *u.CacheCreation.Ephemeral1h
	}
	return base
}

// EncodeResponse writes a Message object for a client. A response without
// an id gets a fresh "msg_…" one; tool_use blocks without an id get
// "toolu_…". Blocks with Anthropic Raw are written verbatim; blocks the API
// could not have produced (see encodable) are dropped. A missing stop_reason
// becomes tool_use when the answer calls a tool, else end_turn.
func (Codec) EncodeResponse(r *llm.Response) ([]byte, error) {
	if r == nil {
		return nil, &llm.Error{Kind: llm.ErrAPI, Message: "no response to encode"}
	}
	id := r.ID
	if id == "" {
		id = newID("msg_")
	}
	n := 256
	for i := range r.Content {
		n += 64 + len(r.Content[i].Text) + len(r.Content[i].Thinking) + len(r.Content[i].Signature) + len(r.Content[i].Input) + len(r.Content[i].Raw)
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	b = appendStringField(b, "id", id)
	b = appendStringField(b, "type", "message")
	b = appendStringField(b, "role", "assistant")
	b = appendStringField(b, "model", r.Model)
	b = append(appendKey(b, "content"), '[')
	for i := range r.Content {
		blk := &r.Content[i]
		if blk.Type == llm.BlockImage || blk.Type == llm.BlockToolResult || !encodable(blk) {
			continue
		}
		if blk.Type == llm.BlockToolUse && blk.ID == "" {
			c := *blk
			c.ID = newID("toolu_")
			blk = &c
		}
		var err *llm.Error
		if b, err = appendBlock(appendElem(b), blk, "content."+strconv.Itoa(i)); err != nil {
			err.Kind, err.Message = llm.ErrBadGateway, "cannot encode the response: "+err.Message
			return nil, err
		}
	}
	b = append(b, ']')
	b = appendStringField(b, "stop_reason", string(stopReason(r.StopReason, hasToolUse(r.Content))))
	b = appendNullableString(b, "stop_sequence", r.StopSequence)
	b = appendUsage(b, r.Usage, true)
	return append(b, '}'), nil
}

func hasToolUse(blocks []llm.Block) bool {
	for i := range blocks {
		if blocks[i].Type == llm.BlockToolUse {
			return true
		}
	}
	return false
}

func stopReason(s llm.StopReason, toolUse bool) llm.StopReason {
	switch {
	case s != "":
		return s
	case toolUse:
		return llm.StopToolUse
	default:
		return llm.StopEndTurn
	}
}

// appendUsage writes "usage". With all set every count is written (message
// objects carry them all); otherwise input and cache counts only when known
// (non-zero), because a message_delta's counts overwrite message_start's in
// the SDKs' accumulators.
func appendUsage(b []byte, u llm.Usage, all bool) []byte {
	b = append(appendKey(b, "usage"), '{')
	if all || u.InputTokens > 0 {
		b = appendIntField(b, "input_tokens", u.InputTokens)
	}
	if all || u.CacheCreationInputTokens > 0 {
		b = appendIntField(b, "cache_creation_input_tokens", u.CacheCreationInputTokens)
	}
	if all || u.CacheReadInputTokens > 0 {
		b = appendIntField(b, "cache_read_input_tokens", u.CacheReadInputTokens)
	}
	b = appendIntField(b, "output_tokens", u.OutputTokens)
	return append(b, '}')
}
