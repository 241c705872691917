package openai

import (
	"fmt"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

type encoderState uint8

const (
	encBeforeStart encoderState = iota
	encStreaming                // after message_start
	encFinished                 // after message_delta
	encStopped                  // after message_stop
)

// streamEncoder turns canonical (Anthropic-shaped) events into
// chat.completion.chunk SSE. Every chunk carries the id, created and model of
// message_start. Text deltas become delta.content; the k-th tool_use block of
// the message becomes tool call index k (id, type and name in its first
// chunk, argument fragments after); thinking is dropped; message_delta
// becomes the finish_reason chunk; message_stop adds the usage chunk (empty
// choices) when the client asked for it. Event.Raw is not relayed: chunks and
// events do not correspond one to one.
type streamEncoder struct {
	includeUsage bool
	state        encoderState
	// head is `data: {"id":...,"object":"chat.completion.chunk","created":...,"model":...`.
	head []byte
	// toolBlocks[k] is the canonical block index of tool call k. A list, not
	// a table indexed by block: block indexes come from upstreams.
	toolBlocks []int
	usage      llm.Usage
	usageSent  bool
}

func newStreamEncoder(req *llm.Request) *streamEncoder {
	return &streamEncoder{includeUsage: req != nil && req.IncludeUsage}
}

// Encode appends the chunks for ev to dst. Events out of order (anything
// before message_start, block events after message_delta, a second
// message_delta) are errors: the encoder never writes a malformed stream.
func (e *streamEncoder) Encode(dst []byte, ev llm.Event) ([]byte, error) {
	if ev.Type == llm.EventPing {
		return dst, nil
	}
	if ev.Type == llm.EventMessageStart {
		if e.state != encBeforeStart {
			return dst, fmt.Errorf("openai stream encoder: second message_start")
		}
		e.start(ev.Message)
		return e.appendChunk(dst, `{"role":"assistant","content":""}`, "", ev.Logprobs), nil
	}
	if e.state == encBeforeStart {
		return dst, fmt.Errorf("openai stream encoder: %s before message_start", ev.Type)
	}

	switch ev.Type {
	case llm.EventBlockStart, llm.EventBlockDelta, llm.EventBlockStop:
		if e.state != encStreaming {
			return dst, fmt.Errorf("openai stream encoder: %s after message_delta", ev.Type)
		}
		return e.block(dst, ev)
	case llm.EventMessageDelta:
		if e.state != encStreaming {
			return dst, fmt.Errorf("openai stream encoder: second message_delta")
		}
		e.state = encFinished
		if ev.Usage != nil {
			e.mergeUsage(*ev.Usage)
		}
		return e.appendChunk(dst, `{}`, finishReason(ev.StopReason), ev.Logprobs), nil
	case llm.EventMessageStop:
		if e.state != encFinished {
			return dst, fmt.Errorf("openai stream encoder: message_stop without message_delta")
		}
		e.state = encStopped
		return e.appendUsageChunk(dst), nil
	}
	return dst, fmt.Errorf("openai stream encoder: unknown event type %q", ev.Type)
}

func (e *streamEncoder) block(dst []byte, ev llm.Event) ([]byte, error) {
	if ev.Index < 0 {
		return dst, fmt.Errorf("openai stream encoder: negative block index %d", ev.Index)
	}
	switch ev.Type {
	case llm.EventBlockStart:
		if ev.Block == nil {
			return dst, fmt.Errorf("openai stream encoder: content_block_start %d without a block", ev.Index)
		}
		if ev.Block.Type != llm.BlockToolUse {
			return e.logprobsOnly(dst, ev.Logprobs), nil
		}
		if e.toolCall(ev.Index) >= 0 {
			return dst, fmt.Errorf("openai stream encoder: block %d started twice", ev.Index)
		}
		k := len(e.toolBlocks)
		e.toolBlocks = append(e.toolBlocks, ev.Index)
		dst = e.appendDeltaStart(dst)
		dst = append(dst, `{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(k), 10)
		dst = append(dst, `,"id":`...)
		dst = jsonenc.AppendString(dst, ev.Block.ID)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = jsonenc.AppendString(dst, ev.Block.Name)
		dst = append(dst, `,"arguments":""}}]}`...)
		return e.appendChoiceTail(dst, "", ev.Logprobs), nil

	case llm.EventBlockDelta:
		if ev.Delta == nil {
			return dst, fmt.Errorf("openai stream encoder: content_block_delta %d without a delta", ev.Index)
		}
		switch ev.Delta.Type {
		case llm.DeltaText:
			if ev.Delta.Text == "" {
				return e.logprobsOnly(dst, ev.Logprobs), nil
			}
			return e.appendContentChunk(dst, ev.Delta.Text, ev.Logprobs), nil
		case llm.DeltaInputJSON:
			k := e.toolCall(ev.Index)
			if k < 0 {
				return dst, fmt.Errorf("openai stream encoder: input_json_delta for block %d, which is not a started tool_use", ev.Index)
			}
			if ev.Delta.PartialJSON == "" {
				return e.logprobsOnly(dst, ev.Logprobs), nil
			}
			dst = e.appendDeltaStart(dst)
			dst = append(dst, `{"tool_calls":[{"index":`...)
			dst = strconv.AppendInt(dst, int64(k), 10)
			dst = append(dst, `,"function":{"arguments":`...)
			dst = jsonenc.AppendString(dst, ev.Delta.PartialJSON)
			dst = append(dst, `}}]}`...)
			return e.appendChoiceTail(dst, "", ev.Logprobs), nil
		default: // thinking and signature deltas have no Chat Completions form
			return e.logprobsOnly(dst, ev.Logprobs), nil
		}
	}
	return e.logprobsOnly(dst, ev.Logprobs), nil // content_block_stop
}

// toolCall returns the tool call index of a canonical block, or -1. The
// search starts at the latest call: deltas almost always belong to it.
func (e *streamEncoder) toolCall(block int) int {
	for k := len(e.toolBlocks) - 1; k >= 0; k-- {
		if e.toolBlocks[k] == block {
			return k
		}
	}
	return -1
}

// Finish appends the usage chunk if it is still owed, then `data: [DONE]`.
func (e *streamEncoder) Finish(dst []byte) []byte {
	if e.state == encFinished {
		dst = e.appendUsageChunk(dst)
	}
	return append(dst, "data: [DONE]\n\n"...)
}

func (e *streamEncoder) start(m *llm.Response) {
	e.state = encStreaming
	var id, model string
	var createdAt int64
	if m != nil {
		id, model, createdAt = m.ID, m.Model, m.Created
		e.usage = m.Usage
	}
	h := make([]byte, 0, 96+len(id)+len(model))
	h = append(h, `data: {"id":`...)
	h = jsonenc.AppendString(h, completionID(id))
	h = append(h, `,"object":"chat.completion.chunk","created":`...)
	h = strconv.AppendInt(h, created(createdAt), 10)
	h = append(h, `,"model":`...)
	h = jsonenc.AppendString(h, model)
	e.head = h
}

// mergeUsage folds message_delta's cumulative usage into message_start's:
// a field the delta reports (non-zero) wins.
func (e *streamEncoder) mergeUsage(u llm.Usage) {
	if u.InputTokens != 0 {
		e.usage.InputTokens = u.InputTokens
	}
	if u.OutputTokens != 0 {
		e.usage.OutputTokens = u.OutputTokens
	}
	if u.CacheReadInputTokens != 0 {
		e.usage.CacheReadInputTokens = u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens != 0 {
		e.usage.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
}

// appendDeltaStart writes a chunk up to its delta object.
func (e *streamEncoder) appendDeltaStart(dst []byte) []byte {
	dst = append(dst, e.head...)
	return append(dst, `,"choices":[{"index":0,"delta":`...)
}

// appendChunk writes one chunk with a literal delta object.
func (e *streamEncoder) appendChunk(dst []byte, delta string, finish string, lps []llm.TokenLogprob) []byte {
	dst = e.appendDeltaStart(dst)
	dst = append(dst, delta...)
	return e.appendChoiceTail(dst, finish, lps)
}

// appendContentChunk is the per-token hot path.
func (e *streamEncoder) appendContentChunk(dst []byte, text string, lps []llm.TokenLogprob) []byte {
	dst = e.appendDeltaStart(dst)
	dst = append(dst, `{"content":`...)
	dst = jsonenc.AppendString(dst, text)
	dst = append(dst, '}')
	return e.appendChoiceTail(dst, "", lps)
}

func (e *streamEncoder) appendChoiceTail(dst []byte, finish string, lps []llm.TokenLogprob) []byte {
	dst = append(dst, `,"logprobs":`...)
	dst = appendLogprobs(dst, lps)
	dst = append(dst, `,"finish_reason":`...)
	if finish == "" {
		dst = append(dst, "null"...)
	} else {
		dst = jsonenc.AppendString(dst, finish)
	}
	dst = append(dst, "}]"...)
	if e.includeUsage {
		// As OpenAI does: with include_usage every other chunk has usage null.
		dst = append(dst, `,"usage":null`...)
	}
	return append(dst, "}\n\n"...)
}

// logprobsOnly writes an empty-delta chunk when an event that has no chunk
// of its own carries log probabilities, so none are lost.
func (e *streamEncoder) logprobsOnly(dst []byte, lps []llm.TokenLogprob) []byte {
	if len(lps) == 0 {
		return dst
	}
	return e.appendChunk(dst, `{}`, "", lps)
}

// appendUsageChunk writes the final usage chunk (choices empty) once, when
// the client asked for it with stream_options.include_usage.
func (e *streamEncoder) appendUsageChunk(dst []byte) []byte {
	if !e.includeUsage || e.usageSent {
		return dst
	}
	e.usageSent = true
	u := wireUsage(e.usage)
	dst = append(dst, e.head...)
	dst = append(dst, `,"choices":[],"usage":{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.TotalTokens), 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokensDetails.CachedTokens), 10)
	if u.PromptTokensDetails.CacheWriteTokens != 0 {
		dst = append(dst, `,"cache_write_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.PromptTokensDetails.CacheWriteTokens), 10)
	}
	return append(dst, "}}}\n\n"...)
}
