package llm

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrorKind classifies an error independently of any dialect.
type ErrorKind string

const (
	ErrInvalidRequest  ErrorKind = "invalid_request"   // 400
	ErrAuthentication  ErrorKind = "authentication"    // 401
	ErrPermission      ErrorKind = "permission"        // 403
	ErrNotFound        ErrorKind = "not_found"         // 404
	ErrRequestTooLarge ErrorKind = "request_too_large" // 413
	ErrRateLimit       ErrorKind = "rate_limit"        // 429
	ErrAPI             ErrorKind = "api_error"         // 500
	ErrBadGateway      ErrorKind = "bad_gateway"       // 502: upstream unreachable or unintelligible
	ErrOverloaded      ErrorKind = "overloaded"        // 529 (Anthropic) / 503
	ErrTimeout         ErrorKind = "timeout"           // 504
	ErrCanceled        ErrorKind = "canceled"          // 499: the client went away
)

// Error is the one typed error of the data plane. Each dialect has exactly
// one function that maps it to an HTTP status and an envelope.
type Error struct {
	Kind ErrorKind
	// Status is the HTTP status to answer with; 0 means the kind's default.
	Status  int
	Message string
	// Param names the offending request field, when known.
	Param string
	// Retryable says whether the same request may succeed later.
	Retryable bool
	// UpstreamType is the vendor's own error type string, when known.
	UpstreamType string
	// Header is what the upstream's error answer said about retrying and its
	// identity (see RetryHeaders), nil when nothing; the server passes it on
	// to the client in the client's dialect. A pointer keeps Error comparable.
	Header *http.Header
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus is the status this error should be answered with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return e.Kind.DefaultStatus()
}

// DefaultStatus is the HTTP status usually associated with a kind.
func (k ErrorKind) DefaultStatus() int {
	switch k {
	case ErrInvalidRequest:
		return http.StatusBadRequest
	case ErrAuthentication:
		return http.StatusUnauthorized
	case ErrPermission:
		return http.StatusForbidden
	case ErrNotFound:
		return http.StatusNotFound
	case ErrRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case ErrRateLimit:
		return http.StatusTooManyRequests
	case ErrBadGateway:
		return http.StatusBadGateway
	case ErrOverloaded:
		return 529
	case ErrTimeout:
		return http.StatusGatewayTimeout
	case ErrCanceled:
		return 499
	default:
		return http.StatusInternalServerError
	}
}

// KindForStatus classifies an upstream HTTP status.
func KindForStatus(status int) ErrorKind {
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return ErrInvalidRequest
	case status == http.StatusUnauthorized:
		return ErrAuthentication
	case status == http.StatusForbidden:
		return ErrPermission
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusRequestEntityTooLarge:
		return ErrRequestTooLarge
	case status == http.StatusTooManyRequests:
		return ErrRateLimit
	case status == 529, status == http.StatusServiceUnavailable:
		return ErrOverloaded
	case status == http.StatusGatewayTimeout:
		return ErrTimeout
	case status >= 500:
		return ErrAPI
	default:
		return ErrInvalidRequest
	}
}

// RetryHeaders picks from an upstream answer's headers those a client
// needs to back off and to report the failure: Retry-After,
// Retry-After-Ms, X-Should-Retry, the vendors' rate-limit headers
// (anthropic-ratelimit-*, x-ratelimit-*) and the vendor's request id
// (request-id, x-request-id). It returns nil when there are none.
func RetryHeaders(h http.Header) *http.Header {
	var out http.Header
	for k, vs := range h {
		if !IsRetryHeader(k) {
			continue
		}
		if out == nil {
			out = http.Header{}
		}
		out[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if out == nil {
		return nil
	}
	return &out
}

// IsRetryHeader reports whether RetryHeaders keeps the header named k.
func IsRetryHeader(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "retry-after", "retry-after-ms", "x-should-retry", "request-id", "x-request-id":
		return true
	}
	return strings.HasPrefix(k, "anthropic-ratelimit-") || strings.HasPrefix(k, "x-ratelimit-")
}

// Errorf builds an *Error of the given kind.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, wrapping unknown errors as api_error with
// a generic message (the cause is kept for logs, never shown to clients).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: ErrAPI, Message: "internal error", Err: err}
}
