package provider

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// startAttempt starts the span of one upstream HTTP attempt, named
// "chat {model}" as the GenAI conventions ask (the model read from the
// body), or after the method for a call without one (the model list).
func (c *Client) startAttempt(ctx context.Context, method, rawURL string, body []byte) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return ctx, tracing.Noop
	}
	model := ""
	if body != nil {
		if rt, err := jsonfield.ReadRouting(body); err == nil {
			model = rt.Model
		}
	}
	name := method + " " + c.name
	if model != "" {
		name = tracing.OperationChat + " " + model
	}
	ctx, span := tracing.Start(ctx, name, trace.SpanKindClient)
	if !span.IsRecording() {
		return ctx, span
	}
	if model != "" {
		tracing.Model(span, c.name, string(c.dialect), model)
	} else {
		span.SetAttributes(attribute.String(tracing.CascadeProvider, c.name))
	}
	span.SetAttributes(attribute.String(tracing.HTTPRequestMethod, method))
	if u, err := url.Parse(rawURL); err == nil {
		// Host and path only: a query string may carry a key (Azure's api-key).
		span.SetAttributes(attribute.String(tracing.ServerAddress, u.Hostname()), attribute.String(tracing.URLPath, u.Path))
	}
	return ctx, span
}

// attemptAnswered records an attempt's response status (an error type for
// 4xx and 5xx, as the HTTP conventions ask).
func attemptAnswered(span trace.Span, resp *http.Response) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.Int(tracing.HTTPStatusCode, resp.StatusCode))
	if id := resp.Header.Get("Request-Id"); id != "" {
		span.SetAttributes(attribute.String("cascade.upstream_request_id", id))
	} else if id := resp.Header.Get("X-Request-Id"); id != "" {
		span.SetAttributes(attribute.String("cascade.upstream_request_id", id))
	}
	if resp.StatusCode >= 400 {
		tracing.Fail(span, strconv.Itoa(resp.StatusCode))
	}
}
