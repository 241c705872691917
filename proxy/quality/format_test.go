package quality

import (
	"encoding/json"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func TestFormatSignal(t *testing.T) {
	cache := newSchemaCache(4)
	schema := json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]}`)
	for name, tc := range map[string]struct {
		format  *llm.ResponseFormat
		text    string
		applies bool
		veto    bool
	}{
		"plain text":           {nil, "hello", false, false},
		"text format":          {&llm.ResponseFormat{Type: "text"}, "hello", false, false},
		"json object ok":       {&llm.ResponseFormat{Type: "json_object"}, ` {"a": 1} `, true, false},
		"json object prose":    {&llm.ResponseFormat{Type: "json_object"}, `Sure! {"a": 1}`, true, true},
		"json object fenced":   {&llm.ResponseFormat{Type: "json_object"}, "```json\n{\"a\": 1}\n```", true, true},
		"json object array":    {&llm.ResponseFormat{Type: "json_object"}, `[1, 2]`, true, true},
		"json object broken":   {&llm.ResponseFormat{Type: "json_object"}, `{"a": 1`, true, true},
		"json schema ok":       {&llm.ResponseFormat{Type: "json_schema", Schema: schema}, `{"name":"Ada","age":36}`, true, false},
		"json schema mismatch": {&llm.ResponseFormat{Type: "json_schema", Schema: schema}, `{"name":"Ada","age":"36"}`, true, true},
		"json schema missing":  {&llm.ResponseFormat{Type: "json_schema", Schema: schema}, `{"name":"Ada"}`, true, true},
	} {
		t.Run(name, func(t *testing.T) {
			req := ask("q")
			req.Format = tc.format
			r := formatSignal(view(req, answer(tc.text)), cache)
			if r.applies != tc.applies || r.veto != tc.veto {
				t.Fatalf("got %+v, want applies=%v veto=%v", r, tc.applies, tc.veto)
			}
		})
	}
}
