package openai

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// now is the clock for "created" when the canonical value is unknown.
var now = time.Now

// DecodeResponse parses an upstream's chat.completion body. Anything that is
// not a usable completion is a bad_gateway *llm.Error.
func (Codec) DecodeResponse(body []byte) (*llm.Response, error) {
	var w chatCompletion
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, badGateway("upstream sent an unreadable chat.completion: %v", err)
	}
	if !isNull(w.Error) {
		return nil, streamError(w.Error)
	}
	if len(w.Choices) == 0 {
		return nil, badGateway("upstream chat.completion has no choices")
	}
	c := &w.Choices[0]
	for i := range w.Choices {
		if w.Choices[i].Index == 0 {
			c = &w.Choices[i]
			break
		}
	}
	r := &llm.Response{ID: w.ID, Model: w.Model, Created: w.Created}
	text, err := responseText(c.Message.Content)
	if err != nil {
		return nil, err
	}
	if text != "" {
		r.Content = append(r.Content, llm.Block{Type: llm.BlockText, Text: text})
	}
	refused := c.Message.Refusal != nil && *c.Message.Refusal != ""
	if refused {
		r.Content = append(r.Content, llm.Block{Type: llm.BlockText, Text: *c.Message.Refusal})
	}
	for j, tc := range c.Message.ToolCalls {
		input, err := toolInput(tc.Function.Arguments, "tool_calls.function.arguments")
		if err != nil {
			return nil, badGateway("upstream tool call %d has unreadable arguments", j)
		}
		r.Content = append(r.Content, llm.Block{Type: llm.BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	finish := ""
	if c.FinishReason != nil {
		finish = *c.FinishReason
	}
	r.StopReason = stopReason(finish, refused, len(c.Message.ToolCalls) > 0)
	if w.Usage != nil {
		r.Usage = canonicalUsage(w.Usage)
	}
	if c.Logprobs != nil {
		r.Logprobs = canonicalLogprobs(c.Logprobs)
	}
	return r, nil
}

// responseText reads message.content: a string, null, or (from some
// compatible servers) an array of text parts.
func responseText(raw json.RawMessage) (string, error) {
	switch jsonenc.FirstByte(raw) {
	case 0, 'n':
		return "", nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", badGateway("upstream message content is unreadable: %v", err)
		}
		return s, nil
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", badGateway("upstream message content is unreadable: %v", err)
		}
		var b strings.Builder
		for _, p := range parts {
			if p.Type == "text" {
				b.WriteString(p.Text)
			}
		}
		return b.String(), nil
	default:
		return "", badGateway("upstream message content is neither a string nor an array")
	}
}

// stopReason maps finish_reason. "stop" covers both a natural end and a stop
// sequence (OpenAI does not say which), so it is end_turn — unless the answer
// called tools: some OpenAI-compatible servers (vLLM, Ollama, Gemini's) say
// "stop" then, and an Anthropic client must see tool_use to run them.
func stopReason(finish string, refused, calledTools bool) llm.StopReason {
	if refused {
		return llm.StopRefusal
	}
	if calledTools && (finish == "stop" || finish == "") {
		return llm.StopToolUse
	}
	switch finish {
	case "length":
		return llm.StopMaxTokens
	case "tool_calls", "function_call":
		return llm.StopToolUse
	case "content_filter":
		return llm.StopRefusal
	default:
		return llm.StopEndTurn
	}
}

// finishReason is the inverse of stopReason.
func finishReason(s llm.StopReason) string {
	switch s {
	case llm.StopMaxTokens, llm.StopContextLimit:
		return "length"
	case llm.StopToolUse:
		return "tool_calls"
	case llm.StopRefusal:
		return "content_filter"
	default:
		return "stop"
	}
}

// canonicalUsage: prompt_tokens include cache reads and writes; the
// canonical InputTokens do not.
func canonicalUsage(u *usage) llm.Usage {
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CacheReadInputTokens = d.CachedTokens
		out.CacheCreationInputTokens = d.CacheWriteTokens
		out.InputTokens -= d.CachedTokens + d.CacheWriteTokens
		if out.InputTokens < 0 {
			out.InputTokens = 0
		}
	}
	return out
}

func canonicalLogprobs(l *logprobs) []llm.TokenLogprob {
	if len(l.Content) == 0 {
		return nil
	}
	out := make([]llm.TokenLogprob, len(l.Content))
	for i, t := range l.Content {
		out[i] = llm.TokenLogprob{Token: t.Token, Logprob: t.Logprob}
	}
	return out
}

// Wire types of the chat.completion written to clients.

type outCompletion struct {
	ID      string      `json:"id"`
	Object  string      `json:"object"`
	Created int64       `json:"created"`
	Model   string      `json:"model"`
	Choices []outChoice `json:"choices"`
	Usage   outUsage    `json:"usage"`
}

type outChoice struct {
	Index        int             `json:"index"`
	Message      outRespMessage  `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type outRespMessage struct {
	Role      string        `json:"role"`
	Content   *string       `json:"content"`
	Refusal   *string       `json:"refusal"`
	ToolCalls []outToolCall `json:"tool_calls,omitempty"`
}

type outUsage struct {
	PromptTokens        int              `json:"prompt_tokens"`
	CompletionTokens    int              `json:"completion_tokens"`
	TotalTokens         int              `json:"total_tokens"`
	PromptTokensDetails outPromptDetails `json:"prompt_tokens_details"`
}

type outPromptDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

// EncodeResponse writes a chat.completion for a client. Thinking blocks are
// not emitted (see the package comment); content is null when the answer is
// only tool calls.
func (Codec) EncodeResponse(r *llm.Response) ([]byte, error) {
	if r == nil {
		return nil, badGateway("no response to encode")
	}
	msg := outRespMessage{Role: "assistant"}
	var text strings.Builder
	hasText := false
	for _, b := range r.Content {
		switch b.Type {
		case llm.BlockText:
			text.WriteString(b.Text)
			hasText = true
		case llm.BlockToolUse:
			msg.ToolCalls = append(msg.ToolCalls, outToolCall{
				ID:       b.ID,
				Type:     "function",
				Function: outToolFunction{Name: b.Name, Arguments: inputArguments(b.Input)},
			})
		}
	}
	if hasText || len(msg.ToolCalls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	out := outCompletion{
		ID:      completionID(r.ID),
		Object:  "chat.completion",
		Created: created(r.Created),
		Model:   r.Model,
		Choices: []outChoice{{
			Message:      msg,
			Logprobs:     appendLogprobs(nil, r.Logprobs),
			FinishReason: finishReason(r.StopReason),
		}},
		Usage: wireUsage(r.Usage),
	}
	return marshal(out)
}

func wireUsage(u llm.Usage) outUsage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	return outUsage{
		PromptTokens:     prompt,
		CompletionTokens: u.OutputTokens,
		TotalTokens:      prompt + u.OutputTokens,
		PromptTokensDetails: outPromptDetails{
			CachedTokens:     u.CacheReadInputTokens,
			CacheWriteTokens: u.CacheCreationInputTokens,
		},
	}
}

// appendLogprobs appends a choice's logprobs object, or null when there are
// none.
func appendLogprobs(dst []byte, lps []llm.TokenLogprob) []byte {
	if len(lps) == 0 {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"content":[`...)
	for i, lp := range lps {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"token":`...)
		dst = jsonenc.AppendString(dst, lp.Token)
		dst = append(dst, `,"logprob":`...)
		dst = appendFloat(dst, lp.Logprob)
		dst = append(dst, `,"bytes":[`...)
		for j := 0; j < len(lp.Token); j++ {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendUint(dst, uint64(lp.Token[j]))
		}
		dst = append(dst, `],"top_logprobs":[]}`...)
	}
	return append(dst, `],"refusal":null}`...)
}

// completionID keeps a chatcmpl- id, prefixes a foreign one (e.g. an
// Anthropic msg_ id, so it stays traceable) and invents one when missing.
func completionID(id string) string {
	switch {
	case strings.HasPrefix(id, "chatcmpl-"):
		return id
	case id != "":
		return "chatcmpl-" + id
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, len("chatcmpl-")+24)
	copy(b, "chatcmpl-")
	for i := len("chatcmpl-"); i < len(b); i++ {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

func created(t int64) int64 {
	if t > 0 {
		return t
	}
	return now().Unix()
}
