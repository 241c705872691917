package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Anthropic's documented error types (platform docs, "Errors").
const (
	typeInvalidRequest  = "invalid_request_error" // 400, and other 4xx
	typeAuthentication  = "authentication_error"  // 401
	typeBilling         = "billing_error"         // 402
	typePermission      = "permission_error"      // 403
	typeNotFound        = "not_found_error"       // 404
	typeRequestTooLarge = "request_too_large"     // 413
	typeRateLimit       = "rate_limit_error"      // 429
	typeAPI             = "api_error"             // 500, and other 5xx
	typeTimeout         = "timeout_error"         // 504
	typeOverloaded      = "overloaded_error"      // 529
)

// kindOfType maps an Anthropic error type to its canonical kind. Types not
// listed (billing_error, conflict_error, new ones) are classified by status.
var kindOfType = map[string]llm.ErrorKind{
	typeInvalidRequest:  llm.ErrInvalidRequest,
	typeAuthentication:  llm.ErrAuthentication,
	typePermission:      llm.ErrPermission,
	typeNotFound:        llm.ErrNotFound,
	typeRequestTooLarge: llm.ErrRequestTooLarge,
	typeRateLimit:       llm.ErrRateLimit,
	typeAPI:             llm.ErrAPI,
	typeTimeout:         llm.ErrTimeout,
	typeOverloaded:      llm.ErrOverloaded,
}

// ErrorResponse is the one mapping from an error to an Anthropic status and
// envelope {"type":"error","error":{"type":…,"message":…}}:
//
//	invalid_request 400 invalid_request_error   rate_limit  429 rate_limit_error
//	authentication  401 authentication_error    api_error   500 api_error
//	permission      403 permission_error        bad_gateway 502 api_error
//	not_found       404 not_found_error         timeout     504 timeout_error
//	request_too_large 413 request_too_large     overloaded  529 overloaded_error
//	canceled        499 invalid_request_error
//
// Anthropic has no type for 502 and documents api_error for unexpected
// server-side failures and invalid_request_error for other 4xx statuses, so
// those are used. An upstream's own documented Anthropic type (UpstreamType,
// e.g. billing_error with 402) is kept so the client sees what the upstream
// said. An error that is not an *llm.Error becomes 500 api_error "internal
// error" (its text may hold secrets), except context deadline and
// cancellation, which become 504 timeout_error and 499.
func (Codec) ErrorResponse(err error) (int, []byte) {
	status, typ, msg := classify(err)
	return status, errorBody(nil, typ, msg)
}

// ErrorEvent is the in-band SSE error for a stream that has begun:
// "event: error" with the same body ErrorResponse would send.
func (Codec) ErrorEvent(err error) []byte {
	_, typ, msg := classify(err)
	b := make([]byte, 0, 96+len(msg))
	b = append(b, "event: error\ndata: "...)
	b = errorBody(b, typ, msg)
	return append(b, '\n', '\n')
}

func errorBody(b []byte, typ, msg string) []byte {
	b = append(b, `{"type":"error","error":{`...)
	b = appendStringField(b, "type", typ)
	b = appendStringField(b, "message", msg)
	return append(b, '}', '}')
}

func classify(err error) (status int, typ, msg string) {
	var e *llm.Error
	switch {
	case err == nil:
		e = &llm.Error{Kind: llm.ErrAPI, Message: "internal error"}
	case errors.As(err, &e):
	case errors.Is(err, context.DeadlineExceeded):
		e = &llm.Error{Kind: llm.ErrTimeout, Message: "request timed out"}
	case errors.Is(err, context.Canceled):
		e = &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled"}
	default:
		e = &llm.Error{Kind: llm.ErrAPI, Message: "internal error"}
	}
	status = e.HTTPStatus()
	if status < 400 || status > 599 {
		status = e.Kind.DefaultStatus()
	}
	typ = typeOfKind(e.Kind, status)
	if isAnthropicType(e.UpstreamType) {
		typ = e.UpstreamType
	}
	msg = e.Message
	if msg == "" {
		msg = defaultMessage(e.Kind)
	}
	return status, typ, msg
}

func typeOfKind(k llm.ErrorKind, status int) string {
	switch k {
	case llm.ErrInvalidRequest, llm.ErrCanceled:
		return typeInvalidRequest
	case llm.ErrAuthentication:
		return typeAuthentication
	case llm.ErrPermission:
		return typePermission
	case llm.ErrNotFound:
		return typeNotFound
	case llm.ErrRequestTooLarge:
		return typeRequestTooLarge
	case llm.ErrRateLimit:
		return typeRateLimit
	case llm.ErrOverloaded:
		return typeOverloaded
	case llm.ErrTimeout:
		return typeTimeout
	case llm.ErrAPI, llm.ErrBadGateway:
		return typeAPI
	}
	if status < 500 {
		return typeInvalidRequest
	}
	return typeAPI
}

func isAnthropicType(t string) bool {
	if t == typeBilling {
		return true
	}
	_, ok := kindOfType[t]
	return ok
}

func defaultMessage(k llm.ErrorKind) string {
	switch k {
	case llm.ErrInvalidRequest:
		return "invalid request"
	case llm.ErrAuthentication:
		return "authentication failed"
	case llm.ErrPermission:
		return "permission denied"
	case llm.ErrNotFound:
		return "not found"
	case llm.ErrRequestTooLarge:
		return "request too large"
	case llm.ErrRateLimit:
		return "rate limited"
	case llm.ErrBadGateway:
		return "the upstream failed"
	case llm.ErrOverloaded:
		return "Overloaded"
	case llm.ErrTimeout:
		return "request timed out"
	case llm.ErrCanceled:
		return "request canceled"
	default:
		return "internal error"
	}
}

// DecodeError turns an upstream's error answer into an *llm.Error.
//
// An Anthropic envelope ({"type":"error","error":{type,message}}, or the bare
// {"error":{…}} some compatible servers send) keeps the upstream's status,
// type and message; the kind comes from the type, or from the status for
// types this package does not map. Any other body (HTML from a load
// balancer, plain text, empty) never leaks into the message: it becomes
// "upstream returned HTTP N with a non-JSON body" of kind bad_gateway (502),
// except statuses with a more specific meaning: 429 → rate_limit, 529 →
// overloaded, 408/504 → timeout (504). A non-JSON 503 stays bad_gateway:
// it usually comes from a load balancer or proxy in front of the upstream,
// not from the API saying it is overloaded.
//
// Retryable follows the official SDKs: the x-should-retry header wins when
// present; otherwise 408, 409, 429 and 5xx retry, and so does any answer
// carrying Retry-After. A 429 for a reached spend limit
// (details.error_code enforced_spend_limit_reached) never retries.
func (Codec) DecodeError(status int, header http.Header, body []byte) *llm.Error {
	e := decodeEnvelope(status, body)
	if e == nil {
		e = nonJSONError(status, body)
	} else {
		e.Retryable = retryableStatus(e.HTTPStatus())
	}
	if header != nil {
		if header.Get("Retry-After") != "" || header.Get("Retry-After-Ms") != "" {
			e.Retryable = true
		}
		switch strings.ToLower(header.Get("X-Should-Retry")) {
		case "true":
			e.Retryable = true
		case "false":
			e.Retryable = false
		}
	}
	if e.UpstreamType == typeRateLimit && spendLimit(body) {
		e.Retryable = false
	}
	return e
}

// decodeEnvelope returns nil when body is not a recognisable error envelope.
func decodeEnvelope(status int, body []byte) *llm.Error {
	if jsonenc.FirstByte(body) != '{' {
		return nil
	}
	var env struct {
		Type  string          `json:"type"`
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || isNull(env.Error) {
		return nil
	}
	var eb wireErrorBody
	switch jsonenc.FirstByte(env.Error) {
	case '{':
		if json.Unmarshal(env.Error, &eb) != nil {
			return nil
		}
	case '"':
		if json.Unmarshal(env.Error, &eb.Message) != nil {
			return nil
		}
	default:
		return nil
	}
	if eb.Type == "" && eb.Message == "" {
		return nil
	}
	e := &llm.Error{UpstreamType: eb.Type, Message: eb.Message}
	if status >= 400 && status <= 599 {
		e.Status = status
	}
	if k, ok := kindOfType[eb.Type]; ok {
		e.Kind = k
	} else if e.Status != 0 {
		e.Kind = llm.KindForStatus(e.Status)
	} else {
		e.Kind = llm.ErrAPI
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("upstream returned %s", eb.Type)
	}
	return e
}

func nonJSONError(status int, body []byte) *llm.Error {
	e := &llm.Error{Message: fmt.Sprintf("upstream returned HTTP %d with a non-JSON body", status)}
	if len(body) == 0 {
		e.Message = fmt.Sprintf("upstream returned HTTP %d with an empty body", status)
	} else if jsonenc.FirstByte(body) == '{' || jsonenc.FirstByte(body) == '[' {
		e.Message = fmt.Sprintf("upstream returned HTTP %d with an unrecognised error body", status)
	}
	switch status {
	case http.StatusTooManyRequests:
		e.Kind, e.Status = llm.ErrRateLimit, status
	case 529:
		e.Kind = llm.ErrOverloaded
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		e.Kind = llm.ErrTimeout
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		// A gateway's HTML page for these still means what its status says
		// (e.g. an ingress refusing a large image body): keep it, not a 502. An
		// HTML 404 stays a 502: it means a wrong base URL, the operator's problem.
		e.Kind, e.Status = llm.KindForStatus(status), status
	default:
		e.Kind, e.Status = llm.ErrBadGateway, http.StatusBadGateway
	}
	e.Retryable = status == 0 || retryableStatus(status)
	if len(body) > 0 {
		// For logs only (Err is never shown to clients).
		e.Err = fmt.Errorf("upstream body (%d bytes) begins %q", len(body), body[:min(len(body), 200)])
	}
	return e
}

func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusConflict ||
		status == http.StatusTooManyRequests || status >= 500
}

func spendLimit(body []byte) bool {
	var env struct {
		Error wireErrorBody `json:"error"`
	}
	return json.Unmarshal(body, &env) == nil && env.Error.Details != nil &&
		env.Error.Details.ErrorCode == "enforced_spend_limit_reached"
}
