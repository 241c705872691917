// Package jsonfield finds and rewrites the members of a JSON object and the
// elements of a JSON array by their byte spans, without decoding the rest, so
// a pass-through can route on "model" and "stream" and rewrite "model" (or a
// dialect edit a few values deep in a request) while every other byte stays
// as the client sent it.
package jsonfield

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// ErrNotObject is returned when the document is not a JSON object.
var ErrNotObject = errors.New("request body must be a JSON object")

// ErrNotArray is returned when the document is not a JSON array.
var ErrNotArray = errors.New("not a JSON array")

// Span locates a member's value: body[Start:End].
type Span struct{ Start, End int }

// Members calls fn for each top-level member of the object in body, in
// order, with the raw key (quotes removed, escapes kept) and the value's
// span. It stops early when fn returns false. body must be valid JSON
// (check with json.Valid first); Members does not re-validate it.
func Members(body []byte, fn func(key []byte, value Span) bool) error {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return ErrNotObject
	}
	i++
	for {
		i = skipSpace(body, i)
		if i >= len(body) {
			return errors.New("unexpected end of JSON object")
		}
		if body[i] == '}' {
			return nil
		}
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
		if i >= len(body) || body[i] != '"' {
			return errors.New("malformed JSON object")
		}
		kEnd := skipString(body, i)
		if kEnd < 0 {
			return errors.New("unexpected end of JSON object")
		}
		key := body[i+1 : kEnd-1]
		i = skipSpace(body, kEnd)
		if i >= len(body) || body[i] != ':' {
			return errors.New("malformed JSON object")
		}
		vStart := skipSpace(body, i+1)
		vEnd := skipValue(body, vStart)
		if vEnd <= vStart {
			return errors.New("malformed JSON value")
		}
		if !fn(key, Span{vStart, vEnd}) {
			return nil
		}
		i = vEnd
	}
}

// Member returns the span of the value of the member named key in the
// object body: the last one when the name repeats, the one a JSON parser
// keeps. Names are compared after unescaping ("mod\u0065l" is "model").
// ok is false when body is not an object or has no such member. body must be
// valid JSON, as for Members.
func Member(body []byte, key string) (span Span, ok bool) {
	_ = Members(body, func(k []byte, v Span) bool {
		if name, err := memberName(k); err == nil && name == key {
			span, ok = v, true
		}
		return true
	})
	return span, ok
}

// Elements returns the span of each element of the array in body, in order.
// body must be valid JSON (check with json.Valid first); Elements does not
// re-validate it.
func Elements(body []byte) ([]Span, error) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '[' {
		return nil, ErrNotArray
	}
	var out []Span
	i++
	for {
		i = skipSpace(body, i)
		if i >= len(body) {
			return nil, errors.New("unexpected end of JSON array")
		}
		if body[i] == ']' {
			return out, nil
		}
		if body[i] == ',' && len(out) > 0 {
			i = skipSpace(body, i+1)
		}
		end := skipValue(body, i)
		if end <= i {
			return nil, errors.New("malformed JSON value")
		}
		out = append(out, Span{i, end})
		i = end
	}
}

// JoinArray writes the JSON values els as an array, with no space added.
func JoinArray(els [][]byte) []byte {
	n := 2
	for _, e := range els {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, e := range els {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']')
}

// Routing is what the proxy needs to route a request without decoding it.
type Routing struct {
	Model      string
	ModelSpan  Span
	HasModel   bool
	Stream     bool
	HasStream  bool
	StreamSpan Span
}

// ReadRouting finds the top-level "model" and "stream" members. Member names
// are compared after unescaping, and when a name repeats the last one wins,
// as with encoding/json (and the upstream parsers the body is forwarded to),
// so ModelSpan is the span the upstream would read.
func ReadRouting(body []byte) (Routing, error) {
	var r Routing
	var bad error
	err := Members(body, func(key []byte, v Span) bool {
		// Compare the decoded key, as the upstream's JSON parser will:
		// "mod\u0065l" is the member "model" there, so it must be here too.
		name, err := memberName(key)
		if err != nil {
			bad = errors.New("invalid member name")
			return false
		}
		switch name {
		case "model":
			raw := body[v.Start:v.End]
			if raw[0] != '"' {
				bad = errors.New("model: must be a string")
				return false
			}
			s, err := unquote(raw)
			if err != nil {
				bad = errors.New("model: invalid string")
				return false
			}
			r.Model, r.ModelSpan, r.HasModel = s, v, true
		case "stream":
			raw := body[v.Start:v.End]
			switch string(raw) {
			case "true", "false", "null":
			default:
				bad = errors.New("stream: must be a boolean")
				return false
			}
			// A later duplicate overrides an earlier one (last wins, as in encoding/json).
			r.Stream, r.HasStream, r.StreamSpan = string(raw) == "true", true, v
		}
		return true
	})
	if err != nil {
		return r, err
	}
	return r, bad
}

// Replace returns a copy of body with body[s.Start:s.End] replaced by value.
func Replace(body []byte, s Span, value []byte) []byte {
	out := make([]byte, 0, len(body)-(s.End-s.Start)+len(value))
	out = append(out, body[:s.Start]...)
	out = append(out, value...)
	return append(out, body[s.End:]...)
}

// Splice is Replace without the copy: the edited body as the three parts
// to write one after the other, the first and last sharing body's bytes.
func Splice(body []byte, s Span, value []byte) [][]byte {
	return [][]byte{body[:s.Start:s.Start], value, body[s.End:]}
}

// SpliceString sets the top-level member key of edited to the JSON string
// value, as parts to write in order (see Splice). edited is body itself or
// an edited copy of it (what an edit that leaves an unchanged body alone
// returns); span locates the member's value in body and is looked up again
// in a copy. edited is the only part when it already holds value or has no
// member key.
func SpliceString(body, edited []byte, span Span, key, value string) [][]byte {
	if len(edited) != len(body) || len(body) > 0 && &edited[0] != &body[0] {
		var ok bool
		if span, ok = Member(edited, key); !ok {
			return [][]byte{edited}
		}
	}
	q := QuoteString(value)
	if bytes.Equal(edited[span.Start:span.End], q) {
		return [][]byte{edited}
	}
	return Splice(edited, span, q)
}

// QuoteString encodes s as a JSON string.
func QuoteString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// memberName decodes a raw member name as Members reports it.
func memberName(key []byte) (string, error) {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key), nil
	}
	return unquote(append(append([]byte{'"'}, key...), '"'))
}

// unquote decodes a JSON string literal exactly as encoding/json does
// (invalid UTF-8 becomes U+FFFD), so names compare equal to what an
// upstream's parser sees.
func unquote(raw []byte) (string, error) {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"',
// or -1 when the string is not terminated.
func skipString(b []byte, i int) int {
	// Two IndexByte scans (vectorised) instead of one IndexAny (a byte loop):
	// find the next quote, then whether a backslash comes before it. q is
	// kept until an escape skips past it, so escape-heavy strings stay linear.
	i++
	q := -1
	for i < len(b) {
		if q < i {
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				return -1
			}
			q = i + j
		}
		e := bytes.IndexByte(b[i:q], '\\')
		if e < 0 {
			return q + 1
		}
		i += e + 2
	}
	return -1
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return len(b)
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
			j++
		}
		return j
	}
}
