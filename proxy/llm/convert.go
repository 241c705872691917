package llm

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Events returns the canonical stream that delivers r: message_start, each
// block as start/delta/stop, one message_delta and message_stop. The cascade
// uses it to replay an accepted (buffered) draft to a streaming client.
func (r *Response) Events() []Event {
	start := &Response{ID: r.ID, Model: r.Model, Created: r.Created,
		Usage: Usage{InputTokens: r.Usage.InputTokens, CacheCreationInputTokens: r.Usage.CacheCreationInputTokens,
			CacheReadInputTokens: r.Usage.CacheReadInputTokens, OutputTokens: min(r.Usage.OutputTokens, 1)}}
	evs := make([]Event, 0, 2+4*len(r.Content))
	evs = append(evs, Event{Type: EventMessageStart, Message: start})
	// Blocks are numbered as they are sent: a block with no form for the
	// client (an opaque block without its original bytes) leaves no gap.
	i := 0
	for _, b := range r.Content {
		switch b.Type {
		case BlockText:
			evs = append(evs, Event{Type: EventBlockStart, Index: i, Block: &Block{Type: BlockText}},
				Event{Type: EventBlockDelta, Index: i, Delta: &Delta{Type: DeltaText, Text: b.Text}})
		case BlockToolUse:
			input := string(b.Input)
			if input == "" {
				input = "{}"
			}
			evs = append(evs, Event{Type: EventBlockStart, Index: i, Block: &Block{Type: BlockToolUse, ID: b.ID, Name: b.Name, Input: json.RawMessage("{}")}},
				Event{Type: EventBlockDelta, Index: i, Delta: &Delta{Type: DeltaInputJSON, PartialJSON: input}})
		case BlockThinking:
			evs = append(evs, Event{Type: EventBlockStart, Index: i, Block: &Block{Type: BlockThinking}})
			if b.Thinking != "" {
				evs = append(evs, Event{Type: EventBlockDelta, Index: i, Delta: &Delta{Type: DeltaThinking, Thinking: b.Thinking}})
			}
			evs = append(evs, Event{Type: EventBlockDelta, Index: i, Delta: &Delta{Type: DeltaSignature, Signature: b.Signature}})
		default:
			// redacted_thinking and blocks the canonical model keeps opaque
			// (server tool use and results, documents): sent whole, as received.
			if b.Type != BlockRedactedThinking && len(b.Raw) == 0 {
				continue
			}
			rb := b
			evs = append(evs, Event{Type: EventBlockStart, Index: i, Block: &rb})
		}
		evs = append(evs, Event{Type: EventBlockStop, Index: i})
		i++
	}
	u := r.Usage
	evs = append(evs,
		Event{Type: EventMessageDelta, StopReason: r.StopReason, StopSequence: r.StopSequence, Usage: &u, Logprobs: r.Logprobs},
		Event{Type: EventMessageStop})
	return evs
}

// Accumulator builds a Response from a canonical stream, as the SDKs'
// accumulators do. The cascade buffers a streamed draft with it.
type Accumulator struct {
	resp    Response
	blocks  map[int]*Block
	order   []int
	json    map[int]*strings.Builder
	started bool
	stopped bool
	deltaN  int
}

// Add folds one event into the response.
func (a *Accumulator) Add(ev Event) error {
	if a.blocks == nil {
		a.blocks = map[int]*Block{}
		a.json = map[int]*strings.Builder{}
	}
	switch ev.Type {
	case EventMessageStart:
		if ev.Message != nil {
			a.resp.ID, a.resp.Model, a.resp.Created = ev.Message.ID, ev.Message.Model, ev.Message.Created
			a.resp.Usage = ev.Message.Usage
		}
		a.started = true
	case EventBlockStart:
		if _, dup := a.blocks[ev.Index]; dup {
			return fmt.Errorf("accumulate: block %d started twice", ev.Index)
		}
		b := Block{}
		if ev.Block != nil {
			b = *ev.Block
		}
		if b.Type == BlockToolUse {
			b.Input = nil
			a.json[ev.Index] = &strings.Builder{}
		}
		a.blocks[ev.Index] = &b
		a.order = append(a.order, ev.Index)
	case EventBlockDelta:
		b, ok := a.blocks[ev.Index]
		if !ok || ev.Delta == nil {
			return fmt.Errorf("accumulate: delta for unknown block %d", ev.Index)
		}
		switch ev.Delta.Type {
		case DeltaText:
			b.Text += ev.Delta.Text
		case DeltaInputJSON:
			if sb := a.json[ev.Index]; sb != nil {
				sb.WriteString(ev.Delta.PartialJSON)
			}
		case DeltaThinking:
			b.Thinking += ev.Delta.Thinking
		case DeltaSignature:
			b.Signature += ev.Delta.Signature
		}
	case EventBlockStop:
		if sb := a.json[ev.Index]; sb != nil {
			if b := a.blocks[ev.Index]; b != nil {
				in := strings.TrimSpace(sb.String())
				if in == "" {
					in = "{}"
				}
				b.Input = json.RawMessage(in)
			}
		}
	case EventMessageDelta:
		a.deltaN++
		if ev.StopReason != "" {
			a.resp.StopReason = ev.StopReason
		}
		if ev.StopSequence != "" {
			a.resp.StopSequence = ev.StopSequence
		}
		if ev.Usage != nil {
			a.resp.Usage = a.resp.Usage.WithFinal(*ev.Usage)
		}
	case EventMessageStop:
		a.stopped = true
	}
	if len(ev.Logprobs) > 0 {
		a.resp.Logprobs = append(a.resp.Logprobs, ev.Logprobs...)
	}
	return nil
}

// Complete reports whether message_stop was seen.
func (a *Accumulator) Complete() bool { return a.stopped }

// Response returns the accumulated response (blocks in index order).
func (a *Accumulator) Response() *Response {
	r := a.resp
	r.Content = make([]Block, 0, len(a.order))
	for _, i := range a.order {
		r.Content = append(r.Content, *a.blocks[i])
	}
	return &r
}
