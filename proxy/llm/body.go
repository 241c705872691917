package llm

import "bytes"

// Body is a request body in the dialect of the upstream it goes to, as the
// parts it is sent in, one after the other. A body that differs from a large
// one in a few bytes (a client's request with the model renamed) shares the
// large one's bytes instead of copying them. Parts are never written. A nil
// Body is no body.
type Body [][]byte

// BodyOf is the Body of one contiguous b (nil for nil).
func BodyOf(b []byte) Body {
	if b == nil {
		return nil
	}
	return Body{b}
}

// Len is the body's size in bytes.
func (b Body) Len() int {
	n := 0
	for _, p := range b {
		n += len(p)
	}
	return n
}

// Bytes returns the body contiguous: its only part, or the parts joined.
func (b Body) Bytes() []byte {
	switch len(b) {
	case 0:
		return nil
	case 1:
		return b[0]
	}
	return bytes.Join(b, nil)
}
