package llm

import (
	"net/http"
	"testing"
)

func TestRetryHeadersKeepsOnlyRetryAndRateLimitHeaders(t *testing.T) {
	src := http.Header{
		"Retry-After": {"7"}, "Retry-After-Ms": {"7000"}, "X-Should-Retry": {"true"}, "Request-Id": {"req_1"},
		"Anthropic-Ratelimit-Tokens-Remaining": {"0"}, "X-Ratelimit-Reset-Requests": {"1s"},
		"Set-Cookie": {"s=1"}, "Content-Type": {"application/json"}, "Openai-Organization": {"org"},
	}
	got := RetryHeaders(src)
	if got == nil || len(*got) != 6 || got.Get("Retry-After") != "7" || got.Get("Set-Cookie") != "" || got.Get("Openai-Organization") != "" {
		t.Fatalf("got %v", got)
	}
	(*got)["Retry-After"][0] = "changed"
	if src.Get("Retry-After") != "7" {
		t.Fatal("RetryHeaders shares the source's values")
	}
	if RetryHeaders(http.Header{"Content-Type": {"text/html"}}) != nil {
		t.Fatal("want nil without retry headers")
	}
	// Error stays comparable (errors are compared with == in tests and callers).
	a, b := Error{Kind: ErrRateLimit}, Error{Kind: ErrRateLimit}
	if a != b {
		t.Fatal("equal errors compare unequal")
	}
}
