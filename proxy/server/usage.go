package server

import (
	"bytes"
	"encoding/json"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
)

// usageSniffer reads token usage out of a relayed answer without decoding
// it: only a top-level "usage" member (non-streaming) or the few events that
// carry one (streaming) are parsed, so pass-through stays bytes in, bytes out.
type usageSniffer struct {
	// carry is the end of the last piece of a Responses API stream, so that
	// a usage member cut between two pieces is still read.
	carry   []byte
	dialect llm.Dialect
	// kind is the API path kind relayed (provider.PathMessages, PathResponses,
	// PathEmbeddings): it says how an OpenAI usage object reads.
	kind  string
	usage llm.Usage
	seen  bool
	// ended is set once a stream has said it is complete (Anthropic's
	// message_stop; OpenAI's finish_reason or [DONE]), as the stream
	// decoders judge it: a stream that ends before was cut.
	ended bool
}

var usageKey = []byte(`"usage"`)

// wireUsage covers both dialects' usage objects.
type wireUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	CacheCreation            struct {
		Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
	PromptTokens        int                `json:"prompt_tokens"`
	CompletionTokens    int                `json:"completion_tokens"`
	PromptTokensDetails openAIInputDetails `json:"prompt_tokens_details"`
	// The Responses API's input details (its input_tokens include them).
	InputTokensDetails openAIInputDetails `json:"input_tokens_details"`
}

// openAIInputDetails are the cached and cache-write tokens counted in an
// OpenAI usage's prompt or input tokens.
type openAIInputDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens"`
}

// canonical reads a usage object as the canonical llm.Usage, whose input
// tokens exclude cache reads and writes (OpenAI's include them). Chat
// Completions and Embeddings report prompt_tokens, the Responses API
// input_tokens and output_tokens.
func (u *usageSniffer) canonical(w wireUsage) llm.Usage {
	if u.dialect == llm.OpenAI {
		in, out, d := w.PromptTokens, w.CompletionTokens, w.PromptTokensDetails
		if u.kind == provider.PathResponses {
			in, out, d = w.InputTokens, w.OutputTokens, w.InputTokensDetails
		}
		return llm.Usage{InputTokens: max(in-d.CachedTokens-d.CacheWriteTokens, 0), OutputTokens: out,
			CacheReadInputTokens: d.CachedTokens, CacheCreationInputTokens: d.CacheWriteTokens}
	}
	return llm.Usage{InputTokens: w.InputTokens, OutputTokens: w.OutputTokens,
		CacheCreationInputTokens: w.CacheCreationInputTokens, CacheReadInputTokens: w.CacheReadInputTokens,
		CacheCreation1hInputTokens: w.CacheCreation.Ephemeral1h}
}

// Body reads the usage of a complete JSON answer.
func (u *usageSniffer) Body(b []byte) {
	if !bytes.Contains(b, usageKey) {
		return
	}
	_ = jsonfield.Members(b, func(key []byte, v jsonfield.Span) bool {
		if string(key) != "usage" {
			return true
		}
		var w wireUsage
		if json.Unmarshal(b[v.Start:v.End], &w) == nil {
			u.usage, u.seen = u.canonical(w), true
		}
		return false
	})
}

// Events reads usage from complete SSE events: Anthropic's message_start
// (message.usage) and message_delta (usage, cumulative), OpenAI's final
// usage chunk. It also notes the stream's last event.
func (u *usageSniffer) Events(b []byte) {
	if !u.ended {
		switch {
		case u.kind == provider.PathResponses: // see responsesUsage
		case u.dialect == llm.OpenAI:
			u.ended = hasLine(b, []byte("data: [DONE]")) || hasFinishReason(b)
		default:
			u.ended = hasLine(b, []byte("event: message_stop"))
		}
	}
	if u.kind == provider.PathResponses {
		u.responsesUsage(b)
		return
	}
	for len(b) > 0 {
		i := bytes.Index(b, usageKey)
		if i < 0 {
			return
		}
		// The data line holding this "usage".
		start := bytes.LastIndexByte(b[:i], '\n') + 1
		end := bytes.IndexByte(b[i:], '\n')
		if end < 0 {
			end = len(b)
		} else {
			end += i
		}
		u.event(bytes.TrimPrefix(b[start:end], []byte("data:")))
		b = b[end:]
	}
}

func (u *usageSniffer) event(data []byte) {
	var ev struct {
		Type    string     `json:"type"`
		Usage   *wireUsage `json:"usage"`
		Message *struct {
			Usage *wireUsage `json:"usage"`
		} `json:"message"`
	}
	if json.Unmarshal(bytes.TrimSpace(data), &ev) != nil {
		return
	}
	switch {
	case ev.Message != nil && ev.Message.Usage != nil: // message_start
		u.usage, u.seen = u.canonical(*ev.Message.Usage), true
	case ev.Usage != nil && u.dialect == llm.Anthropic: // message_delta: cumulative, input counts may be omitted
		u.usage, u.seen = u.usage.WithFinal(u.canonical(*ev.Usage)), true
	case ev.Usage != nil:
		u.usage, u.seen = u.canonical(*ev.Usage), true
	}
}

// hasLine reports whether line is one of b's lines (a JSON string never
// holds a raw newline, so no event's data can fake it).
func hasLine(b, line []byte) bool {
	for len(b) > 0 {
		i := bytes.Index(b, line)
		if i < 0 {
			return false
		}
		end := i + len(line)
		if (i == 0 || b[i-1] == '\n') && (end == len(b) || b[end] == '\n' || b[end] == '\r') {
			return true
		}
		b = b[end:]
	}
	return false
}

var finishReasonKey = []byte(`"finish_reason"`)

// hasFinishReason reports whether b holds a chunk with a string
// finish_reason (not null). Inside a JSON string the key's quotes would be
// escaped, so only a real key matches.
func hasFinishReason(b []byte) bool {
	for {
		i := bytes.Index(b, finishReasonKey)
		if i < 0 {
			return false
		}
		b = bytes.TrimLeft(b[i+len(finishReasonKey):], " \t")
		if len(b) > 0 && b[0] == ':' {
			if v := bytes.TrimLeft(b[1:], " \t"); len(v) > 0 && v[0] == '"' {
				return true
			}
		}
	}
}

// responsesEnds are the types of the events that end a complete Responses
// API stream. A stream ending otherwise, in an error or response.failed event
// included, counts as an upstream failure, as a chat stream without its end.
var responsesEnds = [][]byte{[]byte(`"type":"response.completed"`), []byte(`"type":"response.incomplete"`)}

// hasResponsesEnd reports whether b holds the last event of a complete
// Responses API stream (a quoted type inside a string would have escaped
// quotes).
func hasResponsesEnd(b []byte) bool {
	for _, end := range responsesEnds {
		if bytes.Contains(b, end) {
			return true
		}
	}
	return false
}

// maxUsageCarry bounds usageSniffer.carry: more than a usage object's length.
const maxUsageCarry = 1 << 10

// responsesUsage reads a Responses API stream's usage straight from its
// "usage" member rather than by decoding events: response.completed repeats
// the whole answer, so it can be large and arrive in pieces (relayStream
// passes an event larger than its buffer on in pieces). It also notes the
// stream's last event.
func (u *usageSniffer) responsesUsage(b []byte) {
	if len(u.carry) > 0 {
		joint := append(u.carry, b[:min(len(b), maxUsageCarry)]...)
		u.findUsage(joint)
		u.ended = u.ended || hasResponsesEnd(joint)
	}
	u.findUsage(b)
	u.ended = u.ended || hasResponsesEnd(b)
	u.carry = append(u.carry[:0], b[max(len(b)-maxUsageCarry, 0):]...)
}

// findUsage reads every complete "usage" object in b; the last one wins.
func (u *usageSniffer) findUsage(b []byte) {
	for {
		i := bytes.Index(b, usageKey)
		if i < 0 {
			return
		}
		b = b[i+len(usageKey):]
		if v, ok := objectValue(b); ok {
			var w wireUsage
			if json.Unmarshal(v, &w) == nil {
				u.usage, u.seen = u.canonical(w), true
			}
		}
	}
}

// objectValue returns the JSON object that b (what follows a member name)
// holds as the member's value, or false when the value is not an object or
// is cut short.
func objectValue(b []byte) ([]byte, bool) {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != ':' {
		return nil, false
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{':
			depth++
		case c == '}':
			if depth--; depth == 0 {
				return b[:i+1], true
			}
		}
	}
	return nil, false
}
