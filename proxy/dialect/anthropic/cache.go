package anthropic

import (
	"bytes"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
)

// MaxCacheBreakpoints is the most blocks with cache_control a Messages
// request may carry; the API rejects a request with more.
const MaxCacheBreakpoints = 4

var cacheControlKey = []byte(`"cache_control"`)

// LimitCacheBreakpoints keeps at most limit cache_control breakpoints in a
// Messages request body, removing the earliest ones in the order the API
// caches a prompt (tools, then system, then messages; a tool result's inner
// blocks before the tool result itself). The latest breakpoints cover the
// longest prefixes, so they are the ones worth keeping. Only the objects
// that lose their cache_control are rewritten; body itself is returned when
// nothing changes or it cannot be read. body is a request the codec
// accepted, so valid JSON.
func LimitCacheBreakpoints(body []byte, limit int) []byte {
	limit = max(limit, 0)
	if bytes.Count(body, cacheControlKey) <= limit {
		return body // a mention in a prompt's text only counts too many
	}
	n := 0
	walkBreakpoints(body, func(b []byte) []byte { n++; return b })
	drop := n - limit
	if drop <= 0 {
		return body
	}
	return walkBreakpoints(body, func(b []byte) []byte {
		if drop == 0 {
			return b
		}
		drop--
		return withoutMember(b, "cache_control")
	})
}

// walkBreakpoints calls f with each object of the request that carries a
// cache_control (in prompt order) and returns the body with each replaced
// by what f returned.
func walkBreakpoints(body []byte, f func(obj []byte) []byte) []byte {
	for _, section := range []string{"tools", "system", "messages"} {
		span, ok := jsonfield.Member(body, section)
		if !ok {
			continue
		}
		arr := body[span.Start:span.End]
		var edit func([]byte) ([]byte, bool)
		if section == "messages" {
			edit = func(msg []byte) ([]byte, bool) { return editMember(msg, "content", blocks(f)), true }
		} else {
			edit = func(el []byte) ([]byte, bool) { return marked(el, f), true }
		}
		if out, changed := editArray(arr, edit); changed {
			body = jsonfield.Replace(body, span, out)
		}
	}
	return body
}

// blocks applies f to the marked blocks of a content array, a tool
// result's inner blocks first.
func blocks(f func([]byte) []byte) func([]byte) []byte {
	return func(content []byte) []byte {
		out, changed := editArray(content, func(b []byte) ([]byte, bool) {
			if typ, ok := jsonfield.Member(b, "type"); ok && string(b[typ.Start:typ.End]) == `"tool_result"` {
				b = editMember(b, "content", blocks(f))
			}
			return marked(b, f), true
		})
		if !changed {
			return content
		}
		return out
	}
}

// marked returns f(obj) when obj is an object with a non-null cache_control.
func marked(obj []byte, f func([]byte) []byte) []byte {
	if len(obj) == 0 || obj[0] != '{' {
		return obj
	}
	s, ok := jsonfield.Member(obj, "cache_control")
	if !ok || string(obj[s.Start:s.End]) == "null" {
		return obj
	}
	return f(obj)
}

// editMember replaces the value of obj's member key by edit(value) when it
// is an array (a string content has no blocks).
func editMember(obj []byte, key string, edit func([]byte) []byte) []byte {
	if len(obj) == 0 || obj[0] != '{' {
		return obj
	}
	s, ok := jsonfield.Member(obj, key)
	if !ok || obj[s.Start] != '[' {
		return obj
	}
	v := obj[s.Start:s.End]
	nv := edit(v)
	if bytes.Equal(nv, v) {
		return obj
	}
	return jsonfield.Replace(obj, s, nv)
}

// withoutMember returns the object obj without its member key (every
// occurrence, names compared unescaped), the other members as they were.
func withoutMember(obj []byte, key string) []byte {
	out := []byte{'{'}
	_ = jsonfield.Members(obj, func(k []byte, v jsonfield.Span) bool {
		if name, ok := jsonenc.DecodeString(append(append([]byte{'"'}, k...), '"')); ok && name == key {
			return true
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, k...)
		out = append(out, '"', ':')
		out = append(out, obj[v.Start:v.End]...)
		return true
	})
	return append(out, '}')
}
