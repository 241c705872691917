package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/sse"
)

// eventStream reads an upstream SSE body and yields canonical events.
type eventStream struct {
	c       *Client
	body    io.ReadCloser
	stop    func()
	reader  *sse.Reader
	decoder dialect.StreamDecoder
	queue   []llm.Event
	done    bool
	err     error
}

func newEventStream(c *Client, resp *http.Response, stop func()) *eventStream {
	return &eventStream{c: c, body: resp.Body, stop: stop, reader: sse.NewReader(resp.Body, 0), decoder: c.codec.NewStreamDecoder()}
}

func (s *eventStream) Next(ctx context.Context) (llm.Event, error) {
	for len(s.queue) == 0 {
		if s.err != nil {
			return llm.Event{}, s.err
		}
		if s.done {
			return llm.Event{}, io.EOF
		}
		s.fill(ctx)
	}
	ev := s.queue[0]
	s.queue = s.queue[1:]
	return ev, nil
}

func (s *eventStream) fill(ctx context.Context) {
	ev, err := s.reader.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.finish()
			return
		}
		s.err = s.c.BodyError(ctx, err)
		return
	}
	if s.c.dialect == llm.OpenAI && string(ev.Data) == "[DONE]" {
		s.finish()
		return
	}
	evs, err := s.decoder.Decode(ev.Name, ev.Data)
	if err != nil {
		s.err = asUpstream(s.c, err)
		return
	}
	s.queue = append(s.queue, evs...)
}

func (s *eventStream) finish() {
	evs, err := s.decoder.Finish()
	s.queue = append(s.queue, evs...)
	if err != nil {
		s.err = asUpstream(s.c, err)
	}
	s.done = true
}

func asUpstream(c *Client, err error) *llm.Error {
	var e *llm.Error
	if errors.As(err, &e) {
		return c.redact.Error(e) // e.g. an in-band error event quoting the key
	}
	return &llm.Error{Kind: llm.ErrBadGateway, Message: fmt.Sprintf("upstream %s sent an invalid stream", c.name), Err: err}
}

func (s *eventStream) Close() error {
	err := s.body.Close()
	s.stop()
	return err
}

// replay is a stream over events already in memory.
type replay struct{ events []llm.Event }

func (r *replay) Next(context.Context) (llm.Event, error) {
	if len(r.events) == 0 {
		return llm.Event{}, io.EOF
	}
	ev := r.events[0]
	r.events = r.events[1:]
	return ev, nil
}

func (r *replay) Close() error { return nil }

// Replay returns a stream that yields events from memory.
func Replay(events []llm.Event) llm.Stream { return &replay{events: events} }
