package anthropic

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
)

// The encoders write JSON by appending to a byte slice rather than through
// encoding/json, for one reason: encoding/json compacts and HTML-escapes a
// json.RawMessage it marshals, which would change the bytes of a signed
// thinking block. Appending keeps Raw values byte-for-byte.

// appendKey appends `"key":`, preceded by a comma unless it opens an object.
func appendKey(b []byte, key string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendStringField(b []byte, key, v string) []byte {
	return jsonenc.AppendString(appendKey(b, key), v)
}

func appendIntField(b []byte, key string, v int) []byte {
	return strconv.AppendInt(appendKey(b, key), int64(v), 10)
}

func appendFloatField(b []byte, key string, v float64) []byte {
	return strconv.AppendFloat(appendKey(b, key), v, 'g', -1, 64)
}

func appendBoolField(b []byte, key string, v bool) []byte {
	return strconv.AppendBool(appendKey(b, key), v)
}

// appendNullableString appends v, or null when it is empty.
func appendNullableString(b []byte, key, v string) []byte {
	b = appendKey(b, key)
	if v == "" {
		return append(b, "null"...)
	}
	return jsonenc.AppendString(b, v)
}

// appendRawField appends a JSON value verbatim. It is the caller's job to
// have checked the value with validJSON.
func appendRawField(b []byte, key string, v json.RawMessage) []byte {
	return append(appendKey(b, key), v...)
}

// appendElem appends a comma before an array element unless it is the first.
func appendElem(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '[' {
		b = append(b, ',')
	}
	return b
}

// isNull reports whether v is absent or the JSON literal null.
func isNull(v []byte) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// isObject reports whether v is a valid JSON object.
func isObject(v []byte) bool {
	return jsonenc.FirstByte(v) == '{' && json.Valid(v)
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix followed by 24 random base62 characters, the shape of
// Anthropic's ids (msg_…, toolu_…).
func newID(prefix string) string {
	var rnd [24]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails on supported platforms
	b := make([]byte, 0, len(prefix)+len(rnd))
	b = append(b, prefix...)
	for _, c := range rnd {
		b = append(b, idAlphabet[int(c)%len(idAlphabet)])
	}
	return string(b)
}
