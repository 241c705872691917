package fakeupstream

import (
	"encoding/json"
	"net/http"
)

// anthropicErrorType is the error.type Anthropic documents for each HTTP
// status ("Errors" page of the Claude API docs).
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// anthropicErrorBody is Anthropic's error envelope:
// {"type":"error","error":{"type":...,"message":...},"request_id":...}.
// The same object is the data of an in-band "event: error".
func anthropicErrorBody(status int, message, requestID string) []byte {
	if message == "" {
		message = defaultErrorMessage(status)
	}
	type inner struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Type      string `json:"type"`
		Error     inner  `json:"error"`
		RequestID string `json:"request_id,omitempty"`
	}{"error", inner{anthropicErrorType(status), message}, requestID})
	return b
}

// openAIErrorBody is OpenAI's error envelope
// {"error":{"message","type","param","code"}}, with the type and code values
// listed in OpenAI's error-codes guide. An empty code gets the status's usual
// one (invalid_api_key for 401, rate_limit_exceeded for 429), if any.
func openAIErrorBody(status int, message, param, code string) []byte {
	if message == "" {
		message = defaultErrorMessage(status)
	}
	typ, defaultCode := "invalid_request_error", ""
	switch {
	case status == http.StatusUnauthorized:
		defaultCode = "invalid_api_key"
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status == http.StatusTooManyRequests:
		typ, defaultCode = "requests", "rate_limit_exceeded"
	case status >= 500:
		typ = "server_error"
	}
	if code == "" {
		code = defaultCode
	}
	type inner struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	e := inner{Message: message, Type: typ}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	b, _ := json.Marshal(struct {
		Error inner `json:"error"`
	}{e})
	return b
}

func defaultErrorMessage(status int) string {
	switch status {
	case 529:
		return "Overloaded"
	case http.StatusUnauthorized:
		return "invalid x-api-key"
	case http.StatusTooManyRequests:
		return "Rate limit exceeded"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "error"
}

// errorBody is the error envelope of d.
func errorBody(d Dialect, status int, message, requestID string) []byte {
	if d == DialectOpenAI {
		return openAIErrorBody(status, message, "", "")
	}
	return anthropicErrorBody(status, message, requestID)
}
