package server

import (
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
)

// The Responses API usage reader and the content detectors take any bytes
// an upstream sends: they must not panic, and a stream short enough to fit
// the carry reads the same usage whole or cut in two anywhere.
func FuzzResponsesUsage(f *testing.F) {
	f.Add([]byte("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens\":1}}}\n\n"), uint(40))
	f.Add([]byte(`data: {"type":"response.output_text.delta","delta":"\"usage\":{\"input_tokens\":9}"}`+"\n\n"), uint(3))
	f.Add([]byte(`"usage":{"a":"}\"{","input_tokens":{}}`), uint(9))
	f.Add([]byte(`"usage" : {"input_tokens":-4,"input_tokens_details":{"cached_tokens":99}}`), uint(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		if len(data) > maxUsageCarry {
			data = data[:maxUsageCarry]
		}
		at := int(cut % uint(len(data)+1))
		whole := &usageSniffer{dialect: llm.OpenAI, kind: provider.PathResponses}
		whole.Events(data)
		cutUp := &usageSniffer{dialect: llm.OpenAI, kind: provider.PathResponses}
		cutUp.Events(data[:at])
		cutUp.Events(data[at:])
		if whole.seen && (!cutUp.seen || cutUp.usage != whole.usage) {
			t.Fatalf("cut at %d: usage %+v (seen %v), whole %+v", at, cutUp.usage, cutUp.seen, whole.usage)
		}
		if whole.ended && !cutUp.ended {
			t.Fatalf("cut at %d: the end was missed", at)
		}
		if u := whole.usage; u.InputTokens < 0 {
			t.Fatalf("negative input tokens %+v", u)
		}
		for _, d := range []llm.Dialect{llm.Anthropic, llm.OpenAI} {
			for _, kind := range []string{provider.PathMessages, provider.PathResponses} {
				_ = hasContent(d, kind, data)
			}
		}
	})
}
