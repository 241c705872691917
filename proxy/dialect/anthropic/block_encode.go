package anthropic

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// anthropicRaw returns the block's Raw when it is usable as is: written in
// this dialect and a JSON object.
func anthropicRaw(b *llm.Block) (json.RawMessage, bool) {
	if b.RawDialect != llm.Anthropic || len(b.Raw) == 0 || !isObject(b.Raw) {
		return nil, false
	}
	return b.Raw, true
}

// encodable reports whether appendBlock can write b as a valid Anthropic
// block. What it cannot write is dropped by the encoders, deliberately:
//   - empty text blocks (the API rejects them; OpenAI assistants send "");
//   - thinking blocks without a signature (another vendor's reasoning cannot
//     be replayed to Anthropic, which verifies signatures);
//   - block types with no canonical form and no Anthropic Raw.
func encodable(b *llm.Block) bool {
	if _, ok := anthropicRaw(b); ok {
		return true
	}
	switch b.Type {
	case llm.BlockText:
		return b.Text != ""
	case llm.BlockImage:
		return b.Data != "" || b.URL != ""
	case llm.BlockToolUse:
		return true
	case llm.BlockToolResult:
		return true
	case llm.BlockThinking:
		return b.Signature != ""
	case llm.BlockRedactedThinking:
		return b.Data != ""
	default:
		return false
	}
}

// appendBlock writes one content block; the caller has checked encodable.
// path names the block in errors.
func appendBlock(dst []byte, b *llm.Block, path string) ([]byte, *llm.Error) {
	if raw, ok := anthropicRaw(b); ok {
		return append(dst, raw...), nil
	}
	dst = append(dst, '{')
	dst = appendStringField(dst, "type", string(b.Type))
	switch b.Type {
	case llm.BlockText:
		dst = appendStringField(dst, "text", b.Text)
	case llm.BlockImage:
		dst = appendImageSource(dst, b)
	case llm.BlockToolUse:
		id := b.ID
		if id == "" {
			return dst, invalid(path+".id", "tool_use block has no id")
		}
		dst = appendStringField(dst, "id", id)
		dst = appendStringField(dst, "name", b.Name)
		switch {
		case len(b.Input) == 0 || isNull(b.Input):
			dst = appendRawField(dst, "input", json.RawMessage("{}"))
		case isObject(b.Input):
			dst = appendRawField(dst, "input", b.Input)
		default:
			// OpenAI tool arguments that are not a JSON object (cut off at
			// max_tokens, or malformed) are kept as a JSON string; Anthropic
			// needs an object: the string's object if it holds one, else {}
			// (as the SDKs do with cut-off input).
			dst = appendRawField(dst, "input", objectInString(b.Input))
		}
	case llm.BlockToolResult:
		dst = appendStringField(dst, "tool_use_id", b.ToolUseID)
		var err *llm.Error
		if dst, err = appendToolResultContent(dst, b.Content, path+".content"); err != nil {
			return dst, err
		}
		if b.IsError {
			dst = appendBoolField(dst, "is_error", true)
		}
	case llm.BlockThinking:
		dst = appendStringField(dst, "thinking", b.Thinking)
		dst = appendStringField(dst, "signature", b.Signature)
	case llm.BlockRedactedThinking:
		dst = appendStringField(dst, "data", b.Data)
	}
	if isObject(b.CacheControl) {
		dst = appendRawField(dst, "cache_control", b.CacheControl)
	}
	return append(dst, '}'), nil
}

func appendToolResultContent(dst []byte, content []llm.Block, path string) ([]byte, *llm.Error) {
	n := 0
	for i := range content {
		if content[i].Type != llm.BlockToolUse && content[i].Type != llm.BlockToolResult && encodable(&content[i]) {
			n++
		}
	}
	if n == 0 {
		return dst, nil
	}
	dst = append(appendKey(dst, "content"), '[')
	for i := range content {
		c := &content[i]
		if c.Type == llm.BlockToolUse || c.Type == llm.BlockToolResult || !encodable(c) {
			continue
		}
		var err *llm.Error
		if dst, err = appendBlock(appendElem(dst), c, path+"."+strconv.Itoa(i)); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

// appendImageSource writes the source of an image block. A data: URL (what
// OpenAI clients send) becomes a base64 source.
func appendImageSource(dst []byte, b *llm.Block) []byte {
	mediaType, data := b.MediaType, b.Data
	if data == "" {
		if mt, d, ok := parseDataURL(b.URL); ok {
			mediaType, data = mt, d
		}
	}
	dst = append(appendKey(dst, "source"), '{')
	if data != "" {
		dst = appendStringField(dst, "type", "base64")
		dst = appendStringField(dst, "media_type", mediaType)
		dst = appendStringField(dst, "data", data)
	} else {
		dst = appendStringField(dst, "type", "url")
		dst = appendStringField(dst, "url", b.URL)
	}
	return append(dst, '}')
}

// parseDataURL splits "data:image/png;base64,AAAA".
func parseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	meta, isBase64 := strings.CutSuffix(meta, ";base64")
	if !isBase64 || data == "" {
		return "", "", false
	}
	return meta, data, true
}

// objectInString returns the JSON object a JSON string holds, or {}.
func objectInString(v json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(v, &s) == nil {
		if in := json.RawMessage(strings.TrimSpace(s)); isObject(in) && json.Valid(in) {
			return in
		}
	}
	return json.RawMessage("{}")
}
