package anthropic

import "testing"

// A tool_use whose input arrives whole in content_block_start (some
// gateways) keeps it: consumers see it as one input_json_delta.
func TestToolInputGivenInBlockStart(t *testing.T) {
	d := Codec{}.NewStreamDecoder()
	if _, err := d.Decode("message_start", []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}`)); err != nil {
		t.Fatal(err)
	}
	evs, err := d.Decode("content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{"city":"Paris"}}}`))
	if err != nil || len(evs) != 2 || evs[1].Delta == nil || evs[1].Delta.PartialJSON != `{"city":"Paris"}` {
		t.Fatalf("%v %+v", err, evs)
	}
	evs, _ = d.Decode("content_block_start", []byte(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_2","name":"f","input":{}}}`))
	if len(evs) != 1 {
		t.Fatalf("empty start input made a delta: %+v", evs)
	}
}
