// Package dialect declares what a wire format must provide so the server
// (client side) and the providers (upstream side) can translate through the
// canonical model in proxy/llm. Implementations live in the sub-packages
// anthropic and openai; both are pure (no I/O).
package dialect

import (
	"net/http"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Codec translates one wire format to and from the canonical model.
type Codec interface {
	// Dialect names the format.
	Dialect() llm.Dialect

	// DecodeRequest parses a client's request body. Problems are *llm.Error of
	// kind invalid_request whose Message (and Param) names the offending field.
	// The request may share body's bytes (raw blocks, tool inputs) rather
	// than copy them: body must not change while the request is in use.
	DecodeRequest(body []byte) (*llm.Request, error)
	// EncodeRequest writes a canonical request for an upstream of this format.
	EncodeRequest(r *llm.Request) ([]byte, error)

	// DecodeResponse parses an upstream's non-streaming response body.
	DecodeResponse(body []byte) (*llm.Response, error)
	// EncodeResponse writes a non-streaming response for a client.
	EncodeResponse(r *llm.Response) ([]byte, error)

	// NewStreamEncoder returns an encoder of canonical events into this
	// format's SSE bytes for one client response. req is the client's request
	// (e.g. OpenAI's stream_options.include_usage).
	NewStreamEncoder(req *llm.Request) StreamEncoder
	// NewStreamDecoder returns a decoder of one upstream SSE stream.
	NewStreamDecoder() StreamDecoder

	// ErrorResponse is the one mapping of an error to this format's HTTP status
	// and error envelope. Unknown errors become a generic 500 without details.
	ErrorResponse(err error) (status int, body []byte)
	// ErrorEvent is the in-band SSE error sent after a stream has begun.
	ErrorEvent(err error) []byte
	// DecodeError turns an upstream's error answer (any status, any body,
	// HTML included) into an *llm.Error; never a JSON parse error.
	DecodeError(status int, header http.Header, body []byte) *llm.Error
}

// StreamEncoder turns canonical events into SSE bytes, one client stream each.
// It is a state machine: it enforces the format's event order (e.g. exactly
// one message_delta) and drops what the format cannot express.
type StreamEncoder interface {
	// Encode appends the SSE bytes for ev to dst (possibly none).
	Encode(dst []byte, ev llm.Event) ([]byte, error)
	// Finish appends whatever ends a complete stream (OpenAI: "data: [DONE]").
	Finish(dst []byte) []byte
}

// StreamDecoder turns one upstream SSE stream into canonical events.
type StreamDecoder interface {
	// Decode consumes one SSE event (its "event:" name, possibly empty, and its
	// joined "data:" payload) and returns the canonical events it completes.
	Decode(event string, data []byte) ([]llm.Event, error)
	// Finish is called at the end of the upstream stream ("[DONE]" or EOF) and
	// returns any events still owed (e.g. a synthesised message_stop), or an
	// error when the stream ended before it was complete.
	Finish() ([]llm.Event, error)
}
