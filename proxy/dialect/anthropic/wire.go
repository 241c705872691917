package anthropic

import (
	"encoding/json"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
)

// Wire types: what encoding/json decodes a request or response into. Fields
// whose JSON type varies (content: string or blocks; system; source) are
// kept raw and decoded in a second step, where the path is known. In a
// request and a block they are rawRef, not json.RawMessage: a large request
// is then not copied once more for each level its content is nested in.

// rawRef is jsonenc.RawRef: a value's bytes in the document being decoded,
// not a copy. The request decoder's document is a client's body, which the
// proxy never writes; a response's blocks are decoded from copies the
// decoder owns (see decodeBlock).
type rawRef = jsonenc.RawRef

type wireRequest struct {
	Model         *string           `json:"model"`
	MaxTokens     *int              `json:"max_tokens"`
	Messages      []wireMessage     `json:"messages"`
	System        rawRef            `json:"system"`
	Tools         []wireTool        `json:"tools"`
	ToolChoice    *wireToolChoice   `json:"tool_choice"`
	Thinking      *wireThinking     `json:"thinking"`
	StopSequences []string          `json:"stop_sequences"`
	Temperature   *float64          `json:"temperature"`
	TopP          *float64          `json:"top_p"`
	TopK          *int              `json:"top_k"`
	Stream        *bool             `json:"stream"`
	Metadata      *wireMetadata     `json:"metadata"`
	OutputConfig  *wireOutputConfig `json:"output_config"`
}

type wireMessage struct {
	Role    string `json:"role"`
	Content rawRef `json:"content"`
}

// wireBlock has the union of the fields of the block types with a canonical
// form. Fields other block types use differently are never read for them.
type wireBlock struct {
	Type         string  `json:"type"`
	Text         rawRef  `json:"text"` // decoded with jsonenc.DecodeString
	Source       rawRef  `json:"source"`
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Input        rawRef  `json:"input"`
	ToolUseID    string  `json:"tool_use_id"`
	Content      rawRef  `json:"content"`
	IsError      *bool   `json:"is_error"`
	Thinking     *string `json:"thinking"`
	Signature    string  `json:"signature"`
	Data         string  `json:"data"`
	CacheControl rawRef  `json:"cache_control"`
	Citations    rawRef  `json:"citations"`
}

type wireSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
	FileID    string `json:"file_id"`
}

type wireTool struct {
	Type        string  `json:"type"`
	Name        *string `json:"name"`
	Description string  `json:"description"`
	InputSchema rawRef  `json:"input_schema"`
}

type wireToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
}

type wireThinking struct {
	Type         string `json:"type"`
	BudgetTokens *int   `json:"budget_tokens"`
	Display      string `json:"display"`
}

type wireMetadata struct {
	UserID *string `json:"user_id"`
}

type wireOutputConfig struct {
	Format *struct {
		Type   string `json:"type"`
		Schema rawRef `json:"schema"`
		Name   string `json:"name"`
	} `json:"format"`
}

type wireUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	// CacheCreation splits the cache writes by TTL.
	CacheCreation *struct {
		Ephemeral1h *int `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

type wireResponse struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	Role         string            `json:"role"`
	Model        string            `json:"model"`
	Content      []json.RawMessage `json:"content"`
	StopReason   *string           `json:"stop_reason"`
	StopSequence *string           `json:"stop_sequence"`
	Usage        *wireUsage        `json:"usage"`
	Error        json.RawMessage   `json:"error"`
}

type wireErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Details *struct {
		ErrorCode string `json:"error_code"`
	} `json:"details"`
}

// wireEvent is any streaming event's data.
type wireEvent struct {
	Type         string          `json:"type"`
	Index        *int            `json:"index"`
	Message      *wireResponse   `json:"message"`
	ContentBlock json.RawMessage `json:"content_block"`
	Delta        *wireDelta      `json:"delta"`
	Usage        *wireUsage      `json:"usage"`
	Error        json.RawMessage `json:"error"`
}

type wireDelta struct {
	Type         string  `json:"type"`
	Text         string  `json:"text"`
	PartialJSON  string  `json:"partial_json"`
	Thinking     string  `json:"thinking"`
	Signature    string  `json:"signature"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}
