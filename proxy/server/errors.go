package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// writeError answers with err in the client's own envelope. An upstream's
// retry and rate-limit headers (llm.Error.Header) go with it, in the
// client's dialect, whatever route the request took.
func writeError(w http.ResponseWriter, codec dialect.Codec, err error) {
	status, body := codec.ErrorResponse(err)
	h := w.Header()
	var e *llm.Error
	if errors.As(err, &e) && e.Header != nil {
		setRetryHeaders(h, *e.Header, codec.Dialect(), time.Now())
	}
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// setRetryHeaders writes an upstream's retry headers (llm.RetryHeaders) for
// a client of dialect d. Retry-After, Retry-After-Ms and X-Should-Retry mean
// the same to both vendors' SDKs. Rate-limit headers are renamed across
// dialects where both vendors have the quantity (requests and tokens: limit,
// remaining, reset); Anthropic gives a reset as an RFC 3339 time, OpenAI as
// a duration ("6m0s"). The vendor's request id becomes
// X-Upstream-Request-Id (X-Request-Id is the proxy's own), and stays
// Request-Id for an Anthropic client, as Anthropic sends it.
func setRetryHeaders(dst, src http.Header, d llm.Dialect, now time.Time) {
	for k, vs := range src {
		if len(vs) == 0 {
			continue
		}
		lk := strings.ToLower(k)
		switch {
		case lk == "retry-after" || lk == "retry-after-ms" || lk == "x-should-retry":
			dst[http.CanonicalHeaderKey(k)] = vs
		case lk == "request-id" || lk == "x-request-id":
			dst.Set("X-Upstream-Request-Id", vs[0])
			if lk == "request-id" && d == llm.Anthropic {
				dst.Set("Request-Id", vs[0])
			}
		case strings.HasPrefix(lk, "anthropic-ratelimit-"):
			if d == llm.Anthropic {
				dst[http.CanonicalHeaderKey(k)] = vs
			} else if name, value, ok := anthropicToOpenAIRateLimit(lk, vs[0], now); ok {
				dst.Set(name, value)
			}
		case strings.HasPrefix(lk, "x-ratelimit-"):
			if d == llm.OpenAI {
				dst[http.CanonicalHeaderKey(k)] = vs
			} else if name, value, ok := openAIToAnthropicRateLimit(lk, vs[0], now); ok {
				dst.Set(name, value)
			}
		}
	}
}

// anthropicToOpenAIRateLimit renames anthropic-ratelimit-{requests,tokens}-
// {limit,remaining,reset} to x-ratelimit-{limit,remaining,reset}-{requests,tokens}.
func anthropicToOpenAIRateLimit(k, v string, now time.Time) (string, string, bool) {
	rest := strings.TrimPrefix(k, "anthropic-ratelimit-")
	what, field, ok := strings.Cut(rest, "-")
	if !ok || (what != "requests" && what != "tokens") {
		return "", "", false
	}
	switch field {
	case "limit", "remaining":
	case "reset":
		at, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return "", "", false
		}
		v = max(at.Sub(now), 0).Round(time.Millisecond).String()
	default:
		return "", "", false
	}
	return "x-ratelimit-" + field + "-" + what, v, true
}

// openAIToAnthropicRateLimit is the converse of anthropicToOpenAIRateLimit.
func openAIToAnthropicRateLimit(k, v string, now time.Time) (string, string, bool) {
	rest := strings.TrimPrefix(k, "x-ratelimit-")
	field, what, ok := strings.Cut(rest, "-")
	if !ok || (what != "requests" && what != "tokens") {
		return "", "", false
	}
	switch field {
	case "limit", "remaining":
	case "reset":
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return "", "", false
		}
		v = now.Add(d).UTC().Format(time.RFC3339)
	default:
		return "", "", false
	}
	return "anthropic-ratelimit-" + what + "-" + field, v, true
}
