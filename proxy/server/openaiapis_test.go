package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/clientauth"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

const meteredPrices = "prices:\n  gpt-5-mini: {input: 1, output: 2, cacheRead: 0.5}\n  text-embedding-3-small: {input: 0.02, output: 0}\n"

func responseParams(model, text string) responses.ResponseNewParams {
	return responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(text)}}
}

func tokens(h *harness, model, kind string) float64 {
	return testutil.ToFloat64(h.metrics.Tokens.WithLabelValues(model, kind))
}

// The Responses API through the proxy with the official SDK: answers and
// streams arrive whole, the vendor key is used upstream, and every answer is
// metered from its usage (input_tokens include the cached ones).
func TestResponsesWithSDK(t *testing.T) {
	h := newHarness(t, passthroughRules("oai", "")+meteredPrices, harnessOptions{})
	usage := &fakeupstream.Usage{InputTokens: 100, CacheReadInputTokens: 40, OutputTokens: 6}
	h.fake.SetReply("gpt-5-mini", fakeupstream.Reply{Text: "Responses work through the proxy.", Usage: usage})
	c := h.openai()
	r, err := c.Responses.New(context.Background(), responseParams("gpt-5-mini", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "Responses work through the proxy." || r.Usage.InputTokens != 140 || r.Usage.InputTokensDetails.CachedTokens != 40 {
		t.Fatalf("response %s", r.RawJSON())
	}
	stream := c.Responses.NewStreaming(context.Background(), responseParams("gpt-5-mini", "hi"))
	var text string
	var last string
	for stream.Next() {
		ev := stream.Current()
		if ev.Type == "response.output_text.delta" {
			text += ev.Delta
		}
		last = ev.Type
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	stream.Close()
	if text != "Responses work through the proxy." || last != "response.completed" {
		t.Fatalf("stream text %q, last event %s", text, last)
	}
	for _, r := range h.fake.Requests() {
		if r.Endpoint != fakeupstream.EndpointResponses || r.Header.Get("Authorization") != "Bearer "+vendorKey {
			t.Fatalf("upstream got %s with auth %q", r.Endpoint, r.Header.Get("Authorization"))
		}
	}
	waitFor(t, "both answers metered", func() bool { return tokens(h, "gpt-5-mini", "output") == 12 })
	if in, cached := tokens(h, "gpt-5-mini", "input"), tokens(h, "gpt-5-mini", "cache_read"); in != 200 || cached != 80 {
		t.Fatalf("input %v cache_read %v", in, cached)
	}
	cost := testutil.ToFloat64(h.metrics.CostUSD.WithLabelValues("", "gpt-5-mini"))
	if want := 2 * (100*1 + 40*0.5 + 6*2) / 1e6; math.Abs(cost-want) > 1e-12 {
		t.Fatalf("cost %v, want %v", cost, want)
	}
	if v := testutil.ToFloat64(h.metrics.RouteRequests.WithLabelValues("", "passthrough")); v != 2 {
		t.Fatalf("passthrough requests %v", v)
	}
	// Time to first token for both, time per token for the stream only.
	waitObserved(t, h.metrics.TimeToFirstToken, 2, "", "passthrough", "gpt-5-mini")
	waitObserved(t, h.metrics.TimePerOutputToken, 1, "", "passthrough", "gpt-5-mini")
}

// Request and answer bytes pass unchanged both ways (but the model name the
// default route rewrites), streamed or not; only the proxy's request id
// header is its own.
func TestResponsesAndEmbeddingsAreByteExact(t *testing.T) {
	h := newHarness(t, passthroughRules("oai", "gpt-5-mini")+meteredPrices, harnessOptions{})
	answer := `{"id":"resp_x","object":"response","status":"completed","model":"gpt-5-mini",  "output":[{"type":"message","content":[{"type":"output_text","text":"caf\u00e9 \"q\"","annotations":[]}]}],` +
		"\n" + `"usage":{"input_tokens":11,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":14},"future_field":[1.50,{}]}`
	events := "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_y\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n" +
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"obfuscation\":\"ab\"}\n\n" +
		": a comment line\n\n" +
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_y\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1,\"total_tokens\":6}}}\n\n"
	embeddings := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAEA="}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}`
	for _, tc := range []struct {
		name, path, body, answer, contentType string
	}{
		{"responses", "/v1/responses", `{ "model" : "my-alias", "input":[{"role":"user","content":"hi \"you\""}], "unknown_future": {"a":[1, 2.0]} }`, answer, "application/json"},
		{"responses stream", "/v1/responses", `{"model":"my-alias","stream":true,"input":"hi","store":false}`, events, "text/event-stream"},
		{"embeddings", "/v1/embeddings", `{"input":["a","b"],"model":"my-alias","encoding_format":"base64"}`, embeddings, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.fake.Reset()
			h.fake.Enqueue(fakeupstream.Reply{RawBody: []byte(tc.answer), ContentType: tc.contentType, Header: http.Header{"X-Request-Id": {"req_up_1"}, "Openai-Organization": {"org-secret"}}})
			status, header, out := h.post(tc.path, tc.body, map[string]string{"Authorization": "Bearer client-key"})
			if status != 200 || out != tc.answer {
				t.Fatalf("status %d, answer changed:\n got %q\nwant %q", status, out, tc.answer)
			}
			if header.Get("X-Upstream-Request-Id") != "req_up_1" || header.Get("Openai-Organization") != "" || !strings.HasPrefix(header.Get("X-Request-Id"), "req_") {
				t.Fatalf("headers %v", header)
			}
			got := h.fake.Requests()
			want := strings.Replace(tc.body, `"my-alias"`, `"gpt-5-mini"`, 1)
			if len(got) != 1 || string(got[0].Body) != want || got[0].Path != tc.path {
				t.Fatalf("upstream got %d requests, first %s %s", len(got), got[0].Path, got[0].Body)
			}
		})
	}
	waitFor(t, "all metered", func() bool { return tokens(h, "gpt-5-mini", "output") == 4 })
	if in := tokens(h, "gpt-5-mini", "input"); in != 11+5+4 {
		t.Fatalf("input tokens %v", in)
	}
}

func TestEmbeddingsWithSDK(t *testing.T) {
	h := newHarness(t, passthroughRules("oai", "")+meteredPrices, harnessOptions{})
	c := h.openai()
	h.fake.SetReply("text-embedding-3-small", fakeupstream.Reply{Usage: &fakeupstream.Usage{InputTokens: 250}})
	res, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one", "two", "three"}}, EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 3 || len(res.Data[2].Embedding) != fakeupstream.DefaultEmbeddingDimensions || res.Usage.PromptTokens != 250 {
		t.Fatalf("embeddings %s", res.RawJSON())
	}
	waitFor(t, "embeddings metered", func() bool { return tokens(h, "text-embedding-3-small", "input") == 250 })
	cost := testutil.ToFloat64(h.metrics.CostUSD.WithLabelValues("", "text-embedding-3-small"))
	if want := 250 * 0.02 / 1e6; math.Abs(cost-want) > 1e-15 {
		t.Fatalf("cost %v, want %v", cost, want)
	}
	if n, _ := observed(t, h.metrics.TimeToFirstToken, "", "passthrough", "text-embedding-3-small"); n != 0 {
		t.Fatal("an embeddings answer was observed as a time to first token")
	}
	// Without /v1 in the base URL, as for chat completions.
	status, _, out := h.post("/embeddings", `{"model":"text-embedding-3-small","input":"x"}`, nil)
	if status != 200 || !strings.Contains(out, `"object":"list"`) {
		t.Fatalf("%d %s", status, out)
	}
}

// A model a rule names goes to the rule's verifier, never through a cascade;
// a route to an Anthropic-type provider is refused in OpenAI's envelope.
func TestResponsesRouting(t *testing.T) {
	h := newHarness(t, `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}}
  - {name: oai, type: openai, baseURL: "{{URL}}/v1", apiKey: {env: VENDOR_KEY}}
rules:
  - name: best
    models: [gpt-best]
    draft: {provider: oai, model: gpt-5-mini}
    verifier: {provider: oai, model: gpt-5}
    threshold: 0.5
  - name: claude
    models: [claude-best]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
defaultRoute: {provider: anth}
`, harnessOptions{})
	c := h.openai()
	r, err := c.Responses.New(context.Background(), responseParams("gpt-best", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "Hello from gpt-5." {
		t.Fatalf("answer %q", r.OutputText())
	}
	if got := modelsCalled(h); len(got) != 1 || got[0] != "gpt-5" {
		t.Fatalf("upstream calls %v (want the verifier only)", got)
	}
	for _, model := range []string{"claude-best", "some-model"} { // a rule's Anthropic verifier, the Anthropic default route
		_, err = c.Responses.New(context.Background(), responseParams(model, "hi"))
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != http.StatusBadRequest || oe.Param != "model" || !strings.Contains(oe.Message, "OpenAI-type provider") {
			t.Fatalf("%s: want a 400 naming the model, got %v", model, err)
		}
	}
	if n := len(h.fake.Requests()); n != 1 {
		t.Fatalf("%d upstream requests", n)
	}
}

// Errors come in OpenAI's envelope with the right status, the vendor's key
// never in them.
func TestResponsesAndEmbeddingsErrors(t *testing.T) {
	h := newHarness(t, `
version: v1
providers:
  - {name: oai, type: openai, baseURL: "{{URL}}/v1", apiKey: {env: VENDOR_KEY}}
  - {name: nokey, type: openai, baseURL: "{{URL}}/v1", apiKey: {env: MISSING_KEY}}
rules:
  - name: keyless
    models: [keyless-model]
    draft: {provider: nokey, model: gpt-5-nano}
    verifier: {provider: nokey, model: gpt-5}
defaultRoute: {provider: oai}
`, harnessOptions{maxBody: 4096})
	type envelope struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	h.fake.SetReply("gpt-5-mini", fakeupstream.Reply{Status: 429, ErrorMessage: "rate limited for key " + vendorKey, Header: http.Header{"Retry-After": {"7"}}})
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"bad JSON", "/v1/responses", `{"model":"gpt-5",`, 400, "invalid_request_error"},
		{"no model", "/v1/embeddings", `{"input":"x"}`, 400, "model"},
		{"too large", "/v1/responses", `{"model":"gpt-5","input":"` + strings.Repeat("a", 5000) + `"}`, 413, "exceeds"},
		{"provider without key", "/v1/responses", `{"model":"keyless-model","input":"x"}`, 503, "has no API key"},
		{"upstream rate limit", "/v1/responses", `{"model":"gpt-5-mini","input":"x"}`, 429, "rate limited"},
		{"upstream rate limit, embeddings", "/v1/embeddings", `{"model":"gpt-5-mini","input":"x"}`, 429, "rate limited"},
	} {
		status, header, out := h.post(tc.path, tc.body, nil)
		var e envelope
		if status != tc.status || json.Unmarshal([]byte(out), &e) != nil || e.Error.Message == "" || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %d %s", tc.name, status, out)
		}
		if strings.Contains(out, vendorKey) {
			t.Errorf("%s: the vendor key reached the client: %s", tc.name, out)
		}
		if tc.status == 429 && header.Get("Retry-After") != "7" {
			t.Errorf("%s: retry-after lost: %v", tc.name, header)
		}
	}
	// Without a default route, an unknown model is a 404.
	h.reload(`
version: v1
providers:
  - {name: oai, type: openai, baseURL: "{{URL}}/v1", apiKey: {env: VENDOR_KEY}}
`)
	if status, _, out := h.post("/v1/embeddings", `{"model":"text-embedding-3-small","input":"x"}`, nil); status != 404 || !strings.Contains(out, `"error"`) {
		t.Errorf("no route: %d %s", status, out)
	}
}

// Client keys guard these endpoints too, answered in OpenAI's envelope
// whatever auth header came; a passthroughAuth provider gets the client's
// own key.
func TestResponsesAndEmbeddingsAuth(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "team"), []byte("team-key-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := &clientauth.Keys{}
	if err := keys.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, `
version: v1
providers:
  - {name: oai, type: openai, baseURL: "{{URL}}/v1", passthroughAuth: true}
defaultRoute: {provider: oai}
`, harnessOptions{clientKeys: keys, fake: fakeupstream.Options{RequireKey: "team-key-1"}})
	for _, path := range []string{"/v1/responses", "/v1/embeddings"} {
		body := `{"model":"gpt-5-mini","input":"hi"}`
		for _, header := range []map[string]string{{"x-api-key": "wrong"}, {"Authorization": "Bearer wrong"}} {
			status, _, out := h.post(path, body, header)
			if status != 401 || !strings.HasPrefix(out, `{"error":{`) {
				t.Fatalf("%s %v: want OpenAI's 401, got %d %s", path, header, status, out)
			}
		}
		h.fake.Reset()
		if status, _, out := h.post(path, body, map[string]string{"Authorization": "Bearer team-key-1"}); status != 200 {
			t.Fatalf("%s: %d %s", path, status, out)
		}
		if got := h.fake.Requests(); len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer team-key-1" {
			t.Fatalf("%s: upstream saw %v", path, got)
		}
	}
}

// An upstream Responses stream that breaks off with an error event reaches
// the client as sent and counts as an upstream error; what it had written
// was timed.
func TestResponsesStreamErrorEvent(t *testing.T) {
	h := newHarness(t, passthroughRules("oai", ""), harnessOptions{})
	h.fake.SetReply("gpt-5-mini", fakeupstream.Reply{Text: "one two three four five six", StreamErrorAfterEvents: 5, ErrorMessage: "upstream broke"})
	status, _, out := h.post("/v1/responses", `{"model":"gpt-5-mini","input":"hi","stream":true}`, nil)
	if status != 200 || !strings.HasSuffix(out, "\n\n") || !strings.Contains(out, "event: error\ndata: ") || !strings.Contains(out, "upstream broke") || strings.Contains(out, "response.completed") {
		t.Fatalf("%d\n%s", status, out)
	}
	waitFor(t, "the upstream error counted", func() bool {
		return testutil.ToFloat64(h.metrics.UpstreamErrors.WithLabelValues("oai", "bad_gateway")) == 1
	})
	waitObserved(t, h.metrics.TimeToFirstToken, 1, "", "passthrough", "gpt-5-mini")
}
