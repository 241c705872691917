package quality

import (
	"bytes"
	"errors"
	"strings"
)

// formatSignal vetoes answers that ignore a requested structured format:
// json_object needs a JSON object, json_schema a JSON value satisfying the
// schema. It does not apply to plain-text requests or tool-call turns.
func formatSignal(a *analysis, schemas *schemaCache) result {
	f := a.ask.req.Format
	if f == nil || f.Type == "" || f.Type == "text" || a.toolUses > 0 {
		return result{}
	}
	body := []byte(strings.TrimSpace(a.text))
	switch f.Type {
	case "json_object":
		if len(body) == 0 || body[0] != '{' {
			return result{score: 0, applies: true, veto: true, detail: "json_object requested, answer is not a JSON object"}
		}
		if err := schemas.validateJSON(nil, body); err != nil {
			return result{score: 0, applies: true, veto: true, detail: "json_object requested, answer is not valid JSON"}
		}
		return pass("valid JSON object")
	case "json_schema":
		err := schemas.validateJSON(bytes.TrimSpace(f.Schema), body)
		switch {
		case err == nil:
			return pass("satisfies json_schema")
		case errors.Is(err, errSchema):
			if schemas.validateJSON(nil, body) != nil {
				return result{score: 0, applies: true, veto: true, detail: "json_schema requested, answer is not valid JSON"}
			}
			return pass("valid JSON (request schema unusable)")
		default:
			return result{score: 0, applies: true, veto: true, detail: "json_schema requested, answer does not satisfy it"}
		}
	}
	return result{}
}
