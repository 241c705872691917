package fakeupstream

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
)

// openAIRequest is the part of a Chat Completions request body
// (POST /v1/chat/completions, "Create chat completion" reference) the fake
// reads.
type openAIRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Logprobs    bool            `json:"logprobs"`
	TopLogprobs int             `json:"top_logprobs"`
	Messages    json.RawMessage `json:"messages"`
	Tools       json.RawMessage `json:"tools"`
}

// Wire types of the chat completion object ("The chat completion object"
// reference): id, object "chat.completion", created, model, choices[] with
// message / logprobs / finish_reason, usage, service_tier, system_fingerprint.
type openAICompletion struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	Created           int64          `json:"created"`
	Model             string         `json:"model"`
	Choices           []openAIChoice `json:"choices"`
	Usage             *openAIUsage   `json:"usage"`
	ServiceTier       string         `json:"service_tier"`
	SystemFingerprint string         `json:"system_fingerprint"`
}

type openAIChoice struct {
	Index        int             `json:"index"`
	Message      openAIMessage   `json:"message"`
	Logprobs     *openAILogprobs `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// openAIMessage: content is null when the message only calls tools.
type openAIMessage struct {
	Role        string           `json:"role"`
	Content     *string          `json:"content"`
	Refusal     *string          `json:"refusal"`
	ToolCalls   []openAIToolCall `json:"tool_calls,omitempty"`
	Annotations []any            `json:"annotations"`
}

type openAIToolCall struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Function openAIFunction `json:"function"`
}

type openAIFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// openAILogprobs is choices[].logprobs: content[] of {token, logprob, bytes,
// top_logprobs[]}; refusal is null here.
type openAILogprobs struct {
	Content []openAITokenLogprob `json:"content"`
	Refusal []openAITokenLogprob `json:"refusal"`
}

type openAITokenLogprob struct {
	Token       string             `json:"token"`
	Logprob     float64            `json:"logprob"`
	Bytes       []int              `json:"bytes"`
	TopLogprobs []openAITopLogprob `json:"top_logprobs"`
}

type openAITopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// openAIUsage is the completion usage object with its two details objects.
type openAIUsage struct {
	PromptTokens            int                     `json:"prompt_tokens"`
	CompletionTokens        int                     `json:"completion_tokens"`
	TotalTokens             int                     `json:"total_tokens"`
	PromptTokensDetails     openAIPromptDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails openAICompletionDetails `json:"completion_tokens_details"`
}

type openAIPromptDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type openAICompletionDetails struct {
	ReasoningTokens          int `json:"reasoning_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

// Streaming ("The chat completion chunk object"): object
// "chat.completion.chunk" with the same id, created and model on every chunk,
// choices[].delta, tool_calls deltas keyed by index, and with
// stream_options.include_usage a usage field that is null on every chunk but a
// final one whose choices are empty. The constant head of a chunk is built once
// per stream (chunkHead) and only the choice is encoded per chunk.
type openAIChunkChoice struct {
	Index        int             `json:"index"`
	Delta        openAIDelta     `json:"delta"`
	Logprobs     *openAILogprobs `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type openAIDelta struct {
	Role      string                `json:"role,omitempty"`
	Content   *string               `json:"content,omitempty"`
	ToolCalls []openAIToolCallDelta `json:"tool_calls,omitempty"`
}

// openAIToolCallDelta: the first delta of a call has id, type and
// function.name; later ones only function.arguments fragments.
type openAIToolCallDelta struct {
	Index    int                 `json:"index"`
	ID       string              `json:"id,omitempty"`
	Type     string              `json:"type,omitempty"`
	Function openAIFunctionDelta `json:"function"`
}

type openAIFunctionDelta struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

const openAIFingerprint = "fp_fakeupstream"

var openAIDone = []byte(`[DONE]`)

func (x *exchange) serveChatCompletions() {
	o := &x.openAI
	switch {
	case x.parseErr != "":
		x.fail(http.StatusBadRequest, x.parseErr)
		return
	case o.Model == "":
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, "you must provide a model parameter", "", ""))
		return
	case len(o.Messages) == 0 || o.Messages[0] != '[':
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"))
		return
	}
	p := x.srv.prepareReply(&x.rec, x.inputTokens)
	if !x.scripted(p) {
		return
	}
	if o.Stream && !p.JSONToStreamRequest {
		x.streamOpenAI(p)
		return
	}
	body, err := json.Marshal(x.openAICompletion(p))
	if err != nil {
		x.fail(http.StatusInternalServerError, "encode completion: "+err.Error())
		return
	}
	x.writeAnswer(p, body)
}

func (x *exchange) openAICompletion(p *prepared) openAICompletion {
	msg := openAIMessage{Role: "assistant", Annotations: []any{}}
	if p.Text != "" || len(p.ToolCalls) == 0 {
		text := p.Text
		msg.Content = &text
	}
	for i, tc := range p.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, openAIToolCall{
			ID:       x.toolCallID(tc, i),
			Type:     "function",
			Function: openAIFunction{Name: tc.Name, Arguments: string(compactJSON(toolInput(tc)))},
		})
	}
	choice := openAIChoice{Message: msg, FinishReason: finishReason(p.stopReason())}
	if x.openAI.Logprobs {
		choice.Logprobs = &openAILogprobs{Content: x.logprobs(p, p.textTokens, 0)}
	}
	usage := p.openAIUsage()
	return openAICompletion{
		ID:                "chatcmpl-fake-" + x.id,
		Object:            "chat.completion",
		Created:           time.Now().Unix(),
		Model:             p.model,
		Choices:           []openAIChoice{choice},
		Usage:             &usage,
		ServiceTier:       "default",
		SystemFingerprint: openAIFingerprint,
	}
}

func (x *exchange) streamOpenAI(p *prepared) {
	o := &x.openAI
	includeUsage := o.StreamOptions != nil && o.StreamOptions.IncludeUsage
	errData := openAIErrorBody(p.streamErrorStatus(), p.ErrorMessage, "", "")
	es := x.stream(p, "", errData)

	// head is everything before the choice: {"id":...,"choices":[
	head := []byte(`{"id":"chatcmpl-fake-` + x.id + `","object":"chat.completion.chunk","created":`)
	head = strconv.AppendInt(head, time.Now().Unix(), 10)
	head = append(head, `,"model":`...)
	head = jsonenc.AppendString(head, p.model)
	head = append(head, `,"system_fingerprint":"`+openAIFingerprint+`","service_tier":"default","choices":[`...)
	tailUsage := `]}`
	if includeUsage {
		tailUsage = `],"usage":null}`
	}
	var buf []byte
	sendRaw := func(choice []byte) error {
		buf = append(append(append(buf[:0], head...), choice...), tailUsage...)
		return es.send("", buf)
	}
	send := func(c openAIChunkChoice) error {
		b, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		return sendRaw(b)
	}

	empty := ""
	first := openAIChunkChoice{Delta: openAIDelta{Role: "assistant", Content: &empty}}
	if o.Logprobs {
		first.Logprobs = &openAILogprobs{Content: []openAITokenLogprob{}}
	}
	if send(first) != nil {
		return
	}
	per := p.tokensPerDelta()
	var choice []byte
	for i := 0; i < len(p.textTokens); i += per {
		group := p.textTokens[i:min(i+per, len(p.textTokens))]
		var text string
		for _, t := range group {
			text += t
		}
		if o.Logprobs {
			c := openAIChunkChoice{Delta: openAIDelta{Content: &text}, Logprobs: &openAILogprobs{Content: x.logprobs(p, group, i)}}
			if send(c) != nil {
				return
			}
			continue
		}
		// Fast path for the common chunk, same JSON as marshalling openAIChunkChoice.
		choice = append(choice[:0], `{"index":0,"delta":{"content":`...)
		choice = jsonenc.AppendString(choice, text)
		choice = append(choice, `},"logprobs":null,"finish_reason":null}`...)
		if sendRaw(choice) != nil {
			return
		}
	}
	for i, tc := range p.ToolCalls {
		head := openAIToolCallDelta{Index: i, ID: x.toolCallID(tc, i), Type: "function", Function: openAIFunctionDelta{Name: tc.Name}}
		if send(openAIChunkChoice{Delta: openAIDelta{ToolCalls: []openAIToolCallDelta{head}}}) != nil {
			return
		}
		for _, frag := range splitJSONFragments(string(compactJSON(toolInput(tc))), partialJSONSize) {
			d := openAIToolCallDelta{Index: i, Function: openAIFunctionDelta{Arguments: frag}}
			if send(openAIChunkChoice{Delta: openAIDelta{ToolCalls: []openAIToolCallDelta{d}}}) != nil {
				return
			}
		}
	}
	finish := finishReason(p.stopReason())
	if send(openAIChunkChoice{FinishReason: &finish}) != nil {
		return
	}
	if includeUsage {
		usage, _ := json.Marshal(p.openAIUsage())
		buf = append(append(append(buf[:0], head...), `],"usage":`...), usage...)
		if es.send("", append(buf, '}')) != nil {
			return
		}
	}
	_ = es.send("", openAIDone)
}

func (p *prepared) openAIUsage() openAIUsage {
	u := p.usage
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	return openAIUsage{
		PromptTokens:            prompt,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             prompt + u.OutputTokens,
		PromptTokensDetails:     openAIPromptDetails{CachedTokens: u.CacheReadInputTokens},
		CompletionTokensDetails: openAICompletionDetails{ReasoningTokens: u.ReasoningTokens},
	}
}

// logprobs describes tokens, the first of which is output token number
// offset. With top_logprobs = k, each token lists itself first and k-1
// invented alternatives, each one nat less likely than the one before.
func (x *exchange) logprobs(p *prepared, tokens []string, offset int) []openAITokenLogprob {
	k := min(max(x.openAI.TopLogprobs, 0), 20)
	out := make([]openAITokenLogprob, len(tokens))
	for i, tok := range tokens {
		lp := p.logprob(offset + i)
		e := openAITokenLogprob{Token: tok, Logprob: lp, Bytes: utf8Bytes(tok), TopLogprobs: make([]openAITopLogprob, 0, k)}
		for j := range k {
			alt := tok
			if j > 0 {
				alt = tok + "~" + strconv.Itoa(j)
			}
			e.TopLogprobs = append(e.TopLogprobs, openAITopLogprob{Token: alt, Logprob: lp - float64(j), Bytes: utf8Bytes(alt)})
		}
		out[i] = e
	}
	return out
}

// utf8Bytes lists the UTF-8 bytes of s as integers, the "bytes" field.
func utf8Bytes(s string) []int {
	if !utf8.ValidString(s) {
		return nil
	}
	b := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		b[i] = int(s[i])
	}
	return b
}

func (x *exchange) toolCallID(tc ToolCall, i int) string {
	if tc.ID != "" {
		return tc.ID
	}
	return "call_fake_" + x.id + "_" + strconv.Itoa(i)
}
