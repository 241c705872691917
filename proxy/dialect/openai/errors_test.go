package openai

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func TestErrorResponseMapping(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
	}{
		{"invalid request names the param", invalid("messages[2].content", "messages[2].content is required"), 400,
			`{"error":{"message":"messages[2].content is required","type":"invalid_request_error","param":"messages[2].content","code":null}}`},
		{"wrapped *llm.Error is still found", fmt.Errorf("decode: %w", invalid("model", "model is required")), 400,
			`{"error":{"message":"model is required","type":"invalid_request_error","param":"model","code":null}}`},
		{"422 keeps its status", &llm.Error{Kind: llm.ErrInvalidRequest, Status: 422, Message: "bad"}, 422,
			`{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}`},
		{"authentication", &llm.Error{Kind: llm.ErrAuthentication, Message: "Incorrect API key provided"}, 401,
			`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
		{"permission", &llm.Error{Kind: llm.ErrPermission, Message: "no"}, 403,
			`{"error":{"message":"no","type":"permission_error","param":null,"code":null}}`},
		{"unknown model", &llm.Error{Kind: llm.ErrNotFound, Message: "The model `x` does not exist", Param: "model"}, 404,
			`{"error":{"message":"The model ` + "`x`" + ` does not exist","type":"invalid_request_error","param":"model","code":"model_not_found"}}`},
		{"model_not_found from upstream", &llm.Error{Kind: llm.ErrNotFound, Message: "gone", UpstreamType: "model_not_found"}, 404,
			`{"error":{"message":"gone","type":"invalid_request_error","param":null,"code":"model_not_found"}}`},
		{"other not found", &llm.Error{Kind: llm.ErrNotFound, Message: "no such thing"}, 404,
			`{"error":{"message":"no such thing","type":"invalid_request_error","param":null,"code":null}}`},
		{"too large", &llm.Error{Kind: llm.ErrRequestTooLarge, Message: "body over 32 MiB"}, 413,
			`{"error":{"message":"body over 32 MiB","type":"invalid_request_error","param":null,"code":"request_too_large"}}`},
		{"rate limit", &llm.Error{Kind: llm.ErrRateLimit, Message: "slow down", Retryable: true}, 429,
			`{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`},
		{"insufficient quota", &llm.Error{Kind: llm.ErrRateLimit, Message: "You exceeded your current quota", UpstreamType: "insufficient_quota"}, 429,
			`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`},
		{"api error", &llm.Error{Kind: llm.ErrAPI, Message: "The server had an error"}, 500,
			`{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}`},
		{"bad gateway", &llm.Error{Kind: llm.ErrBadGateway, Message: "upstream returned HTML"}, 502,
			`{"error":{"message":"upstream returned HTML","type":"server_error","param":null,"code":null}}`},
		{"anthropic 529 overloaded becomes 503", &llm.Error{Kind: llm.ErrOverloaded, Status: 529, Message: "Overloaded"}, 503,
			`{"error":{"message":"Overloaded","type":"service_unavailable_error","param":null,"code":"server_is_overloaded"}}`},
		{"timeout", &llm.Error{Kind: llm.ErrTimeout, Message: "upstream timed out"}, 504,
			`{"error":{"message":"upstream timed out","type":"server_error","param":null,"code":null}}`},
		{"client went away", &llm.Error{Kind: llm.ErrCanceled, Message: "canceled"}, 499,
			`{"error":{"message":"canceled","type":"invalid_request_error","param":null,"code":"client_closed_request"}}`},
		{"empty message gets the status text", &llm.Error{Kind: llm.ErrRateLimit}, 429,
			`{"error":{"message":"Too Many Requests","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`},
		{"nonsense status falls back to the kind", &llm.Error{Kind: llm.ErrPermission, Status: 200, Message: "x"}, 403,
			`{"error":{"message":"x","type":"permission_error","param":null,"code":null}}`},
		{"plain error is a generic 500", errors.New("open /etc/cascade/key: permission denied"), 500,
			`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`},
		{"nil *llm.Error is a generic 500", (*llm.Error)(nil), 500,
			`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := Codec{}.ErrorResponse(tt.err)
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d", status, tt.wantStatus)
			}
			assertJSONEqual(t, body, []byte(tt.wantBody))
		})
	}
}

func TestErrorEventFraming(t *testing.T) {
	got := string(Codec{}.ErrorEvent(&llm.Error{Kind: llm.ErrOverloaded, Message: "busy\nnow"}))
	want := `data: {"error":{"message":"busy\nnow","type":"service_unavailable_error","param":null,"code":"server_is_overloaded"}}` + "\n\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	assertStrictFraming(t, []byte(got))
}

func TestDecodeError(t *testing.T) {
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	htmlHeader := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   llm.Error
	}{
		{"invalid api key", 401, jsonHeader,
			`{"error":{"message":"Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			llm.Error{Kind: llm.ErrAuthentication, Status: 401, Message: "Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.", UpstreamType: "invalid_api_key"}},
		{"model not found", 404, jsonHeader,
			"{\"error\":{\"message\":\"The model `gpt-9` does not exist or you do not have access to it.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}",
			llm.Error{Kind: llm.ErrNotFound, Status: 404, Message: "The model `gpt-9` does not exist or you do not have access to it.", UpstreamType: "model_not_found"}},
		{"context length", 400, jsonHeader,
			`{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			llm.Error{Kind: llm.ErrInvalidRequest, Status: 400, Message: "This model's maximum context length is 128000 tokens.", Param: "messages", UpstreamType: "context_length_exceeded"}},
		{"rate limit on tokens", 429, jsonHeader,
			`{"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			llm.Error{Kind: llm.ErrRateLimit, Status: 429, Message: "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000.", UpstreamType: "rate_limit_exceeded", Retryable: true}},
		{"insufficient quota is not retryable", 429, jsonHeader,
			`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			llm.Error{Kind: llm.ErrRateLimit, Status: 429, Message: "You exceeded your current quota, please check your plan and billing details.", UpstreamType: "insufficient_quota"}},
		{"server error", 500, jsonHeader,
			`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
			llm.Error{Kind: llm.ErrAPI, Status: 500, Message: "The server had an error while processing your request. Sorry about that!", UpstreamType: "server_error", Retryable: true}},
		{"overloaded 503", 503, jsonHeader,
			`{"error":{"message":"The engine is currently overloaded, please try again later.","type":"server_error","param":null,"code":null}}`,
			llm.Error{Kind: llm.ErrOverloaded, Status: 503, Message: "The engine is currently overloaded, please try again later.", UpstreamType: "server_error", Retryable: true}},
		{"vLLM flat error", 400, jsonHeader,
			`{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}`,
			llm.Error{Kind: llm.ErrInvalidRequest, Status: 400, Message: "max_tokens is too large", UpstreamType: "400"}},
		{"error as a string", 401, jsonHeader, `{"error":"Unauthorized"}`,
			llm.Error{Kind: llm.ErrAuthentication, Status: 401, Message: "Unauthorized"}},
		{"empty message", 409, jsonHeader, `{"error":{"type":"conflict"}}`,
			llm.Error{Kind: llm.ErrInvalidRequest, Status: 409, Message: "upstream returned HTTP 409", UpstreamType: "conflict", Retryable: true}},
		{"error envelope with 200", 200, jsonHeader, `{"error":{"message":"busy","type":"service_unavailable_error","code":"server_is_overloaded"}}`,
			llm.Error{Kind: llm.ErrOverloaded, Message: "busy", UpstreamType: "server_is_overloaded", Retryable: true}},
		{"html from a load balancer", 502, htmlHeader, `<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>`,
			llm.Error{Kind: llm.ErrBadGateway, Status: 502, Message: "upstream returned HTTP 502 with a body that is not an OpenAI error (text/html)", Retryable: true}},
		{"html 404 (wrong upstream URL) is our problem: 502", 404, htmlHeader, `<html>Not Found</html>`,
			llm.Error{Kind: llm.ErrBadGateway, Status: 502, Message: "upstream returned HTTP 404 with a body that is not an OpenAI error (text/html)"}},
		{"FastAPI detail is not an OpenAI error", 404, jsonHeader, `{"detail":"Not Found"}`,
			llm.Error{Kind: llm.ErrBadGateway, Status: 502, Message: "upstream returned HTTP 404 with a body that is not an OpenAI error (application/json)"}},
		{"plain text 429 stays a rate limit", 429, http.Header{"Content-Type": {"text/plain"}}, `Too Many Requests`,
			llm.Error{Kind: llm.ErrRateLimit, Status: 429, Message: "upstream returned HTTP 429 with a body that is not an OpenAI error (text/plain)", Retryable: true}},
		{"empty 503 stays overloaded", 503, http.Header{}, ``,
			llm.Error{Kind: llm.ErrOverloaded, Status: 503, Message: "upstream returned HTTP 503 with an empty body", Retryable: true}},
		{"html 504 stays a timeout", 504, htmlHeader, `<html>timeout</html>`,
			llm.Error{Kind: llm.ErrTimeout, Status: 504, Message: "upstream returned HTTP 504 with a body that is not an OpenAI error (text/html)", Retryable: true}},
		{"truncated JSON", 500, jsonHeader, `{"error":{"message":"x"`,
			llm.Error{Kind: llm.ErrBadGateway, Status: 502, Message: "upstream returned HTTP 500 with a body that is not an OpenAI error (application/json)", Retryable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Codec{}.DecodeError(tt.status, tt.header, []byte(tt.body))
			if got == nil {
				t.Fatal("nil error")
			}
			if *got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", *got, tt.want)
			}
			if strings.Contains(got.Message, "<") {
				t.Errorf("markup leaked into the message: %q", got.Message)
			}
		})
	}
}

// TestErrorRoundTrip: what ErrorResponse writes, DecodeError reads back as
// the same kind and message (a same-dialect upstream error relayed twice).
func TestErrorRoundTrip(t *testing.T) {
	for _, in := range []*llm.Error{
		{Kind: llm.ErrInvalidRequest, Message: "bad field", Param: "temperature"},
		{Kind: llm.ErrAuthentication, Message: "who are you"},
		{Kind: llm.ErrNotFound, Message: "no model", Param: "model"},
		{Kind: llm.ErrRateLimit, Message: "quota", UpstreamType: "insufficient_quota"},
		{Kind: llm.ErrOverloaded, Message: "busy"},
		{Kind: llm.ErrTimeout, Message: "slow"},
	} {
		status, body := Codec{}.ErrorResponse(in)
		out := Codec{}.DecodeError(status, http.Header{"Content-Type": {"application/json"}}, body)
		if out.Kind != in.Kind || out.Message != in.Message || out.Param != in.Param {
			t.Errorf("%+v came back as %+v", in, out)
		}
	}
}
