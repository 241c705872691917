package llm

import (
	"context"
	"encoding/json"
)

// EventType is the kind of a canonical stream event. The sequence mirrors
// Anthropic's: MessageStart, then per block BlockStart, BlockDelta*, BlockStop,
// then exactly one MessageDelta and a MessageStop. Decoders of other dialects
// synthesise the missing structure; encoders of other dialects drop what they
// cannot express.
type EventType string

const (
	EventMessageStart EventType = "message_start"
	EventBlockStart   EventType = "content_block_start"
	EventBlockDelta   EventType = "content_block_delta"
	EventBlockStop    EventType = "content_block_stop"
	EventMessageDelta EventType = "message_delta"
	EventMessageStop  EventType = "message_stop"
	EventPing         EventType = "ping"
)

// DeltaType is the kind of an incremental block update.
type DeltaType string

const (
	DeltaText      DeltaType = "text_delta"
	DeltaInputJSON DeltaType = "input_json_delta"
	DeltaThinking  DeltaType = "thinking_delta"
	DeltaSignature DeltaType = "signature_delta"
)

// Delta is an incremental update to the block at Event.Index.
type Delta struct {
	Type        DeltaType
	Text        string
	PartialJSON string
	Thinking    string
	Signature   string
}

// Event is one canonical stream event.
type Event struct {
	Type EventType

	// MessageStart: the message envelope (ID, Model, Usage with input tokens; no content).
	Message *Response

	// Block events: the block index, and for BlockStart the block's type and
	// identity (tool_use ID and Name; empty text/thinking).
	Index int
	Block *Block
	Delta *Delta

	// MessageDelta: the final stop reason and the cumulative usage.
	StopReason   StopReason
	StopSequence string
	Usage        *Usage

	// Logprobs carried by this event's tokens (OpenAI-compatible upstreams).
	Logprobs []TokenLogprob

	// Raw is the event's data exactly as the upstream sent it, in RawDialect.
	// A same-dialect encoder writes it unchanged (thinking signatures survive).
	Raw        json.RawMessage
	RawDialect Dialect
}

// Stream yields canonical events until io.EOF. An upstream failure after the
// stream began is returned as a *Error. Close releases the upstream connection
// and must be called once.
type Stream interface {
	Next(ctx context.Context) (Event, error)
	Close() error
}
