package server_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
)

// BenchmarkCascadeGate drives a request for a rule's model through the
// proxy in process: the draft call (to the canned upstream, as in
// BenchmarkPassthrough), the quality gate and the accepted draft's answer.
// Threshold 0 accepts every draft, so each request makes one upstream call;
// its figures less BenchmarkPassthrough's upstream-only are the cascade's
// own cost (rule lookup, gate, accounting).
//
//	go test -run '^$' -bench BenchmarkCascadeGate -benchmem ./proxy/server/
func BenchmarkCascadeGate(b *testing.B) {
	upstream := startBenchUpstream(b, recordBenchCanned(b))
	p, err := app.New(app.Options{
		Log:       slog.New(slog.DiscardHandler),
		LookupEnv: func(string) (string, bool) { return "sk-bench-upstream", true },
	})
	if err != nil {
		b.Fatal(err)
	}
	rules := "version: v1\nproviders:\n  - {name: anthropic, type: anthropic, baseURL: '" + upstream + "', apiKey: {env: KEY}}\n" +
		"rules:\n  - name: sonnet\n    models: [claude-sonnet-4-5-20250929]\n" +
		"    draft: {provider: anthropic, model: claude-haiku-4-5}\n    verifier: {provider: anthropic, model: claude-sonnet-4-5}\n    threshold: 0\n"
	if err := p.Load([]byte(rules), "bench"); err != nil {
		b.Fatal(err)
	}
	var h http.Handler = p.Server
	for _, mode := range []struct {
		name     string
		body     []byte
		wantTail string
	}{
		{"nonstream", benchBody, `"output_tokens"`},
		{"stream", benchStreamBody, `"message_stop"`},
	} {
		b.Run(mode.name, func(b *testing.B) {
			benchServe(b, h, "http://proxy.test", mode.body, mode.wantTail)
		})
	}
}
