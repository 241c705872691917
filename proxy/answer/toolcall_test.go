package answer

import (
	"encoding/json"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func toolUse(id, name, input string) llm.Block {
	return llm.Block{Type: llm.BlockToolUse, ID: id, Name: name, Input: json.RawMessage(input)}
}

func TestEqualToolCalls(t *testing.T) {
	read := func(id, input string) llm.Block { return toolUse(id, "Read", input) }
	text := llm.Block{Type: llm.BlockText, Text: "Let me look at the file."}
	for _, tc := range []struct {
		name string
		a, b []llm.Block
		want bool
	}{
		{"same", []llm.Block{read("toolu_1", `{"file_path":"/a.go"}`)}, []llm.Block{read("toolu_9", `{"file_path":"/a.go"}`)}, true},
		{"key order and spaces", []llm.Block{toolUse("1", "Edit", `{"file_path": "/a.go", "old_string": "x", "new_string": "y"}`)},
			[]llm.Block{toolUse("2", "Edit", `{"new_string":"y","old_string":"x","file_path":"/a.go"}`)}, true},
		{"number spelling", []llm.Block{read("1", `{"file_path":"/a.go","limit":100,"offset":1.0}`)},
			[]llm.Block{read("2", `{"offset":1,"limit":1e2,"file_path":"/a.go"}`)}, true},
		{"nested", []llm.Block{toolUse("1", "TodoWrite", `{"todos":[{"content":"a","status":"pending"}]}`)},
			[]llm.Block{toolUse("2", "TodoWrite", ` { "todos" : [ { "status" : "pending" , "content" : "a" } ] } `)}, true},
		{"text blocks ignored", []llm.Block{text, read("1", `{"file_path":"/a.go"}`)}, []llm.Block{read("2", `{"file_path":"/a.go"}`)}, true},
		{"absent input is empty object", []llm.Block{toolUse("1", "Ping", "")}, []llm.Block{toolUse("2", "Ping", "{}")}, true},
		{"no calls", []llm.Block{text}, nil, true},

		{"different argument", []llm.Block{read("1", `{"file_path":"/a.go"}`)}, []llm.Block{read("2", `{"file_path":"/b.go"}`)}, false},
		{"different tool", []llm.Block{read("1", `{"file_path":"/a.go"}`)}, []llm.Block{toolUse("2", "Write", `{"file_path":"/a.go"}`)}, false},
		{"extra argument", []llm.Block{read("1", `{"file_path":"/a.go"}`)}, []llm.Block{read("2", `{"file_path":"/a.go","limit":5}`)}, false},
		{"null is not absent", []llm.Block{read("1", `{"file_path":"/a.go","limit":null}`)}, []llm.Block{read("2", `{"file_path":"/a.go"}`)}, false},
		{"string is not number", []llm.Block{read("1", `{"limit":"5"}`)}, []llm.Block{read("2", `{"limit":5}`)}, false},
		{"large integers exact", []llm.Block{read("1", `{"n":12345678901234567890}`)}, []llm.Block{read("2", `{"n":12345678901234567891}`)}, false},
		{"array order", []llm.Block{read("1", `{"a":[1,2]}`)}, []llm.Block{read("2", `{"a":[2,1]}`)}, false},
		{"one call missing", []llm.Block{read("1", `{"file_path":"/a.go"}`), read("2", `{"file_path":"/b.go"}`)},
			[]llm.Block{read("3", `{"file_path":"/a.go"}`)}, false},
		{"order matters", []llm.Block{read("1", `{"file_path":"/a.go"}`), read("2", `{"file_path":"/b.go"}`)},
			[]llm.Block{read("3", `{"file_path":"/b.go"}`), read("4", `{"file_path":"/a.go"}`)}, false},
		{"invalid json same bytes", []llm.Block{read("1", `{"a":`)}, []llm.Block{read("2", `{"a":`)}, true},
		{"invalid json", []llm.Block{read("1", `{"a":1`)}, []llm.Block{read("2", `{"a":1}`)}, false},
		{"trailing data", []llm.Block{read("1", `{"a":1} {}`)}, []llm.Block{read("2", `{"a":1}`)}, false},
	} {
		if got := EqualToolCalls(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: EqualToolCalls = %v, want %v", tc.name, got, tc.want)
		}
		if got := EqualToolCalls(tc.b, tc.a); got != tc.want {
			t.Errorf("%s: not symmetric", tc.name)
		}
	}
}
