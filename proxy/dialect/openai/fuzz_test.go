package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// FuzzDecodeRequest: any body either decodes or yields an invalid_request
// *llm.Error; a decoded request always encodes, and one decode/encode pass
// reaches a fixed point (the encoder writes the decoder's normal form).
// Seeds: testdata/fuzz/FuzzDecodeRequest and the ones added here.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(fullRequest))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]},{"role":"tool","tool_call_id":"c","content":"x"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"system","content":""}]}`))
	f.Add([]byte(`{"model":`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Codec{}.DecodeRequest(body)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.ErrInvalidRequest || e.Message == "" {
				t.Fatalf("error %v (%T) is not an invalid_request *llm.Error", err, err)
			}
			return
		}
		if r.Model == "" {
			t.Fatal("decoded a request without a model")
		}
		for _, m := range r.Messages {
			for _, b := range m.Content {
				if b.Type == llm.BlockToolUse && (b.ID == "" || b.Name == "" || !json.Valid(b.Input)) {
					t.Fatalf("bad tool_use block %+v", b)
				}
			}
		}
		first, err := Codec{}.EncodeRequest(r)
		if err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
		if !json.Valid(first) {
			t.Fatalf("encoded request is not JSON: %s", first)
		}
		r2, err := Codec{}.DecodeRequest(first)
		if err != nil {
			if len(r.Messages) == 0 && strings.Contains(err.Error(), "at least one message") {
				return // only empty system messages: nothing left to send
			}
			t.Fatalf("encoded request does not decode: %v\n%s", err, first)
		}
		second, err := Codec{}.EncodeRequest(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("encoding is not a fixed point\nfirst:  %s\nsecond: %s", first, second)
		}
	})
}

// FuzzStreamDecoder: any upstream byte stream yields either an *llm.Error or
// a well-formed canonical event sequence, which the client-side encoder
// accepts. Each input line is one SSE data payload; "event: x" lines name
// the next one. Seeds: testdata/fuzz/FuzzStreamDecoder and the golden
// upstream transcripts.
func FuzzStreamDecoder(f *testing.F) {
	for _, name := range []string{"upstream_text.sse", "upstream_parallel_tools_usage.sse", "upstream_error.sse", "upstream_truncated.sse", "upstream_logprobs_refusal.sse"} {
		b := readFile(f, name)
		// one payload per line, as the fuzz body expects
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "data: ") {
				lines = append(lines, strings.TrimPrefix(l, "data: "))
			}
		}
		f.Add([]byte(strings.Join(lines, "\n")))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		d := Codec{}.NewStreamDecoder()
		var evs []llm.Event
		event := ""
		failed := false
		for _, line := range bytes.Split(input, []byte("\n")) {
			if name, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
				event = string(name)
				continue
			}
			out, err := d.Decode(event, line)
			event = ""
			evs = append(evs, out...)
			if err != nil {
				assertLLMError(t, err)
				failed = true
				break
			}
		}
		if !failed {
			out, err := d.Finish()
			evs = append(evs, out...)
			if err != nil {
				assertLLMError(t, err)
				failed = true
			}
		}
		checkEventSequence(t, evs, !failed)

		enc := Codec{}.NewStreamEncoder(&llm.Request{IncludeUsage: true})
		var sse []byte
		for _, ev := range evs {
			var err error
			if sse, err = enc.Encode(sse, ev); err != nil {
				t.Fatalf("decoded events do not encode: %v (%s)", err, describe(evs))
			}
		}
		if !failed {
			sse = enc.Finish(sse)
		}
		for _, rec := range bytes.Split(bytes.TrimSuffix(sse, []byte("\n\n")), []byte("\n\n")) {
			if len(rec) == 0 {
				continue
			}
			payload := bytes.TrimPrefix(rec, []byte("data: "))
			if string(payload) != "[DONE]" && !json.Valid(payload) {
				t.Fatalf("encoder wrote invalid JSON: %q", rec)
			}
		}
	})
}

func assertLLMError(t *testing.T, err error) {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) || e.Message == "" {
		t.Fatalf("error %v (%T) is not an *llm.Error with a message", err, err)
	}
}

// checkEventSequence enforces the canonical grammar: message_start, blocks
// with consecutive indexes (start, matching deltas, stop), and — for a
// complete stream — one message_delta and one message_stop at the end.
func checkEventSequence(t *testing.T, evs []llm.Event, complete bool) {
	t.Helper()
	if len(evs) == 0 {
		if complete {
			t.Fatal("complete stream without events")
		}
		return
	}
	if evs[0].Type != llm.EventMessageStart || evs[0].Message == nil {
		t.Fatalf("first event is %s", evs[0].Type)
	}
	open, next := -1, 0
	var openType llm.BlockType
	sawDelta, sawStop := false, false
	for i, ev := range evs[1:] {
		if sawStop {
			t.Fatalf("event %d after message_stop", i+1)
		}
		switch ev.Type {
		case llm.EventMessageStart:
			t.Fatal("second message_start")
		case llm.EventBlockStart:
			if open >= 0 || ev.Index != next || ev.Block == nil || sawDelta {
				t.Fatalf("bad block start %d (open %d, next %d)%s", ev.Index, open, next, describe(evs))
			}
			open, openType = ev.Index, ev.Block.Type
			next++
		case llm.EventBlockDelta:
			want := llm.DeltaText
			if openType == llm.BlockToolUse {
				want = llm.DeltaInputJSON
			}
			if ev.Index != open || ev.Delta == nil || ev.Delta.Type != want {
				t.Fatalf("bad delta for block %d (open %d %s)%s", ev.Index, open, openType, describe(evs))
			}
		case llm.EventBlockStop:
			if ev.Index != open {
				t.Fatalf("stop of %d while %d is open", ev.Index, open)
			}
			open = -1
		case llm.EventMessageDelta:
			if sawDelta || open >= 0 || ev.Usage == nil {
				t.Fatalf("bad message_delta%s", describe(evs))
			}
			sawDelta = true
		case llm.EventMessageStop:
			if !sawDelta {
				t.Fatal("message_stop without message_delta")
			}
			sawStop = true
		default:
			t.Fatalf("unexpected event %s", ev.Type)
		}
	}
	if complete && !sawStop {
		t.Fatalf("complete stream without message_stop%s", describe(evs))
	}
}
