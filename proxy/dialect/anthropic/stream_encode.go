package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// NewStreamEncoder returns the encoder of one client stream. The request is
// not needed: Anthropic streams have one shape.
func (Codec) NewStreamEncoder(*llm.Request) dialect.StreamEncoder { return &streamEncoder{} }

type encoderState int

const (
	beforeStart encoderState = iota // nothing written yet
	streaming                       // after message_start
	afterDelta                      // message_delta received (held until message_stop)
	afterStop                       // message_stop written: nothing more may follow
)

// streamEncoder writes canonical events as Anthropic SSE and enforces the
// event order every Anthropic client relies on:
//
//	message_start, then per block (indices 0, 1, 2… in order; blocks may
//	interleave) content_block_start, content_block_delta*, content_block_stop,
//	then exactly one message_delta and message_stop; ping anywhere after
//	message_start.
//
// Violations return an error wrapping ErrStreamOrder and write nothing. What
// it repairs instead of refusing:
//   - blocks still open when message_delta (or message_stop) arrives are closed;
//   - several message_delta events (the API documents "one or more") are
//     merged, last value wins, and the one message_delta is written just
//     before message_stop; a message_stop without any message_delta gets one
//     (stop_reason tool_use if a tool was called, else end_turn);
//   - a ping before message_start is written as an SSE comment (": ping"),
//     which every SSE parser ignores, so the server can keep a client's
//     connection alive while the cascade works without breaking clients that
//     require message_start first.
//
// A thinking block must receive a signature_delta before it is closed
// (Claude Code drops the turn otherwise); closing one without is an error.
//
// Block events whose Raw is Anthropic data for the same event and index are
// written verbatim, so thinking text and signatures reach the client as the
// upstream sent them. message_start and message_delta are always re-encoded
// from the canonical fields (the cascade rewrites the model name and usage).
type streamEncoder struct {
	state   encoderState
	next    int // index the next content_block_start must have
	open    []openBlock
	toolUse bool

	stopReason   llm.StopReason
	stopSequence string
	usage        llm.Usage
}

type openBlock struct {
	index  int
	typ    llm.BlockType
	signed bool // a thinking block has had its signature_delta
}

func orderError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrStreamOrder, fmt.Sprintf(format, args...))
}

// Encode appends the SSE bytes for ev to dst. On error dst is returned
// unchanged.
func (e *streamEncoder) Encode(dst []byte, ev llm.Event) ([]byte, error) {
	if e.state == afterStop {
		return dst, orderError("%s after message_stop", ev.Type)
	}
	switch ev.Type {
	case llm.EventPing:
		if e.state == beforeStart {
			return append(dst, ": ping\n\n"...), nil
		}
		return append(dst, "event: ping\ndata: {\"type\": \"ping\"}\n\n"...), nil
	case llm.EventMessageStart:
		if e.state != beforeStart {
			return dst, orderError("second message_start")
		}
		e.state = streaming
		return e.messageStart(dst, ev.Message), nil
	case llm.EventMessageStop:
		if e.state == beforeStart {
			return dst, orderError("message_stop before message_start")
		}
		out, err := e.closeAll(dst)
		if err != nil {
			return dst, err
		}
		e.state = afterStop
		out = e.messageDelta(out)
		return append(out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...), nil
	case llm.EventMessageDelta:
		if e.state == beforeStart {
			return dst, orderError("message_delta before message_start")
		}
		out, err := e.closeAll(dst)
		if err != nil {
			return dst, err
		}
		e.state = afterDelta
		if ev.StopReason != "" {
			e.stopReason = ev.StopReason
		}
		if ev.StopSequence != "" {
			e.stopSequence = ev.StopSequence
		}
		if ev.Usage != nil {
			e.usage = *ev.Usage
		}
		return out, nil
	case llm.EventBlockStart, llm.EventBlockDelta, llm.EventBlockStop:
		if e.state != streaming {
			return dst, orderError("%s (block %d) outside the message's content", ev.Type, ev.Index)
		}
		switch ev.Type {
		case llm.EventBlockStart:
			return e.blockStart(dst, ev)
		case llm.EventBlockDelta:
			return e.blockDelta(dst, ev)
		default:
			return e.blockStop(dst, ev)
		}
	default:
		return dst, orderError("unknown event type %q", ev.Type)
	}
}

// Finish appends nothing. A stream that never reached message_stop is
// incomplete, and only an in-band error event (which the server writes with
// ErrorEvent) tells an Anthropic client so; inventing a message_stop would
// present a truncated answer as finished.
func (e *streamEncoder) Finish(dst []byte) []byte { return dst }

func (e *streamEncoder) messageStart(dst []byte, m *llm.Response) []byte {
	if m == nil {
		m = &llm.Response{}
	}
	id := m.ID
	if id == "" {
		id = newID("msg_")
	}
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{"...)
	dst = appendStringField(dst, "id", id)
	dst = appendStringField(dst, "type", "message")
	dst = appendStringField(dst, "role", "assistant")
	dst = appendStringField(dst, "model", m.Model)
	dst = append(appendKey(dst, "content"), '[', ']')
	dst = append(appendKey(dst, "stop_reason"), "null"...)
	dst = append(appendKey(dst, "stop_sequence"), "null"...)
	dst = appendUsage(dst, m.Usage, true)
	return append(dst, "}}\n\n"...)
}

func (e *streamEncoder) messageDelta(dst []byte) []byte {
	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{"...)
	dst = appendStringField(dst, "stop_reason", string(stopReason(e.stopReason, e.toolUse)))
	dst = appendNullableString(dst, "stop_sequence", e.stopSequence)
	dst = append(dst, '}')
	dst = appendUsage(dst, e.usage, false)
	return append(dst, "}\n\n"...)
}

func (e *streamEncoder) find(index int) int {
	for i := range e.open {
		if e.open[i].index == index {
			return i
		}
	}
	return -1
}

func (e *streamEncoder) blockStart(dst []byte, ev llm.Event) ([]byte, error) {
	if ev.Block == nil {
		return dst, orderError("content_block_start %d without a block", ev.Index)
	}
	if ev.Index != e.next {
		return dst, orderError("content_block_start %d, expected index %d", ev.Index, e.next)
	}
	blk := ev.Block
	out := dst
	raw, isRaw := sameEvent(ev, "content_block_start")
	if isRaw {
		out = appendRawEvent(out, "content_block_start", raw)
	} else {
		var err error
		if out, err = e.canonicalStart(out, ev.Index, blk); err != nil {
			return dst, err
		}
	}
	// A canonical thinking block that already holds its signature had it
	// written as a signature_delta by canonicalStart.
	signed := !isRaw && blk.Type == llm.BlockThinking && blk.Signature != ""
	e.open = append(e.open, openBlock{index: ev.Index, typ: blk.Type, signed: signed})
	e.next++
	if blk.Type == llm.BlockToolUse {
		e.toolUse = true
	}
	return out, nil
}

// canonicalStart writes a content_block_start from the canonical block. As
// the API does, text, thinking and tool input start empty; content the
// block already holds (a replayed, complete block) follows as deltas.
func (e *streamEncoder) canonicalStart(dst []byte, index int, b *llm.Block) ([]byte, error) {
	start := func(dst []byte) []byte {
		dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\""...)
		dst = appendIntField(dst, "index", index)
		return append(appendKey(dst, "content_block"), '{')
	}
	end := "}}\n\n"
	switch b.Type {
	case llm.BlockText:
		dst = start(dst)
		dst = appendStringField(dst, "type", "text")
		dst = appendStringField(dst, "text", "")
		dst = append(dst, end...)
		if b.Text != "" {
			dst = appendDelta(dst, index, &llm.Delta{Type: llm.DeltaText, Text: b.Text})
		}
	case llm.BlockThinking:
		dst = start(dst)
		dst = appendStringField(dst, "type", "thinking")
		dst = appendStringField(dst, "thinking", "")
		dst = appendStringField(dst, "signature", "")
		dst = append(dst, end...)
		if b.Thinking != "" {
			dst = appendDelta(dst, index, &llm.Delta{Type: llm.DeltaThinking, Thinking: b.Thinking})
		}
		if b.Signature != "" {
			dst = appendDelta(dst, index, &llm.Delta{Type: llm.DeltaSignature, Signature: b.Signature})
		}
	case llm.BlockRedactedThinking:
		dst = start(dst)
		if raw, ok := anthropicRaw(b); ok {
			dst = append(dst[:len(dst)-1], raw...)
		} else {
			dst = appendStringField(dst, "type", "redacted_thinking")
			dst = appendStringField(dst, "data", b.Data)
			dst = append(dst, '}')
		}
		dst = append(dst, "}\n\n"...)
	case llm.BlockToolUse:
		id := b.ID
		if id == "" {
			id = newID("toolu_")
		}
		dst = start(dst)
		dst = appendStringField(dst, "type", "tool_use")
		dst = appendStringField(dst, "id", id)
		dst = appendStringField(dst, "name", b.Name)
		dst = appendRawField(dst, "input", json.RawMessage("{}"))
		dst = append(dst, end...)
		if in := bytes.TrimSpace(b.Input); len(in) > 0 && !isNull(in) && !isEmptyObject(in) {
			dst = appendDelta(dst, index, &llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: string(in)})
		}
	default:
		raw, ok := anthropicRaw(b)
		if !ok {
			return nil, orderError("content_block_start %d: block type %q has no Anthropic form", index, b.Type)
		}
		dst = start(dst)
		dst = append(dst[:len(dst)-1], raw...)
		dst = append(dst, "}\n\n"...)
	}
	return dst, nil
}

func isEmptyObject(v []byte) bool {
	if jsonenc.FirstByte(v) != '{' {
		return false
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(v, &m) == nil && len(m) == 0
}

func (e *streamEncoder) blockDelta(dst []byte, ev llm.Event) ([]byte, error) {
	i := e.find(ev.Index)
	if i < 0 {
		return dst, orderError("content_block_delta for block %d, which is not open", ev.Index)
	}
	ob := &e.open[i]
	raw, isRaw := sameEvent(ev, "content_block_delta")
	if ev.Delta == nil && !isRaw {
		return dst, orderError("content_block_delta %d without a delta", ev.Index)
	}
	var dt llm.DeltaType
	if ev.Delta != nil {
		dt = ev.Delta.Type
	}
	if err := deltaFits(ob.typ, dt, isRaw); err != nil {
		return dst, orderError("content_block_delta %d: %v", ev.Index, err)
	}
	if ob.typ == llm.BlockThinking && dt == llm.DeltaSignature {
		ob.signed = true
	}
	if isRaw {
		return appendRawEvent(dst, "content_block_delta", raw), nil
	}
	return appendDelta(dst, ev.Index, ev.Delta), nil
}

// deltaFits checks a delta type against its block's type. Block types
// without a canonical form, and delta types this package does not know (when
// relayed raw), are let through: the upstream knows what it is doing.
func deltaFits(block llm.BlockType, delta llm.DeltaType, raw bool) error {
	var want llm.BlockType
	switch delta {
	case llm.DeltaText:
		want = llm.BlockText
	case llm.DeltaInputJSON:
		want = llm.BlockToolUse
	case llm.DeltaThinking, llm.DeltaSignature:
		want = llm.BlockThinking
	default:
		if raw {
			return nil
		}
		return fmt.Errorf("delta type %q has no Anthropic form", delta)
	}
	switch block {
	case llm.BlockText, llm.BlockToolUse, llm.BlockThinking, llm.BlockRedactedThinking:
		if block != want {
			return fmt.Errorf("%s for a %s block", delta, block)
		}
	}
	return nil
}

func appendDelta(dst []byte, index int, d *llm.Delta) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\""...)
	dst = appendIntField(dst, "index", index)
	dst = append(appendKey(dst, "delta"), '{')
	dst = appendStringField(dst, "type", string(d.Type))
	switch d.Type {
	case llm.DeltaText:
		dst = appendStringField(dst, "text", d.Text)
	case llm.DeltaInputJSON:
		dst = appendStringField(dst, "partial_json", d.PartialJSON)
	case llm.DeltaThinking:
		dst = appendStringField(dst, "thinking", d.Thinking)
	case llm.DeltaSignature:
		dst = appendStringField(dst, "signature", d.Signature)
	}
	return append(dst, "}}\n\n"...)
}

func (e *streamEncoder) blockStop(dst []byte, ev llm.Event) ([]byte, error) {
	i := e.find(ev.Index)
	if i < 0 {
		return dst, orderError("content_block_stop for block %d, which is not open", ev.Index)
	}
	if e.open[i].typ == llm.BlockThinking && !e.open[i].signed {
		return dst, orderError("thinking block %d closed without a signature_delta", ev.Index)
	}
	e.open = append(e.open[:i], e.open[i+1:]...)
	if raw, ok := sameEvent(ev, "content_block_stop"); ok {
		return appendRawEvent(dst, "content_block_stop", raw), nil
	}
	return appendStop(dst, ev.Index), nil
}

func appendStop(dst []byte, index int) []byte {
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\""...)
	dst = appendIntField(dst, "index", index)
	return append(dst, "}\n\n"...)
}

// closeAll closes the blocks still open, in index order.
func (e *streamEncoder) closeAll(dst []byte) ([]byte, error) {
	for _, ob := range e.open {
		if ob.typ == llm.BlockThinking && !ob.signed {
			return dst, orderError("thinking block %d left open without a signature_delta", ob.index)
		}
	}
	out := dst
	for len(e.open) > 0 {
		lowest := 0
		for i := range e.open {
			if e.open[i].index < e.open[lowest].index {
				lowest = i
			}
		}
		out = appendStop(out, e.open[lowest].index)
		e.open = append(e.open[:lowest], e.open[lowest+1:]...)
	}
	return out, nil
}

// sameEvent returns ev.Raw when it is Anthropic data of the given event type
// for ev's index: only then may it be written instead of the canonical form.
func sameEvent(ev llm.Event, typ string) (json.RawMessage, bool) {
	if ev.RawDialect != llm.Anthropic || len(ev.Raw) == 0 {
		return nil, false
	}
	var head struct {
		Type  string `json:"type"`
		Index *int   `json:"index"`
	}
	if json.Unmarshal(ev.Raw, &head) != nil || head.Type != typ || head.Index == nil || *head.Index != ev.Index {
		return nil, false
	}
	return ev.Raw, true
}

// appendRawEvent writes data verbatim. A line break inside data (legal JSON
// whitespace) would end the SSE field, so each line goes in its own "data:"
// field, which SSE parsers join back with "\n": the bytes survive. A carriage
// return cannot survive that way; such data is compacted (only whitespace
// outside strings changes).
func appendRawEvent(dst []byte, name string, data []byte) []byte {
	if bytes.IndexByte(data, '\r') >= 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, data) == nil {
			data = buf.Bytes()
		}
	}
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, '\n')
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		dst = append(dst, "data: "...)
		dst = append(dst, line...)
		dst = append(dst, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(dst, '\n')
}
