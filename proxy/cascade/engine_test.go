package cascade

import (
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
)

func TestOpenAIWithStreamUsage(t *testing.T) {
	for in, want := range map[string]string{
		`{"model":"m","stream":true}`: `{"stream_options":{"include_usage":true},"model":"m","stream":true}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}`: `{"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1}}`,
		`{"model":"m","stream_options":null}`:                                        `{"model":"m","stream_options":{"include_usage":true}}`,
	} {
		got := string(openai.WithStreamUsage([]byte(in)))
		if got != want {
			t.Errorf("openai.WithStreamUsage(%s) = %s, want %s", in, got, want)
		}
	}
}
