package openai

import (
	"bytes"
	"encoding/json"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
)

// Helpers on raw request bytes, for the paths that forward a client's body
// untouched but need the stream's usage to meter it.

// WantsStreamUsage reports whether a raw request sets
// stream_options.include_usage.
func WantsStreamUsage(raw []byte) bool {
	want := false
	_ = jsonfield.Members(raw, func(key []byte, v jsonfield.Span) bool {
		if string(key) == "stream_options" {
			var o struct {
				IncludeUsage bool `json:"include_usage"`
			}
			want = json.Unmarshal(raw[v.Start:v.End], &o) == nil && o.IncludeUsage
		}
		return true
	})
	return want
}

// WithStreamUsage returns raw with stream_options.include_usage set, every
// other byte as it was (other stream_options members are kept).
func WithStreamUsage(raw []byte) []byte {
	var span jsonfield.Span
	found := false
	_ = jsonfield.Members(raw, func(key []byte, v jsonfield.Span) bool {
		if string(key) == "stream_options" {
			span, found = v, true
		}
		return true
	})
	if !found {
		i := bytes.IndexByte(raw, '{')
		if i < 0 {
			return raw
		}
		out := make([]byte, 0, len(raw)+40)
		out = append(out, raw[:i+1]...)
		out = append(out, `"stream_options":{"include_usage":true},`...)
		return append(out, raw[i+1:]...)
	}
	var opts map[string]json.RawMessage
	if json.Unmarshal(raw[span.Start:span.End], &opts) != nil || opts == nil {
		opts = map[string]json.RawMessage{} // null or not an object: replace it
	}
	opts["include_usage"] = json.RawMessage("true")
	value, err := json.Marshal(opts)
	if err != nil {
		return raw
	}
	return jsonfield.Replace(raw, span, value)
}

// WithoutUsageChunks removes, from complete SSE events, the final chunk a
// stream sends for include_usage (empty choices, a usage object), for a
// client that did not ask for it.
func WithoutUsageChunks(events []byte) []byte {
	if !bytes.Contains(events, []byte(`"usage"`)) {
		return events
	}
	out := make([]byte, 0, len(events))
	for len(events) > 0 {
		end := bytes.Index(events, []byte("\n\n"))
		ev := events
		if end >= 0 {
			ev, events = events[:end+2], events[end+2:]
		} else {
			events = nil
		}
		if !isUsageChunk(ev) {
			out = append(out, ev...)
		}
	}
	return out
}

func isUsageChunk(ev []byte) bool {
	if !bytes.Contains(ev, []byte(`"usage"`)) {
		return false
	}
	data, ok := bytes.CutPrefix(bytes.TrimSpace(ev), []byte("data:"))
	if !ok {
		return false
	}
	var c struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   json.RawMessage   `json:"usage"`
	}
	return json.Unmarshal(bytes.TrimSpace(data), &c) == nil && len(c.Choices) == 0 &&
		len(c.Usage) > 0 && string(c.Usage) != "null"
}
