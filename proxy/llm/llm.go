// Package llm is the canonical model every dialect translates to and from:
// one request, one response, one stream event and one error type shared by
// the Anthropic and OpenAI wire formats. It has no behaviour beyond small
// accessors, so every other package can depend on it.
package llm

import (
	"encoding/json"
	"strings"
)

// Dialect names a wire format.
type Dialect string

const (
	Anthropic Dialect = "anthropic"
	OpenAI    Dialect = "openai"
)

// Role of a message author. System prompts live in Request.System, not here.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// BlockType is the kind of a content block.
type BlockType string

const (
	BlockText             BlockType = "text"
	BlockImage            BlockType = "image"
	BlockToolUse          BlockType = "tool_use"
	BlockToolResult       BlockType = "tool_result"
	BlockThinking         BlockType = "thinking"
	BlockRedactedThinking BlockType = "redacted_thinking"
)

// Block is one content block. Which fields are meaningful depends on Type.
type Block struct {
	Type BlockType

	// Text is the text of a text block.
	Text string

	// Image: either inline base64 Data with its MediaType, or a URL.
	MediaType string
	Data      string // base64 image data, or the opaque data of a redacted_thinking block
	URL       string

	// Tool use: ID, Name and the JSON object Input.
	ID    string
	Name  string
	Input json.RawMessage

	// Tool result: the tool_use it answers, its content and whether it failed.
	ToolUseID string
	Content   []Block
	IsError   bool

	// Thinking text and its signature.
	Thinking  string
	Signature string

	// CacheControl is the block's cache_control object, kept verbatim.
	CacheControl json.RawMessage

	// Raw is the block exactly as the upstream or client sent it, when it was
	// decoded from the same dialect that will encode it again. Encoders emit Raw
	// unchanged when it is set, so signed thinking blocks are never re-serialised.
	Raw json.RawMessage
	// RawDialect is the dialect Raw is written in.
	RawDialect Dialect
}

// Message is one turn of the conversation.
type Message struct {
	Role    Role
	Content []Block
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	InputSchema json.RawMessage // JSON Schema object; may be nil
}

// ToolChoiceType says how the model must use tools.
type ToolChoiceType string

const (
	ToolChoiceAuto ToolChoiceType = "auto"
	ToolChoiceAny  ToolChoiceType = "any"  // OpenAI "required"
	ToolChoiceNone ToolChoiceType = "none" // no tool may be called
	ToolChoiceTool ToolChoiceType = "tool" // the named tool must be called
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Type                   ToolChoiceType
	Name                   string
	DisableParallelToolUse bool
}

// Thinking configures extended thinking.
type Thinking struct {
	Type         string // "enabled", "adaptive" or "disabled"
	BudgetTokens int
	Display      string
}

// ResponseFormat asks for structured output.
type ResponseFormat struct {
	Type   string          // "text", "json_object" or "json_schema"
	Schema json.RawMessage // for json_schema
	Name   string
}

// Request is a chat request in canonical form.
type Request struct {
	Model         string
	System        []Block // text blocks
	Messages      []Message
	MaxTokens     int
	Temperature   *float64
	TopP          *float64
	TopK          *int
	StopSequences []string
	Stream        bool
	Tools         []Tool
	ToolChoice    *ToolChoice
	Thinking      *Thinking
	Format        *ResponseFormat
	// Logprobs asks an OpenAI-compatible upstream for token log probabilities
	// (the quality gate uses them); TopLogprobs is how many alternatives.
	Logprobs    bool
	TopLogprobs int
	User        string // end-user id (Anthropic metadata.user_id, OpenAI user)
	// IncludeUsage: an OpenAI streaming client asked for a final usage chunk.
	IncludeUsage bool
}

// StopReason is why generation stopped, in Anthropic's vocabulary.
type StopReason string

const (
	StopEndTurn      StopReason = "end_turn"
	StopMaxTokens    StopReason = "max_tokens"
	StopSequence     StopReason = "stop_sequence"
	StopToolUse      StopReason = "tool_use"
	StopRefusal      StopReason = "refusal"
	StopPauseTurn    StopReason = "pause_turn"
	StopContextLimit StopReason = "model_context_window_exceeded"
)

// Usage counts tokens. Input excludes cache reads and writes, as Anthropic reports it.
type Usage struct {
	InputTokens              int
	OutputTokens             int
	CacheCreationInputTokens int
	CacheReadInputTokens     int
	// CacheCreation1hInputTokens is the part of CacheCreationInputTokens
	// written with a one-hour TTL (Anthropic's cache_creation
	// .ephemeral_1h_input_tokens), billed at a higher rate than the default
	// five minutes.
	CacheCreation1hInputTokens int
}

// CacheHitRatio is the share of the prompt read from the prompt cache:
// cache reads over input, cache writes and cache reads; 0 for no prompt.
func (u Usage) CacheHitRatio() float64 {
	prompt := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
	if prompt <= 0 {
		return 0
	}
	return float64(u.CacheReadInputTokens) / float64(prompt)
}

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		InputTokens:              u.InputTokens + o.InputTokens,
		OutputTokens:             u.OutputTokens + o.OutputTokens,
		CacheCreationInputTokens: u.CacheCreationInputTokens + o.CacheCreationInputTokens,
		CacheReadInputTokens:     u.CacheReadInputTokens + o.CacheReadInputTokens,

		CacheCreation1hInputTokens: u.CacheCreation1hInputTokens + o.CacheCreation1hInputTokens,
	}
}

// TokenLogprob is one generated token's log probability.
type TokenLogprob struct {
	Token   string
	Logprob float64
}

// Response is a complete (non-streamed or fully buffered) model answer.
type Response struct {
	ID           string
	Model        string
	Content      []Block
	StopReason   StopReason
	StopSequence string
	Usage        Usage
	Logprobs     []TokenLogprob
	Created      int64 // unix seconds, OpenAI "created"; 0 means unknown
}

// Text concatenates the response's text blocks.
func (r *Response) Text() string {
	n, blocks, last := 0, 0, -1
	for i := range r.Content {
		if r.Content[i].Type == BlockText {
			n += len(r.Content[i].Text)
			blocks++
			last = i
		}
	}
	switch blocks {
	case 0:
		return ""
	case 1:
		return r.Content[last].Text // the usual answer: no copy
	}
	var b strings.Builder
	b.Grow(n)
	for i := range r.Content {
		if r.Content[i].Type == BlockText {
			b.WriteString(r.Content[i].Text)
		}
	}
	return b.String()
}

// WithFinal returns the usage a message_delta reports (cumulative) on top of
// what message_start reported: the delta's counts win, except input counts
// the delta leaves at zero.
func (u Usage) WithFinal(final Usage) Usage {
	if final.InputTokens == 0 {
		final.InputTokens = u.InputTokens
	}
	if final.CacheCreationInputTokens == 0 {
		final.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
	if final.CacheReadInputTokens == 0 {
		final.CacheReadInputTokens = u.CacheReadInputTokens
	}
	if final.CacheCreation1hInputTokens == 0 {
		final.CacheCreation1hInputTokens = u.CacheCreation1hInputTokens
	}
	return final
}
