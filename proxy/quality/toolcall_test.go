package quality

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

const bashSchema = `{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"integer","maximum":600000}},"required":["command"],"additionalProperties":false}`

func toolRequest() *llm.Request {
	req := ask("list the files")
	req.Tools = []llm.Tool{
		{Name: "Bash", InputSchema: json.RawMessage(bashSchema)},
		{Name: "Read", InputSchema: json.RawMessage(`{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}`)},
		{Name: "NoSchema"},
	}
	return req
}

func toolAnswer(blocks ...llm.Block) *llm.Response {
	return &llm.Response{StopReason: llm.StopToolUse, Content: blocks}
}

func TestToolCallSignal(t *testing.T) {
	cache := newSchemaCache(8)
	for name, tc := range map[string]struct {
		choice *llm.ToolChoice
		resp   *llm.Response
		veto   bool
		want   string
	}{
		"valid":              {nil, toolAnswer(toolUse("Bash", `{"command":"ls"}`)), false, "1 valid tool calls"},
		"no schema":          {nil, toolAnswer(toolUse("NoSchema", `{"anything":[1,2]}`)), false, ""},
		"empty input":        {nil, toolAnswer(toolUse("NoSchema", ``)), false, ""},
		"unknown tool":       {nil, toolAnswer(toolUse("Write", `{"x":1}`)), true, `unknown tool "Write"`},
		"missing required":   {nil, toolAnswer(toolUse("Bash", `{"timeout":5}`)), true, "invalid for input_schema"},
		"wrong type":         {nil, toolAnswer(toolUse("Bash", `{"command":["ls"]}`)), true, "invalid for input_schema"},
		"extra property":     {nil, toolAnswer(toolUse("Bash", `{"command":"ls","cwd":"/"}`)), true, "invalid for input_schema"},
		"over maximum":       {nil, toolAnswer(toolUse("Bash", `{"command":"ls","timeout":9999999}`)), true, "invalid for input_schema"},
		"not an object":      {nil, toolAnswer(toolUse("Bash", `"ls"`)), true, "not a JSON object"},
		"broken json":        {nil, toolAnswer(toolUse("Bash", `{"command":`)), true, "not valid JSON"},
		"second call bad":    {nil, toolAnswer(toolUse("Bash", `{"command":"ls"}`), toolUse("Read", `{}`)), true, `tool "Read"`},
		"choice none":        {&llm.ToolChoice{Type: llm.ToolChoiceNone}, toolAnswer(toolUse("Bash", `{"command":"ls"}`)), true, "forbids"},
		"choice any, text":   {&llm.ToolChoice{Type: llm.ToolChoiceAny}, answer("I would run ls."), true, "requires a tool call"},
		"choice tool, other": {&llm.ToolChoice{Type: llm.ToolChoiceTool, Name: "Read"}, toolAnswer(toolUse("Bash", `{"command":"ls"}`)), true, "not called"},
		"choice tool, named": {&llm.ToolChoice{Type: llm.ToolChoiceTool, Name: "Bash"}, toolAnswer(toolUse("Bash", `{"command":"ls"}`)), false, ""},
		"tool_use stop only": {nil, &llm.Response{StopReason: llm.StopToolUse, Content: []llm.Block{{Type: llm.BlockText, Text: "Let me check."}}}, true, "without a tool call"},
	} {
		t.Run(name, func(t *testing.T) {
			req := toolRequest()
			req.ToolChoice = tc.choice
			r := toolCallSignal(view(req, tc.resp), cache)
			if !r.applies || r.veto != tc.veto || (tc.veto && r.score != 0) || (!tc.veto && r.score != 1) {
				t.Fatalf("got %+v, want applies, veto=%v", r, tc.veto)
			}
			if !strings.Contains(r.detail, tc.want) {
				t.Fatalf("detail %q does not mention %q", r.detail, tc.want)
			}
		})
	}
	if r := toolCallSignal(view(toolRequest(), answer("Here are the files.")), cache); r.applies {
		t.Fatalf("a text answer under tool_choice auto: %+v, want not applicable", r)
	}
}

func TestToolCallBrokenClientSchemaIsNotTheDraftsFault(t *testing.T) {
	req := ask("q")
	req.Tools = []llm.Tool{{Name: "T", InputSchema: json.RawMessage(`{"type": 12}`)}}
	r := toolCallSignal(view(req, toolAnswer(toolUse("T", `{"a":1}`))), newSchemaCache(4))
	if r.veto || r.score != 1 {
		t.Fatalf("got %+v, want pass when the request's schema does not compile", r)
	}
}

func TestSchemaRefsCannotReadFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"type":"string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := newSchemaCache(4)
	schema := []byte(`{"$ref":"file://` + secret + `"}`)
	err := cache.validateJSON(schema, []byte(`{"a":1}`))
	if !errors.Is(err, errSchema) || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("err = %v, want the file $ref refused", err)
	}
}

func TestSchemaCacheCompilesOnceAndEvicts(t *testing.T) {
	cache := newSchemaCache(2)
	a, b, c := []byte(`{"type":"object"}`), []byte(`{"type":"array"}`), []byte(`{"type":"string"}`)
	s1, err := cache.get(a)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := cache.get(append([]byte(nil), a...)) // same bytes, different slice
	if s1 != s2 {
		t.Fatal("same schema bytes compiled twice")
	}
	cache.get(b)
	cache.get(a) // a is now most recent
	cache.get(c) // evicts b
	if cache.len() != 2 {
		t.Fatalf("cache len = %d, want 2", cache.len())
	}
	s3, _ := cache.get(a)
	if s3 != s1 {
		t.Fatal("recently used schema was evicted")
	}
}
