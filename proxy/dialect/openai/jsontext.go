package openai

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// The stream encoder writes its chunks by hand: one chunk per token is the
// hot path, and reflection-based encoding costs several allocations per chunk.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped the way encoding/json
// escapes it (control characters, quotes, backslashes, U+2028/U+2029; invalid
// UTF-8 becomes U+FFFD). HTML characters are left alone.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendFloat appends f as a JSON number. JSON has no NaN or infinity; a
// log probability of -Inf is written as OpenAI's own floor, -9999.
func appendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		f = 0
	case math.IsInf(f, -1):
		f = -9999
	case math.IsInf(f, 1):
		f = math.MaxFloat64
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

func appendUint(dst []byte, u uint64) []byte {
	return strconv.AppendUint(dst, u, 10)
}
