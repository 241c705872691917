package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

var update = flag.Bool("update", false, "rewrite the derived testdata/encoded_*.sse files")

func start() llm.Event {
	return llm.Event{Type: llm.EventMessageStart, Message: &llm.Response{ID: "msg_1", Model: "m", Usage: llm.Usage{InputTokens: 10}}}
}
func blockStart(i int, typ llm.BlockType) llm.Event {
	return llm.Event{Type: llm.EventBlockStart, Index: i, Block: &llm.Block{Type: typ, ID: "toolu_1", Name: "f"}}
}
func delta(i int, d llm.Delta) llm.Event {
	return llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: &d}
}
func blockStop(i int) llm.Event { return llm.Event{Type: llm.EventBlockStop, Index: i} }
func msgDelta(stop llm.StopReason, out int) llm.Event {
	return llm.Event{Type: llm.EventMessageDelta, StopReason: stop, Usage: &llm.Usage{OutputTokens: out}}
}
func msgStop() llm.Event { return llm.Event{Type: llm.EventMessageStop} }

func TestEncoderOrderViolations(t *testing.T) {
	text := llm.Delta{Type: llm.DeltaText, Text: "a"}
	cases := []struct {
		name   string
		events []llm.Event // the last one must fail
		want   string
	}{
		{"block before message_start", []llm.Event{blockStart(0, llm.BlockText)}, "outside the message"},
		{"second message_start", []llm.Event{start(), start()}, "second message_start"},
		{"delta for a block never started", []llm.Event{start(), delta(0, text)}, "not open"},
		{"delta after the block stopped", []llm.Event{start(), blockStart(0, llm.BlockText), blockStop(0), delta(0, text)}, "not open"},
		{"stop for a block never started", []llm.Event{start(), blockStop(3)}, "not open"},
		{"block index skips", []llm.Event{start(), blockStart(1, llm.BlockText)}, "expected index 0"},
		{"block index repeats", []llm.Event{start(), blockStart(0, llm.BlockText), blockStart(0, llm.BlockText)}, "expected index 1"},
		{"start without block", []llm.Event{start(), {Type: llm.EventBlockStart}}, "without a block"},
		{"delta without delta", []llm.Event{start(), blockStart(0, llm.BlockText), {Type: llm.EventBlockDelta}}, "without a delta"},
		{"text delta for a tool_use block", []llm.Event{start(), blockStart(0, llm.BlockToolUse), delta(0, text)}, "text_delta for a tool_use block"},
		{"thinking closed without signature", []llm.Event{start(), blockStart(0, llm.BlockThinking),
			delta(0, llm.Delta{Type: llm.DeltaThinking, Thinking: "hmm"}), blockStop(0)}, "without a signature_delta"},
		{"thinking left open at message_delta", []llm.Event{start(), blockStart(0, llm.BlockThinking), msgDelta(llm.StopEndTurn, 1)}, "without a signature_delta"},
		{"block after message_delta", []llm.Event{start(), msgDelta(llm.StopEndTurn, 1), blockStart(0, llm.BlockText)}, "outside the message"},
		{"anything after message_stop", []llm.Event{start(), msgStop(), msgDelta(llm.StopEndTurn, 1)}, "after message_stop"},
		{"ping after message_stop", []llm.Event{start(), msgStop(), {Type: llm.EventPing}}, "after message_stop"},
		{"message_stop before message_start", []llm.Event{msgStop()}, "before message_start"},
		{"message_delta before message_start", []llm.Event{msgDelta(llm.StopEndTurn, 1)}, "before message_start"},
		{"block type without an Anthropic form", []llm.Event{start(), {Type: llm.EventBlockStart, Block: &llm.Block{Type: "document"}}}, "no Anthropic form"},
		{"unknown event", []llm.Event{{Type: "telemetry"}}, "unknown event type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := Codec{}.NewStreamEncoder(nil)
			var out []byte
			for i, ev := range tc.events {
				before := len(out)
				var err error
				out, err = enc.Encode(out, ev)
				if i < len(tc.events)-1 {
					if err != nil {
						t.Fatalf("event %d: unexpected %v", i, err)
					}
					continue
				}
				if !errors.Is(err, ErrStreamOrder) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want ErrStreamOrder containing %q", err, tc.want)
				}
				if len(out) != before {
					t.Errorf("a refused event wrote %q", out[before:])
				}
			}
		})
	}
}

func TestEncoderRepairs(t *testing.T) {
	t.Run("open blocks are closed before the one message_delta; deltas merge", func(t *testing.T) {
		out := encodeEvents(t, []llm.Event{
			{Type: llm.EventPing}, start(),
			blockStart(0, llm.BlockText), delta(0, llm.Delta{Type: llm.DeltaText, Text: "hi"}),
			blockStart(1, llm.BlockToolUse), delta(1, llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: `{"a":1}`}),
			msgDelta("", 5), {Type: llm.EventPing}, msgDelta(llm.StopToolUse, 7), msgStop(),
		})
		var names []string
		for _, e := range parseSSE(t, out) {
			names = append(names, e.name)
		}
		want := "message_start content_block_start content_block_delta content_block_start content_block_delta " +
			"content_block_stop content_block_stop ping message_delta message_stop"
		if strings.Join(names, " ") != want {
			t.Fatalf("events\n %s\nwant\n %s", strings.Join(names, " "), want)
		}
		if !bytes.HasPrefix(out, []byte(": ping\n\n")) {
			t.Errorf("a ping before message_start must be an SSE comment:\n%s", out)
		}
		msg, _, err := sdkAccumulate(t, out)
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "tool_use" || msg.Usage.OutputTokens != 7 || msg.Usage.InputTokens != 10 ||
			msg.Content[0].Text != "hi" || string(msg.Content[1].Input) != `{"a":1}` {
			t.Errorf("SDK message %+v", msg)
		}
	})
	t.Run("message_stop without message_delta gets one", func(t *testing.T) {
		out := encodeEvents(t, []llm.Event{start(), blockStart(0, llm.BlockToolUse), blockStop(0), msgStop()})
		evs := parseSSE(t, out)
		if evs[len(evs)-2].name != "message_delta" || !strings.Contains(string(evs[len(evs)-2].data), `"stop_reason":"tool_use"`) ||
			!strings.Contains(string(evs[len(evs)-2].data), `"output_tokens":0`) {
			t.Errorf("synthesised message_delta %s", evs[len(evs)-2].data)
		}
	})
	t.Run("message_start always has usage and a null stop_reason", func(t *testing.T) {
		out := encodeEvents(t, []llm.Event{{Type: llm.EventMessageStart}})
		var ms struct {
			Message struct {
				ID         string          `json:"id"`
				Content    json.RawMessage `json:"content"`
				StopReason *string         `json:"stop_reason"`
				Usage      map[string]int  `json:"usage"`
			} `json:"message"`
		}
		if err := json.Unmarshal(parseSSE(t, out)[0].data, &ms); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ms.Message.ID, "msg_") || string(ms.Message.Content) != "[]" || ms.Message.StopReason != nil {
			t.Errorf("message_start %s", out)
		}
		if _, ok := ms.Message.Usage["input_tokens"]; !ok {
			t.Errorf("no input_tokens: %s", out)
		}
		if _, ok := ms.Message.Usage["output_tokens"]; !ok {
			t.Errorf("no output_tokens: %s", out)
		}
	})
	t.Run("finish appends nothing, even when incomplete", func(t *testing.T) {
		enc := Codec{}.NewStreamEncoder(nil)
		out, _ := enc.Encode(nil, start())
		if got := enc.Finish(out); !bytes.Equal(got, out) {
			t.Errorf("Finish appended %q", got[len(out):])
		}
	})
	t.Run("raw data with line breaks survives in several data fields", func(t *testing.T) {
		raw := "{\"type\":\"content_block_delta\",\n \"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}"
		enc := Codec{}.NewStreamEncoder(nil)
		out, _ := enc.Encode(nil, start())
		out, _ = enc.Encode(out, blockStart(0, llm.BlockText))
		n := len(out)
		out, err := enc.Encode(out, llm.Event{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaText, Text: "a"},
			Raw: json.RawMessage(raw), RawDialect: llm.Anthropic})
		if err != nil {
			t.Fatal(err)
		}
		if got := parseSSE(t, out[n:]); len(got) != 1 || string(got[0].data) != raw {
			t.Errorf("relayed %q", out[n:])
		}
	})
	t.Run("raw of another index is not trusted", func(t *testing.T) {
		raw := `{"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"a"}}`
		enc := Codec{}.NewStreamEncoder(nil)
		out, _ := enc.Encode(nil, start())
		out, _ = enc.Encode(out, blockStart(0, llm.BlockText))
		out, _ = enc.Encode(out, llm.Event{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaText, Text: "b"},
			Raw: json.RawMessage(raw), RawDialect: llm.Anthropic})
		if bytes.Contains(out, []byte(`"index":5`)) || !bytes.Contains(out, []byte(`"text":"b"`)) {
			t.Errorf("encoded %s", out)
		}
	})
}

// A buffered draft replayed to a streaming client (llm.Response.Events) must
// reach the SDK as the same message, thinking signature included.
func TestEncoderReplaysResponse(t *testing.T) {
	resp := &llm.Response{ID: "msg_replay", Model: "claude-haiku-5-5", StopReason: llm.StopToolUse,
		Usage: llm.Usage{InputTokens: 120, OutputTokens: 33, CacheReadInputTokens: 100},
		Content: []llm.Block{
			{Type: llm.BlockThinking, Thinking: "plan: call f", Signature: "c2ln/+=="},
			{Type: llm.BlockRedactedThinking, Data: "EmwKAhgB"},
			{Type: llm.BlockText, Text: "Calling <f> & co.\n"},
			{Type: llm.BlockToolUse, ID: "toolu_9", Name: "f", Input: json.RawMessage(`{"x":[1,2]}`)},
		}}
	out := encodeEvents(t, resp.Events())
	msg, _, err := sdkAccumulate(t, out)
	if err != nil {
		t.Fatal(err)
	}
	c := msg.Content
	if msg.ID != "msg_replay" || msg.Model != "claude-haiku-5-5" || msg.StopReason != "tool_use" ||
		msg.Usage.InputTokens != 120 || msg.Usage.OutputTokens != 33 || msg.Usage.CacheReadInputTokens != 100 {
		t.Errorf("envelope %+v usage %+v", msg, msg.Usage)
	}
	if len(c) != 4 || c[0].Thinking != "plan: call f" || c[0].Signature != "c2ln/+==" || c[1].Type != "redacted_thinking" ||
		c[1].Data != "EmwKAhgB" || c[2].Text != "Calling <f> & co.\n" || c[3].ID != "toolu_9" || !jsonEqual(string(c[3].Input), `{"x":[1,2]}`) {
		t.Errorf("content %+v", c)
	}
}

// encoded_*.sse are derived files (see testdata/README.md).
func TestEncoderGolden(t *testing.T) {
	cases := map[string][]llm.Event{
		"encoded_text_tool.sse": {
			start(), {Type: llm.EventPing},
			blockStart(0, llm.BlockText), delta(0, llm.Delta{Type: llm.DeltaText, Text: "Let me look. \"quoted\" <tag> é\u2028"}), blockStop(0),
			blockStart(1, llm.BlockToolUse), delta(1, llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: `{"path":`}),
			delta(1, llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: `"/tmp"}`}), blockStop(1),
			{Type: llm.EventMessageDelta, StopReason: llm.StopToolUse, Usage: &llm.Usage{InputTokens: 10, OutputTokens: 21}}, msgStop(),
		},
		"encoded_thinking.sse": {
			start(),
			{Type: llm.EventBlockStart, Index: 0, Block: &llm.Block{Type: llm.BlockThinking}},
			delta(0, llm.Delta{Type: llm.DeltaThinking, Thinking: "step 1"}),
			delta(0, llm.Delta{Type: llm.DeltaSignature, Signature: "EqQBCgIYAhIM"}), blockStop(0),
			{Type: llm.EventBlockStart, Index: 1, Block: &llm.Block{Type: llm.BlockRedactedThinking, Data: "EmwKAhgB"}}, blockStop(1),
			blockStart(2, llm.BlockText), delta(2, llm.Delta{Type: llm.DeltaText, Text: "21"}), blockStop(2),
			{Type: llm.EventMessageDelta, StopReason: llm.StopEndTurn, Usage: &llm.Usage{OutputTokens: 12}}, msgStop(),
		},
	}
	for name, evs := range cases {
		t.Run(name, func(t *testing.T) {
			got := encodeEvents(t, evs)
			path := "testdata/" + name
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readFile(t, path)
			if !bytes.Equal(got, want) {
				t.Errorf("encoder output changed; got:\n%s\nwant:\n%s", got, want)
			}
			if _, _, err := sdkAccumulate(t, want); err != nil {
				t.Errorf("the SDK rejects %s: %v", name, err)
			}
		})
	}
}

// An accepted draft holding a block the canonical model keeps opaque (a
// server tool's use) replays as a well-numbered stream with that block whole.
func TestReplayWithOpaqueBlock(t *testing.T) {
	resp := &llm.Response{ID: "msg_1", Model: "m", StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 5, OutputTokens: 7}, Content: []llm.Block{
		{Type: llm.BlockText, Text: "Searching."},
		{Type: "server_tool_use", ID: "srvtoolu_1", Name: "web_search", Raw: json.RawMessage(`{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"x"}}`), RawDialect: llm.Anthropic},
		{Type: "no_form_here"},
		{Type: llm.BlockText, Text: "Done."},
	}}
	enc := Codec{}.NewStreamEncoder(&llm.Request{Stream: true})
	var out []byte
	for _, ev := range resp.Events() {
		var err error
		if out, err = enc.Encode(out, ev); err != nil {
			t.Fatalf("%s %d: %v", ev.Type, ev.Index, err)
		}
	}
	s := string(out)
	if !strings.Contains(s, `"index":1,"content_block":{"type":"server_tool_use","id":"srvtoolu_1"`) || !strings.Contains(s, `"index":2,"content_block":{"type":"text"`) {
		t.Fatalf("stream:\n%s", s)
	}
}
