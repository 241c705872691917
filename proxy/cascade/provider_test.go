package cascade_test

import (
	"context"
	"io"
	"net/http"
	"sync"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// fakeProvider is an in-memory cascade.Provider: every call runs reply (a
// streamed call replays reply's response as events unless stream is set).
// Nothing in it waits on the wall clock: a call ends when its script says,
// or when its context is done.
type fakeProvider struct {
	name   string
	reply  func(ctx context.Context, req *llm.Request) (*llm.Response, error)
	stream func(ctx context.Context, req *llm.Request) (llm.Stream, error)

	mu       sync.Mutex
	models   []string       // the model of each call, in order
	reqs     []*llm.Request // each call's request, in order
	streamed int            // how many calls were streamed
}

var _ cascade.Provider = (*fakeProvider)(nil)

func (p *fakeProvider) Name() string         { return p.name }
func (p *fakeProvider) Dialect() llm.Dialect { return llm.Anthropic }

func (p *fakeProvider) Complete(ctx context.Context, req *llm.Request, _ llm.Body, _ http.Header) (*llm.Response, error) {
	p.called(req)
	return p.reply(ctx, req)
}

func (p *fakeProvider) Stream(ctx context.Context, req *llm.Request, _ llm.Body, _ http.Header) (llm.Stream, error) {
	p.called(req)
	p.mu.Lock()
	p.streamed++
	p.mu.Unlock()
	if p.stream != nil {
		return p.stream(ctx, req)
	}
	resp, err := p.reply(ctx, req)
	if err != nil {
		return nil, err
	}
	return &scriptedStream{events: resp.Events()}, nil
}

func (p *fakeProvider) called(req *llm.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.models = append(p.models, req.Model)
	p.reqs = append(p.reqs, req)
}

// requests returns the requests received so far and how many were streamed.
func (p *fakeProvider) requests() ([]*llm.Request, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*llm.Request(nil), p.reqs...), p.streamed
}

// calls returns the models asked so far.
func (p *fakeProvider) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.models...)
}

// answers replies text with usage.
func answers(text string, usage llm.Usage) func(context.Context, *llm.Request) (*llm.Response, error) {
	return func(_ context.Context, req *llm.Request) (*llm.Response, error) {
		return answer(req.Model, text, usage), nil
	}
}

func answer(model, text string, usage llm.Usage) *llm.Response {
	return &llm.Response{ID: "msg_fake", Model: model, StopReason: "end_turn", Usage: usage,
		Content: []llm.Block{{Type: llm.BlockText, Text: text}}}
}

// hangs never answers: it returns when the call's context is done, with the
// error a real provider gives then.
func hangs(ctx context.Context, _ *llm.Request) (*llm.Response, error) {
	<-ctx.Done()
	return nil, canceled(ctx)
}

func canceled(ctx context.Context) error {
	return &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled", Err: context.Cause(ctx)}
}

// fails answers with an upstream error of kind.
func fails(kind llm.ErrorKind) func(context.Context, *llm.Request) (*llm.Response, error) {
	return func(context.Context, *llm.Request) (*llm.Response, error) {
		return nil, &llm.Error{Kind: kind, Message: "scripted failure: " + string(kind)}
	}
}

// scriptedStream yields events, then err (nil: io.EOF). With hold set,
// every Next first waits until hold is closed or the context is done.
type scriptedStream struct {
	events []llm.Event
	err    error
	hold   chan struct{}

	mu     sync.Mutex
	closed bool
}

func (s *scriptedStream) Next(ctx context.Context) (llm.Event, error) {
	if s.hold != nil {
		select {
		case <-s.hold:
		case <-ctx.Done():
			return llm.Event{}, canceled(ctx)
		}
	}
	if len(s.events) == 0 {
		if s.err != nil {
			return llm.Event{}, s.err
		}
		return llm.Event{}, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *scriptedStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *scriptedStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
