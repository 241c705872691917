package server

import (
	"strconv"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// traced starts the request's server span, continuing the trace of a W3C
// traceparent the client sent, and puts it in the request's context for the
// cascade's and the upstream calls' spans. Installed only when tracing is on.
func (s *Server) traced() gin.HandlerFunc {
	tracer := s.cfg.Tracer.Tracer(tracing.ScopeName)
	return func(c *gin.Context) {
		r := c.Request
		ctx := tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		c.Request = r.WithContext(ctx)
		c.Next()
		if span.IsRecording() {
			s.endRequestSpan(c, span)
		}
	}
}

// endRequestSpan names the span after its route and records what the
// access log records (no prompt, no answer, no credential).
func (s *Server) endRequestSpan(c *gin.Context, span trace.Span) {
	r := c.Request
	status := c.Writer.Status()
	l := tracing.Attrs()
	attrs := append(*l,
		attribute.String(tracing.HTTPRequestMethod, r.Method),
		attribute.Int(tracing.HTTPStatusCode, status),
		attribute.String(tracing.CascadeRequestID, c.GetString(ctxRequestID)))
	if p := c.FullPath(); p != "" {
		span.SetName(tracing.Name(r.Method, p))
		attrs = append(attrs, attribute.String(tracing.HTTPRoute, p))
	} else {
		attrs = append(attrs, attribute.String(tracing.URLPath, r.URL.Path))
	}
	rec := route(c)
	if rec.Model != "" {
		attrs = append(attrs, attribute.String(tracing.GenAIOperationName, tracing.OperationChat),
			attribute.String(tracing.GenAIRequestModel, rec.Model))
	}
	if rec.Served != "" {
		attrs = append(attrs, attribute.String(tracing.GenAIResponseModel, rec.Served))
	}
	if rec.Rule != "" {
		attrs = append(attrs, attribute.String(tracing.CascadeRule, rec.Rule))
	}
	if rec.Outcome != "" {
		attrs = append(attrs, attribute.String(tracing.CascadeOutcome, rec.Outcome))
	}
	if rec.Scored {
		attrs = append(attrs, attribute.Float64(tracing.CascadeScore, rec.Score))
	}
	if rec.CostKnown {
		attrs = append(attrs, attribute.Float64(tracing.CascadeCostUSD, rec.CostUSD))
	}
	if rec.KeyName != "" {
		attrs = append(attrs, attribute.String(tracing.CascadeKeyName, rec.KeyName))
	}
	if rec.Team != "" {
		attrs = append(attrs, attribute.String(tracing.CascadeTeam, rec.Team))
	}
	u := rec.Usage
	attrs = tracing.AppendUsage(attrs, u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens)
	if status >= 500 {
		attrs = append(attrs, attribute.String(tracing.ErrorType, strconv.Itoa(status)))
		span.SetStatus(codes.Error, "status "+strconv.Itoa(status))
	}
	*l = attrs
	tracing.Set(span, l)
}
