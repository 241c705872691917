package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

type outErrorEnvelope struct {
	Error outErrorObject `json:"error"`
}

type outErrorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ErrorResponse is the one mapping of an error to an OpenAI status and
// {"error":{"message","type","param","code"}} envelope:
//
//	400 invalid_request_error (param names the field)
//	401 invalid_request_error, code invalid_api_key (what OpenAI itself sends)
//	403 permission_error
//	404 invalid_request_error, code model_not_found when the model is unknown
//	413 invalid_request_error, code request_too_large
//	429 rate_limit_error, code rate_limit_exceeded; or insufficient_quota
//	    (type and code) when the upstream said so
//	500, 502, 504 server_error
//	503 service_unavailable_error, code server_is_overloaded; Anthropic's
//	    529 overloaded becomes 503, the status OpenAI clients know
//
// Errors that are not *llm.Error become a 500 "internal error": their text is
// never shown to clients.
func (Codec) ErrorResponse(err error) (status int, body []byte) {
	status, obj := errorEnvelope(err)
	body, mErr := marshal(outErrorEnvelope{Error: obj})
	if mErr != nil { // cannot happen: strings only
		return http.StatusInternalServerError, []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
	}
	return status, body
}

// ErrorEvent is the in-band error for a stream that has begun:
// `data: {"error":{...}}`. The official SDKs check every data payload for an
// "error" key and surface it as an error (openai-go: ssestream.StreamError).
func (c Codec) ErrorEvent(err error) []byte {
	_, body := c.ErrorResponse(err)
	out := make([]byte, 0, len(body)+8)
	out = append(out, "data: "...)
	out = append(out, body...)
	return append(out, '\n', '\n')
}

func errorEnvelope(err error) (int, outErrorObject) {
	var e *llm.Error
	if !errors.As(err, &e) || e == nil {
		return http.StatusInternalServerError, outErrorObject{Message: "internal error", Type: "server_error"}
	}
	status := e.HTTPStatus()
	if e.Kind == llm.ErrOverloaded || status == 529 {
		status = http.StatusServiceUnavailable
	}
	if status < 400 || status > 599 {
		status = e.Kind.DefaultStatus()
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
	}
	obj := outErrorObject{Message: e.Message}
	if obj.Message == "" {
		obj.Message = http.StatusText(status)
		if obj.Message == "" {
			obj.Message = "error"
		}
	}
	if e.Param != "" {
		p := e.Param
		obj.Param = &p
	}
	code := ""
	switch {
	case status == http.StatusUnauthorized:
		obj.Type, code = "invalid_request_error", "invalid_api_key"
	case status == http.StatusForbidden:
		obj.Type = "permission_error"
	case status == http.StatusNotFound:
		obj.Type = "invalid_request_error"
		if e.Param == "model" || e.UpstreamType == "model_not_found" {
			code = "model_not_found"
		}
	case status == http.StatusRequestEntityTooLarge:
		obj.Type, code = "invalid_request_error", "request_too_large"
	case status == http.StatusTooManyRequests:
		if e.UpstreamType == "insufficient_quota" {
			obj.Type, code = "insufficient_quota", "insufficient_quota"
		} else {
			obj.Type, code = "rate_limit_error", "rate_limit_exceeded"
		}
	case status == 499:
		obj.Type, code = "invalid_request_error", "client_closed_request"
	case status == http.StatusServiceUnavailable:
		obj.Type, code = "service_unavailable_error", "server_is_overloaded"
	case status >= 500:
		obj.Type = "server_error"
	default:
		obj.Type = "invalid_request_error"
	}
	if code != "" {
		obj.Code = &code
	}
	return status, obj
}

// DecodeError turns an upstream's error answer into an *llm.Error. The kind
// follows the HTTP status; UpstreamType is OpenAI's error code when present
// (it is the more specific: invalid_api_key, model_not_found,
// insufficient_quota, context_length_exceeded) and its type otherwise.
// Bodies that are not an error envelope (HTML from a load balancer, plain
// text) become a clean bad_gateway 502, except 429, 503/529 and 504 which
// keep their retryable meaning.
func (Codec) DecodeError(status int, header http.Header, body []byte) *llm.Error {
	obj, ok := parseErrorBody(body)
	if !ok {
		return opaqueError(status, header, body)
	}
	e := &llm.Error{Message: obj.Message, Param: obj.Param, UpstreamType: obj.Code}
	if e.UpstreamType == "" {
		e.UpstreamType = obj.Type
	}
	if status >= 400 {
		e.Status = status
		e.Kind = llm.KindForStatus(status)
		e.Retryable = status == http.StatusRequestTimeout || status == http.StatusConflict ||
			status == http.StatusTooManyRequests || status >= 500
	} else {
		// An error envelope with a success status: classify by its type.
		e.Kind, e.Retryable = kindForType(obj.Type, obj.Code)
	}
	if obj.Code == "insufficient_quota" || obj.Type == "insufficient_quota" {
		e.Retryable = false // billing, not load: retrying will not help
		e.UpstreamType = "insufficient_quota"
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("upstream returned HTTP %d", status)
	}
	return e
}

func opaqueError(status int, header http.Header, body []byte) *llm.Error {
	what := "an empty body"
	if len(body) > 0 {
		what = "a body that is not an OpenAI error"
		if mt, _, err := mime.ParseMediaType(header.Get("Content-Type")); err == nil && mt != "" {
			what += " (" + mt + ")"
		}
	}
	msg := fmt.Sprintf("upstream returned HTTP %d with %s", status, what)
	switch status {
	case http.StatusTooManyRequests:
		return &llm.Error{Kind: llm.ErrRateLimit, Status: status, Message: msg, Retryable: true}
	case http.StatusServiceUnavailable, 529:
		return &llm.Error{Kind: llm.ErrOverloaded, Status: http.StatusServiceUnavailable, Message: msg, Retryable: true}
	case http.StatusGatewayTimeout:
		return &llm.Error{Kind: llm.ErrTimeout, Status: status, Message: msg, Retryable: true}
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		// A gateway's HTML page for these still means what its status says
		// (e.g. an ingress refusing a large image body): keep it, not a 502. An
		// HTML 404 stays a 502: it means a wrong base URL, the operator's problem.
		return &llm.Error{Kind: llm.KindForStatus(status), Status: status, Message: msg}
	}
	return &llm.Error{Kind: llm.ErrBadGateway, Status: http.StatusBadGateway, Message: msg, Retryable: status >= 500}
}

// parsedError is an upstream error envelope with its loosely typed fields
// (param and code may be null, strings or numbers) flattened to strings.
type parsedError struct {
	Message, Type, Param, Code string
	// Status is a numeric code some servers put in "code" (e.g. vLLM's 400).
	Status int
}

// parseErrorBody reads {"error":{...}}, {"error":"text"} and the flat
// {"message","type","code"} some compatible servers send.
func parseErrorBody(body []byte) (parsedError, bool) {
	var b errorBody
	if jsonenc.FirstByte(body) != '{' || json.Unmarshal(body, &b) != nil {
		return parsedError{}, false
	}
	switch jsonenc.FirstByte(b.Error) {
	case '{', '"':
		return parseErrorValue(b.Error)
	}
	if b.Message == "" {
		return parsedError{}, false
	}
	p := parsedError{Message: b.Message, Type: b.Type}
	p.Code, p.Status = looseString(b.Code)
	return p, true
}

// parseErrorValue reads the value of an "error" key: an object or a string.
func parseErrorValue(raw json.RawMessage) (parsedError, bool) {
	if jsonenc.FirstByte(raw) == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return parsedError{}, false
		}
		return parsedError{Message: s}, true
	}
	var o errorObject
	if jsonenc.FirstByte(raw) != '{' || json.Unmarshal(raw, &o) != nil {
		return parsedError{}, false
	}
	p := parsedError{Message: o.Message, Type: o.Type}
	p.Param, _ = looseString(o.Param)
	p.Code, p.Status = looseString(o.Code)
	return p, true
}

// looseString reads a JSON string, or a number (returned also as an int).
func looseString(raw json.RawMessage) (string, int) {
	switch k := jsonenc.FirstByte(raw); {
	case k == '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s, 0
	case k == '-' || (k >= '0' && k <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			i, _ := strconv.Atoi(n.String())
			return n.String(), i
		}
	}
	return "", 0
}

// streamError converts an error received inside a stream (or inside a 200
// answer), where there is no HTTP status to go by.
func streamError(raw json.RawMessage) *llm.Error {
	p, ok := parseErrorValue(raw)
	if !ok {
		return badGateway("upstream sent an unreadable error")
	}
	e := &llm.Error{Message: p.Message, Param: p.Param, UpstreamType: p.Code}
	if e.UpstreamType == "" {
		e.UpstreamType = p.Type
	}
	if p.Status >= 400 && p.Status <= 599 {
		e.Kind = llm.KindForStatus(p.Status)
		e.Retryable = p.Status == http.StatusTooManyRequests || p.Status >= 500
	} else {
		e.Kind, e.Retryable = kindForType(p.Type, p.Code)
	}
	if e.Message == "" {
		e.Message = "upstream reported an error"
	}
	return e
}

// kindForType classifies an OpenAI (or compatible) error type and code.
func kindForType(typ, code string) (llm.ErrorKind, bool) {
	switch {
	case code == "invalid_api_key" || typ == "authentication_error":
		return llm.ErrAuthentication, false
	case code == "model_not_found" || typ == "not_found_error":
		return llm.ErrNotFound, false
	case typ == "permission_error" || typ == "request_forbidden":
		return llm.ErrPermission, false
	case code == "insufficient_quota" || typ == "insufficient_quota":
		return llm.ErrRateLimit, false
	case code == "rate_limit_exceeded" || typ == "rate_limit_error" || typ == "requests" || typ == "tokens":
		return llm.ErrRateLimit, true
	case code == "server_is_overloaded" || typ == "service_unavailable_error" || typ == "overloaded_error":
		return llm.ErrOverloaded, true
	case typ == "invalid_request_error":
		return llm.ErrInvalidRequest, false
	default:
		return llm.ErrAPI, true
	}
}

// badGateway is an upstream answer that cannot be understood.
func badGateway(format string, args ...any) *llm.Error {
	e := llm.Errorf(llm.ErrBadGateway, format, args...)
	e.Retryable = true
	return e
}
