// Package anthropic translates the Anthropic Messages API wire format
// (POST /v1/messages, its SSE stream and its error envelope) to and from the
// canonical model in proxy/llm. It is pure: no I/O, no clocks, no globals
// beyond constants.
//
// What the canonical model cannot hold, and what happens to it:
//
//   - Unknown top-level request fields (context_management, output_config.effort,
//     top-level cache_control, …) are ignored, never rejected; the server keeps
//     the raw body for same-dialect pass-through.
//   - Content block types Anthropic defines but the canonical model has no
//     type for (document, search_result, server_tool_use, web_search_tool_result,
//     mcp_tool_use, …) decode to a Block whose Type is the wire type and whose
//     Raw holds the block verbatim; this package re-emits Raw, other dialects
//     drop such blocks. A block type Anthropic does not define is a 400, as it
//     is on the real API.
//   - Text blocks carrying citations keep Raw too, so citations survive an
//     Anthropic→Anthropic round trip.
//   - Thinking and redacted_thinking blocks always keep their exact bytes in Raw
//     (RawDialect = llm.Anthropic); every encoder here writes Raw unchanged, so
//     signatures survive byte-for-byte.
//   - Server tools (tools with a "type" other than "custom", e.g.
//     web_search_20250305) have no canonical form and are left out of
//     Request.Tools: the canonical Tool is a client function and re-encoding a
//     server tool as one would send the upstream a tool it cannot run.
//   - role:"system" entries inside messages (Claude Code sends one) are folded
//     into Request.System, appended after the top-level system in order; their
//     position in the conversation is not kept.
//   - output_config.format {type: json_schema} maps to Request.Format;
//     OpenAI's json_object and logprobs have no Anthropic form and are dropped
//     by EncodeRequest.
package anthropic

import (
	"errors"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Codec is the Anthropic Messages API dialect. Its zero value is ready to use.
type Codec struct{}

var _ dialect.Codec = Codec{}

// Dialect names the format.
func (Codec) Dialect() llm.Dialect { return llm.Anthropic }

// DefaultMaxTokens is what EncodeRequest sends when the canonical request has
// no max_tokens (OpenAI clients may omit it; Anthropic requires it). With
// extended thinking enabled the default is raised above budget_tokens, which
// the API requires to be smaller than max_tokens.
const DefaultMaxTokens = 4096

// ErrStreamOrder is wrapped by every stream-encoder error: the canonical
// events asked for something the Anthropic event order does not allow (a
// delta for a block never started, a thinking block closed without its
// signature, an event after message_stop, …). It is a proxy bug, never the
// client's, so its text is not shown to clients.
var ErrStreamOrder = errors.New("anthropic stream order violated")
