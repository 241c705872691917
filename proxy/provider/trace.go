package provider

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// startAttempt starts the span of one upstream HTTP attempt, named
// "chat {model}" as the GenAI conventions ask (the model noted with
// tracing.WithModel), or after the method for a call without one (the
// model list).
func (c *Client) startAttempt(ctx context.Context, method, rawURL string) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return ctx, tracing.Noop
	}
	model := tracing.ModelFrom(ctx)
	name := tracing.Name(tracing.OperationChat, model)
	if model == "" {
		name = tracing.Name(method, c.name)
	}
	ctx, span := tracing.Start(ctx, name, trace.SpanKindClient)
	if !span.IsRecording() {
		return ctx, span
	}
	l := tracing.Attrs()
	attrs := *l
	if model != "" {
		attrs = tracing.AppendModel(attrs, c.name, string(c.dialect), model)
	} else {
		attrs = append(attrs, attribute.String(tracing.CascadeProvider, c.name))
	}
	host, path := hostPath(rawURL)
	attrs = append(attrs, attribute.String(tracing.ServerAddress, host))
	if model == "" { // a chat call's path says nothing its name does not
		attrs = append(attrs, attribute.String(tracing.HTTPRequestMethod, method), attribute.String(tracing.URLPath, path))
	}
	*l = attrs
	tracing.Set(span, l)
	return ctx, span
}

// hostPath returns the host (with its port) and the path of an absolute
// URL, without the query: a query string may carry a key (Azure's api-key).
func hostPath(rawURL string) (host, path string) {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "", ""
	}
	rest, _, _ = strings.Cut(rest, "?")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, "/"
}

// attemptAnswered records an attempt's response status (an error type for
// 4xx and 5xx, as the HTTP conventions ask).
func attemptAnswered(span trace.Span, resp *http.Response) {
	if !span.IsRecording() {
		return
	}
	l := tracing.Attrs()
	attrs := append(*l, attribute.Int(tracing.HTTPStatusCode, resp.StatusCode))
	id := resp.Header.Get("Request-Id")
	if id == "" {
		id = resp.Header.Get("X-Request-Id")
	}
	if id != "" {
		attrs = append(attrs, attribute.String("cascade.upstream_request_id", id))
	}
	if resp.StatusCode >= 400 {
		attrs = append(attrs, attribute.String(tracing.ErrorType, strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, "upstream answered "+strconv.Itoa(resp.StatusCode))
	}
	*l = attrs
	tracing.Set(span, l)
}
