package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

type envelope struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestErrorResponse(t *testing.T) {
	secret := errors.New("dial tcp: Authorization: Bearer sk-live-SECRET")
	cases := []struct {
		name       string
		err        error
		status     int
		typ, msg   string
		notContain string
	}{
		{"invalid request", &llm.Error{Kind: llm.ErrInvalidRequest, Message: "messages: field required", Param: "messages"}, 400, "invalid_request_error", "messages: field required", ""},
		{"authentication", &llm.Error{Kind: llm.ErrAuthentication, Message: "invalid x-api-key"}, 401, "authentication_error", "invalid x-api-key", ""},
		{"permission", &llm.Error{Kind: llm.ErrPermission}, 403, "permission_error", "permission denied", ""},
		{"not found", &llm.Error{Kind: llm.ErrNotFound, Message: "model \"x\" is not served"}, 404, "not_found_error", "model \"x\" is not served", ""},
		{"too large", &llm.Error{Kind: llm.ErrRequestTooLarge}, 413, "request_too_large", "request too large", ""},
		{"rate limit", &llm.Error{Kind: llm.ErrRateLimit, Message: "slow down"}, 429, "rate_limit_error", "slow down", ""},
		{"api error", &llm.Error{Kind: llm.ErrAPI, Message: "boom"}, 500, "api_error", "boom", ""},
		{"bad gateway", &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream returned HTTP 503 with a non-JSON body", Err: secret}, 502, "api_error", "upstream returned HTTP 503 with a non-JSON body", "SECRET"},
		{"timeout", &llm.Error{Kind: llm.ErrTimeout}, 504, "timeout_error", "request timed out", ""},
		{"overloaded", &llm.Error{Kind: llm.ErrOverloaded, Message: "Overloaded"}, 529, "overloaded_error", "Overloaded", ""},
		{"overloaded answered as 503", &llm.Error{Kind: llm.ErrOverloaded, Status: 503, Message: "no rules loaded"}, 503, "overloaded_error", "no rules loaded", ""},
		{"canceled", &llm.Error{Kind: llm.ErrCanceled}, 499, "invalid_request_error", "request canceled", ""},
		{"upstream billing type kept", &llm.Error{Kind: llm.ErrInvalidRequest, Status: 402, UpstreamType: "billing_error", Message: "credit balance too low"}, 402, "billing_error", "credit balance too low", ""},
		{"unknown upstream type ignored", &llm.Error{Kind: llm.ErrRateLimit, UpstreamType: "insufficient_quota", Message: "q"}, 429, "rate_limit_error", "q", ""},
		{"wrapped *llm.Error", fmt.Errorf("cascade: %w", &llm.Error{Kind: llm.ErrRateLimit, Message: "slow"}), 429, "rate_limit_error", "slow", "cascade"},
		{"plain error leaks nothing", secret, 500, "api_error", "internal error", "SECRET"},
		{"deadline", fmt.Errorf("draft: %w", context.DeadlineExceeded), 504, "timeout_error", "request timed out", "draft"},
		{"nil", nil, 500, "api_error", "internal error", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := Codec{}.ErrorResponse(tc.err)
			var env envelope
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if status != tc.status || env.Type != "error" || env.Error.Type != tc.typ || env.Error.Message != tc.msg {
				t.Errorf("got %d %s", status, body)
			}
			if tc.notContain != "" && strings.Contains(string(body), tc.notContain) {
				t.Errorf("body leaks %q: %s", tc.notContain, body)
			}
			ev := Codec{}.ErrorEvent(tc.err)
			if string(ev) != "event: error\ndata: "+string(body)+"\n\n" {
				t.Errorf("ErrorEvent %q does not carry the body %s", ev, body)
			}
		})
	}
}

// The official SDK turns the envelope into a typed error with the status.
func TestErrorResponseThroughSDK(t *testing.T) {
	for _, kind := range []llm.ErrorKind{llm.ErrInvalidRequest, llm.ErrRateLimit, llm.ErrOverloaded, llm.ErrTimeout, llm.ErrBadGateway} {
		status, body := Codec{}.ErrorResponse(&llm.Error{Kind: kind, Message: "m-" + string(kind)})
		c := sdkServer(t, status, "application/json", body)
		_, err := c.Messages.New(context.Background(), sdkParams)
		var apiErr *anthropicsdk.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s: %v", kind, err)
		}
		if apiErr.StatusCode != status || apiErr.Message != "m-"+string(kind) {
			t.Errorf("%s: SDK saw %d %q %q", kind, apiErr.StatusCode, apiErr.Type(), apiErr.Message)
		}
	}
}

func TestDecodeError(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name      string
		status    int
		header    http.Header
		body      string
		kind      llm.ErrorKind
		httpCode  int
		typ       string
		msg       string
		retryable bool
	}{
		{"invalid request", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"},"request_id":"req_1"}`,
			llm.ErrInvalidRequest, 400, "invalid_request_error", "max_tokens: field required", false},
		{"overloaded", 529, nil, `{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}`,
			llm.ErrOverloaded, 529, "overloaded_error", "Overloaded", true},
		{"rate limit with retry-after", 429, h("Retry-After", "20"), `{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}`,
			llm.ErrRateLimit, 429, "rate_limit_error", "Number of requests has exceeded your rate limit", true},
		{"spend limit never retries", 429, h("Retry-After", "20"), `{"type":"error","error":{"type":"rate_limit_error","message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}}`,
			llm.ErrRateLimit, 429, "rate_limit_error", "spend limit", false},
		{"timeout", 504, nil, `{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}`,
			llm.ErrTimeout, 504, "timeout_error", "Request timed out", true},
		{"billing keeps status, kind from status", 402, nil, `{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low"}}`,
			llm.ErrInvalidRequest, 402, "billing_error", "Your credit balance is too low", false},
		{"x-should-retry false wins", 500, h("X-Should-Retry", "false"), `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`,
			llm.ErrAPI, 500, "api_error", "Internal server error", false},
		{"x-should-retry true wins", 400, h("x-should-retry", "true"), `{"type":"error","error":{"type":"invalid_request_error","message":"try again"}}`,
			llm.ErrInvalidRequest, 400, "invalid_request_error", "try again", true},
		{"bare error object (compatible servers)", 404, nil, `{"error":{"type":"not_found_error","message":"model: nope"}}`,
			llm.ErrNotFound, 404, "not_found_error", "model: nope", false},
		{"unknown type classified by status", 409, nil, `{"type":"error","error":{"type":"conflict_error","message":"busy"}}`,
			llm.ErrInvalidRequest, 409, "conflict_error", "busy", true},
		{"html 502", 502, nil, `<html><body><h1>502 Bad Gateway</h1></body></html>`,
			llm.ErrBadGateway, 502, "", "upstream returned HTTP 502 with a non-JSON body", true},
		{"html 503 is a bad gateway", 503, nil, `<html>Service Unavailable</html>`,
			llm.ErrBadGateway, 502, "", "upstream returned HTTP 503 with a non-JSON body", true},
		{"plain 529 is overloaded", 529, nil, `overloaded`,
			llm.ErrOverloaded, 529, "", "upstream returned HTTP 529 with a non-JSON body", true},
		{"html 429 is a rate limit", 429, nil, `Too Many Requests`,
			llm.ErrRateLimit, 429, "", "upstream returned HTTP 429 with a non-JSON body", true},
		{"plain text 504 is a timeout", 504, nil, `upstream request timeout`,
			llm.ErrTimeout, 504, "", "upstream returned HTTP 504 with a non-JSON body", true},
		{"html 404 is not retried", 404, nil, `<html>Not Found</html>`,
			llm.ErrBadGateway, 502, "", "upstream returned HTTP 404 with a non-JSON body", false},
		{"empty 500", 500, nil, ``,
			llm.ErrBadGateway, 502, "", "upstream returned HTTP 500 with an empty body", true},
		{"json without an error", 500, nil, `{"detail":"oops"}`,
			llm.ErrBadGateway, 502, "", "upstream returned HTTP 500 with an unrecognised error body", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := Codec{}.DecodeError(tc.status, tc.header, []byte(tc.body))
			if e == nil {
				t.Fatal("nil")
			}
			if e.Kind != tc.kind || e.HTTPStatus() != tc.httpCode || e.UpstreamType != tc.typ || e.Message != tc.msg || e.Retryable != tc.retryable {
				t.Errorf("got kind %s status %d type %q msg %q retryable %v", e.Kind, e.HTTPStatus(), e.UpstreamType, e.Message, e.Retryable)
			}
			if strings.Contains(e.Message, "<html") {
				t.Errorf("message leaks the body: %q", e.Message)
			}
		})
	}
}

// An upstream's error, mapped and answered again, reads the same to a client.
func TestDecodeErrorThenErrorResponse(t *testing.T) {
	body := `{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low"}}`
	status, out := Codec{}.ErrorResponse(Codec{}.DecodeError(402, nil, []byte(body)))
	if status != 402 || !jsonEqual(string(out), body) {
		t.Errorf("got %d %s", status, out)
	}
}
