// Package cascade runs a rule: ask the draft model, score the draft with the
// quality gate, return it when it passes, otherwise ask the verifier. It
// knows nothing of HTTP: it returns a buffered response or a live stream and
// the server writes it in the client's dialect. It also does the per-request
// accounting (cost, baseline, savings; per conversation for a session's
// prompt cache) and records it; with granularity turn it decides once per
// user turn of an agent (turns.go).
package cascade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/turn"
)

// Provider is what the cascade needs from an upstream client.
type Provider interface {
	Name() string
	Dialect() llm.Dialect
	Complete(ctx context.Context, req *llm.Request, raw llm.Body, clientHeader http.Header) (*llm.Response, error)
	Stream(ctx context.Context, req *llm.Request, raw llm.Body, clientHeader http.Header) (llm.Stream, error)
}

// Outcome says how a request was answered.
type Outcome string

const (
	Accepted     Outcome = "accepted"      // the draft passed the gate
	Escalated    Outcome = "escalated"     // the draft failed the gate (or the draft call failed)
	SkippedDraft Outcome = "skipped_draft" // complexity pre-routing went straight to the verifier
	Bypassed     Outcome = "bypassed"      // the rule's quality loop escalates everything: the verifier alone, no draft
	DraftOnly    Outcome = "draft_only"    // mode draft-only
	TurnDraft    Outcome = "turn_draft"    // a turn's tool-result step on the draft that answered the turn (granularity turn)
	TurnVerifier Outcome = "turn_verifier" // a turn's tool-result step on the verifier, which answered the turn (granularity turn)
	VerifierOnly Outcome = "verifier_only" // mode verifier-only
	Failed       Outcome = "error"         // the answering call failed, before or after its first byte
	Canceled     Outcome = "canceled"      // the client went away before the answer was complete
)

// DefaultDraftTimeout bounds a draft call when the rule sets none.
const DefaultDraftTimeout = 30 * time.Second

// Request is one client request for a rule's model.
type Request struct {
	Req        *llm.Request // decoded client request (Model = requested model)
	Raw        []byte       // the client's body, exactly as received
	RawDialect llm.Dialect  // the dialect Raw is written in
	ModelSpan  jsonfield.Span
	Header     http.Header
	// VerifierOnly asks the verifier alone, whatever the rule's mode (the
	// native API's force_direct).
	VerifierOnly bool
}

// Result is the cascade's answer and what it took. Exactly one of Response
// and Stream is set once Run succeeds (Stream only for a client that asked
// to stream and a verifier answer); Recorder.Finish settles it.
type Result struct {
	Rule     string
	Outcome  Outcome
	Served   string // the model that answered
	Response *llm.Response
	Stream   llm.Stream
	Decision *quality.Decision
	// Draft, Judge and Verifier are the upstream calls made, nil when not made.
	Draft, Judge, Verifier *Call
	// Opinions are the second-opinion calls made, in the rule's order.
	Opinions []*Call
	// DraftResponse is the draft's complete answer when one was read
	// (accepted or not): the quality loop compares it with the verifier's.
	DraftResponse *llm.Response
	// Verdict is the rule's quality-loop decision on the draft (score,
	// threshold, features); nil when no draft was scored.
	Verdict *routequality.Verdict
	// Agreement is what the second opinions said of the draft (zero when
	// none was asked or no draft was read).
	Agreement routequality.Agreement
	// Mass is what this request's sample stands for (see routequality.Route.Bypass); 0 reads as 1.
	Mass     float64
	Started  time.Time
	GateTime time.Duration
	// OpinionWait is how long the verdict waited for second opinions after
	// the draft and the gate.
	OpinionWait time.Duration
	// Turn is where an Anthropic Messages request stands in its
	// conversation (zero for other dialects); it keys the turn memory and
	// the per-session accounting.
	Turn turn.Info
	// span is the request's span (tracing), parent of the later audit's.
	span trace.Span
}

// Calls are the upstream calls of the request: the draft, the judge and the
// verifier (nil when not made), then the second opinions.
func (res *Result) Calls() []*Call {
	return append([]*Call{res.Draft, res.Judge, res.Verifier}, res.Opinions...)
}

// Call is one upstream call of a request and how it ended.
type Call struct {
	Provider string
	Model    string
	// Usage is what the call reported: for a stream, as far as it was read.
	Usage llm.Usage
	End   CallEnd
	// Err is why the call did not answer.
	Err  error
	Took time.Duration
	// events counts the stream events read, to tell a stream that broke
	// after its first byte from one that never started.
	events int
}

// CallEnd says how an upstream call ended.
type CallEnd string

const (
	CallPending  CallEnd = ""         // a live stream not yet read to its end
	CallAnswered CallEnd = "answered" // a complete answer
	CallFailed   CallEnd = "failed"   // no answer: an error, a timeout, a stream that broke before its first event
	CallBroken   CallEnd = "broken"   // a live stream that failed after its first event (garbage, cut, truncated)
	CallCanceled CallEnd = "canceled" // the client went away
	CallDropped  CallEnd = "dropped"  // a second opinion no longer awaited (too late, or the draft failed): canceled by the cascade
)

// ended records how the call ended: err nil is a complete answer.
func (c *Call) ended(err error) {
	switch {
	case err == nil:
		c.End = CallAnswered
	case isCanceled(err):
		c.End, c.Err = CallCanceled, err
	case c.events > 0:
		c.End, c.Err = CallBroken, err
	default:
		c.End, c.Err = CallFailed, err
	}
}

// isCanceled reports whether err says the client went away.
func isCanceled(err error) bool {
	var e *llm.Error
	if errors.As(err, &e) {
		return e.Kind == llm.ErrCanceled
	}
	return errors.Is(err, context.Canceled)
}

// upstreamFailed reports whether the call failed on the upstream's side.
func (c *Call) upstreamFailed() bool {
	return c != nil && (c.End == CallFailed || c.End == CallBroken)
}

// Engine runs cascades. Safe for concurrent use.
type Engine struct {
	Log      *slog.Logger
	Recorder *Recorder
	// Turns remembers who answered each user turn of the rules with
	// granularity turn; nil: a memory of DefaultTurnMemory turns, each
	// forgotten DefaultTurnTTL after its last request, made on first use.
	Turns *TurnMemory

	turnsOnce sync.Once
}

// Lookup returns the provider named in a rule target, or nil.
type Lookup func(name string) Provider

// Run executes rule for r. It always returns a Result, to be passed to
// Recorder.Finish; an error is returned only when no answer can be given
// (the verifier failed, or the draft did in draft-only mode).
func (e *Engine) Run(ctx context.Context, rule *CompiledRule, r Request) (*Result, error) {
	spec := rule.Rule
	res := &Result{Rule: spec.Name, Started: time.Now(), span: trace.SpanFromContext(ctx)}
	if r.RawDialect == llm.Anthropic && r.Raw != nil {
		res.Turn = turn.Classify(r.Raw)
	}
	mode := spec.EffectiveMode()
	if r.VerifierOnly {
		mode = rules.ModeVerifierOnly
	}
	switch mode {
	case rules.ModeVerifierOnly:
		res.Outcome = VerifierOnly
		return res, e.verify(ctx, rule, r, res)
	case rules.ModeDraftOnly:
		res.Outcome = DraftOnly
		draft, err := e.draft(ctx, rule, r, res)
		if err != nil {
			return res, err
		}
		markDraftThinking(draft, res.Draft.Model, spec.Verifier.Model)
		res.Response, res.Served = draft, res.Draft.Model
		return res, nil
	}
	if spec.EffectiveGranularity() == rules.GranularityTurn && res.Turn.Kind != turn.Unknown {
		if res.Turn.Kind == turn.Continue {
			if who, ok := e.turnMemory().Get(turnOf(rule, res)); ok {
				return res, e.continueTurn(ctx, rule, r, res, who)
			}
		}
		defer e.remember(rule, res)
	}
	return res, e.cascade(ctx, rule, r, res)
}

// cascade decides one request on its own: the draft, the gate, and the
// verifier when the draft is not good enough.
func (e *Engine) cascade(ctx context.Context, rule *CompiledRule, r Request, res *Result) error {
	spec := rule.Rule
	if rule.Gate.SkipDraft(r.Req) {
		res.Outcome = SkippedDraft
		return e.verify(ctx, rule, r, res)
	}
	loop := rule.Quality != nil && rule.Quality.Settings().Active()
	var ops *opinions
	if loop {
		bypass, mass := rule.Quality.Bypass()
		res.Mass = mass
		if bypass {
			res.Outcome = Bypassed
			return e.verify(ctx, rule, r, res)
		}
		if len(rule.OpinionProviders) > 0 {
			ops = e.askOpinions(ctx, rule, r)
		}
	}
	draft, err := e.draft(ctx, rule, r, res)
	if err != nil {
		if ops != nil {
			res.Opinions = ops.drop() // nothing to compare them with
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled", Err: err}
		}
		res.Outcome = Escalated
		e.logger(r).Info("draft failed; escalating", "rule", spec.Name, "error_kind", string(llm.AsError(err).Kind))
		return e.verify(ctx, rule, r, res)
	}
	t := time.Now()
	var judge quality.Judge
	if rule.judge != nil {
		judge = &recordedJudge{modelJudge: rule.judge, res: res}
	}
	gctx, gate := tracing.Start(ctx, tracing.SpanGate, trace.SpanKindInternal)
	d := rule.Gate.Evaluate(gctx, r.Req, draft, judge)
	res.GateTime = time.Since(t)
	res.Decision = &d
	accept := d.Accept
	if loop {
		accept = e.decide(rule, draft, &d, ops, t, res)
	}
	traceGate(gate, d.Score, accept)
	if accept {
		markDraftThinking(draft, res.Draft.Model, spec.Verifier.Model)
		res.Outcome, res.Response, res.Served = Accepted, draft, res.Draft.Model
		return nil
	}
	res.Outcome = Escalated
	return e.verify(ctx, rule, r, res)
}

// decide is the quality loop's verdict on a draft the gate has scored: it
// waits for the second opinions until the rule's OpinionWait after the draft
// was ready (drafted), compares them with the draft and lets the route
// decide. The verdict and the draft are kept in res for the loop's later
// steps.
func (e *Engine) decide(rule *CompiledRule, draft *llm.Response, d *quality.Decision, ops *opinions, drafted time.Time, res *Result) bool {
	res.DraftResponse = draft
	in := routequality.Inputs{Decision: d, DraftChars: draftChars(draft)}
	if ops != nil {
		t := time.Now()
		ops.await(drafted.Add(rule.Quality.Settings().OpinionWait))
		res.Opinions = ops.drop()
		res.OpinionWait = time.Since(t)
		res.Agreement = ops.agreement(draft)
		in.Agreement = res.Agreement
	}
	v := rule.Quality.Decide(in, d.Accept)
	res.Verdict = &v
	return v.Accept
}

// draft asks the draft model (then its fallbacks, in order, while a call
// fails on the upstream's side) under the rule's draft timeout; a streaming
// client's draft is streamed and buffered (nothing reaches the client).
func (e *Engine) draft(ctx context.Context, rule *CompiledRule, r Request, res *Result) (*llm.Response, error) {
	spec := rule.Rule
	call := &Call{Provider: rule.DraftProvider.Name(), Model: spec.Draft.Model}
	res.Draft = call
	timeout := spec.DraftTimeout.Duration
	if timeout == 0 {
		timeout = DefaultDraftTimeout
	}
	ctx, span := startCall(ctx, tracing.SpanDraft, rule.DraftProvider, spec.Draft.Model)
	defer func() { endCall(span, call, call.Model) }()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var resp *llm.Response
	var err error
	for i, c := range rule.candidates(roleDraft) {
		if i > 0 {
			if !fallBack(dctx, err) {
				break
			}
			e.fellBack(rule, roleDraft, c, call)
		}
		req, raw := target(r, c.Provider, c.Model, spec.Verifier.Model)
		if r.Req.Stream {
			resp, err = collect(dctx, c.Provider, req, raw, r.Header)
		} else {
			resp, err = c.Provider.Complete(dctx, req, raw, r.Header)
		}
		if err == nil {
			break
		}
	}
	call.Took = time.Since(start)
	if err != nil {
		if dctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = &llm.Error{Kind: llm.ErrTimeout, Message: fmt.Sprintf("draft model did not answer within %s", timeout), Err: err}
		}
		call.ended(err)
		return nil, err
	}
	call.Usage = resp.Usage
	call.ended(nil)
	return resp, nil
}

// collect streams a request and accumulates it into a response.
func collect(ctx context.Context, p Provider, req *llm.Request, raw llm.Body, h http.Header) (*llm.Response, error) {
	s, err := p.Stream(ctx, req, raw, h)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var acc llm.Accumulator
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if err := acc.Add(ev); err != nil {
			return nil, &llm.Error{Kind: llm.ErrBadGateway, Message: "draft stream was malformed", Err: err}
		}
	}
	if !acc.Complete() {
		return nil, &llm.Error{Kind: llm.ErrBadGateway, Message: "draft stream ended early"}
	}
	return acc.Response(), nil
}

// verify asks the verifier (then its fallbacks, in order, while a call
// fails before its answer began): a live stream for a streaming client,
// else a complete response.
func (e *Engine) verify(ctx context.Context, rule *CompiledRule, r Request, res *Result) error {
	spec := rule.Rule
	res.Served = spec.Verifier.Model
	call := &Call{Provider: rule.VerifierProvider.Name(), Model: spec.Verifier.Model}
	res.Verifier = call
	start := time.Now()
	ctx, span := startCall(ctx, tracing.SpanVerifier, rule.VerifierProvider, spec.Verifier.Model)
	// verifierTimeout bounds the wait for the verifier's answer to start
	// (its headers, fallbacks included); a long streamed answer may take as
	// long as it takes.
	vctx, cancel := context.WithCancelCause(ctx)
	var timer *time.Timer
	timeout := spec.VerifierTimeout.Duration
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() { cancel(errVerifierTimeout) })
	}
	failed := func(err error) error {
		if errors.Is(context.Cause(vctx), errVerifierTimeout) && ctx.Err() == nil {
			err = &llm.Error{Kind: llm.ErrTimeout, Message: fmt.Sprintf("verifier model did not answer within %s", timeout), Retryable: true, Err: err}
		}
		call.Took = time.Since(start)
		call.ended(err)
		endCall(span, call, "")
		return err
	}
	var stream llm.Stream
	var resp *llm.Response
	var err error
	for i, c := range rule.candidates(roleVerifier) {
		if i > 0 {
			if !fallBack(vctx, err) {
				break
			}
			e.fellBack(rule, roleVerifier, c, call)
		}
		req, raw := target(r, c.Provider, c.Model, spec.Verifier.Model)
		if r.Req.Stream {
			stream, err = c.Provider.Stream(vctx, req, raw, r.Header)
		} else {
			resp, err = c.Provider.Complete(vctx, req, raw, r.Header)
		}
		if err == nil {
			break
		}
	}
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		cancel(nil)
		return failed(err)
	}
	res.Served = call.Model
	if r.Req.Stream {
		// An answer by a fallback of another family carries thinking blocks
		// the verifier cannot read: they are marked as the draft's are.
		res.Stream = &meteredStream{Stream: markStream(stream, call.Model, spec.Verifier.Model), cancel: cancel, call: call, start: start, span: span, model: call.Model}
		return nil
	}
	cancel(nil)
	markDraftThinking(resp, call.Model, spec.Verifier.Model)
	call.Took, call.Usage = time.Since(start), resp.Usage
	call.ended(nil)
	endCall(span, call, call.Model)
	res.Response = resp
	return nil
}

var errVerifierTimeout = errors.New("verifier timeout")

// meteredStream is the verifier's live stream: it keeps the call's usage up
// to date as events pass (input counts from message_start, final counts from
// message_delta) and releases the call's context when closed. How the
// stream ended is reported to Recorder.Finish by whoever read it.
type meteredStream struct {
	llm.Stream
	cancel context.CancelCauseFunc
	call   *Call
	start  time.Time
	span   trace.Span // the verifier's, ended with the stream
	model  string
}

func (m *meteredStream) Next(ctx context.Context) (llm.Event, error) {
	ev, err := m.Stream.Next(ctx)
	if err != nil {
		return ev, err
	}
	m.call.events++
	switch ev.Type {
	case llm.EventMessageStart:
		if ev.Message != nil {
			m.call.Usage = ev.Message.Usage
		}
	case llm.EventMessageDelta:
		if ev.Usage != nil {
			m.call.Usage = m.call.Usage.WithFinal(*ev.Usage)
		}
	}
	return ev, nil
}

// ended records how reading the stream ended (err nil: read to its end),
// once.
func (m *meteredStream) ended(err error) {
	if m.call.End == CallPending {
		m.call.Took = time.Since(m.start)
		m.call.ended(err)
	}
}

func (m *meteredStream) Close() error {
	err := m.Stream.Close()
	m.cancel(nil)
	if m.span != nil {
		endCall(m.span, m.call, m.model)
		m.span = nil
	}
	return err
}

// target prepares the request for one model on one provider: the client's
// raw bytes with only the model rewritten when the provider speaks the
// client's dialect (an Anthropic body keeps its cache_control breakpoints,
// at most anthropic.MaxCacheBreakpoints of them), else the canonical
// request (Claude Code's per-request billing block stripped, and the
// breakpoints dropped by the encoder, for non-Anthropic upstreams). Either way the
// history's thinking blocks are restored or removed for model (see
// thinking.go); owner is the verifier, whose blocks are not marked.
func target(r Request, p Provider, model, owner string) (*llm.Request, llm.Body) {
	req := *r.Req
	req.Model = model
	decide := thinkingPolicy(model, owner)
	if p.Dialect() == r.RawDialect && r.Raw != nil {
		raw := r.Raw // shared, never written
		edited := raw
		switch {
		case r.RawDialect == llm.Anthropic:
			// Whichever model answers gets the client's breakpoints, within the API's limit.
			edited = anthropic.LimitCacheBreakpoints(anthropic.FilterHistory(raw, decide), anthropic.MaxCacheBreakpoints)
		case req.Stream:
			// The usage chunk lets the accounting price the stream; the client sees
			// it only if it asked (streams are re-encoded from its own request).
			edited = openai.WithStreamUsage(raw)
		}
		// The model is spliced in, not copied in: the rest of a large body is
		// sent from the client's bytes.
		return &req, jsonfield.SpliceString(raw, edited, r.ModelSpan, "model", model)
	}
	filterThinking(&req, decide)
	if p.Dialect() != llm.Anthropic {
		llm.StripBillingHeader(&req)
	}
	return &req, nil
}

func (e *Engine) logger(r Request) *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}
