package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func TestDecodeRequestErrors(t *testing.T) {
	const ok = `"model":"m","max_tokens":10`
	msg := func(content string) string {
		return `{` + ok + `,"messages":[{"role":"user","content":` + content + `}]}`
	}
	cases := []struct {
		name, body, param, contains string
	}{
		{"empty body", ``, "", "request body is empty"},
		{"not an object", `[1,2]`, "", "must be a JSON object"},
		{"malformed json names the position", "{\"model\":\"m\",\n  \"max_tokens\": 10,,\n}", "", "line 2, column 20"},
		{"truncated json", `{"model":"m","max_tokens":`, "", "not valid JSON"},
		{"missing model", `{"max_tokens":1,"messages":[]}`, "model", "model: field required"},
		{"null model", `{"model":null,"max_tokens":1,"messages":[]}`, "model", "model: field required"},
		{"empty model", `{"model":"","max_tokens":1,"messages":[]}`, "model", "must not be empty"},
		{"model not a string", `{"model":7,"max_tokens":1,"messages":[]}`, "model", "model: expected a string, got number"},
		{"missing max_tokens", `{"model":"m","messages":[]}`, "max_tokens", "max_tokens: field required"},
		{"max_tokens float", `{"model":"m","max_tokens":1.5,"messages":[]}`, "max_tokens", "max_tokens: expected an integer, got number 1.5"},
		{"max_tokens string", `{"model":"m","max_tokens":"10","messages":[]}`, "max_tokens", "expected an integer, got string"},
		{"max_tokens zero", `{"model":"m","max_tokens":0,"messages":[]}`, "max_tokens", "at least 1"},
		{"missing messages", `{` + ok + `}`, "messages", "messages: field required"},
		{"messages not an array", `{` + ok + `,"messages":"hi"}`, "messages", "messages: expected an array, got string"},
		{"messages empty", `{` + ok + `,"messages":[]}`, "messages", "at least one message"},
		{"message not an object", `{` + ok + `,"messages":["hi"]}`, "messages.0", "expected an object, got string"},
		{"bad role", `{` + ok + `,"messages":[{"role":"user","content":"a"},{"role":"tool","content":"b"}]}`, "messages.1.role", `got "tool"`},
		{"missing role", `{` + ok + `,"messages":[{"content":"b"}]}`, "messages.0.role", "field required"},
		{"role not a string", `{` + ok + `,"messages":[{"role":1,"content":"b"}]}`, "messages.0.role", "expected a string, got number"},
		{"missing content", `{` + ok + `,"messages":[{"role":"user"}]}`, "messages.0.content", "field required"},
		{"content a number", msg(`5`), "messages.0.content", "expected a string or an array"},
		{"block not an object", msg(`["hi"]`), "messages.0.content.0", "expected a content block object"},
		{"block without type", msg(`[{"text":"hi"}]`), "messages.0.content.0.type", "field required"},
		{"text not a string", msg(`[{"type":"text","text":5}]`), "messages.0.content.0.text", "expected a string, got number"},
		{"text missing", msg(`[{"type":"text"}]`), "messages.0.content.0.text", "field required"},
		{"image without source", msg(`[{"type":"image"}]`), "messages.0.content.0.source", "field required"},
		{"image bad source type", msg(`[{"type":"image","source":{"type":"ftp","url":"x"}}]`), "messages.0.content.0.source.type", `got "ftp"`},
		{"image base64 without data", msg(`[{"type":"image","source":{"type":"base64","media_type":"image/png"}}]`), "messages.0.content.0.source.data", "field required"},
		{"tool_use without id", msg(`[{"type":"tool_use","name":"f","input":{}}]`), "messages.0.content.0.id", "field required"},
		{"tool_use input not an object", msg(`[{"type":"tool_use","id":"t","name":"f","input":[1]}]`), "messages.0.content.0.input", "expected an object"},
		{"tool_result without id", msg(`[{"type":"tool_result","content":"x"}]`), "messages.0.content.0.tool_use_id", "field required"},
		{"tool_result bad nested block", msg(`[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":1}]}]`), "messages.0.content.0.content.0.text", "expected a string"},
		{"tool_result nested tool_use", msg(`[{"type":"tool_result","tool_use_id":"t","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]`), "messages.0.content.0.content.0.type", "cannot contain a tool_use"},
		{"is_error not a bool", msg(`[{"type":"tool_result","tool_use_id":"t","is_error":"yes"}]`), "messages.0.content.0.is_error", "expected a boolean, got string"},
		{"cache_control not an object", msg(`[{"type":"text","text":"a","cache_control":"ephemeral"}]`), "messages.0.content.0.cache_control", "expected an object"},
		{"system a number", `{` + ok + `,"system":5,"messages":[{"role":"user","content":"a"}]}`, "system", "expected a string or an array"},
		{"system image block", `{` + ok + `,"system":[{"type":"image","source":{"type":"url","url":"u"}}],"messages":[{"role":"user","content":"a"}]}`, "system.0.type", "only text blocks"},
		{"system role with image", `{` + ok + `,"messages":[{"role":"system","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}`, "messages.0.content.0.type", "only text blocks"},
		{"tool without name", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"tools":[{"input_schema":{}}]}`, "tools.0.name", "field required"},
		{"tool without schema", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"tools":[{"name":"f"}]}`, "tools.0.input_schema", "field required"},
		{"tool schema not an object", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"tools":[{"name":"f","input_schema":"x"}]}`, "tools.0.input_schema", "expected a JSON Schema object"},
		{"tools not an array", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"tools":{}}`, "tools", "expected an array, got object"},
		{"tool description a number", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"tools":[{"name":"f","input_schema":{}},{"name":"g","description":3,"input_schema":{}}]}`, "tools.1.description", "expected a string, got number"},
		{"tool_choice bad type", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"tool_choice":{"type":"sometimes"}}`, "tool_choice.type", `got "sometimes"`},
		{"tool_choice tool without name", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"tool_choice":{"type":"tool"}}`, "tool_choice.name", "field required"},
		{"thinking enabled without budget", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"thinking":{"type":"enabled"}}`, "thinking.budget_tokens", "field required"},
		{"thinking bad type", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"thinking":{"type":"maybe"}}`, "thinking.type", `got "maybe"`},
		{"thinking budget not an integer", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"thinking":{"type":"enabled","budget_tokens":"lots"}}`, "thinking.budget_tokens", "expected an integer"},
		{"stop_sequences not strings", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"stop_sequences":["a",2]}`, "stop_sequences.1", "expected a string, got number"},
		{"temperature a string", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"temperature":"hot"}`, "temperature", "expected a number, got string"},
		{"stream a string", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"stream":"yes"}`, "stream", "expected a boolean, got string"},
		{"metadata user_id a number", `{` + ok + `,"messages":[{"role":"user","content":"a"}],"metadata":{"user_id":5}}`, "metadata.user_id", "expected a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Codec{}.DecodeRequest([]byte(tc.body))
			if err == nil {
				t.Fatalf("no error; decoded %+v", r)
			}
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not *llm.Error", err, err)
			}
			if e.Kind != llm.ErrInvalidRequest || e.HTTPStatus() != 400 {
				t.Errorf("kind %s status %d, want invalid_request 400", e.Kind, e.HTTPStatus())
			}
			if e.Param != tc.param {
				t.Errorf("param %q, want %q (message %q)", e.Param, tc.param, e.Message)
			}
			if !strings.Contains(e.Message, tc.contains) {
				t.Errorf("message %q does not contain %q", e.Message, tc.contains)
			}
		})
	}
}

func TestDecodeRequestLenient(t *testing.T) {
	// Unknown top-level fields, unknown fields in blocks, Anthropic block types
	// without a canonical form and server tools are all accepted.
	body := `{"model":"m","max_tokens":5,"future_field":{"x":[1,2]},"context_management":{"edits":[]},
		"output_config":{"effort":"high"},"cache_control":{"type":"ephemeral"},
		"messages":[{"role":"user","content":[
			{"type":"text","text":"see doc","some_new_flag":true},
			{"type":"document","source":{"type":"text","media_type":"text/plain","data":"hello"},"title":"t"},
			{"type":"search_result","source":"https://example.com","title":"r","content":[{"type":"text","text":"x"}]}]}],
		"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},
		         {"type":"custom","name":"f","input_schema":{"type":"object"}}]}`
	r, err := Codec{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Messages[0].Content
	if len(c) != 3 || c[0].Text != "see doc" || c[1].Type != "document" || c[2].Type != "search_result" {
		t.Fatalf("content %+v", c)
	}
	for _, b := range c[1:] {
		if b.RawDialect != llm.Anthropic || !bytes.Contains([]byte(body), b.Raw) {
			t.Errorf("%s block lost its raw bytes: %q", b.Type, b.Raw)
		}
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != "f" {
		t.Errorf("tools %+v, want only the custom tool f (server tools have no canonical form)", r.Tools)
	}
}

func TestDecodeClaudeCodeRequest(t *testing.T) {
	body, err := os.ReadFile("testdata/claude_code_request.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Codec{}.DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "claude-opus-5-5" || r.MaxTokens != 128000 || !r.Stream {
		t.Errorf("model %q max_tokens %d stream %v", r.Model, r.MaxTokens, r.Stream)
	}
	if r.Thinking == nil || r.Thinking.Type != "adaptive" || r.Thinking.Display != "omitted" {
		t.Errorf("thinking %+v", r.Thinking)
	}
	if r.User != "user_2f8c0b0e_account__session_7d5e3c1a-4b2f-4e8a-9c3d-1f0e2d3c4b5a" {
		t.Errorf("user %q", r.User)
	}
	// 3 system blocks plus the folded role:system message, in that order.
	if len(r.System) != 4 {
		t.Fatalf("system has %d blocks, want 4", len(r.System))
	}
	if !strings.HasPrefix(r.System[0].Text, "x-anthropic-billing-header:") || r.System[0].CacheControl != nil {
		t.Errorf("system[0] %+v", r.System[0])
	}
	if string(r.System[1].CacheControl) != `{"type":"ephemeral"}` || string(r.System[2].CacheControl) != `{"type":"ephemeral"}` {
		t.Errorf("cache_control lost: %q %q", r.System[1].CacheControl, r.System[2].CacheControl)
	}
	if r.System[3].Text != "The user has enabled auto-accept for edits in this directory." {
		t.Errorf("folded system message %q", r.System[3].Text)
	}
	if len(r.Messages) != 5 || r.Messages[0].Role != llm.RoleUser || r.Messages[1].Role != llm.RoleAssistant {
		t.Fatalf("messages %d", len(r.Messages))
	}
	if len(r.Tools) != 12 || r.Tools[1].Name != "Bash" {
		t.Errorf("tools %d", len(r.Tools))
	}
	tr := r.Messages[2].Content[0]
	if tr.Type != llm.BlockToolResult || tr.ToolUseID != "toolu_01A09q90qw90lq917835lq9" || len(tr.Content) != 1 ||
		!strings.Contains(tr.Content[0].Text, "--- FAIL: TestStream") || string(tr.CacheControl) != `{"type":"ephemeral"}` {
		t.Errorf("tool_result %+v", tr)
	}
	tu := r.Messages[1].Content[2]
	if tu.Type != llm.BlockToolUse || tu.Name != "Bash" || !json.Valid(tu.Input) {
		t.Errorf("tool_use %+v", tu)
	}
}

func TestDecodeThinkingKeepsExactBytes(t *testing.T) {
	// Whitespace, key order and escapes a re-serialisation would change.
	thinking := "{ \"signature\" : \"c2lnbmF0dXJl+/=\",\n  \"type\":\"thinking\", \"thinking\":\"a<b & \\u00e9\\n\" }"
	redacted := `{"data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj","type":"redacted_thinking"}`
	body := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[` +
		thinking + `,` + redacted + `,{"type":"text","text":"a"}]}]}`
	r, err := Codec{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Messages[1].Content
	if string(c[0].Raw) != thinking || c[0].RawDialect != llm.Anthropic {
		t.Errorf("thinking raw %q", c[0].Raw)
	}
	if c[0].Thinking != "a<b & é\n" || c[0].Signature != "c2lnbmF0dXJl+/=" {
		t.Errorf("thinking fields %q %q", c[0].Thinking, c[0].Signature)
	}
	if string(c[1].Raw) != redacted || c[1].Data == "" {
		t.Errorf("redacted raw %q", c[1].Raw)
	}
	out, err := Codec{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(thinking)) || !bytes.Contains(out, []byte(redacted)) {
		t.Errorf("EncodeRequest changed the thinking bytes:\n%s", out)
	}
	// Raw is the body's own bytes, not a copy (the body is never written).
	b := []byte(body)
	r2, _ := Codec{}.DecodeRequest(b)
	raw := r2.Messages[1].Content[0].Raw
	if i := bytes.Index(b, []byte(thinking)); i < 0 || &raw[0] != &b[i] {
		t.Error("Block.Raw is a copy, want a slice of the request body")
	}
}

// Decoding a request copies its text into the canonical strings once, not
// the content it is nested in as well: a large request costs about its
// size in allocations, whatever the nesting.
func TestDecodeRequestAllocatesAboutTheText(t *testing.T) {
	text := strings.Repeat("The proxy forwards requests and relays answers as they arrive. ", 1024)
	escaped := strings.Repeat(`The proxy forwards \"requests\"\nand relays answers as they arrive. `, 1024)
	for _, content := range []string{
		`"` + text + `"`,
		`[{"type":"text","text":"` + text + `"}]`,
		`[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"` + text + `"}]}]`,
		// Escapes (every real prompt has newlines) cost encoding/json a second copy.
		`"` + escaped + `"`,
		`[{"type":"text","text":"` + escaped + `"}]`,
	} {
		body := []byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":` + content + `}]}`)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 20
		for range runs {
			if _, err := (Codec{}).DecodeRequest(body); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		perByte := float64(after.TotalAlloc-before.TotalAlloc) / runs / float64(len(text))
		if perByte > 1.2 {
			t.Errorf("content %.40s…: decoding allocates %.2f bytes per text byte, want about 1 (the text itself)", content, perByte)
		}
	}
}

func TestDecodeRequestFields(t *testing.T) {
	body := `{"model":"m","max_tokens":100,"system":"be brief","stream":false,
		"messages":[{"role":"user","content":[
			{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
			{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},
			{"type":"text","text":"what?"}]}],
		"tools":[{"name":"f","description":"d","input_schema":{"type":"object","properties":{}}}],
		"tool_choice":{"type":"any","disable_parallel_tool_use":true},
		"thinking":{"type":"enabled","budget_tokens":2048},
		"stop_sequences":["END"],"temperature":0.5,"top_p":0.9,"top_k":40,
		"output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}}`
	r, err := Codec{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.System) != 1 || r.System[0].Text != "be brief" {
		t.Errorf("system %+v", r.System)
	}
	c := r.Messages[0].Content
	if c[0].MediaType != "image/png" || c[0].Data != "iVBORw0KGgo=" || c[1].URL != "https://example.com/a.png" || c[2].Text != "what?" {
		t.Errorf("content %+v", c)
	}
	if r.ToolChoice == nil || r.ToolChoice.Type != llm.ToolChoiceAny || !r.ToolChoice.DisableParallelToolUse {
		t.Errorf("tool_choice %+v", r.ToolChoice)
	}
	if r.Thinking == nil || r.Thinking.Type != "enabled" || r.Thinking.BudgetTokens != 2048 {
		t.Errorf("thinking %+v", r.Thinking)
	}
	if *r.Temperature != 0.5 || *r.TopP != 0.9 || *r.TopK != 40 || r.StopSequences[0] != "END" {
		t.Errorf("sampling %v %v %v %v", *r.Temperature, *r.TopP, *r.TopK, r.StopSequences)
	}
	if r.Format == nil || r.Format.Type != "json_schema" || string(r.Format.Schema) != `{"type":"object"}` {
		t.Errorf("format %+v", r.Format)
	}
}

// A block type this proxy does not know yet is kept verbatim, not refused:
// clients such as Claude Code adopt new types before proxies learn them.
func TestDecodeRequestKeepsUnknownBlockTypes(t *testing.T) {
	body := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"hologram","x":[1,2]}]}]}`
	req, err := Codec{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	b := req.Messages[0].Content[1]
	if b.Type != "hologram" || string(b.Raw) != `{"type":"hologram","x":[1,2]}` {
		t.Fatalf("block %+v raw %s", b, b.Raw)
	}
	out, err := Codec{}.EncodeRequest(req)
	if err != nil || !strings.Contains(string(out), `{"type":"hologram","x":[1,2]}`) {
		t.Fatalf("re-encoded %s (%v)", out, err)
	}
}
