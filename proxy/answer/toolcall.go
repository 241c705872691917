package answer

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// EqualToolCalls reports whether two responses call the same tools with the
// same arguments. Only tool_use blocks count (text and thinking blocks are
// skipped, so a response's whole Content may be passed); their IDs differ
// between models and are ignored. Arguments are compared as JSON values:
// key order, whitespace and number spelling (1, 1.0, 1e0) do not matter.
//
// The order of the calls matters. A client may run the calls of one turn in
// sequence (two edits of the same file), so a different order can be a
// different plan; models almost always list parallel calls in the same
// order, and calling a reordered plan different only costs an escalation.
func EqualToolCalls(a, b []llm.Block) bool {
	a, b = toolUses(a), toolUses(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !jsonEqual(a[i].Input, b[i].Input) {
			return false
		}
	}
	return true
}

func toolUses(blocks []llm.Block) []llm.Block {
	out := make([]llm.Block, 0, len(blocks))
	for _, b := range blocks {
		if b.Type == llm.BlockToolUse {
			out = append(out, b)
		}
	}
	return out
}

// jsonEqual compares two JSON documents by value; an absent input is the
// empty object. Invalid JSON equals only the same bytes.
func jsonEqual(x, y json.RawMessage) bool {
	x, y = bytes.TrimSpace(x), bytes.TrimSpace(y)
	if len(x) == 0 {
		x = []byte("{}")
	}
	if len(y) == 0 {
		y = []byte("{}")
	}
	if bytes.Equal(x, y) {
		return true
	}
	vx, okx := decodeJSON(x)
	vy, oky := decodeJSON(y)
	return okx && oky && valueEqual(vx, vy)
}

func decodeJSON(data []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := d.Token(); err == nil {
		return nil, false // trailing data
	}
	return v, true
}

func valueEqual(x, y any) bool {
	switch x := x.(type) {
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, vx := range x {
			vy, ok := y[k]
			if !ok || !valueEqual(vx, vy) {
				return false
			}
		}
		return true
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := y.(json.Number)
		return ok && jsonNumberEqual(x, y)
	default: // string, bool, nil
		return x == y
	}
}

// jsonNumberEqual compares two JSON numbers by value: integers exactly,
// anything else as float64.
func jsonNumberEqual(x, y json.Number) bool {
	if x == y {
		return true
	}
	if isIntLiteral(string(x)) && isIntLiteral(string(y)) {
		return canonInt(strings.TrimPrefix(string(x), "-"), strings.HasPrefix(string(x), "-")) ==
			canonInt(strings.TrimPrefix(string(y), "-"), strings.HasPrefix(string(y), "-"))
	}
	fx, err1 := strconv.ParseFloat(string(x), 64)
	fy, err2 := strconv.ParseFloat(string(y), 64)
	if err1 != nil || err2 != nil || math.IsInf(fx, 0) || math.IsInf(fy, 0) {
		return false
	}
	return fx == fy
}

func isIntLiteral(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}
