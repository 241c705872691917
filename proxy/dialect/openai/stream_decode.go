package openai

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// streamDecoder turns an upstream's chat.completion.chunk stream into
// canonical, Anthropic-shaped events:
//
//   - the first chunk yields message_start (id, model, created; usage is not
//     known yet and is zero);
//   - content opens a text block; a new tool call index closes the open block
//     and starts a tool_use block (once its name is known); argument
//     fragments become input_json_delta;
//   - finish_reason closes the open block and is remembered; usage may come
//     in a later chunk with empty choices, so the single message_delta (stop
//     reason and usage) and message_stop are emitted by Finish, at [DONE] or
//     EOF. A stream that never gave a finish_reason is a bad_gateway error.
//
// Only choice 0 is read (the proxy never asks for n > 1). reasoning_content
// is ignored (see the package comment).
type streamDecoder struct {
	started, done, finished, failed bool

	id string
	// next is the index of the next canonical block.
	next int
	// open is the index of the open block, or -1; openTool is its tool call
	// index when it is a tool_use block, or -1.
	open     int
	openTool int
	openID   string
	// lastTool is the highest tool call index seen, -1 before the first.
	lastTool int
	// pending is a tool call whose name has not arrived yet.
	pending *pendingTool

	haveFinish bool
	finish     string
	refused    bool
	usage      *llm.Usage
	// logprobs not yet attached to an event.
	logprobs []llm.TokenLogprob
}

func newStreamDecoder() *streamDecoder {
	return &streamDecoder{open: -1, openTool: -1, lastTool: -1}
}

type pendingTool struct {
	id   string
	args []byte
}

// Decode consumes one SSE event. data "[DONE]" ends the stream; Finish then
// emits what is owed.
func (d *streamDecoder) Decode(event string, data []byte) ([]llm.Event, error) {
	if d.done || d.failed {
		return nil, nil
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil
	}
	if string(data) == "[DONE]" {
		d.done = true
		return nil, nil
	}
	var c chunk
	if err := json.Unmarshal(data, &c); err != nil {
		d.failed = true
		if event == "error" {
			return nil, badGateway("upstream sent an unreadable error event")
		}
		return nil, badGateway("upstream sent an unreadable chunk: %v", err)
	}
	if !isNull(c.Error) {
		d.failed = true
		return nil, streamError(c.Error)
	}
	if event == "error" {
		d.failed = true
		return nil, badGateway("upstream sent an error event without an error object")
	}

	var evs []llm.Event
	if !d.started {
		d.started = true
		d.id = c.ID
		evs = append(evs, llm.Event{
			Type:    llm.EventMessageStart,
			Message: &llm.Response{ID: c.ID, Model: c.Model, Created: c.Created},
		})
	}
	if c.Usage != nil {
		u := canonicalUsage(c.Usage)
		d.usage = &u
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 || d.haveFinish {
			continue
		}
		var err error
		if evs, err = d.choice(evs, ch); err != nil {
			d.failed = true
			return nil, err
		}
	}
	return d.attachLogprobs(evs), nil
}

func (d *streamDecoder) choice(evs []llm.Event, ch *chunkChoice) ([]llm.Event, error) {
	if ch.Logprobs != nil {
		d.logprobs = append(d.logprobs, canonicalLogprobs(ch.Logprobs)...)
	}
	text := ch.Delta.Content
	if ch.Delta.Refusal != "" {
		d.refused = true
		text += ch.Delta.Refusal
	}
	if text != "" {
		evs = d.text(evs, text)
	}
	for j := range ch.Delta.ToolCalls {
		var err error
		if evs, err = d.tool(evs, &ch.Delta.ToolCalls[j]); err != nil {
			return nil, err
		}
	}
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		d.haveFinish = true
		d.finish = *ch.FinishReason
		evs = d.closeBlock(evs)
	}
	return evs, nil
}

func (d *streamDecoder) text(evs []llm.Event, text string) []llm.Event {
	if d.open < 0 || d.openTool >= 0 {
		evs = d.closeBlock(evs)
		d.open = d.next
		d.next++
		evs = append(evs, llm.Event{Type: llm.EventBlockStart, Index: d.open, Block: &llm.Block{Type: llm.BlockText}})
	}
	return append(evs, llm.Event{Type: llm.EventBlockDelta, Index: d.open, Delta: &llm.Delta{Type: llm.DeltaText, Text: text}})
}

func (d *streamDecoder) tool(evs []llm.Event, t *toolCallDelta) ([]llm.Event, error) {
	k := d.openTool
	switch {
	case t.Index != nil:
		// Some providers send -1 for their only tool call; the SDKs read it as 0.
		k = max(*t.Index, 0)
	case k < 0 || (t.ID != "" && t.ID != d.openID):
		k = d.lastTool + 1 // no index: a new id starts the next call
	}
	if k != d.openTool {
		if k <= d.lastTool {
			return nil, badGateway("upstream tool call %d resumed after tool call %d began", k, d.lastTool)
		}
		evs = d.closeBlock(evs)
		d.lastTool = k
		d.open = d.next
		d.next++
		d.openTool = k
		d.openID = t.ID
		id := t.ID
		if id == "" {
			id = "call_" + strconv.Itoa(k) + "_" + d.id
		}
		d.pending = &pendingTool{id: id}
	}
	args := t.Function.Arguments
	if p := d.pending; p != nil {
		if t.Function.Name == "" {
			p.args = append(p.args, args...)
			return evs, nil
		}
		// The name has arrived: start the block, then release what was held.
		d.pending = nil
		evs = append(evs, llm.Event{Type: llm.EventBlockStart, Index: d.open, Block: &llm.Block{Type: llm.BlockToolUse, ID: p.id, Name: t.Function.Name}})
		if len(p.args) > 0 {
			args = string(p.args) + args
		}
	}
	if args != "" {
		evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: d.open, Delta: &llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: args}})
	}
	return evs, nil
}

// closeBlock stops the open block, starting a still-nameless tool call first
// so its arguments are not lost.
func (d *streamDecoder) closeBlock(evs []llm.Event) []llm.Event {
	if d.open < 0 {
		return evs
	}
	if p := d.pending; p != nil {
		d.pending = nil
		evs = append(evs, llm.Event{Type: llm.EventBlockStart, Index: d.open, Block: &llm.Block{Type: llm.BlockToolUse, ID: p.id}})
		if len(p.args) > 0 {
			evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Index: d.open, Delta: &llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: string(p.args)}})
		}
	}
	evs = append(evs, llm.Event{Type: llm.EventBlockStop, Index: d.open})
	d.open, d.openTool, d.openID = -1, -1, ""
	return evs
}

// attachLogprobs puts pending log probabilities on the last event that
// carries content, keeping them for a later event otherwise.
func (d *streamDecoder) attachLogprobs(evs []llm.Event) []llm.Event {
	if len(d.logprobs) == 0 {
		return evs
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == llm.EventBlockDelta {
			evs[i].Logprobs = d.logprobs
			d.logprobs = nil
			break
		}
	}
	return evs
}

// Finish ends the stream: message_delta with the stop reason and usage,
// then message_stop. It is an error when the upstream never finished.
func (d *streamDecoder) Finish() ([]llm.Event, error) {
	if d.finished || d.failed {
		return nil, nil
	}
	d.finished = true
	if !d.started {
		return nil, badGateway("upstream stream ended before its first chunk")
	}
	if !d.haveFinish {
		return nil, badGateway("upstream stream ended without a finish_reason")
	}
	evs := d.closeBlock(nil)
	u := llm.Usage{}
	if d.usage != nil {
		u = *d.usage
	}
	evs = append(evs,
		llm.Event{Type: llm.EventMessageDelta, StopReason: stopReason(d.finish, d.refused, d.lastTool >= 0), Usage: &u, Logprobs: d.logprobs},
		llm.Event{Type: llm.EventMessageStop},
	)
	d.logprobs = nil
	return evs, nil
}
