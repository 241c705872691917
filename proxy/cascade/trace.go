package cascade

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// startCall starts the span of one stage's upstream call (draft, second
// opinion, judge, verifier); the provider adds a child span per attempt.
func startCall(ctx context.Context, name string, p Provider, model string) (context.Context, trace.Span) {
	ctx, span := tracing.Start(ctx, name, trace.SpanKindInternal)
	tracing.Model(span, p.Name(), string(p.Dialect()), model)
	return ctx, span
}

// endCall records how call ended on its span and ends it.
func endCall(span trace.Span, call *Call, served string) {
	if span.IsRecording() {
		u := call.Usage
		attrs := tracing.AppendUsage(make([]attribute.KeyValue, 0, 7), u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens)
		if call.End == CallAnswered && served != "" {
			attrs = append(attrs, attribute.String(tracing.GenAIResponseModel, served))
		}
		failed := call.End != CallAnswered && call.End != CallPending
		if failed {
			attrs = append(attrs, attribute.String("cascade.call_end", string(call.End)), attribute.String(tracing.ErrorType, errorType(call.Err)))
			span.SetStatus(codes.Error, errorType(call.Err))
		}
		span.SetAttributes(attrs...)
	}
	span.End()
}

// errorType is a bounded label for err: its llm error kind.
func errorType(err error) string {
	if err == nil {
		return "error"
	}
	return string(llm.AsError(err).Kind)
}

// traceGate records the gate's decision on its span.
func traceGate(span trace.Span, score float64, accept bool) {
	if span.IsRecording() {
		span.SetAttributes(attribute.Float64(tracing.CascadeScore, score), attribute.Bool(tracing.CascadeAccepted, accept))
	}
	span.End()
}

// traceOpinion ends a second opinion's span.
func traceOpinion(span trace.Span, resp *llm.Response, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	call := &Call{}
	if resp != nil {
		call.Usage = resp.Usage
	}
	call.ended(err)
	served := ""
	if resp != nil {
		served = resp.Model
	}
	endCall(span, call, served)
}

// startAudit starts the span of a background comparison, a child of the
// request's span (which has ended by then: the client has its answer).
func startAudit(ctx context.Context, res *Result, rule, kind string) (context.Context, trace.Span) {
	if res.span == nil {
		return ctx, tracing.Noop
	}
	ctx, span := tracing.Start(trace.ContextWithSpan(ctx, res.span), tracing.SpanAudit, trace.SpanKindInternal)
	if span.IsRecording() {
		span.SetAttributes(attribute.String(tracing.CascadeRule, rule), attribute.String("cascade.audit.source", kind))
	}
	return ctx, span
}
