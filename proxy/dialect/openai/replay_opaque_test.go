package openai

import (
	"encoding/json"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// An Anthropic-only block in a replayed answer is left out for an OpenAI client.
func TestReplayOpaqueBlockToOpenAI(t *testing.T) {
	resp := &llm.Response{ID: "msg_1", Model: "m", StopReason: llm.StopEndTurn, Content: []llm.Block{
		{Type: llm.BlockText, Text: "a"},
		{Type: "server_tool_use", Raw: json.RawMessage(`{"type":"server_tool_use","id":"s","name":"web_search","input":{}}`), RawDialect: llm.Anthropic},
		{Type: llm.BlockText, Text: "b"},
	}}
	enc := Codec{}.NewStreamEncoder(&llm.Request{Stream: true})
	var out []byte
	for _, ev := range resp.Events() {
		var err error
		if out, err = enc.Encode(out, ev); err != nil {
			t.Fatalf("%s %d: %v", ev.Type, ev.Index, err)
		}
	}
	out = enc.Finish(out)
	if len(out) == 0 {
		t.Fatal("no output")
	}
}
