package openai

import (
	"math"
	"strconv"
)

// The stream encoder writes its chunks by hand: one chunk per token is the
// hot path, and reflection-based encoding costs several allocations per chunk.

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
