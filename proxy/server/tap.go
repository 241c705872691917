package server

import (
	"context"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// usageTap passes a stream through and remembers its usage: input counts
// from message_start, final counts from message_delta.
type usageTap struct {
	llm.Stream
	usage llm.Usage
}

func (t *usageTap) Next(ctx context.Context) (llm.Event, error) {
	ev, err := t.Stream.Next(ctx)
	if err != nil {
		return ev, err
	}
	switch ev.Type {
	case llm.EventMessageStart:
		if ev.Message != nil {
			t.usage = ev.Message.Usage
		}
	case llm.EventMessageDelta:
		if ev.Usage != nil {
			t.usage = t.usage.WithFinal(*ev.Usage)
		}
	}
	return ev, nil
}
