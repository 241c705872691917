package fakeupstream

import (
	"encoding/json"
	"net/http"
	"time"
)

// Vendor-neutral stop reasons. They are spelled like Anthropic's and mapped to
// OpenAI's finish_reason by finishReason.
const (
	StopEndTurn      = "end_turn"
	StopMaxTokens    = "max_tokens"
	StopToolUse      = "tool_use"
	StopSequenceStop = "stop_sequence"
)

// Reply scripts one answer. A scripted Reply is used exactly as given (an empty
// Text is an empty answer); only requests nothing was scripted for get the
// default answer, see DefaultReply.
type Reply struct {
	// Text is the assistant's text. It is emitted as one text block / the
	// message content, streamed TokensPerDelta tokens at a time.
	Text string
	// Thinking, when set, is emitted (Anthropic only) as a thinking block before
	// the text, carrying Signature(model, Thinking) unless BadSignature is set.
	// In OpenAI answers it only counts as reasoning tokens.
	Thinking string
	// BadSignature replaces the thinking signature with one that never verifies.
	BadSignature bool
	// ToolCalls are emitted after the text, in order.
	ToolCalls []ToolCall
	// StopReason is one of the Stop* constants. Empty means StopToolUse when
	// there are tool calls, else StopEndTurn.
	StopReason string
	// StopSequence is reported with StopSequenceStop.
	StopSequence string
	// Usage, when non-nil, replaces the computed token counts entirely.
	Usage *Usage
	// Logprobs gives the log probability of each output token (OpenAI, when the
	// request sets logprobs). A shorter list repeats its last value. When empty,
	// every token gets MeanLogprob, or -0.01 when that is zero too.
	Logprobs    []float64
	MeanLogprob float64
	// Model overrides the model name reported in the answer (default: the
	// requested model).
	Model string
	// TokensPerDelta is how many tokens each streamed text delta carries
	// (default 1).
	TokensPerDelta int

	// Status, when non-zero and not 200, answers with that status instead of a
	// completion. RawBody is sent verbatim with ContentType (default
	// application/json); without RawBody the body is the dialect's error
	// envelope for the status, carrying ErrorMessage.
	Status       int
	RawBody      []byte
	ContentType  string
	ErrorMessage string
	// Header is added to the response headers (e.g. retry-after).
	Header http.Header

	// StallBeforeHeaders waits this long before writing anything; the wait ends
	// early when the client goes away or the server closes.
	StallBeforeHeaders time.Duration
	// ChunkDelay is the pause between SSE events (zero: Options.ChunkDelay).
	ChunkDelay time.Duration
	// ResetAfterEvents > 0 writes that many SSE events, then closes the TCP
	// connection abruptly (RST) without finishing the response. Streaming
	// answers only; a stream with fewer events ends normally.
	ResetAfterEvents int
	// ResetAfterBytes > 0 cuts a non-streaming answer: its full
	// Content-Length is announced, that many bytes of the body are written,
	// then the TCP connection is closed abruptly (RST). An answer no longer
	// than that is written whole.
	ResetAfterBytes int
	// StreamErrorAfterEvents > 0 writes that many SSE events, then an in-band
	// error event (status StreamErrorStatus, default 529) and ends the stream.
	StreamErrorAfterEvents int
	StreamErrorStatus      int
	// StallAfterBytes > 0 writes the headers and that many bytes of the body
	// (JSON or SSE, possibly ending inside an event), flushes them, and then
	// sends nothing until the client goes away or the server closes: an
	// upstream that hangs after its answer has begun.
	StallAfterBytes int
	// JSONToStreamRequest answers a streaming request with the non-streaming
	// JSON body (Claude Code tolerates this by retrying without streaming).
	JSONToStreamRequest bool
}

// ToolCall is one tool invocation. Input must be a JSON object; nil means {}.
type ToolCall struct {
	Name  string
	Input json.RawMessage
	// ID overrides the generated tool call id.
	ID string
}

// Usage are token counts with Anthropic's meaning: InputTokens excludes the
// cached ones. OpenAI answers report prompt_tokens = Input + CacheRead +
// CacheCreation, cached_tokens = CacheRead, and ReasoningTokens in
// completion_tokens_details (they are part of OutputTokens).
type Usage struct {
	InputTokens              int
	OutputTokens             int
	CacheReadInputTokens     int
	CacheCreationInputTokens int
	ReasoningTokens          int
}

// DefaultReply is the answer for a request nothing was scripted for: a short
// sentence naming the requested model, so tests can see which model answered.
func DefaultReply(model string) Reply {
	return Reply{Text: defaultText(model, 0)}
}

// fillerWords pad the default answer when Options.FillerWords asks for a
// longer, benchmark-realistic answer.
var fillerWords = []string{"the", "cascade", "answers", "quickly", "and", "cheaply", "while", "quality", "stays", "high"}

func defaultText(model string, filler int) string {
	if filler <= 0 {
		return "Hello from " + model + "."
	}
	b := make([]byte, 0, len(model)+13+filler*8)
	b = append(b, "Hello from "...)
	b = append(b, model...)
	b = append(b, '.')
	for i := range filler {
		b = append(b, ' ')
		b = append(b, fillerWords[i%len(fillerWords)]...)
	}
	b = append(b, '.')
	return string(b)
}

// stopReason resolves the vendor-neutral stop reason of r.
func (r *Reply) stopReason() string {
	if r.StopReason != "" {
		return r.StopReason
	}
	if len(r.ToolCalls) > 0 {
		return StopToolUse
	}
	return StopEndTurn
}

// finishReason maps a vendor-neutral stop reason to OpenAI's finish_reason
// ("stop", "length", "tool_calls"), per the chat completion object reference.
func finishReason(stop string) string {
	switch stop {
	case StopMaxTokens:
		return "length"
	case StopToolUse:
		return "tool_calls"
	default:
		return "stop"
	}
}

// prepared is a Reply with everything the encoders need computed once.
type prepared struct {
	Reply
	model      string   // model reported in the answer
	textTokens []string // Text split into tokens; joined they equal Text
	usage      Usage
	// cacheReported: usage carries the prompt cache's split (Options.PromptCache);
	// cacheWrite1h is the part of the cache writes with the 1-hour TTL.
	cacheReported bool
	cacheWrite1h  int
}

// prepare computes the reported model, tokens and usage of r for a request
// whose input was estimated at inputTokens.
func prepare(r Reply, requestedModel string, inputTokens int) *prepared {
	p := &prepared{Reply: r, model: requestedModel}
	if r.Model != "" {
		p.model = r.Model
	}
	p.textTokens = tokenize(r.Text)
	if r.Usage != nil {
		p.usage = *r.Usage
		return p
	}
	reasoning := len(tokenize(r.Thinking))
	out := len(p.textTokens) + reasoning
	for _, tc := range r.ToolCalls {
		out += approxTokens(len(tc.Name)+len(tc.Input)) + 1
	}
	p.usage = Usage{InputTokens: inputTokens, OutputTokens: max(out, 1), ReasoningTokens: reasoning}
	return p
}

// logprob is the log probability reported for output token i.
func (p *prepared) logprob(i int) float64 {
	if n := len(p.Logprobs); n > 0 {
		return p.Logprobs[min(i, n-1)]
	}
	if p.MeanLogprob != 0 {
		return p.MeanLogprob
	}
	return -0.01
}

func (p *prepared) tokensPerDelta() int {
	return max(p.TokensPerDelta, 1)
}

func toolInput(tc ToolCall) json.RawMessage {
	if len(tc.Input) == 0 {
		return json.RawMessage(`{}`)
	}
	return tc.Input
}
