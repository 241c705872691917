package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// invalid builds the 400 every request problem becomes: param is the dotted
// path of the offending field (messages.2.content.0.type), and the message
// starts with it, as the real API's messages do.
func invalid(param, format string, args ...any) *llm.Error {
	msg := fmt.Sprintf(format, args...)
	if param != "" {
		msg = param + ": " + msg
	}
	return &llm.Error{Kind: llm.ErrInvalidRequest, Param: param, Message: msg}
}

// jsonProblem turns an encoding/json error from decoding data (found at
// prefix inside the request body) into a 400 naming the field or position.
func jsonProblem(prefix string, data []byte, err error) *llm.Error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := jsonenc.LineCol(data, syn.Offset)
		where := fmt.Sprintf("line %d, column %d", line, col)
		if prefix != "" {
			where = prefix + " (" + where + " of that value)"
		}
		return &llm.Error{Kind: llm.ErrInvalidRequest, Param: prefix, Err: err,
			Message: fmt.Sprintf("request body is not valid JSON: %s at %s", syn.Error(), where)}
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		path := joinPath(prefix, pathAt(data, typ.Offset))
		if path == "" {
			path = strings.TrimPrefix(joinPath(prefix, typ.Field), ".")
		}
		got := typ.Value
		if got == "bool" {
			got = "boolean"
		}
		e := invalid(path, "expected %s, got %s", jsonenc.TypeName(typ.Type), got)
		e.Err = err
		return e
	}
	if errors.Is(err, errEmptyBody) {
		return invalid(prefix, "request body is empty")
	}
	e := invalid(prefix, "cannot be decoded")
	e.Err = err
	return e
}

var errEmptyBody = errors.New("empty body")

func joinPath(prefix, rest string) string {
	switch {
	case prefix == "":
		return rest
	case rest == "":
		return prefix
	default:
		return prefix + "." + rest
	}
}

// pathAt returns the dotted path (keys and array indices) of the JSON value
// that ends at, or opens just before, byte offset off of data: the place an
// encoding/json UnmarshalTypeError points at. It only runs on the error path.
func pathAt(data []byte, off int64) string {
	type frame struct {
		array     bool
		index     int
		key       string
		expectKey bool
	}
	var stack []frame
	path := func() string {
		var sb strings.Builder
		for i, f := range stack {
			if i > 0 {
				sb.WriteByte('.')
			}
			if f.array {
				sb.WriteString(strconv.Itoa(f.index))
			} else {
				sb.WriteString(f.key)
			}
		}
		return sb.String()
	}
	// valueDone advances the parent frame after one of its values ended.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].expectKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		n := len(stack)
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:n-1]
			valueDone()
			continue
		}
		if n > 0 && !stack[n-1].array && stack[n-1].expectKey {
			stack[n-1].key, _ = tok.(string)
			stack[n-1].expectKey = false
			continue
		}
		// tok is a value: a scalar, or the opening of an object or array.
		if dec.InputOffset() >= off {
			return path()
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{expectKey: true})
		case json.Delim('['):
			stack = append(stack, frame{array: true})
		default:
			valueDone()
		}
	}
}
