package fakeupstream

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
)

// anthropicRequest is the part of a Messages API request body
// (POST /v1/messages, "Create a Message" reference) the fake reads. Unknown
// fields are ignored, as the real API ignores none but the fake need not care.
type anthropicRequest struct {
	Model     string          `json:"model"`
	Stream    bool            `json:"stream"`
	MaxTokens *int64          `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  json.RawMessage `json:"messages"`
	Tools     json.RawMessage `json:"tools"`
	// CacheControl is automatic caching: a breakpoint on the last block.
	CacheControl json.RawMessage `json:"cache_control"`
}

// invalid returns the 400 message for a request the real API would reject
// for a missing field (its messages read "<field>: Field required"), or "".
func (a *anthropicRequest) invalid(parseErr string, needMaxTokens bool) string {
	switch {
	case parseErr != "":
		return parseErr
	case a.Model == "":
		return "model: Field required"
	case len(a.Messages) == 0 || a.Messages[0] != '[':
		return "messages: Field required"
	case needMaxTokens && a.MaxTokens == nil:
		return "max_tokens: Field required"
	}
	return ""
}

// Wire types of the Message object ("Messages" API reference: id, type,
// role, model, content, stop_reason, stop_sequence, usage).
type anthropicMessage struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []any          `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        anthropicUsage `json:"usage"`
}

// anthropicUsage is the usage object; message_delta repeats it with cumulative
// counts (service_tier only appears on the message).
type anthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	// CacheCreation splits cache_creation_input_tokens by TTL (only with
	// Options.PromptCache).
	CacheCreation *anthropicCacheCreation `json:"cache_creation,omitempty"`
	ServiceTier   string                  `json:"service_tier,omitempty"`
}

type anthropicCacheCreation struct {
	Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
}

// Content blocks of a response ("text", "thinking" with its signature,
// "tool_use" with id, name and the input object).
type anthropicText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicThinking struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type anthropicToolUse struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// Streaming events ("Streaming Messages" guide): message_start,
// content_block_start / content_block_delta / content_block_stop per block,
// ping, message_delta (once, with stop_reason and usage), message_stop.
type anthropicMessageStart struct {
	Type    string           `json:"type"`
	Message anthropicMessage `json:"message"`
}

type anthropicBlockStart struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock any    `json:"content_block"`
}

type anthropicBlockDelta struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Delta any    `json:"delta"`
}

type anthropicBlockStop struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

// Delta types: text_delta, input_json_delta (partial_json), thinking_delta,
// signature_delta.
type anthropicTextDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicInputJSONDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

type anthropicThinkingDelta struct {
	Type     string `json:"type"`
	Thinking string `json:"thinking"`
}

type anthropicSignatureDelta struct {
	Type      string `json:"type"`
	Signature string `json:"signature"`
}

type anthropicMessageDelta struct {
	Type  string              `json:"type"`
	Delta anthropicStopFields `json:"delta"`
	Usage anthropicUsage      `json:"usage"`
}

type anthropicStopFields struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

var (
	anthropicPing        = []byte(`{"type":"ping"}`)
	anthropicMessageStop = []byte(`{"type":"message_stop"}`)
)

// partialJSONSize is the largest input_json_delta / arguments fragment.
const partialJSONSize = 16

func (x *exchange) serveMessages() {
	a := &x.anthropic
	if msg := a.invalid(x.parseErr, true); msg != "" {
		x.fail(http.StatusBadRequest, msg)
		return
	}
	if x.srv.opts.ValidateSignatures {
		msg, err := checkThinkingSignatures(x.rec.Body, a.Model)
		if err != nil {
			x.fail(http.StatusBadRequest, err.Error())
			return
		}
		if msg != "" {
			x.fail(http.StatusBadRequest, msg)
			return
		}
	}
	if x.cacheErr != nil {
		x.fail(http.StatusBadRequest, x.cacheErr.Error())
		return
	}
	p := x.srv.prepareReply(&x.rec, x.inputTokens)
	if !x.scripted(p) {
		return
	}
	if x.srv.opts.PromptCache {
		x.applyCache(p, x.cacheBlocks)
	}
	x.srv.bill(a.Model, p.usage, p.cacheWrite1h)
	if a.Stream && !p.JSONToStreamRequest {
		x.streamAnthropic(p)
		return
	}
	body, err := json.Marshal(x.anthropicMessage(p, false))
	if err != nil {
		x.fail(http.StatusInternalServerError, "encode message: "+err.Error())
		return
	}
	x.writeAnswer(p, body)
}

// anthropicMessage is the Message object for p; forStart gives the
// message_start form (no content, null stop_reason, output_tokens so far).
func (x *exchange) anthropicMessage(p *prepared, forStart bool) anthropicMessage {
	m := anthropicMessage{
		ID:    "msg_fake_" + x.id,
		Type:  "message",
		Role:  "assistant",
		Model: p.model,
		Usage: anthropicUsage{
			InputTokens:              p.usage.InputTokens,
			CacheCreationInputTokens: p.usage.CacheCreationInputTokens,
			CacheReadInputTokens:     p.usage.CacheReadInputTokens,
			OutputTokens:             p.usage.OutputTokens,
			CacheCreation:            p.cacheCreation(),
			ServiceTier:              "standard",
		},
	}
	if forStart {
		m.Content = []any{}
		m.Usage.OutputTokens = min(p.usage.OutputTokens, 1)
		return m
	}
	stop, seq := p.anthropicStop()
	m.StopReason, m.StopSequence = &stop, seq
	if p.Thinking != "" {
		m.Content = append(m.Content, anthropicThinking{Type: "thinking", Thinking: p.Thinking, Signature: p.signature()})
	}
	if p.hasTextBlock() {
		m.Content = append(m.Content, anthropicText{Type: "text", Text: p.Text})
	}
	for i, tc := range p.ToolCalls {
		input := toolInput(tc)
		if !json.Valid(input) {
			// A non-streaming Message cannot carry invalid JSON as input.
			input = json.RawMessage(`{}`)
		}
		m.Content = append(m.Content, anthropicToolUse{Type: "tool_use", ID: x.toolUseID(tc, i), Name: tc.Name, Input: input})
	}
	if m.Content == nil {
		m.Content = []any{}
	}
	return m
}

func (x *exchange) streamAnthropic(p *prepared) {
	errData := anthropicErrorBody(p.streamErrorStatus(), p.ErrorMessage, x.requestID)
	es := x.stream(p, "error", errData)
	send := func(event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return es.send(event, b)
	}
	if send("message_start", anthropicMessageStart{Type: "message_start", Message: x.anthropicMessage(p, true)}) != nil {
		return
	}
	if es.send("ping", anthropicPing) != nil {
		return
	}
	index := 0
	// block writes one content block: start, the deltas (pre-encoded
	// content_block_delta data), stop.
	block := func(start any, deltas [][]byte) error {
		if err := send("content_block_start", anthropicBlockStart{Type: "content_block_start", Index: index, ContentBlock: start}); err != nil {
			return err
		}
		for _, d := range deltas {
			if err := es.send("content_block_delta", d); err != nil {
				return err
			}
		}
		err := send("content_block_stop", anthropicBlockStop{Type: "content_block_stop", Index: index})
		index++
		return err
	}
	delta := func(v any) []byte {
		b, _ := json.Marshal(anthropicBlockDelta{Type: "content_block_delta", Index: index, Delta: v})
		return b
	}
	per := p.tokensPerDelta()
	if p.Thinking != "" {
		var deltas [][]byte
		for _, part := range groupTokens(tokenize(p.Thinking), per) {
			deltas = append(deltas, delta(anthropicThinkingDelta{Type: "thinking_delta", Thinking: part}))
		}
		// The signature arrives as the block's last delta, before content_block_stop.
		deltas = append(deltas, delta(anthropicSignatureDelta{Type: "signature_delta", Signature: p.signature()}))
		if block(anthropicThinking{Type: "thinking"}, deltas) != nil {
			return
		}
	}
	if p.hasTextBlock() {
		parts := groupTokens(p.textTokens, per)
		deltas := make([][]byte, len(parts))
		for i, part := range parts {
			deltas[i] = textDeltaEvent(index, part)
		}
		if block(anthropicText{Type: "text"}, deltas) != nil {
			return
		}
	}
	for i, tc := range p.ToolCalls {
		var deltas [][]byte
		for _, frag := range splitJSONFragments(string(compactJSON(toolInput(tc))), partialJSONSize) {
			deltas = append(deltas, delta(anthropicInputJSONDelta{Type: "input_json_delta", PartialJSON: frag}))
		}
		start := anthropicToolUse{Type: "tool_use", ID: x.toolUseID(tc, i), Name: tc.Name, Input: json.RawMessage(`{}`)}
		if block(start, deltas) != nil {
			return
		}
	}
	stop, seq := p.anthropicStop()
	end := anthropicMessageDelta{
		Type:  "message_delta",
		Delta: anthropicStopFields{StopReason: &stop, StopSequence: seq},
		Usage: anthropicUsage{
			InputTokens:              p.usage.InputTokens,
			CacheCreationInputTokens: p.usage.CacheCreationInputTokens,
			CacheReadInputTokens:     p.usage.CacheReadInputTokens,
			OutputTokens:             p.usage.OutputTokens,
			CacheCreation:            p.cacheCreation(),
		},
	}
	if send("message_delta", end) != nil {
		return
	}
	_ = es.send("message_stop", anthropicMessageStop)
}

// applyCache looks the request's prefixes up in the prompt cache and moves
// the cached tokens out of input_tokens (a scripted Usage is reported as
// given, but the cache is still read and written).
func (x *exchange) applyCache(p *prepared, blocks []cacheBlock) {
	minTokens, ok := x.srv.opts.CacheMinTokens[x.anthropic.Model]
	if !ok {
		minTokens = MinCacheableTokens(x.anthropic.Model)
	}
	u := x.srv.cache.use(x.anthropic.Model, blocks, minTokens, x.srv.opts.Now())
	p.cacheReported = true
	if p.Reply.Usage != nil {
		return
	}
	cached := min(u.read+u.write5m+u.write1h, p.usage.InputTokens)
	p.usage.CacheReadInputTokens = min(u.read, cached)
	p.usage.CacheCreationInputTokens = cached - p.usage.CacheReadInputTokens
	p.cacheWrite1h = min(u.write1h, p.usage.CacheCreationInputTokens)
	p.usage.InputTokens -= cached
}

func (p *prepared) cacheCreation() *anthropicCacheCreation {
	if !p.cacheReported {
		return nil
	}
	return &anthropicCacheCreation{Ephemeral5m: p.usage.CacheCreationInputTokens - p.cacheWrite1h, Ephemeral1h: p.cacheWrite1h}
}

// textDeltaEvent is the content_block_delta data for a text_delta, encoded
// without reflection (the same JSON as marshalling anthropicBlockDelta).
func textDeltaEvent(index int, text string) []byte {
	b := make([]byte, 0, len(text)+80)
	b = append(b, `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"delta":{"type":"text_delta","text":`...)
	b = jsonenc.AppendString(b, text)
	return append(b, '}', '}')
}

// hasTextBlock: a text block is emitted when there is text, or when nothing
// else would be emitted (an empty answer is one empty text block).
func (p *prepared) hasTextBlock() bool {
	return p.Text != "" || (p.Thinking == "" && len(p.ToolCalls) == 0)
}

func (p *prepared) signature() string {
	if p.BadSignature {
		return Signature("fakeupstream-untrusted-signer", p.Thinking)
	}
	return Signature(p.model, p.Thinking)
}

func (p *prepared) anthropicStop() (string, *string) {
	stop := p.stopReason()
	if stop != StopSequenceStop {
		return stop, nil
	}
	seq := p.StopSequence
	return stop, &seq
}

func (x *exchange) toolUseID(tc ToolCall, i int) string {
	if tc.ID != "" {
		return tc.ID
	}
	return "toolu_fake_" + x.id + "_" + strconv.Itoa(i)
}

// groupTokens joins every n consecutive tokens into one delta.
func groupTokens(tokens []string, n int) []string {
	if n <= 1 {
		return tokens
	}
	out := make([]string, 0, (len(tokens)+n-1)/n)
	for i := 0; i < len(tokens); i += n {
		var b []byte
		for _, t := range tokens[i:min(i+n, len(tokens))] {
			b = append(b, t...)
		}
		out = append(out, string(b))
	}
	return out
}

// compactJSON compacts valid JSON and returns anything else unchanged, so a
// scripted invalid tool input still streams verbatim.
func compactJSON(in []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, in); err != nil {
		return in
	}
	return buf.Bytes()
}
