package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func TestSetRetryHeadersTranslates(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	anthropic := http.Header{
		"Retry-After": {"7"}, "Request-Id": {"req_up"}, "X-Should-Retry": {"true"},
		"Anthropic-Ratelimit-Tokens-Limit": {"1000"}, "Anthropic-Ratelimit-Tokens-Reset": {"2026-01-02T03:05:05Z"},
		"Anthropic-Ratelimit-Input-Tokens-Remaining": {"5"}, // no OpenAI counterpart
	}
	got := http.Header{}
	setRetryHeaders(got, anthropic, llm.OpenAI, now)
	want := http.Header{"Retry-After": {"7"}, "X-Should-Retry": {"true"}, "X-Upstream-Request-Id": {"req_up"},
		"X-Ratelimit-Limit-Tokens": {"1000"}, "X-Ratelimit-Reset-Tokens": {"1m0s"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got.Get(k) != v[0] {
			t.Fatalf("%s: got %q, want %q (all: %v)", k, got.Get(k), v[0], got)
		}
	}
	openai := http.Header{"X-Ratelimit-Remaining-Requests": {"0"}, "X-Ratelimit-Reset-Requests": {"20ms"}, "X-Request-Id": {"up"}}
	got = http.Header{}
	setRetryHeaders(got, openai, llm.Anthropic, now)
	if got.Get("Anthropic-Ratelimit-Requests-Remaining") != "0" || got.Get("Anthropic-Ratelimit-Requests-Reset") != "2026-01-02T03:04:05Z" ||
		got.Get("X-Upstream-Request-Id") != "up" || got.Get("Request-Id") != "" || got.Get("X-Request-Id") != "" {
		t.Fatalf("OpenAI to Anthropic: %v", got)
	}
	got = http.Header{}
	setRetryHeaders(got, openai, llm.OpenAI, now)
	if got.Get("X-Ratelimit-Reset-Requests") != "20ms" || got.Get("X-Request-Id") != "" {
		t.Fatalf("same dialect: %v", got)
	}
}
