package cascade

// Second opinions: cheap models asked the client's question alongside the
// draft. They never answer the client: their final answers, compared with
// the draft's, are inputs of the rule's quality loop (a draft that
// independent models agree with is more often right, one they all contradict
// more often wrong). They are waited for a bounded time once the draft is
// ready, so a slow opinion never delays the answer by more than that.

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/proxy/answer"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tokencount"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// opinionReply is how one second-opinion call ended.
type opinionReply struct {
	i    int
	resp *llm.Response
	err  error
	took time.Duration
}

// opinions are one request's second-opinion calls. Each call runs in its own
// goroutine and reports on a buffered channel, so an opinion that is no
// longer awaited ends on its own once canceled, touching nothing shared.
type opinions struct {
	ctx     context.Context // the request's
	cancel  context.CancelFunc
	start   time.Time
	reqs    []*llm.Request
	calls   []*Call         // one per target, pending until it ends or is dropped
	answers []*llm.Response // the answered calls' responses
	replies chan opinionReply
	pending int
}

// askOpinions starts every second opinion of rule for r.
func (e *Engine) askOpinions(ctx context.Context, rule *CompiledRule, r Request) *opinions {
	targets := rule.Rule.SecondOpinion.Targets
	octx, cancel := context.WithCancel(ctx)
	o := &opinions{
		ctx: ctx, cancel: cancel, start: time.Now(),
		reqs:    make([]*llm.Request, len(targets)),
		calls:   make([]*Call, len(targets)),
		answers: make([]*llm.Response, len(targets)),
		replies: make(chan opinionReply, len(targets)),
		pending: len(targets),
	}
	for i, p := range rule.OpinionProviders {
		req := opinionRequest(r, p, targets[i].Model)
		o.reqs[i] = req
		o.calls[i] = &Call{Provider: p.Name(), Model: req.Model}
		go func() {
			sctx, span := startCall(octx, tracing.SpanSecondOpinion, p, req.Model)
			resp, err := p.Complete(sctx, req, nil, r.Header)
			traceOpinion(span, resp, err)
			o.replies <- opinionReply{i: i, resp: resp, err: err, took: time.Since(o.start)}
		}()
	}
	return o
}

// opinionRequest is the client's request for one opinion model in the
// cheapest form that still answers it: not streamed (even for a streaming
// client: nothing of it is relayed), the same max_tokens, tools and tool
// choice (a tool call is an answer too), but without extended thinking or
// log probabilities, which only add billed tokens. Without thinking, the
// history's thinking blocks are removed (signed for other models, unused).
// The canonical request is used, so every provider gets its own dialect.
func opinionRequest(r Request, p Provider, model string) *llm.Request {
	req := *r.Req
	req.Model = model
	req.Stream, req.IncludeUsage = false, false
	req.Thinking = nil
	req.Logprobs, req.TopLogprobs = false, 0
	filterThinking(&req, func(string) (string, bool) { return "", false })
	if p.Dialect() != llm.Anthropic {
		llm.StripBillingHeader(&req)
	}
	return &req
}

// await collects the opinions until all have ended or deadline has passed.
func (o *opinions) await(deadline time.Time) {
	if o.pending == 0 {
		return
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for o.pending > 0 {
		select {
		case rep := <-o.replies:
			o.record(rep)
		case <-timer.C:
			return
		}
	}
}

func (o *opinions) record(rep opinionReply) {
	o.pending--
	c := o.calls[rep.i]
	c.Took = rep.took
	if rep.err != nil {
		c.ended(rep.err)
		return
	}
	c.Usage = rep.resp.Usage
	c.ended(nil)
	o.answers[rep.i] = rep.resp
}

// drop ends the wait: opinions that already answered are kept, the rest are
// canceled and recorded as dropped (canceled, when the client went away).
// A dropped call was sent: its input is billed, so its usage is the
// estimated input tokens.
func (o *opinions) drop() []*Call {
drain:
	for o.pending > 0 {
		select {
		case rep := <-o.replies:
			o.record(rep)
		default:
			break drain
		}
	}
	o.cancel()
	if o.pending > 0 {
		took := time.Since(o.start)
		for i, c := range o.calls {
			if c.End != CallPending {
				continue
			}
			c.Took = took
			c.Usage = llm.Usage{InputTokens: tokencount.Estimate(o.reqs[i])}
			if o.ctx.Err() != nil {
				c.End, c.Err = CallCanceled, context.Cause(o.ctx)
			} else {
				c.End = CallDropped
			}
		}
	}
	return o.calls
}

// agreement compares the draft's final answer with each opinion that
// answered: tool calls with tool calls (same tools, same arguments), else the
// final answers answer.Extract finds in the texts. An opinion whose answer
// cannot be compared with the draft's (none found, a choice letter against a
// number) is not counted as compared.
func (o *opinions) agreement(draft *llm.Response) routequality.Agreement {
	a := routequality.Agreement{Asked: len(o.calls)}
	if hasToolCalls(draft) {
		a.DraftAnswer = true
		for _, op := range o.answers {
			if op == nil {
				continue
			}
			a.Compared++
			if answer.EqualToolCalls(draft.Content, op.Content) {
				a.Agree++
			}
		}
		return a
	}
	da := answer.Extract(draft.Text())
	a.DraftAnswer = da.Kind != answer.None
	if !a.DraftAnswer {
		return a
	}
	for _, op := range o.answers {
		if op == nil {
			continue
		}
		if hasToolCalls(op) {
			a.Compared++ // the opinion acts where the draft answers: a disagreement
			continue
		}
		equal, comparable := answer.Equal(da, answer.Extract(op.Text()))
		if comparable {
			a.Compared++
			if equal {
				a.Agree++
			}
		}
	}
	return a
}

func hasToolCalls(r *llm.Response) bool {
	for _, b := range r.Content {
		if b.Type == llm.BlockToolUse {
			return true
		}
	}
	return false
}

// draftChars is the length of the draft's text in characters.
func draftChars(r *llm.Response) int {
	return utf8.RuneCountInString(r.Text())
}
