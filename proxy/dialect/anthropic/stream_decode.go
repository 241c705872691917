package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// NewStreamDecoder returns a decoder of one upstream Messages stream.
func (Codec) NewStreamDecoder() dialect.StreamDecoder { return &streamDecoder{} }

// streamDecoder turns SSE events into canonical events. Each event carries
// its data verbatim in Raw (RawDialect llm.Anthropic), so an Anthropic client
// can be sent the upstream's bytes unchanged.
//
// In content_block_start events, Block describes the block as it starts:
// text and thinking are empty, a tool_use has its ID and Name but no Input
// (its input arrives as input_json_delta). Only blocks without a canonical
// form keep Block.Raw, and for those it is the start form, not the finished
// block.
type streamDecoder struct {
	started, stopped bool
	startUsage       llm.Usage
}

// Decode consumes one SSE event. The event type is taken from the data's
// "type" (the "event:" name only fills in when the data has none). Unknown
// event types are ignored, as the API's versioning policy asks; ping becomes
// EventPing; an error event becomes the *llm.Error it describes.
func (d *streamDecoder) Decode(event string, data []byte) ([]llm.Event, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || d.stopped {
		return nil, nil
	}
	var w wireEvent
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, badStream(fmt.Sprintf("event %q has invalid JSON data", event), err)
	}
	typ := w.Type
	if typ == "" {
		typ = event
	}
	var given *llm.Event     // a tool_use input given whole in its content_block_start
	raw := bytes.Clone(data) // the caller's buffer may be reused
	ev := llm.Event{Raw: raw, RawDialect: llm.Anthropic}
	switch typ {
	case "ping":
		ev.Type = llm.EventPing
		return []llm.Event{ev}, nil
	case "error":
		return nil, Codec{}.DecodeError(0, nil, data)
	case "message_start":
		if d.started {
			return nil, badStream("second message_start", nil)
		}
		d.started = true
		ev.Type = llm.EventMessageStart
		ev.Message = &llm.Response{}
		if m := w.Message; m != nil {
			ev.Message.ID, ev.Message.Model = m.ID, m.Model
			if m.Usage != nil {
				ev.Message.Usage = m.Usage.apply(llm.Usage{})
			}
		}
		d.startUsage = ev.Message.Usage
		return []llm.Event{ev}, nil
	case "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop":
		if !d.started {
			return nil, badStream(typ+" before message_start", nil)
		}
	default:
		return nil, nil
	}

	switch typ {
	case "content_block_start":
		if w.Index == nil {
			return nil, badStream("content_block_start without an index", nil)
		}
		b, err := decodeBlock(w.ContentBlock, "content_block", inResponse)
		if err != nil {
			return nil, badStream("content_block_start: "+err.Message, nil)
		}
		switch b.Type {
		case llm.BlockThinking, llm.BlockText:
			b.Raw, b.RawDialect = nil, ""
		case llm.BlockToolUse:
			// The input normally streams as input_json_delta; some gateways put
			// it whole in the start. Either way consumers see it as a delta.
			if in := bytes.TrimSpace(b.Input); len(in) > 0 && !isNull(in) && !isEmptyObject(in) {
				given = &llm.Event{Type: llm.EventBlockDelta, Index: *w.Index, Delta: &llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: string(in)}}
			}
			b.Input = nil
		}
		ev.Type, ev.Index, ev.Block = llm.EventBlockStart, *w.Index, &b
	case "content_block_delta":
		if w.Index == nil || w.Delta == nil {
			return nil, badStream("content_block_delta without an index or delta", nil)
		}
		dl := w.Delta
		ev.Type, ev.Index = llm.EventBlockDelta, *w.Index
		// Unknown delta types (citations_delta, …) keep their type; Raw carries them.
		ev.Delta = &llm.Delta{Type: llm.DeltaType(dl.Type), Text: dl.Text, PartialJSON: dl.PartialJSON,
			Thinking: dl.Thinking, Signature: dl.Signature}
	case "content_block_stop":
		if w.Index == nil {
			return nil, badStream("content_block_stop without an index", nil)
		}
		ev.Type, ev.Index = llm.EventBlockStop, *w.Index
	case "message_delta":
		ev.Type = llm.EventMessageDelta
		if w.Delta != nil {
			if w.Delta.StopReason != nil {
				ev.StopReason = llm.StopReason(*w.Delta.StopReason)
			}
			if w.Delta.StopSequence != nil {
				ev.StopSequence = *w.Delta.StopSequence
			}
		}
		// The counts are cumulative; those it omits keep message_start's.
		u := d.startUsage
		if w.Usage != nil {
			u = w.Usage.apply(u)
		}
		ev.Usage = &u
	case "message_stop":
		d.stopped = true
		ev.Type = llm.EventMessageStop
	}
	if given != nil {
		return []llm.Event{ev, *given}, nil
	}
	return []llm.Event{ev}, nil
}

// Finish reports a stream that ended before message_stop as a bad_gateway
// error: the answer is truncated and must not be taken as complete.
func (d *streamDecoder) Finish() ([]llm.Event, error) {
	if d.stopped {
		return nil, nil
	}
	if !d.started {
		return nil, badStream("the stream ended before message_start", nil)
	}
	return nil, badStream("the stream ended before message_stop", nil)
}

func badStream(msg string, err error) *llm.Error {
	return &llm.Error{Kind: llm.ErrBadGateway, Status: http.StatusBadGateway, Retryable: true,
		Message: "upstream sent an invalid Anthropic stream: " + msg, Err: err}
}
