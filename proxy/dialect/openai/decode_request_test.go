package openai

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

const userHi = `[{"role":"user","content":"hi"}]`

func TestDecodeRequestErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantMsg   string // also required in the message
	}{
		{"empty body", ``, "", "empty"},
		{"whitespace body", " \n", "", "empty"},
		{"truncated JSON", `{"model":"m",` + "\n" + `"messages":[`, "", "unexpected end of JSON input at line 2, column 12"},
		{"trailing comma", `{"model":"m","messages":` + userHi + `,}`, "", "'}' looking for beginning of object key string at line 1, column 58"},
		{"not an object", `["m"]`, "", "must be a JSON object"},
		{"missing model", `{"messages":` + userHi + `}`, "model", "model is required"},
		{"model not a string", `{"model":42,"messages":` + userHi + `}`, "model", "must be a string, not number"},
		{"missing messages", `{"model":"m"}`, "messages", "required"},
		{"null messages", `{"model":"m","messages":null}`, "messages", "required"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", "at least one"},
		{"messages not an array", `{"model":"m","messages":{"role":"user"}}`, "messages", "must be an array"},
		{"message not an object", `{"model":"m","messages":["hi"]}`, "messages[0]", "must be an object"},
		{"missing role", `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role", "required"},
		{"unknown role", `{"model":"m","messages":[{"role":"wizard","content":"hi"}]}`, "messages[0].role", `"wizard"`},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role", "use tool"},
		{"role not a string", `{"model":"m","messages":[{"role":1}]}`, "messages[0].role", "must be a string"},
		{"user content number", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content", "string or an array"},
		{"user content null", `{"model":"m","messages":[{"role":"user","content":null}]}`, "messages[0].content", "required"},
		{"part not an object", `{"model":"m","messages":[{"role":"user","content":["hi"]}]}`, "messages[0].content[0]", "must be an object"},
		{"unsupported part", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"input_audio","input_audio":{}}]}]}`, "messages[0].content[1].type", "input_audio"},
		{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"a"}]}]}`, "messages[0].content[0].type", "required"},
		{"part text not a string", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":7}]}]}`, "messages[0].content[0].text", "must be a string"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"hi"}]}`, "messages[0].content[0].type", "only allowed in user"},
		{"image ftp url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url", "http(s)"},
		{"image data url not base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url", "base64"},
		{"image data url no media type", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:;base64,abc"}}]}]}`, "messages[0].content[0].image_url.url", "media type"},
		{"image url missing", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, "messages[0].content[0].image_url.url", "required"},
		{"image_url wrong type", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":3}]}]}`, "messages[0].content[0].image_url", "object"},
		{"tool message without id", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"x"}]}`, "messages[1].tool_call_id", "required"},
		{"tool content number", `{"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":1}]}`, "messages[0].content", "string or an array"},
		{"tool_calls not an array", `{"model":"m","messages":[{"role":"assistant","tool_calls":"x"}]}`, "messages[0].tool_calls", "must be an array"},
		{"tool call not an object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[1]}]}`, "messages[0].tool_calls[0]", "must be an object"},
		{"tool call without id", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].id", "required"},
		{"tool call without name", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].function.name", "required"},
		{"tool call custom type", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{}}]}]}`, "messages[0].tool_calls[0].type", "custom"},
		{"tool call arguments number", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":5}}]}]}`, "messages[0].tool_calls[0].function.arguments", "must be a string"},
		{"tool call id not a string", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":5,"function":{"name":"f"}}]}]}`, "messages[0].tool_calls[0].id", "must be a string"},
		{"max_tokens string", `{"model":"m","messages":` + userHi + `,"max_tokens":"100"}`, "max_tokens", "must be an integer, not string"},
		{"max_tokens fraction", `{"model":"m","messages":` + userHi + `,"max_tokens":1.5}`, "max_tokens", "integer"},
		{"max_tokens zero", `{"model":"m","messages":` + userHi + `,"max_tokens":0}`, "max_tokens", "at least 1"},
		{"max_completion_tokens negative", `{"model":"m","messages":` + userHi + `,"max_completion_tokens":-3}`, "max_completion_tokens", "at least 1"},
		{"temperature too high", `{"model":"m","messages":` + userHi + `,"temperature":2.5}`, "temperature", "between 0 and 2"},
		{"top_p string", `{"model":"m","messages":` + userHi + `,"top_p":"high"}`, "top_p", "must be a number"},
		{"top_logprobs too many", `{"model":"m","messages":` + userHi + `,"logprobs":true,"top_logprobs":21}`, "top_logprobs", "between 0 and 20"},
		{"logprobs string", `{"model":"m","messages":` + userHi + `,"logprobs":"yes"}`, "logprobs", "must be a boolean"},
		{"stop number", `{"model":"m","messages":` + userHi + `,"stop":5}`, "stop", "string or an array"},
		{"stop array of numbers", `{"model":"m","messages":` + userHi + `,"stop":[1]}`, "stop", "string or an array"},
		{"stream string", `{"model":"m","messages":` + userHi + `,"stream":"true"}`, "stream", "must be a boolean"},
		{"include_usage string", `{"model":"m","messages":` + userHi + `,"stream":true,"stream_options":{"include_usage":"yes"}}`, "stream_options.include_usage", "boolean"},
		{"tools not an array", `{"model":"m","messages":` + userHi + `,"tools":{}}`, "tools", "must be an array"},
		{"tool custom type", `{"model":"m","messages":` + userHi + `,"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type", "custom"},
		{"tool without type", `{"model":"m","messages":` + userHi + `,"tools":[{"function":{"name":"x"}}]}`, "tools[0].type", "required"},
		{"tool without name", `{"model":"m","messages":` + userHi + `,"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name", "required"},
		{"tool parameters string", `{"model":"m","messages":` + userHi + `,"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]}`, "tools[0].function.parameters", "JSON Schema object"},
		{"tool name number", `{"model":"m","messages":` + userHi + `,"tools":[{"type":"function","function":{"name":1}}]}`, "tools[0].function.name", "must be a string"},
		{"tool_choice unknown", `{"model":"m","messages":` + userHi + `,"tool_choice":"sometimes"}`, "tool_choice", `"sometimes"`},
		{"tool_choice number", `{"model":"m","messages":` + userHi + `,"tool_choice":1}`, "tool_choice", "string or an object"},
		{"tool_choice without name", `{"model":"m","messages":` + userHi + `,"tool_choice":{"type":"function","function":{}}}`, "tool_choice.function.name", "required"},
		{"tool_choice allowed_tools", `{"model":"m","messages":` + userHi + `,"tool_choice":{"type":"allowed_tools"}}`, "tool_choice.type", "allowed_tools"},
		{"parallel_tool_calls string", `{"model":"m","messages":` + userHi + `,"parallel_tool_calls":"no"}`, "parallel_tool_calls", "boolean"},
		{"response_format string", `{"model":"m","messages":` + userHi + `,"response_format":"json"}`, "response_format", "must be an object"},
		{"response_format type unknown", `{"model":"m","messages":` + userHi + `,"response_format":{"type":"xml"}}`, "response_format.type", `"xml"`},
		{"response_format without type", `{"model":"m","messages":` + userHi + `,"response_format":{}}`, "response_format.type", "required"},
		{"json_schema missing", `{"model":"m","messages":` + userHi + `,"response_format":{"type":"json_schema"}}`, "response_format.json_schema", "required"},
		{"json_schema schema not object", `{"model":"m","messages":` + userHi + `,"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":true}}}`, "response_format.json_schema.schema", "JSON Schema object"},
		{"n = 2", `{"model":"m","messages":` + userHi + `,"n":2}`, "n", "n must be 1"},
		{"legacy functions", `{"model":"m","messages":` + userHi + `,"functions":[{"name":"f"}]}`, "functions", "use tools"},
		{"user not a string", `{"model":"m","messages":` + userHi + `,"user":7}`, "user", "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Codec{}.DecodeRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("no error; decoded %+v", r)
			}
			e := asLLMError(t, err)
			if e.Kind != llm.ErrInvalidRequest || e.HTTPStatus() != 400 {
				t.Errorf("kind %s status %d, want invalid_request 400", e.Kind, e.HTTPStatus())
			}
			if e.Param != tt.wantParam {
				t.Errorf("param %q, want %q (message %q)", e.Param, tt.wantParam, e.Message)
			}
			if tt.wantParam != "" && !strings.Contains(e.Message, tt.wantParam) {
				t.Errorf("message %q does not name %q", e.Message, tt.wantParam)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantMsg)
			}
		})
	}
}

func TestDecodeRequestIgnoresUnknownFields(t *testing.T) {
	body := `{"model":"gpt-5","seed":7,"metadata":{"k":"v"},"reasoning_effort":"low","store":false,"future_field":{"x":[1,2]},
		"messages":[{"role":"user","content":"hi","name":"bob","future":true}],
		"tools":[{"type":"function","function":{"name":"f","strict":true,"future":1}}]}`
	r, err := Codec{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := &llm.Request{
		Model:    "gpt-5",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}},
		Tools:    []llm.Tool{{Name: "f"}},
	}
	assertRequest(t, r, want)
}

// fullRequest exercises every mapped field of a Chat Completions request.
const fullRequest = `{
  "model": "gpt-4o",
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
    {"role": "user", "content": [
      {"type": "text", "text": "What is in these images?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
      {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    ]},
    {"role": "assistant", "content": "", "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
      {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":"}},
      {"id": "call_3", "type": "function", "function": {"name": "ping", "arguments": ""}}
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "12:00"}]},
    {"role": "tool", "tool_call_id": "call_3", "content": null},
    {"role": "user", "content": "thanks"},
    {"role": "assistant", "content": null, "refusal": "I can't help with that."},
    {"role": "user", "content": "ok"}
  ],
  "max_tokens": 100,
  "max_completion_tokens": 200,
  "temperature": 0.2,
  "top_p": 0.9,
  "stop": "END",
  "stream": true,
  "stream_options": {"include_usage": true},
  "tools": [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "get_time"}}
  ],
  "tool_choice": "required",
  "parallel_tool_calls": false,
  "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
  "logprobs": true,
  "top_logprobs": 3,
  "user": "u-42"
}`

func TestDecodeRequestMapsEveryField(t *testing.T) {
	r, err := Codec{}.DecodeRequest([]byte(fullRequest))
	if err != nil {
		t.Fatal(err)
	}
	text := func(s string) llm.Block { return llm.Block{Type: llm.BlockText, Text: s} }
	want := &llm.Request{
		Model:  "gpt-4o",
		System: []llm.Block{text("You are terse."), text("Use metric units.")},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{
				text("What is in these images?"),
				{Type: llm.BlockImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: llm.BlockImage, URL: "https://example.com/cat.jpg"},
			}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockToolUse, ID: "call_1", Name: "get_weather", Input: json.RawMessage(`{"city": "Paris"}`)},
				// invalid arguments are kept verbatim as a JSON string
				{Type: llm.BlockToolUse, ID: "call_2", Name: "get_time", Input: json.RawMessage(`"{\"tz\":"`)},
				{Type: llm.BlockToolUse, ID: "call_3", Name: "ping", Input: json.RawMessage(`{}`)},
			}},
			// three tool messages and the user message after them: one user turn
			{Role: llm.RoleUser, Content: []llm.Block{
				{Type: llm.BlockToolResult, ToolUseID: "call_1", Content: []llm.Block{text("18C")}},
				{Type: llm.BlockToolResult, ToolUseID: "call_2", Content: []llm.Block{text("12:00")}},
				{Type: llm.BlockToolResult, ToolUseID: "call_3"},
				text("thanks"),
			}},
			{Role: llm.RoleAssistant, Content: []llm.Block{text("I can't help with that.")}},
			{Role: llm.RoleUser, Content: []llm.Block{text("ok")}},
		},
		MaxTokens:     200, // max_completion_tokens wins over the deprecated max_tokens
		Temperature:   ptr(0.2),
		TopP:          ptr(0.9),
		StopSequences: []string{"END"},
		Stream:        true,
		IncludeUsage:  true,
		Tools: []llm.Tool{
			{Name: "get_weather", Description: "Weather now", InputSchema: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}}`)},
			{Name: "get_time"},
		},
		ToolChoice:  &llm.ToolChoice{Type: llm.ToolChoiceAny, DisableParallelToolUse: true},
		Format:      &llm.ResponseFormat{Type: "json_schema", Name: "answer", Schema: json.RawMessage(`{"type": "object"}`)},
		Logprobs:    true,
		TopLogprobs: 3,
		User:        "u-42",
	}
	assertRequest(t, r, want)
}

func TestDecodeRequestSmallVariants(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(t *testing.T, r *llm.Request)
	}{
		{"stop array", `"stop":["a","b"]`, func(t *testing.T, r *llm.Request) {
			if !reflect.DeepEqual(r.StopSequences, []string{"a", "b"}) {
				t.Errorf("stop %q", r.StopSequences)
			}
		}},
		{"max_tokens alone", `"max_tokens":64`, func(t *testing.T, r *llm.Request) {
			if r.MaxTokens != 64 {
				t.Errorf("max tokens %d", r.MaxTokens)
			}
		}},
		{"tool_choice none", `"tool_choice":"none"`, func(t *testing.T, r *llm.Request) {
			if r.ToolChoice == nil || r.ToolChoice.Type != llm.ToolChoiceNone {
				t.Errorf("tool choice %+v", r.ToolChoice)
			}
		}},
		{"tool_choice auto", `"tool_choice":"auto"`, func(t *testing.T, r *llm.Request) {
			if r.ToolChoice == nil || *r.ToolChoice != (llm.ToolChoice{Type: llm.ToolChoiceAuto}) {
				t.Errorf("tool choice %+v", r.ToolChoice)
			}
		}},
		{"named tool_choice", `"tool_choice":{"type":"function","function":{"name":"f"}}`, func(t *testing.T, r *llm.Request) {
			if r.ToolChoice == nil || *r.ToolChoice != (llm.ToolChoice{Type: llm.ToolChoiceTool, Name: "f"}) {
				t.Errorf("tool choice %+v", r.ToolChoice)
			}
		}},
		{"parallel_tool_calls false alone", `"parallel_tool_calls":false`, func(t *testing.T, r *llm.Request) {
			if r.ToolChoice == nil || *r.ToolChoice != (llm.ToolChoice{Type: llm.ToolChoiceAuto, DisableParallelToolUse: true}) {
				t.Errorf("tool choice %+v", r.ToolChoice)
			}
		}},
		{"parallel_tool_calls true is the default", `"parallel_tool_calls":true`, func(t *testing.T, r *llm.Request) {
			if r.ToolChoice != nil {
				t.Errorf("tool choice %+v", r.ToolChoice)
			}
		}},
		{"json_object", `"response_format":{"type":"json_object"}`, func(t *testing.T, r *llm.Request) {
			if r.Format == nil || r.Format.Type != "json_object" {
				t.Errorf("format %+v", r.Format)
			}
		}},
		{"safety_identifier as user", `"safety_identifier":"sid"`, func(t *testing.T, r *llm.Request) {
			if r.User != "sid" {
				t.Errorf("user %q", r.User)
			}
		}},
		{"nulls everywhere", `"stop":null,"tools":null,"tool_choice":null,"response_format":null,"max_tokens":null,"stream_options":null,"n":null,"functions":null`, func(t *testing.T, r *llm.Request) {
			if r.StopSequences != nil || r.Tools != nil || r.ToolChoice != nil || r.Format != nil || r.MaxTokens != 0 {
				t.Errorf("nulls decoded as values: %+v", r)
			}
		}},
		{"n = 1", `"n":1`, func(t *testing.T, r *llm.Request) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Codec{}.DecodeRequest([]byte(`{"model":"m","messages":` + userHi + `,` + tt.extra + `}`))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestDecodeRequestToolMessagesAfterUserStaySeparate(t *testing.T) {
	// A user message before the tool results is its own turn; a second user
	// message after the merged one is too.
	body := `{"model":"m","messages":[
		{"role":"user","content":"a"},
		{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"r"},
		{"role":"user","content":"b"},
		{"role":"user","content":"c"}]}`
	r, err := Codec{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range r.Messages {
		roles = append(roles, string(m.Role)+":"+string(rune('0'+len(m.Content))))
	}
	if got := strings.Join(roles, " "); got != "user:1 assistant:1 user:2 user:1" {
		t.Fatalf("turns %s", got)
	}
}

func assertRequest(t *testing.T, got, want *llm.Request) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	t.Fatalf("request differs\ngot:  %s\nwant: %s", g, w)
}

func TestUnmarshalStringMatchesEncodingJSON(t *testing.T) {
	for _, raw := range []string{`""`, `"plain"`, ` "spaced" `, `"esc\"aped\n"`, `"\u00e9\ud83d\ude42"`, "\"bad\xffutf8\"", `"é漢字"`, `"tab	in"`} {
		got, gotErr := unmarshalString(json.RawMessage(raw), "p")
		var want string
		wantErr := json.Unmarshal([]byte(raw), &want)
		if (gotErr != nil) != (wantErr != nil) || got != want {
			t.Errorf("%q: got %q, %v; encoding/json %q, %v", raw, got, gotErr, want, wantErr)
		}
	}
}

// Decoding a request copies its text into the canonical strings once: not
// the content it is nested in as well, nor twice for text with escapes.
func TestDecodeRequestAllocatesAboutTheText(t *testing.T) {
	text := strings.Repeat("The proxy forwards requests and relays answers as they arrive. ", 1024)
	escaped := strings.Repeat(`The proxy forwards \"requests\"\nand relays answers as they arrive. `, 1024)
	for _, content := range []string{
		`"` + text + `"`,
		`[{"type":"text","text":"` + text + `"}]`,
		`"` + escaped + `"`,
		`[{"type":"text","text":"` + escaped + `"}]`,
	} {
		body := []byte(`{"model":"m","messages":[{"role":"user","content":` + content + `}]}`)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 20
		for range runs {
			if _, err := (Codec{}).DecodeRequest(body); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		if perByte := float64(after.TotalAlloc-before.TotalAlloc) / runs / float64(len(text)); perByte > 1.2 {
			t.Errorf("content %.40s…: decoding allocates %.2f bytes per text byte, want about 1 (the text itself)", content, perByte)
		}
	}
}
