// Package openai translates the OpenAI Chat Completions wire format
// (POST /v1/chat/completions, its chat.completion and chat.completion.chunk
// answers and its error envelope) to and from the canonical model in
// proxy/llm. It is pure: no I/O, no goroutines.
//
// Deliberate choices, each covered by a test:
//
//   - system and developer messages, wherever they appear, become
//     Request.System blocks in order; the canonical model has no mid-turn
//     system prompt. Encoding joins the system blocks into one system message
//     (separated by a blank line) and drops Claude Code's per-request
//     "x-anthropic-billing-header:" block, which defeats prefix caching on
//     non-Anthropic backends.
//   - tool messages become tool_result blocks of one user message; consecutive
//     tool messages, and a user message right after them, share that message,
//     as the Anthropic format requires. Encoding reverses this: the tool
//     messages come first, right after the assistant turn, then the rest of
//     the user content. Images inside tool results cannot be sent in a tool
//     message and move to that following user message. An is_error result
//     is sent with the prefix "Error: " since Chat Completions has no flag.
//   - tool call arguments that are a JSON object become the tool_use Input
//     as sent. Anything else (truncated or invalid JSON, a bare string) is
//     kept losslessly as a JSON string Input, and encoded back verbatim;
//     rejecting it would make a client's own history unsendable. An empty
//     arguments string becomes {}.
//   - thinking is neither emitted nor decoded. Chat Completions has no
//     standard field for it; vLLM's and DeepSeek's "reasoning_content" carries
//     no signature, and an unsigned thinking block would make Claude Code drop
//     the turn. Thinking blocks in history are dropped when encoding a
//     request; cache_control, top_k and the thinking config are dropped too.
//   - max_tokens is written as "max_tokens" unless Codec.MaxCompletionTokens
//     is set: every OpenAI-compatible server accepts max_tokens, while OpenAI's
//     reasoning models require max_completion_tokens.
//   - usage: prompt_tokens include cached and cache-write tokens
//     (prompt_tokens_details.cached_tokens, .cache_write_tokens); the canonical
//     InputTokens exclude them, as Anthropic reports it.
//   - what the canonical model cannot carry is refused with a 400 naming the
//     field rather than silently dropped: n > 1, the legacy functions
//     parameter and function role, non-function tools, audio and file parts.
//     Unknown fields are ignored.
//   - a refusal (message.refusal, delta.refusal or finish_reason
//     content_filter) decodes to text with stop reason refusal; the refusal
//     stop reason encodes as finish_reason "content_filter" with the text kept
//     in content.
package openai

import (
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Codec is the OpenAI Chat Completions dialect. The zero value is ready to use.
type Codec struct {
	// MaxCompletionTokens makes EncodeRequest send the token limit as
	// max_completion_tokens (required by OpenAI's reasoning models) instead of
	// max_tokens (accepted by every OpenAI-compatible server).
	MaxCompletionTokens bool
}

var _ dialect.Codec = Codec{}

// Dialect names the format.
func (Codec) Dialect() llm.Dialect { return llm.OpenAI }

// NewStreamEncoder returns an encoder of canonical events into
// chat.completion.chunk SSE for one client response.
func (Codec) NewStreamEncoder(req *llm.Request) dialect.StreamEncoder {
	return newStreamEncoder(req)
}

// NewStreamDecoder returns a decoder of one upstream chunk stream.
func (Codec) NewStreamDecoder() dialect.StreamDecoder {
	return newStreamDecoder()
}
