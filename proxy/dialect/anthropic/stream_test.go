package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// wantBlock and wantMessage are what the documented transcripts say, written
// out by hand from the docs' examples.
type wantBlock struct {
	typ                 string
	text, thinking, sig string
	id, name, input     string
}

type wantMessage struct {
	id, model string
	blocks    []wantBlock
	stop      string
	in, out   int
}

var docTranscripts = []struct {
	file string
	want wantMessage
}{
	{"testdata/docs_basic.sse", wantMessage{
		id: "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", model: "claude-opus-4-8",
		blocks: []wantBlock{{typ: "text", text: "Hello!"}}, stop: "end_turn", in: 25, out: 15}},
	{"testdata/docs_tool_use.sse", wantMessage{
		id: "msg_014p7gG3wDgGV9EUtLvnow3U", model: "claude-opus-4-8",
		blocks: []wantBlock{
			{typ: "text", text: "Okay, let's check the weather for San Francisco, CA:"},
			{typ: "tool_use", id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", name: "get_weather", input: `{"location": "San Francisco, CA"}`}},
		stop: "tool_use", in: 472, out: 89}},
	{"testdata/docs_thinking.sse", wantMessage{
		id: "msg_01...", model: "claude-opus-4-8",
		blocks: []wantBlock{
			{typ: "thinking", thinking: "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n1071 = 2 × 462 + 147\n462 = 3 × 147 + 21\n147 = 7 × 21 + 0\nThe remainder is 0, so GCD(1071, 462) = 21.",
				sig: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."},
			{typ: "text", text: "The greatest common divisor of 1071 and 462 is **21**."}},
		stop: "end_turn"}},
	{"testdata/docs_web_search.sse", wantMessage{
		id: "msg_01G...", model: "claude-opus-4-8",
		blocks: []wantBlock{
			{typ: "text", text: "I'll check the current weather in New York City for you."},
			{typ: "server_tool_use", id: "srvtoolu_014hJH82Qum7Td6UV8gDXThB", name: "web_search"},
			{typ: "web_search_tool_result"},
			{typ: "text", text: "Here's the current weather information for New York City:\n\n# Weather in New York City\n\n"}},
		stop: "end_turn", in: 10682, out: 510}},
}

func jsonEqual(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

func checkCanonical(t *testing.T, got *llm.Response, want wantMessage) {
	t.Helper()
	if got.ID != want.id || got.Model != want.model || string(got.StopReason) != want.stop ||
		got.Usage.InputTokens != want.in || got.Usage.OutputTokens != want.out {
		t.Errorf("got id %q model %q stop %q usage %+v; want %+v", got.ID, got.Model, got.StopReason, got.Usage, want)
	}
	if len(got.Content) != len(want.blocks) {
		t.Fatalf("%d blocks, want %d: %+v", len(got.Content), len(want.blocks), got.Content)
	}
	for i, w := range want.blocks {
		b := got.Content[i]
		if string(b.Type) != w.typ || b.Text != w.text || b.Thinking != w.thinking || b.Signature != w.sig || b.ID != w.id || b.Name != w.name {
			t.Errorf("block %d = %+v, want %+v", i, b, w)
		}
		if w.input != "" && !jsonEqual(string(b.Input), w.input) {
			t.Errorf("block %d input %s, want %s", i, b.Input, w.input)
		}
	}
}

func checkSDK(t *testing.T, got anthropicsdk.Message, want wantMessage) {
	t.Helper()
	if got.ID != want.id || got.Model != want.model || string(got.StopReason) != want.stop ||
		got.Usage.InputTokens != int64(want.in) || got.Usage.OutputTokens != int64(want.out) {
		t.Errorf("SDK got id %q model %q stop %q in %d out %d; want %+v", got.ID, got.Model, got.StopReason, got.Usage.InputTokens, got.Usage.OutputTokens, want)
	}
	if len(got.Content) != len(want.blocks) {
		t.Fatalf("SDK: %d blocks, want %d", len(got.Content), len(want.blocks))
	}
	for i, w := range want.blocks {
		b := got.Content[i]
		if b.Type != w.typ || b.Text != w.text || b.Thinking != w.thinking || b.Signature != w.sig || b.ID != w.id || b.Name != w.name {
			t.Errorf("SDK block %d = type %q text %q thinking %q sig %q id %q name %q, want %+v", i, b.Type, b.Text, b.Thinking, b.Signature, b.ID, b.Name, w)
		}
		if w.input != "" && !jsonEqual(string(b.Input), w.input) {
			t.Errorf("SDK block %d input %s, want %s", i, b.Input, w.input)
		}
	}
}

// The documented transcripts, read by the official SDK, say what they say:
// this checks the test expectations themselves.
func TestDocTranscriptsThroughSDK(t *testing.T) {
	for _, tc := range docTranscripts {
		t.Run(tc.file, func(t *testing.T) {
			msg, _, err := sdkAccumulate(t, readFile(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			checkSDK(t, msg, tc.want)
		})
	}
}

func TestStreamDecoderDocs(t *testing.T) {
	for _, tc := range docTranscripts {
		t.Run(tc.file, func(t *testing.T) {
			transcript := readFile(t, tc.file)
			evs, err := decodeTranscript(t, transcript)
			if err != nil {
				t.Fatal(err)
			}
			// Every event carries the upstream's data verbatim.
			sse := parseSSE(t, transcript)
			if len(evs) != len(sse) {
				t.Fatalf("%d canonical events for %d SSE events", len(evs), len(sse))
			}
			for i := range evs {
				if string(evs[i].Type) != sse[i].name || !bytes.Equal(evs[i].Raw, bytes.TrimSpace(sse[i].data)) || evs[i].RawDialect != llm.Anthropic {
					t.Errorf("event %d: type %s raw %q; want %s %q", i, evs[i].Type, evs[i].Raw, sse[i].name, sse[i].data)
				}
			}
			var acc llm.Accumulator
			for _, ev := range evs {
				if err := acc.Add(ev); err != nil {
					t.Fatal(err)
				}
			}
			if !acc.Complete() {
				t.Fatal("accumulator not complete")
			}
			checkCanonical(t, acc.Response(), tc.want)
		})
	}
}

func TestStreamDecoderWebSearchKeepsOpaqueBlock(t *testing.T) {
	evs, err := decodeTranscript(t, readFile(t, "testdata/docs_web_search.sse"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == llm.EventBlockStart && ev.Index == 2 {
			if ev.Block.Type != "web_search_tool_result" || !bytes.Contains(ev.Block.Raw, []byte(`"encrypted_content":"Ev0DCioIAxgCIiQ3NmU4ZmI4OC1k..."`)) {
				t.Errorf("web_search_tool_result block %+v", ev.Block)
			}
			return
		}
	}
	t.Fatal("no block 2")
}

// Relaying an upstream stream to an Anthropic client: block events keep the
// upstream's bytes; message_start and message_delta are re-encoded (so the
// model can be rewritten) and the SDK accumulates the same message.
func TestStreamRelay(t *testing.T) {
	for _, tc := range docTranscripts {
		t.Run(tc.file, func(t *testing.T) {
			transcript := readFile(t, tc.file)
			evs, err := decodeTranscript(t, transcript)
			if err != nil {
				t.Fatal(err)
			}
			out := encodeEvents(t, evs)
			in, got := parseSSE(t, transcript), parseSSE(t, out)
			if len(got) != len(in) {
				t.Fatalf("relayed %d events, upstream sent %d:\n%s", len(got), len(in), out)
			}
			deltas := 0
			for i := range in {
				if got[i].name != in[i].name {
					t.Fatalf("event %d is %s, upstream sent %s", i, got[i].name, in[i].name)
				}
				switch in[i].name {
				case "content_block_start", "content_block_delta", "content_block_stop":
					if !bytes.Equal(got[i].data, in[i].data) {
						t.Errorf("event %d changed:\n got %s\nwant %s", i, got[i].data, in[i].data)
					}
				case "message_delta":
					deltas++
				}
			}
			if deltas != 1 {
				t.Errorf("%d message_delta events", deltas)
			}
			msg, _, err := sdkAccumulate(t, out)
			if err != nil {
				t.Fatal(err)
			}
			checkSDK(t, msg, tc.want)
		})
	}
}

func TestStreamRelayRewritesModel(t *testing.T) {
	evs, err := decodeTranscript(t, readFile(t, "testdata/docs_basic.sse"))
	if err != nil {
		t.Fatal(err)
	}
	evs[0].Message.Model = "claude-haiku-5-5" // what the cascade does
	msg, _, err := sdkAccumulate(t, encodeEvents(t, evs))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Model != "claude-haiku-5-5" || msg.Content[0].Text != "Hello!" {
		t.Errorf("model %q text %q", msg.Model, msg.Content[0].Text)
	}
}

func TestStreamDecoderErrorEvent(t *testing.T) {
	evs, err := decodeTranscript(t, readFile(t, "testdata/docs_error.sse"))
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v", err)
	}
	if e.Kind != llm.ErrOverloaded || e.UpstreamType != "overloaded_error" || e.Message != "Overloaded" || e.HTTPStatus() != 529 || !e.Retryable {
		t.Errorf("error %+v", e)
	}
	if len(evs) != 3 {
		t.Errorf("%d events before the error, want 3", len(evs))
	}
	// Relayed to a client, the failure arrives as an SDK error of the same type.
	out := encodeEvents(t, evs)
	out = append(out, Codec{}.ErrorEvent(err)...)
	_, _, sdkErr := sdkAccumulate(t, out)
	var apiErr *anthropicsdk.Error
	if !errors.As(sdkErr, &apiErr) || apiErr.Type() != "overloaded_error" || apiErr.Message != "Overloaded" {
		t.Errorf("SDK error %v", sdkErr)
	}
}

func TestStreamDecoderProblems(t *testing.T) {
	start := `{"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":3,"cache_read_input_tokens":7,"output_tokens":1}}}`
	cases := []struct {
		name    string
		events  [][2]string // event name, data
		wantErr string      // substring; "" means no error
		check   func(t *testing.T, evs []llm.Event)
	}{
		{name: "truncated before message_stop",
			events:  [][2]string{{"message_start", start}, {"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`}},
			wantErr: "ended before message_stop"},
		{name: "empty stream", wantErr: "ended before message_start"},
		{name: "block before message_start",
			events:  [][2]string{{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`}},
			wantErr: "before message_start"},
		{name: "invalid json", events: [][2]string{{"message_start", `{"type":`}}, wantErr: "invalid JSON"},
		{name: "delta without index",
			events:  [][2]string{{"message_start", start}, {"content_block_delta", `{"type":"content_block_delta","delta":{"type":"text_delta","text":"a"}}`}},
			wantErr: "without an index"},
		{name: "unknown events and empty data are ignored; names fill in a missing type",
			events: [][2]string{{"message_start", start}, {"future_event", `{"type":"future_event","x":1}`}, {"", ""},
				{"message_delta", `{"delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9}}`}, {"message_stop", `{}`}},
			check: func(t *testing.T, evs []llm.Event) {
				if len(evs) != 3 || evs[1].Type != llm.EventMessageDelta || evs[2].Type != llm.EventMessageStop {
					t.Fatalf("events %+v", evs)
				}
				// message_delta usage is cumulative: counts it omits keep message_start's.
				if u := *evs[1].Usage; u.InputTokens != 3 || u.CacheReadInputTokens != 7 || u.OutputTokens != 9 || evs[1].StopReason != llm.StopMaxTokens {
					t.Errorf("message_delta %+v usage %+v", evs[1], u)
				}
			}},
		{name: "unknown delta type is kept for relaying",
			events: [][2]string{{"message_start", start},
				{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"","citations":[]}}`},
				{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}}`},
				{"content_block_stop", `{"type":"content_block_stop","index":0}`},
				{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`},
				{"message_stop", `{"type":"message_stop"}`}},
			check: func(t *testing.T, evs []llm.Event) {
				if evs[2].Delta == nil || evs[2].Delta.Type != "citations_delta" {
					t.Fatalf("delta %+v", evs[2].Delta)
				}
				out := encodeEvents(t, evs)
				if !bytes.Contains(out, []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location"}}}`)) {
					t.Errorf("citations_delta not relayed:\n%s", out)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Codec{}.NewStreamDecoder()
			var evs []llm.Event
			var err error
			for _, e := range tc.events {
				var got []llm.Event
				if got, err = d.Decode(e[0], []byte(e[1])); err != nil {
					break
				}
				evs = append(evs, got...)
			}
			if err == nil {
				_, err = d.Finish()
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, evs)
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.ErrBadGateway || !strings.Contains(e.Message, tc.wantErr) {
				t.Fatalf("error %v, want bad_gateway containing %q", err, tc.wantErr)
			}
		})
	}
}
