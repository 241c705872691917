package tracing

import (
	"sync"

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

// attrLists are the lists spans' attributes are gathered in: a span copies
// what SetAttributes gives it, so a list serves the next span at once.
var attrLists = sync.Pool{New: func() any { l := make([]attribute.KeyValue, 0, 24); return &l }}

// Attrs returns an empty list to gather a span's attributes in, for one
// SetAttributes call (every call grows the span's own list); Set sets them
// and takes the list back.
func Attrs() *[]attribute.KeyValue {
	return attrLists.Get().(*[]attribute.KeyValue)
}

// Set sets the attributes gathered in l on span and gives l back: l must
// not be used afterwards.
func Set(span trace.Span, l *[]attribute.KeyValue) {
	span.SetAttributes(*l...)
	clear(*l) // no model or request names kept alive in the pool
	*l = (*l)[:0]
	attrLists.Put(l)
}

// names holds span names built by Name.
var names struct {
	sync.RWMutex
	m map[[2]string]string
}

// maxNames bounds names: a pass-through model or an unknown method is the
// client's to invent.
const maxNames = 1024

// Name is the span name "{a} {b}" ("POST /v1/messages", "chat {model}"),
// built once rather than on every span.
func Name(a, b string) string {
	k := [2]string{a, b}
	names.RLock()
	name, ok := names.m[k]
	names.RUnlock()
	if ok {
		return name
	}
	name = a + " " + b
	names.Lock()
	if names.m == nil {
		names.m = map[[2]string]string{}
	}
	if len(names.m) < maxNames {
		names.m[k] = name
	}
	names.Unlock()
	return name
}
