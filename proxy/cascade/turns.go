package cascade

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/turn"
)

// Granularity turn: an agent's user turn is one request that starts it and
// as many tool-result requests as its tool loop takes. The start is
// cascaded as any request; each continuation goes to the model that
// answered the turn so far, without a new draft when that is the verifier,
// so a turn pays for at most one rejected draft and each model's prompt
// cache stays warm across the turn. A continuation on the draft is still
// checked by the gate's vetoes (an invalid tool call, a truncated answer, a
// refusal): a vetoed step, and the rest of its turn, go to the verifier.
//
// What answered a turn is remembered by this process only, in a bounded
// memory: a continuation whose turn is not remembered (served by another
// replica, or forgotten) is decided on its own, as with granularity
// request, and its answerer is remembered for the rest of the turn.

// Defaults of the turn memory.
const (
	DefaultTurnMemory = 10000
	DefaultTurnTTL    = time.Hour
)

// answerer is who answers a turn.
type answerer uint8

const (
	byDraft answerer = iota + 1
	byVerifier
)

// turnID names one turn of one rule.
type turnID struct {
	rule string
	turn turn.Key
}

// TurnMemory remembers who answered each turn.
type TurnMemory = turn.Cache[turnID, answerer]

// NewTurnMemory makes a memory of at most size turns, each forgotten ttl
// after its last request.
func NewTurnMemory(size int, ttl time.Duration) *TurnMemory {
	return turn.NewCache[turnID, answerer](size, ttl, nil)
}

func (e *Engine) turnMemory() *TurnMemory {
	e.turnsOnce.Do(func() {
		if e.Turns == nil {
			e.Turns = NewTurnMemory(DefaultTurnMemory, DefaultTurnTTL)
		}
	})
	return e.Turns
}

func turnOf(rule *CompiledRule, res *Result) turnID {
	return turnID{rule: rule.Name(), turn: res.Turn.Turn}
}

// remember records who answered a request decided on its own, for the
// rest of its turn.
func (e *Engine) remember(rule *CompiledRule, res *Result) {
	var who answerer
	switch res.Outcome {
	case Accepted:
		who = byDraft
	case Escalated, SkippedDraft, Bypassed:
		who = byVerifier
	default:
		return
	}
	e.turnMemory().Put(turnOf(rule, res), who)
}

// continueTurn answers a continuation with the model that answered its
// turn: the verifier at once, or the draft unless the gate vetoes its step
// (or the draft call fails), which moves the turn to the verifier.
func (e *Engine) continueTurn(ctx context.Context, rule *CompiledRule, r Request, res *Result, who answerer) error {
	if who == byVerifier {
		res.Outcome = TurnVerifier
		return e.verify(ctx, rule, r, res)
	}
	spec := rule.Rule
	draft, err := e.draft(ctx, rule, r, res)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled", Err: err}
		}
		e.logger(r).Info("draft failed; the rest of the turn goes to the verifier", "rule", spec.Name)
		return e.moveTurn(ctx, rule, r, res)
	}
	t := time.Now()
	gctx, gate := tracing.Start(ctx, tracing.SpanGate, trace.SpanKindInternal)
	// No judge: the turn's draft was judged at its start; a step is only
	// checked for what breaks an agent's loop.
	d := rule.Gate.Evaluate(gctx, r.Req, draft, nil)
	res.GateTime = time.Since(t)
	res.Decision = &d
	ok := !vetoed(&d)
	traceGate(gate, d.Score, ok)
	if !ok {
		return e.moveTurn(ctx, rule, r, res)
	}
	markDraftThinking(draft, res.Draft.Model, spec.Verifier.Model)
	res.Outcome, res.Response, res.Served = TurnDraft, draft, res.Draft.Model
	return nil
}

// moveTurn escalates a continuation and the rest of its turn to the verifier.
func (e *Engine) moveTurn(ctx context.Context, rule *CompiledRule, r Request, res *Result) error {
	res.Outcome = Escalated
	e.turnMemory().Put(turnOf(rule, res), byVerifier)
	return e.verify(ctx, rule, r, res)
}

// vetoed reports whether a signal of the decision vetoed the draft.
func vetoed(d *quality.Decision) bool {
	for _, s := range d.Signals {
		if s.Veto {
			return true
		}
	}
	return false
}
