package tracing

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span names of the cascade's stages. The server span is named
// "{method} {route}" and an upstream attempt "{operation} {model}", as the
// HTTP and GenAI semantic conventions ask.
const (
	SpanDraft         = "cascade.draft"
	SpanSecondOpinion = "cascade.second_opinion"
	SpanGate          = "cascade.gate"
	SpanJudge         = "cascade.judge"
	SpanVerifier      = "cascade.verifier"
	SpanAudit         = "cascade.audit"
)

// Attribute keys: OpenTelemetry's GenAI and HTTP semantic conventions, and
// the cascade's own.
const (
	GenAIOperationName       = "gen_ai.operation.name"
	GenAIProviderName        = "gen_ai.provider.name"
	GenAISystem              = "gen_ai.system" // the name before gen_ai.provider.name, for older backends
	GenAIRequestModel        = "gen_ai.request.model"
	GenAIResponseModel       = "gen_ai.response.model"
	GenAIInputTokens         = "gen_ai.usage.input_tokens"
	GenAIOutputTokens        = "gen_ai.usage.output_tokens"
	GenAICacheReadTokens     = "gen_ai.usage.cache_read.input_tokens"
	GenAICacheCreationTokens = "gen_ai.usage.cache_creation.input_tokens"

	HTTPRequestMethod = "http.request.method"
	HTTPRoute         = "http.route"
	HTTPStatusCode    = "http.response.status_code"
	URLPath           = "url.path"
	ServerAddress     = "server.address"
	ErrorType         = "error.type"

	CascadeRule      = "cascade.rule"
	CascadeOutcome   = "cascade.outcome"
	CascadeScore     = "cascade.score"
	CascadeAccepted  = "cascade.accepted"
	CascadeCostUSD   = "cascade.cost_usd"
	CascadeProvider  = "cascade.provider" // the provider's name in the rules
	CascadeRequestID = "cascade.request_id"
	CascadeKeyName   = "cascade.client_key.name" // a named client key's name (never the key)
	CascadeTeam      = "cascade.client_key.team"
)

// OperationChat is gen_ai.operation.name of a messages or chat completion call.
const OperationChat = "chat"

// Model sets the GenAI attributes of a call to model on provider (its
// dialect: "anthropic" or "openai", the convention's provider names).
func Model(span trace.Span, providerName, dialect, model string) {
	if span.IsRecording() {
		span.SetAttributes(AppendModel(make([]attribute.KeyValue, 0, 4), providerName, dialect, model)...)
	}
}

// AppendModel appends the GenAI attributes of a call to model on provider.
// Spans take their attributes in one SetAttributes call where they can:
// every call grows the span's attribute list.
func AppendModel(attrs []attribute.KeyValue, providerName, dialect, model string) []attribute.KeyValue {
	return append(attrs,
		attribute.String(GenAIOperationName, OperationChat),
		attribute.String(GenAIProviderName, dialect),
		attribute.String(CascadeProvider, providerName),
		attribute.String(GenAIRequestModel, model))
}

// Usage sets the token counts a call reported (nothing when it reported none).
func Usage(span trace.Span, input, output, cacheRead, cacheWrite int) {
	if span.IsRecording() && input+output+cacheRead+cacheWrite > 0 {
		span.SetAttributes(AppendUsage(make([]attribute.KeyValue, 0, 4), input, output, cacheRead, cacheWrite)...)
	}
}

// AppendUsage appends the token counts a call reported (none when it
// reported none).
func AppendUsage(attrs []attribute.KeyValue, input, output, cacheRead, cacheWrite int) []attribute.KeyValue {
	if input+output+cacheRead+cacheWrite == 0 {
		return attrs
	}
	attrs = append(attrs, attribute.Int(GenAIInputTokens, input), attribute.Int(GenAIOutputTokens, output))
	if cacheRead > 0 {
		attrs = append(attrs, attribute.Int(GenAICacheReadTokens, cacheRead))
	}
	if cacheWrite > 0 {
		attrs = append(attrs, attribute.Int(GenAICacheCreationTokens, cacheWrite))
	}
	return attrs
}
