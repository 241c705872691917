// Package cascade runs a rule: ask the draft model, score the draft with the
// quality gate, return it when it passes, otherwise ask the verifier. It
// knows nothing of HTTP: it returns a buffered response or a live stream and
// the server writes it in the client's dialect. It also does the per-request
// accounting (cost, baseline, savings) and records it.
package cascade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Provider is what the cascade needs from an upstream client.
type Provider interface {
	Name() string
	Dialect() llm.Dialect
	Complete(ctx context.Context, req *llm.Request, raw []byte, clientHeader http.Header) (*llm.Response, error)
	Stream(ctx context.Context, req *llm.Request, raw []byte, clientHeader http.Header) (llm.Stream, error)
}

// Outcome says how a request was answered.
type Outcome string

const (
	Accepted     Outcome = "accepted"      // the draft passed the gate
	Escalated    Outcome = "escalated"     // the draft failed the gate (or the draft call failed)
	SkippedDraft Outcome = "skipped_draft" // complexity pre-routing went straight to the verifier
	DraftOnly    Outcome = "draft_only"    // mode draft-only
	VerifierOnly Outcome = "verifier_only" // mode verifier-only
	Failed       Outcome = "error"         // the answering call failed
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
}

// Result is the cascade's answer. Exactly one of Response and Stream is set
// (Stream only for a client that asked to stream and a verifier answer).
type Result struct {
	Rule     string
	Outcome  Outcome
	Served   string // the model that answered
	Response *llm.Response
	Stream   llm.Stream
	Decision *quality.Decision
	// DraftErr is why the draft call failed, when it did (then Outcome is Escalated).
	DraftErr error
	// DraftUsage and JudgeUsage are known once Run returns.
	DraftModel, JudgeModel string
	DraftUsage, JudgeUsage llm.Usage
	Started                time.Time
	DraftTime, GateTime    time.Duration
}

// Engine runs cascades. Safe for concurrent use.
type Engine struct {
	Log      *slog.Logger
	Recorder *Recorder

	mu    sync.Mutex
	gates map[*rules.Rule]*quality.Gate
	gen   *rules.Set // the set the cached gates belong to
}

// Lookup returns the provider named in a rule target.
type Lookup func(name string) Provider

// Run executes rule for r. An error is returned only when no answer can be
// given (the verifier failed, or the draft did in draft-only mode).
func (e *Engine) Run(ctx context.Context, set *rules.Set, rule *rules.Rule, providers Lookup, r Request) (*Result, error) {
	res := &Result{Rule: rule.Name, Started: time.Now()}
	switch rule.EffectiveMode() {
	case rules.ModeVerifierOnly:
		res.Outcome = VerifierOnly
		return res, e.verify(ctx, rule, providers, r, res)
	case rules.ModeDraftOnly:
		res.Outcome = DraftOnly
		draft, err := e.draft(ctx, rule, providers, r, res)
		if err != nil {
			res.Outcome = Failed
			return res, err
		}
		markDraftThinking(draft, rule.Draft.Model, rule.Verifier.Model)
		res.Response, res.Served = draft, rule.Draft.Model
		return res, nil
	}
	gate, err := e.gate(set, rule)
	if err != nil {
		return res, &llm.Error{Kind: llm.ErrAPI, Message: fmt.Sprintf("rule %s has an invalid gate configuration", rule.Name), Err: err}
	}
	if gate.SkipDraft(r.Req) {
		res.Outcome = SkippedDraft
		return res, e.verify(ctx, rule, providers, r, res)
	}
	draft, err := e.draft(ctx, rule, providers, r, res)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return res, &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled", Err: err}
		}
		res.DraftErr = err
		res.Outcome = Escalated
		e.logger(r).Info("draft failed; escalating", "rule", rule.Name, "error_kind", string(llm.AsError(err).Kind))
		return res, e.verify(ctx, rule, providers, r, res)
	}
	t := time.Now()
	var judge quality.Judge
	if rule.Gate != nil && rule.Gate.Judge != nil {
		judge = &modelJudge{cfg: rule.Gate.Judge, provider: providers(rule.Gate.Judge.Provider)}
	}
	d := gate.Evaluate(ctx, r.Req, draft, judge)
	res.GateTime = time.Since(t)
	res.Decision = &d
	res.JudgeUsage, res.JudgeModel = d.JudgeUsage, d.JudgeModel
	if d.Accept {
		markDraftThinking(draft, rule.Draft.Model, rule.Verifier.Model)
		res.Outcome, res.Response, res.Served = Accepted, draft, rule.Draft.Model
		return res, nil
	}
	res.Outcome = Escalated
	return res, e.verify(ctx, rule, providers, r, res)
}

// draft asks the draft model under the rule's draft timeout; a streaming
// client's draft is streamed and buffered (nothing reaches the client).
func (e *Engine) draft(ctx context.Context, rule *rules.Rule, providers Lookup, r Request, res *Result) (*llm.Response, error) {
	p := providers(rule.Draft.Provider)
	if p == nil {
		return nil, llm.Errorf(llm.ErrAPI, "rule %s: draft provider %s is not configured", rule.Name, rule.Draft.Provider)
	}
	timeout := rule.DraftTimeout.Duration
	if timeout == 0 {
		timeout = DefaultDraftTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	defer func() { res.DraftTime = time.Since(start) }()
	res.DraftModel = rule.Draft.Model
	req, raw := target(r, p, rule.Draft.Model, rule.Verifier.Model)
	var resp *llm.Response
	var err error
	if r.Req.Stream {
		resp, err = collect(dctx, p, req, raw, r.Header)
	} else {
		resp, err = p.Complete(dctx, req, raw, r.Header)
	}
	if err != nil {
		if dctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return nil, &llm.Error{Kind: llm.ErrTimeout, Message: fmt.Sprintf("draft model did not answer within %s", timeout), Err: err}
		}
		return nil, err
	}
	res.DraftUsage = resp.Usage
	return resp, nil
}

// collect streams a request and accumulates it into a response.
func collect(ctx context.Context, p Provider, req *llm.Request, raw []byte, h http.Header) (*llm.Response, error) {
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

// verify asks the verifier: a live stream for a streaming client, else a
// complete response.
func (e *Engine) verify(ctx context.Context, rule *rules.Rule, providers Lookup, r Request, res *Result) error {
	p := providers(rule.Verifier.Provider)
	if p == nil {
		return llm.Errorf(llm.ErrAPI, "rule %s: verifier provider %s is not configured", rule.Name, rule.Verifier.Provider)
	}
	res.Served = rule.Verifier.Model
	// verifierTimeout bounds the wait for the verifier's answer to start
	// (its headers); a long streamed answer may take as long as it takes.
	vctx, cancel := context.WithCancelCause(ctx)
	var timer *time.Timer
	timeout := rule.VerifierTimeout.Duration
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() { cancel(errVerifierTimeout) })
	}
	timedOut := func(err error) error {
		if errors.Is(context.Cause(vctx), errVerifierTimeout) && ctx.Err() == nil {
			return &llm.Error{Kind: llm.ErrTimeout, Message: fmt.Sprintf("verifier model did not answer within %s", timeout), Retryable: true, Err: err}
		}
		return err
	}
	req, raw := target(r, p, rule.Verifier.Model, rule.Verifier.Model)
	if r.Req.Stream {
		s, err := p.Stream(vctx, req, raw, r.Header)
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			cancel(nil)
			return timedOut(err)
		}
		res.Stream = &cancelOnClose{Stream: s, cancel: cancel}
		return nil
	}
	defer cancel(nil)
	resp, err := p.Complete(vctx, req, raw, r.Header)
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		return timedOut(err)
	}
	res.Response = resp
	return nil
}

var errVerifierTimeout = errors.New("verifier timeout")

// cancelOnClose releases a stream's context when the stream is closed.
type cancelOnClose struct {
	llm.Stream
	cancel context.CancelCauseFunc
}

func (c *cancelOnClose) Close() error {
	err := c.Stream.Close()
	c.cancel(nil)
	return err
}

// target prepares the request for one model on one provider: the client's
// raw bytes with only the model rewritten when the provider speaks the
// client's dialect, else the canonical request (Claude Code's per-request
// billing block stripped for non-Anthropic upstreams). Either way the
// history's thinking blocks are restored or removed for model (see
// thinking.go); owner is the verifier, whose blocks are not marked.
func target(r Request, p Provider, model, owner string) (*llm.Request, []byte) {
	req := *r.Req
	req.Model = model
	decide := thinkingPolicy(model, owner)
	if p.Dialect() == r.RawDialect && r.Raw != nil {
		raw := r.Raw // shared, never written: a target asking for the requested model (often the verifier) costs no copy
		if q := jsonfield.QuoteString(model); !bytes.Equal(raw[r.ModelSpan.Start:r.ModelSpan.End], q) {
			raw = jsonfield.Replace(raw, r.ModelSpan, q)
		}
		switch {
		case r.RawDialect == llm.Anthropic:
			raw = historyFor(raw, decide)
		case req.Stream:
			// The usage chunk lets the accounting price the stream; the client sees
			// it only if it asked (streams are re-encoded from its own request).
			raw = openai.WithStreamUsage(raw)
		}
		return &req, raw
	}
	filterThinking(&req, decide)
	if p.Dialect() != llm.Anthropic {
		llm.StripBillingHeader(&req)
	}
	return &req, nil
}

func (e *Engine) gate(set *rules.Set, rule *rules.Rule) (*quality.Gate, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gen != set || e.gates == nil {
		e.gates, e.gen = map[*rules.Rule]*quality.Gate{}, set // a new rules set: drop the old gates
	}
	if g, ok := e.gates[rule]; ok {
		return g, nil
	}
	g, err := quality.New(rule.Gate, rule.EffectiveThreshold())
	if err != nil {
		return nil, err
	}
	e.gates[rule] = g
	return g, nil
}

func (e *Engine) logger(r Request) *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}
