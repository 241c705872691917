package jsonenc

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// DecodeString decodes the JSON string literal raw (quotes included) exactly
// as encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD)
// in one allocation: encoding/json decodes a string with escapes into a
// buffer and then copies it, so a long prompt full of \n costs it twice its
// size. ok is false when raw is not a valid string literal.
func DecodeString(raw []byte) (s string, ok bool) {
	return decodeString(raw, false)
}

// DecodeStringShared is DecodeString, except that a literal without escapes
// (most prompt text) is not copied: the string shares raw's bytes. raw must
// therefore never change, nor its memory be reused, while the string lives.
// The request decoders use it on clients' bodies, which the proxy never
// writes and never returns to a pool (see RawRef), so a large prompt costs
// its body and no second copy. A piece of such a string kept beyond the
// request keeps the whole body alive: clone what must outlive it.
func DecodeStringShared(raw []byte) (s string, ok bool) {
	return decodeString(raw, true)
}

func decodeString(raw []byte, share bool) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 && bytes.IndexByte(in, '"') < 0 && utf8.Valid(in) && !hasControl(in) {
		if share && len(in) > 0 {
			return unsafe.String(&in[0], len(in)), true
		}
		return string(in), true
	}
	var b strings.Builder
	b.Grow(len(in))
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == '\\':
			if i+1 >= len(in) {
				return "", false
			}
			switch e := in[i+1]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r := hex4(in[i+2:])
				if r < 0 {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(in) && in[i] == '\\' && in[i+1] == 'u' {
						if d := utf16.DecodeRune(r, hex4(in[i+2:])); d != unicode.ReplacementChar {
							b.WriteRune(d)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				b.WriteRune(r)
				continue
			default:
				return "", false
			}
			i += 2
		case c == '"' || c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(in) && in[j] >= ' ' && in[j] < utf8.RuneSelf && in[j] != '\\' && in[j] != '"' {
				j++
			}
			b.Write(in[i:j])
			i = j
		default:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(unicode.ReplacementChar)
			} else {
				b.Write(in[i : i+size])
			}
			i += size
		}
	}
	return b.String(), true
}

// hex4 is the value of the 4 hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < ' ' {
			return true
		}
	}
	return false
}

// RawRef is a JSON value's bytes in the document being decoded: unlike
// json.RawMessage it is not a copy (json.Unmarshal hands an unmarshaler a
// slice of its input), so that document must stay unchanged while the
// RawRef, or anything decoded from it, is in use. The request decoders'
// documents are clients' bodies, which the proxy never writes.
type RawRef []byte

func (r *RawRef) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}
