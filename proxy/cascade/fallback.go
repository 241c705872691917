package cascade

import (
	"context"
	"fmt"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Candidate is one model on one provider that may serve a role: the
// target itself or one of its fallbacks.
type Candidate struct {
	Provider Provider
	Model    string
}

// Roles of a rule's targets, as the fallbacks metric names them.
const (
	roleDraft    = "draft"
	roleVerifier = "verifier"
)

// candidates are the draft's or the verifier's target, then its fallbacks.
func (c *CompiledRule) candidates(role string) []Candidate {
	if role == roleDraft {
		return append([]Candidate{{Provider: c.DraftProvider, Model: c.Rule.Draft.Model}}, c.DraftFallbacks...)
	}
	return append([]Candidate{{Provider: c.VerifierProvider, Model: c.Rule.Verifier.Model}}, c.VerifierFallbacks...)
}

// fallbacks resolves a target's fallbacks; provider reports the unknown.
func fallbacks(provider func(string, rules.Target) Provider, field string, fbs []rules.Fallback) []Candidate {
	var out []Candidate
	for i, fb := range fbs {
		if p := provider(fmt.Sprintf("%s.fallbacks[%d]", field, i), fb.Target()); p != nil {
			out = append(out, Candidate{Provider: p, Model: fb.Model})
		}
	}
	return out
}

// fallBack reports whether a call that failed with err may be made to the
// next candidate: the upstream failed, and the request still has time.
func fallBack(ctx context.Context, err error) bool {
	return ctx.Err() == nil && resilience.FallBack(err)
}

// fellBack counts a call to fallback c and makes call its record: the
// failed candidate's call spent nothing (it failed before its answer).
func (e *Engine) fellBack(rule *CompiledRule, role string, c Candidate, call *Call) {
	e.logger(Request{}).Info("falling back", "rule", rule.Name(), "target", role, "provider", c.Provider.Name(), "model", c.Model)
	if e.Recorder != nil && e.Recorder.Metrics != nil {
		e.Recorder.Metrics.Fallbacks.WithLabelValues(rule.Name(), role, c.Model).Inc()
	}
	call.Provider, call.Model = c.Provider.Name(), c.Model
}

// markStream marks the thinking blocks of a live answer by model as model's
// (see thinking.go) when model is of another family than owner, whose
// blocks go unmarked.
func markStream(s llm.Stream, model, owner string) llm.Stream {
	if sameFamily(model, owner) {
		return s
	}
	return &markingStream{Stream: s, model: model}
}

type markingStream struct {
	llm.Stream
	model string
}

func (m *markingStream) Next(ctx context.Context) (llm.Event, error) {
	ev, err := m.Stream.Next(ctx)
	if err != nil {
		return ev, err
	}
	switch {
	case ev.Type == llm.EventBlockDelta && ev.Delta != nil && ev.Delta.Type == llm.DeltaSignature && ev.Delta.Signature != "":
		d := *ev.Delta
		d.Signature = markSignature(m.model, d.Signature)
		ev.Delta, ev.Raw = &d, nil
	case ev.Type == llm.EventBlockStart && ev.Block != nil:
		if sig, ok := anthropic.ThinkingSignature(*ev.Block); ok && sig != "" {
			b := *ev.Block
			anthropic.SetThinkingSignature(&b, markSignature(m.model, sig))
			ev.Block, ev.Raw = &b, nil
		}
	}
	return ev, nil
}
