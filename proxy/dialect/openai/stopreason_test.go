package openai

import (
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Some OpenAI-compatible servers finish a tool-calling answer with "stop";
// an Anthropic client must still see tool_use.
func TestToolCallsWithStopFinishAreToolUse(t *testing.T) {
	body := `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,
	  "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}`
	r, err := Codec{}.DecodeResponse([]byte(body))
	if err != nil || r.StopReason != llm.StopToolUse {
		t.Fatalf("non-stream: %v %q", err, r.StopReason)
	}
	d := Codec{}.NewStreamDecoder()
	for _, chunk := range []string{
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	} {
		if _, err := d.Decode("", []byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := d.Finish()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == llm.EventMessageDelta && ev.StopReason != llm.StopToolUse {
			t.Fatalf("stream: %q", ev.StopReason)
		}
	}
	if r, _ := (Codec{}).DecodeResponse([]byte(`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`)); r.StopReason != llm.StopEndTurn {
		t.Fatalf("plain stop: %q", r.StopReason)
	}
}
