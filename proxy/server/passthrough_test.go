package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// Both providers point at the same fake; which one serves is decided by the
// default route, so one template covers each direction.
func passthroughRules(defaultProvider, defaultModel string) string {
	return `
version: v1
providers:
  - name: anth
    type: anthropic
    baseURL: {{URL}}
    apiKey: {env: VENDOR_KEY}
  - name: oai
    type: openai
    baseURL: {{URL}}/v1
    apiKey: {env: VENDOR_KEY}
defaultRoute:
  provider: ` + defaultProvider + `
  model: "` + defaultModel + `"
`
}

func userParams(model, text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model: anthropic.Model(model), MaxTokens: 256,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
	}
}

func streamAnthropic(t *testing.T, c *anthropic.Client, p anthropic.MessageNewParams) (anthropic.Message, []string, error) {
	t.Helper()
	s := c.Messages.NewStreaming(context.Background(), p)
	defer s.Close()
	var msg anthropic.Message
	var types []string
	for s.Next() {
		ev := s.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", ev.Type, err)
		}
	}
	return msg, types, s.Err()
}

func streamOpenAI(t *testing.T, c *openai.Client, p openai.ChatCompletionNewParams) (openai.ChatCompletion, error) {
	t.Helper()
	s := c.Chat.Completions.NewStreaming(context.Background(), p)
	defer s.Close()
	acc := openai.ChatCompletionAccumulator{}
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	return acc.ChatCompletion, s.Err()
}

func TestAnthropicPassthroughWithSDK(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{})
	c := h.anthropic()
	msg, err := c.Messages.New(context.Background(), userParams("claude-sonnet-5-5", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Content[0].Text; got != "Hello from claude-sonnet-5-5." {
		t.Fatalf("text %q", got)
	}
	if msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
		t.Fatalf("usage lost: %+v", msg.Usage)
	}
	smsg, types, err := streamAnthropic(t, c, userParams("claude-sonnet-5-5", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if smsg.Content[0].Text != "Hello from claude-sonnet-5-5." || types[0] != "message_start" || types[len(types)-1] != "message_stop" {
		t.Fatalf("stream: %q %v", smsg.Content[0].Text, types)
	}
	// The vendor key was sent upstream, the client's key was not.
	for _, r := range h.fake.Requests() {
		if r.Header.Get("X-Api-Key") != vendorKey {
			t.Fatalf("upstream saw x-api-key %q", r.Header.Get("X-Api-Key"))
		}
	}
}

func TestOpenAIPassthroughWithSDK(t *testing.T) {
	h := newHarness(t, passthroughRules("oai", ""), harnessOptions{})
	c := h.openai()
	p := openai.ChatCompletionNewParams{Model: "gpt-5-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	cc, err := c.Chat.Completions.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].Message.Content != "Hello from gpt-5-mini." {
		t.Fatalf("content %q", cc.Choices[0].Message.Content)
	}
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	sc, err := streamOpenAI(t, c, p)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Choices[0].Message.Content != "Hello from gpt-5-mini." || sc.Usage.CompletionTokens == 0 {
		t.Fatalf("stream: %q usage %+v", sc.Choices[0].Message.Content, sc.Usage)
	}
	if got := h.fake.Requests()[0].Header.Get("Authorization"); got != "Bearer "+vendorKey {
		t.Fatalf("upstream auth %q", got)
	}
}

// The upstream receives exactly the client's bytes except the model value,
// and the client's beta headers (not its query string: the key is the proxy's).
func TestPassthroughByteFidelity(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", "claude-haiku-5-5"), harnessOptions{})
	body := `{ "model" :"claude-x-requested",  "max_tokens":64,
	"unknown_future_field": {"nested": [1, 2.50, "\u00e9"]},
	"messages":[{"role":"user","content":[{"type":"text","text":"hi \"there\""}]}],
	"context_management": {"edits": []}, "metadata": {"user_id": "u-1"} }`
	status, _, out := h.post("/v1/messages?beta=true", body, map[string]string{
		"anthropic-version": "2023-06-01",
		"anthropic-beta":    "claude-code-20250219,interleaved-thinking-2025-05-14",
		"x-api-key":         "client-key",
		"x-app":             "cli",
	})
	if status != 200 {
		t.Fatalf("status %d: %s", status, out)
	}
	reqs := h.fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	want := strings.Replace(body, `"claude-x-requested"`, `"claude-haiku-5-5"`, 1)
	if string(reqs[0].Body) != want {
		t.Fatalf("upstream body differs:\n got %s\nwant %s", reqs[0].Body, want)
	}
	for k, v := range map[string]string{"Anthropic-Beta": "claude-code-20250219,interleaved-thinking-2025-05-14", "Anthropic-Version": "2023-06-01", "X-App": "cli"} {
		if got := reqs[0].Header.Get(k); got != v {
			t.Errorf("upstream header %s = %q, want %q", k, got, v)
		}
	}
	if len(reqs[0].Query) != 0 {
		t.Errorf("query string forwarded with the proxy's own key: %v", reqs[0].Query)
	}
}

// An Anthropic-format client served by an OpenAI-compatible upstream, and the reverse.
func TestCrossDialectBothWays(t *testing.T) {
	t.Run("anthropic client, openai upstream", func(t *testing.T) {
		h := newHarness(t, passthroughRules("oai", "gpt-5-mini"), harnessOptions{})
		c := h.anthropic()
		msg, err := c.Messages.New(context.Background(), userParams("claude-opus-5-5", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Content[0].Text != "Hello from gpt-5-mini." || msg.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("got %+v", msg)
		}
		smsg, _, err := streamAnthropic(t, c, userParams("claude-opus-5-5", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		if smsg.Content[0].Text != "Hello from gpt-5-mini." || smsg.Usage.OutputTokens == 0 {
			t.Fatalf("stream got %+v", smsg)
		}
		if d := h.fake.Requests()[0].Dialect; d != fakeupstream.DialectOpenAI {
			t.Fatalf("upstream dialect %s", d)
		}
	})
	t.Run("openai client, anthropic upstream", func(t *testing.T) {
		h := newHarness(t, passthroughRules("anth", "claude-haiku-5-5"), harnessOptions{})
		c := h.openai()
		p := openai.ChatCompletionNewParams{Model: "gpt-4.1", Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("be brief"), openai.UserMessage("hi")}}
		cc, err := c.Chat.Completions.New(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if cc.Choices[0].Message.Content != "Hello from claude-haiku-5-5." || cc.Choices[0].FinishReason != "stop" {
			t.Fatalf("got %+v", cc.Choices[0])
		}
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		sc, err := streamOpenAI(t, c, p)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Choices[0].Message.Content != "Hello from claude-haiku-5-5." || sc.Usage.PromptTokens == 0 {
			t.Fatalf("stream got %+v", sc)
		}
		var sys struct {
			System json.RawMessage `json:"system"`
		}
		_ = json.Unmarshal(h.fake.Requests()[0].Body, &sys)
		if !strings.Contains(string(sys.System), "be brief") {
			t.Fatalf("system prompt lost: %s", h.fake.Requests()[0].Body)
		}
	})
}

// A tool round trip through the proxy, in both SDKs, streaming and not.
func TestToolRoundTrip(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{})
	c := h.anthropic()
	tool := anthropic.ToolParam{Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}
	p := userParams("claude-opus-5-5", "weather in Paris?")
	p.Tools = []anthropic.ToolUnionParam{{OfTool: &tool}}
	h.fake.Enqueue(fakeupstream.Reply{Text: "Checking.", ToolCalls: []fakeupstream.ToolCall{{Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}}})
	msg, _, err := streamAnthropic(t, c, p)
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != anthropic.StopReasonToolUse || msg.Content[1].Name != "get_weather" || string(msg.Content[1].Input) != `{"city":"Paris"}` {
		t.Fatalf("tool call: %+v", msg.Content)
	}
	p.Messages = append(p.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[1].ID, "18C and sunny", false)))
	h.fake.Enqueue(fakeupstream.Reply{Text: "It is 18C and sunny in Paris."})
	final, err := c.Messages.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if final.Content[0].Text != "It is 18C and sunny in Paris." {
		t.Fatalf("final %+v", final.Content)
	}
	last := h.fake.Requests()[1].Body
	if !strings.Contains(string(last), `"tool_result"`) || !strings.Contains(string(last), msg.Content[1].ID) {
		t.Fatalf("tool_result not forwarded: %s", last)
	}

	// OpenAI client through an Anthropic upstream: tool_calls by index and the tool message back.
	oc := h.openai()
	h.fake.Enqueue(fakeupstream.Reply{ToolCalls: []fakeupstream.ToolCall{{Name: "get_weather", Input: json.RawMessage(`{"city":"Oslo"}`)}}})
	op := openai.ChatCompletionNewParams{Model: "claude-opus-5-5", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Oslo?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_weather",
			Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}})}}
	sc, err := streamOpenAI(t, oc, op)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Choices[0].Message.ToolCalls) != 1 || sc.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"city":"Oslo"}` || sc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("openai tool call: %+v", sc.Choices[0])
	}
	call := sc.Choices[0].Message.ToolCalls[0]
	op.Messages = append(op.Messages, sc.Choices[0].Message.ToParam(), openai.ToolMessage("-3C", call.ID))
	if _, err := oc.Chat.Completions.New(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	back := string(h.fake.Requests()[len(h.fake.Requests())-1].Body)
	if !strings.Contains(back, `"tool_use_id":"`+call.ID+`"`) {
		t.Fatalf("tool result not translated: %s", back)
	}
}

func TestUnknownModelWithoutDefaultRoute(t *testing.T) {
	h := newHarness(t, `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}}
`, harnessOptions{})
	_, err := h.anthropic().Messages.New(context.Background(), userParams("claude-unknown", "hi"))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || !strings.Contains(ae.Error(), "claude-unknown") {
		t.Fatalf("want a 404 naming the model, got %v", err)
	}
	oc := h.openai()
	_, err = oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-x", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != http.StatusNotFound {
		t.Fatalf("want an OpenAI 404, got %v", err)
	}
}

// Client credentials are forwarded upstream (either auth style) when the
// provider passes them through.
func TestPassthroughAuthBothStyles(t *testing.T) {
	h := newHarness(t, `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", passthroughAuth: true}
defaultRoute: {provider: anth}
`, harnessOptions{fake: fakeupstream.Options{RequireKey: "client-own-key"}})
	for _, opt := range []aoption.RequestOption{aoption.WithAPIKey("client-own-key"), aoption.WithAuthToken("client-own-key")} {
		c := anthropic.NewClient(aoption.WithBaseURL(h.url), opt, aoption.WithMaxRetries(0))
		if _, err := c.Messages.New(context.Background(), userParams("claude-haiku-5-5", "hi")); err != nil {
			t.Fatalf("auth style: %v", err)
		}
	}
	// Each style reaches the upstream as it was sent (an OAuth token stays a Bearer token).
	body := `{"model":"claude-haiku-5-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	for header, value := range map[string]string{"x-api-key": "client-own-key", "Authorization": "Bearer client-own-key"} {
		h.fake.Reset()
		if status, _, out := h.post("/v1/messages", body, map[string]string{header: value, "anthropic-version": "2023-06-01"}); status != 200 {
			t.Fatalf("%s: %d %s", header, status, out)
		}
		got := h.fake.Requests()[0].Header
		other := map[string]string{"x-api-key": "Authorization", "Authorization": "X-Api-Key"}[header]
		if got.Get(header) != value || got.Get(other) != "" {
			t.Fatalf("sent %s, upstream got %v", header, got)
		}
	}
	_, err := h.anthropic(aoption.WithAPIKey("wrong")).Messages.New(context.Background(), userParams("claude-haiku-5-5", "hi"))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
		t.Fatalf("want 401, got %v", err)
	}
}

// Pass-through requests are measured too: tokens and cost of the model that
// answered, read from the relayed bytes (streamed or not, either dialect).
func TestPassthroughIsMetered(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", "")+"prices:\n  claude-sonnet-5-5: {input: 3, output: 15}\n", harnessOptions{})
	usage := &fakeupstream.Usage{InputTokens: 100, OutputTokens: 20}
	h.fake.SetReply("claude-sonnet-5-5", fakeupstream.Reply{Text: "Metered.", Usage: usage})
	c := h.anthropic()
	if _, err := c.Messages.New(context.Background(), userParams("claude-sonnet-5-5", "hi")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := streamAnthropic(t, c, userParams("claude-sonnet-5-5", "hi")); err != nil {
		t.Fatal(err)
	}
	oc := h.openai() // OpenAI client through the Anthropic upstream (translated path)
	if _, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "claude-sonnet-5-5",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	in := testutil.ToFloat64(h.metrics.Tokens.WithLabelValues("claude-sonnet-5-5", "input"))
	out := testutil.ToFloat64(h.metrics.Tokens.WithLabelValues("claude-sonnet-5-5", "output"))
	cost := testutil.ToFloat64(h.metrics.CostUSD.WithLabelValues("", "claude-sonnet-5-5"))
	if in != 300 || out != 60 || math.Abs(cost-3*(100*3+20*15)/1e6) > 1e-12 {
		t.Fatalf("tokens in %v out %v cost %v", in, out, cost)
	}
}

// An OpenAI streaming client that did not ask for usage is metered anyway:
// the proxy asks the upstream for the usage chunk and keeps it from the
// client, whose stream is otherwise relayed byte for byte.
func TestOpenAIStreamPassthroughMeteredWithoutUsageChunk(t *testing.T) {
	h := newHarness(t, passthroughRules("oai", "")+"prices:\n  gpt-5-mini: {input: 1, output: 2}\n", harnessOptions{})
	h.fake.SetReply("gpt-5-mini", fakeupstream.Reply{Text: "Metered stream.", Usage: &fakeupstream.Usage{InputTokens: 40, OutputTokens: 8}})
	status, _, body := h.post("/v1/chat/completions", `{"model":"gpt-5-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if status != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") || strings.Contains(body, `"usage":{`) {
		t.Fatalf("%d\n%s", status, body)
	}
	sc, err := streamOpenAI(t, h.openai(), openai.ChatCompletionNewParams{Model: "gpt-5-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil || sc.Choices[0].Message.Content != "Metered stream." {
		t.Fatalf("SDK: %v %+v", err, sc)
	}
	// The SDK stops at [DONE]; the proxy meters once the upstream's stream has ended.
	waitFor(t, "80 input tokens metered", func() bool {
		return testutil.ToFloat64(h.metrics.Tokens.WithLabelValues("gpt-5-mini", "input")) == 80
	})
	// A client that asked for usage gets its chunk, and the upstream saw its own request unchanged.
	h.fake.Reset()
	body2 := `{"model":"gpt-5-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	if _, _, out := h.post("/v1/chat/completions", body2, nil); !strings.Contains(out, `"usage":{`) {
		t.Fatalf("usage chunk missing:\n%s", out)
	}
	if got := string(h.fake.Requests()[0].Body); got != body2 {
		t.Fatalf("upstream body changed:\n%s", got)
	}
}

// An upstream's in-band error event that quotes the key it was sent reaches
// the client of a relayed stream with the key hidden, as its error answers do.
func TestPassthroughStreamErrorEventRedacted(t *testing.T) {
	for _, tc := range []struct {
		provider, path, body, model string
	}{
		{"anth", "/v1/messages", `{"model":"claude-sonnet-5-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "claude-sonnet-5-5"},
		{"oai", "/v1/chat/completions", `{"model":"gpt-5-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "gpt-5-mini"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			h := newHarness(t, passthroughRules(tc.provider, ""), harnessOptions{})
			h.fake.SetReply(tc.model, fakeupstream.Reply{Text: "The answer starts here and then fails.", StreamErrorAfterEvents: 3,
				ErrorMessage: "upstream rejected key " + vendorKey + " after a while"})
			status, _, out := h.post(tc.path, tc.body, map[string]string{"anthropic-version": "2023-06-01"})
			if status != 200 || !strings.Contains(out, "upstream rejected key [REDACTED] after a while") {
				t.Fatalf("%d, want the error event with the key redacted:\n%s", status, out)
			}
			if strings.Contains(out, vendorKey) {
				t.Fatalf("the vendor key reached the client:\n%s", out)
			}
		})
	}
}
