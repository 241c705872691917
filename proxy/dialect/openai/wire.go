package openai

import (
	"encoding/json"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
)

// Wire types of the Chat Completions API that are read. Polymorphic fields
// (content, stop, tool_choice, ...) stay json.RawMessage and are decoded by
// hand, so that an error can name the exact field. Unknown fields are ignored.

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools             []toolDefinition `json:"tools"`
	ToolChoice        json.RawMessage  `json:"tool_choice"`
	ParallelToolCalls *bool            `json:"parallel_tool_calls"`
	ResponseFormat    json.RawMessage  `json:"response_format"`
	Logprobs          bool             `json:"logprobs"`
	TopLogprobs       *int             `json:"top_logprobs"`
	User              string           `json:"user"`
	SafetyIdentifier  string           `json:"safety_identifier"`
	N                 *int             `json:"n"`
	Functions         json.RawMessage  `json:"functions"`
}

type chatMessage struct {
	Role       string         `json:"role"`
	Content    jsonenc.RawRef `json:"content"` // a slice of the client's body, not a copy
	Refusal    *string        `json:"refusal"`
	ToolCalls  []toolCall     `json:"tool_calls"`
	ToolCallID string         `json:"tool_call_id"`
}

// requestShape and messageShape decode arrays element by element; they are
// used only to say which element has the wrong type (encoding/json's
// UnmarshalTypeError names the field path without array indexes).
type requestShape struct {
	Messages []json.RawMessage `json:"messages"`
	Tools    []json.RawMessage `json:"tools"`
}

type messageShape struct {
	ToolCalls []json.RawMessage `json:"tool_calls"`
}

// requestPart is a content part of a request, read without copying: its
// text is decoded once from the client's body (see unmarshalString).
type requestPart struct {
	Type     string         `json:"type"`
	Text     jsonenc.RawRef `json:"text"`
	Refusal  string         `json:"refusal"`
	ImageURL jsonenc.RawRef `json:"image_url"`
}

type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"`
}

type imageURL struct {
	URL string `json:"url"`
}

type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type toolDefinition struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type namedToolChoice struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

type chatCompletion struct {
	ID      string          `json:"id"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []choice        `json:"choices"`
	Usage   *usage          `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type choice struct {
	Index   int `json:"index"`
	Message struct {
		Content   json.RawMessage `json:"content"`
		Refusal   *string         `json:"refusal"`
		ToolCalls []toolCall      `json:"tool_calls"`
	} `json:"message"`
	FinishReason *string   `json:"finish_reason"`
	Logprobs     *logprobs `json:"logprobs"`
}

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens     int `json:"cached_tokens"`
		CacheWriteTokens int `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
}

type logprobs struct {
	Content []struct {
		Token   string  `json:"token"`
		Logprob float64 `json:"logprob"`
	} `json:"content"`
}

type chunk struct {
	ID      string          `json:"id"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []chunkChoice   `json:"choices"`
	Usage   *usage          `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type chunkChoice struct {
	Index int `json:"index"`
	Delta struct {
		Content   string          `json:"content"`
		Refusal   string          `json:"refusal"`
		ToolCalls []toolCallDelta `json:"tool_calls"`
	} `json:"delta"`
	FinishReason *string   `json:"finish_reason"`
	Logprobs     *logprobs `json:"logprobs"`
}

type toolCallDelta struct {
	// Index is a pointer because some OpenAI-compatible servers omit it.
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type errorBody struct {
	Error json.RawMessage `json:"error"`
	// Some OpenAI-compatible servers (older vLLM) answer with a flat
	// {"object":"error","message":...,"type":...,"code":400}.
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

type errorObject struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}
