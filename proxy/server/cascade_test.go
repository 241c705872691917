package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// cascadeRules: the rules keep the default draft timeout (30 s), so a loaded
// machine does not turn drafts that should be accepted into timeouts; the
// engine's timeouts are tested exactly, on a virtual clock, in proxy/cascade.
func cascadeRules(extra string) string {
	return `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}}
  - {name: oai, type: openai, baseURL: "{{URL}}/v1", apiKey: {env: VENDOR_KEY}}
rules:
  - name: opus
    models: [claude-opus-5-5, opus]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
    threshold: 0.5
  - name: gpt
    models: [gpt-4.1]
    draft: {provider: oai, model: gpt-4.1-mini}
    verifier: {provider: anth, model: claude-opus-5-5}
    threshold: 0.5
` + extra
}

const (
	goodAnswer = "The capital of France is Paris. It has been the seat of the French government for centuries, and it is also the country's largest city."
	refusal    = "I'm sorry, but I can't help with that request."
)

func capitalParams(model string) anthropic.MessageNewParams {
	return userParams(model, "What is the capital of France? Answer in two sentences.")
}

func modelsCalled(h *harness) []string {
	var out []string
	for _, r := range h.fake.Requests() {
		out = append(out, r.Model)
	}
	return out
}

func TestCascadeAcceptAndEscalateNonStreaming(t *testing.T) {
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	c := h.anthropic()

	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer})
	var raw *http.Response
	msg, err := c.Messages.New(context.Background(), capitalParams("claude-opus-5-5"), aoption.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != goodAnswer || string(msg.Model) != "claude-opus-5-5" {
		t.Fatalf("accepted draft: model %q text %q", msg.Model, msg.Content[0].Text)
	}
	if raw.Header.Get("X-Cascade-Outcome") != "accepted" || raw.Header.Get("X-Cascade-Model") != "claude-haiku-5-5" ||
		raw.Header.Get("X-Cascade-Score") == "" || raw.Header.Get("X-Cascade-Cost-Usd") == "" || raw.Header.Get("X-Cascade-Savings-Usd") == "" {
		t.Fatalf("cascade headers: %v", raw.Header)
	}
	if got := modelsCalled(h); len(got) != 1 || got[0] != "claude-haiku-5-5" {
		t.Fatalf("upstream calls %v", got)
	}

	h.fake.Reset()
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
	msg, err = c.Messages.New(context.Background(), capitalParams("opus"), aoption.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "Hello from claude-opus-5-5." || string(msg.Model) != "opus" {
		t.Fatalf("escalated: model %q text %q", msg.Model, msg.Content[0].Text)
	}
	if raw.Header.Get("X-Cascade-Outcome") != "escalated" || raw.Header.Get("X-Cascade-Model") != "claude-opus-5-5" {
		t.Fatalf("cascade headers: %v", raw.Header)
	}
	if got := modelsCalled(h); len(got) != 2 || got[0] != "claude-haiku-5-5" || got[1] != "claude-opus-5-5" {
		t.Fatalf("upstream calls %v", got)
	}
	if v := testutil.ToFloat64(h.metrics.RouteRequests.WithLabelValues("opus", "accepted")); v != 1 {
		t.Fatalf("accepted count %v", v)
	}
	if v := testutil.ToFloat64(h.metrics.RouteRequests.WithLabelValues("opus", "escalated")); v != 1 {
		t.Fatalf("escalated count %v", v)
	}
}

func TestCascadeStreaming(t *testing.T) {
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	c := h.anthropic()
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer})
	msg, types, err := streamAnthropic(t, c, capitalParams("claude-opus-5-5"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != goodAnswer || string(msg.Model) != "claude-opus-5-5" || msg.Usage.OutputTokens == 0 {
		t.Fatalf("accepted stream: %+v", msg)
	}
	if n := countOf(types, "message_delta"); n != 1 || types[len(types)-1] != "message_stop" {
		t.Fatalf("event sequence %v", types)
	}
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
	msg, _, err = streamAnthropic(t, c, capitalParams("claude-opus-5-5"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "Hello from claude-opus-5-5." {
		t.Fatalf("escalated stream mixed or wrong text: %q", msg.Content[0].Text)
	}
	// The draft was streamed too (Claude Code's max_tokens needs streaming upstream).
	for _, r := range h.fake.Requests() {
		if !r.Stream {
			t.Fatalf("upstream call for %s was not streamed", r.Model)
		}
	}
	// OpenAI client, draft on an OpenAI upstream, verifier on Anthropic.
	oc := h.openai()
	h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Text: goodAnswer})
	p := openai.ChatCompletionNewParams{Model: "gpt-4.1", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the capital of France? Two sentences.")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}}
	cc, err := streamOpenAI(t, oc, p)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].Message.Content != goodAnswer || cc.Model != "gpt-4.1" {
		t.Fatalf("openai accepted: %q %q", cc.Model, cc.Choices[0].Message.Content)
	}
	h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Text: refusal})
	cc, err = streamOpenAI(t, oc, p)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].Message.Content != "Hello from claude-opus-5-5." || cc.Usage.CompletionTokens == 0 {
		t.Fatalf("openai escalated: %+v", cc)
	}
}

func countOf(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func TestCascadeFaults(t *testing.T) {
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	c := h.anthropic()
	t.Run("draft 500 escalates", func(t *testing.T) {
		h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Status: 500})
		msg, err := c.Messages.New(context.Background(), capitalParams("claude-opus-5-5"))
		if err != nil || msg.Content[0].Text != "Hello from claude-opus-5-5." {
			t.Fatalf("%v %+v", err, msg)
		}
		if v := testutil.ToFloat64(h.metrics.DraftFailures.WithLabelValues("opus", "error")); v != 1 {
			t.Fatalf("draft error count %v", v)
		}
	})
	t.Run("draft timeout escalates", func(t *testing.T) {
		// A draft that never answers: its timeout decides, however loaded the machine.
		h := newHarness(t, cascadeRules(`  - name: slow
    models: [claude-slow]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
    draftTimeout: 200ms
`), harnessOptions{})
		h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{StallBeforeHeaders: time.Minute})
		msg, err := h.anthropic().Messages.New(context.Background(), capitalParams("claude-slow"))
		if err != nil || msg.Content[0].Text != "Hello from claude-opus-5-5." {
			t.Fatalf("%v %+v", err, msg)
		}
		if v := testutil.ToFloat64(h.metrics.DraftFailures.WithLabelValues("slow", "timeout")); v != 1 {
			t.Fatalf("draft timeout count %v", v)
		}
	})
	t.Run("verifier 429 reaches the client", func(t *testing.T) {
		h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
		h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Text: refusal})
		h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Status: 429})
		defer h.fake.SetReply("claude-opus-5-5", fakeupstream.DefaultReply("claude-opus-5-5"))
		_, err := c.Messages.New(context.Background(), capitalParams("claude-opus-5-5"))
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 429 {
			t.Fatalf("want 429, got %v", err)
		}
		_, _, err = streamAnthropic(t, c, capitalParams("claude-opus-5-5"))
		if !errors.As(err, &ae) || ae.StatusCode != 429 {
			t.Fatalf("stream: want 429, got %v", err)
		}
		oc := h.openai()
		_, err = oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4.1",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != 429 {
			t.Fatalf("openai: want 429, got %v", err)
		}
	})
}

// A draft tool call is checked against the tool's input_schema.
func TestCascadeGatesToolCalls(t *testing.T) {
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	c := h.anthropic()
	tool := anthropic.ToolParam{Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}
	p := userParams("claude-opus-5-5", "What's the weather in Paris?")
	p.Tools = []anthropic.ToolUnionParam{{OfTool: &tool}}
	for _, tc := range []struct {
		input, outcome string
	}{
		{`{"city":"Paris"}`, "accepted"},
		{`{"town":42}`, "escalated"},
	} {
		h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{ToolCalls: []fakeupstream.ToolCall{{Name: "get_weather", Input: json.RawMessage(tc.input)}}})
		h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{ToolCalls: []fakeupstream.ToolCall{{Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}}})
		var raw *http.Response
		msg, err := c.Messages.New(context.Background(), p, aoption.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := raw.Header.Get("X-Cascade-Outcome"); got != tc.outcome {
			t.Fatalf("input %s: outcome %q want %q", tc.input, got, tc.outcome)
		}
		if msg.StopReason != anthropic.StopReasonToolUse || string(msg.Content[len(msg.Content)-1].Input) != `{"city":"Paris"}` {
			t.Fatalf("input %s: answer %+v", tc.input, msg.Content)
		}
	}
}

func TestRuleModes(t *testing.T) {
	h := newHarness(t, cascadeRules(`  - name: ab
    models: [claude-sonnet-5-5]
    mode: draft-only
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
  - name: verifier
    models: [claude-sonnet-4-5]
    mode: verifier-only
    responseModel: served
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
`), harnessOptions{})
	c := h.anthropic()
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
	msg, err := c.Messages.New(context.Background(), capitalParams("claude-sonnet-5-5"))
	if err != nil || msg.Content[0].Text != refusal {
		t.Fatalf("draft-only must return the draft whatever its score: %v %+v", err, msg)
	}
	msg, err = c.Messages.New(context.Background(), capitalParams("claude-sonnet-4-5"))
	if err != nil || msg.Content[0].Text != "Hello from claude-opus-5-5." || string(msg.Model) != "claude-opus-5-5" {
		t.Fatalf("verifier-only: %v %+v", err, msg)
	}
	if got := modelsCalled(h); len(got) != 2 || got[1] != "claude-opus-5-5" {
		t.Fatalf("calls %v", got)
	}
}

// Editing the rules changes the draft model for the next request; a request
// in flight finishes on the rules it started with.
func TestHotReloadSwapsDraft(t *testing.T) {
	slowDraft := cascadeRules("")
	h := newHarness(t, slowDraft, harnessOptions{})
	c := h.anthropic()
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer, ChunkDelay: 15 * time.Millisecond})
	h.fake.SetReply("claude-haiku-4-5", fakeupstream.Reply{Text: goodAnswer + " (new draft)"})

	inflight := make(chan string, 1)
	go func() {
		msg, _, err := streamAnthropic(t, c, capitalParams("claude-opus-5-5"))
		if err != nil {
			inflight <- err.Error()
			return
		}
		inflight <- msg.Content[0].Text
	}()
	time.Sleep(100 * time.Millisecond) // the draft is mid-stream now
	h.reload(strings.Replace(slowDraft, "draft: {provider: anth, model: claude-haiku-5-5}", "draft: {provider: anth, model: claude-haiku-4-5}", 1))
	msg, err := c.Messages.New(context.Background(), capitalParams("claude-opus-5-5"))
	if err != nil || msg.Content[0].Text != goodAnswer+" (new draft)" {
		t.Fatalf("after reload: %v %+v", err, msg)
	}
	if got := <-inflight; got != goodAnswer {
		t.Fatalf("in-flight request: %q", got)
	}
	code, body := h.get("/debug/rules", nil)
	if code != 200 || !strings.Contains(body, "claude-haiku-4-5") || !strings.Contains(body, h.loader.Store.Load().Hash) {
		t.Fatalf("debug rules: %d %s", code, body)
	}
	if strings.Contains(body, vendorKey) {
		t.Fatal("debug endpoint leaks the key")
	}
}

// An OpenAI streaming client that did not ask for usage still gets its
// cascade priced (the proxy asks the upstream for usage), and does not get a
// usage chunk it did not ask for.
func TestOpenAIStreamDraftIsPricedWithoutClientUsage(t *testing.T) {
	h := newHarness(t, cascadeRules(`  - name: all-openai
    models: [gpt-4.1-nano]
    draft: {provider: oai, model: gpt-4.1-mini}
    verifier: {provider: oai, model: gpt-4.1}
    threshold: 0.5
`), harnessOptions{})
	h.fake.SetReply("gpt-4.1-mini", fakeupstream.Reply{Text: goodAnswer})
	status, hdr, body := h.post("/v1/chat/completions",
		`{"model":"gpt-4.1-nano","stream":true,"messages":[{"role":"user","content":"What is the capital of France? Two sentences."}]}`, nil)
	if status != 200 || hdr.Get("X-Cascade-Outcome") != "accepted" {
		t.Fatalf("%d %v", status, hdr)
	}
	if cost, err := strconv.ParseFloat(hdr.Get("X-Cascade-Cost-Usd"), 64); err != nil || cost <= 0 {
		t.Fatalf("draft not priced: %q", hdr.Get("X-Cascade-Cost-Usd"))
	}
	if strings.Contains(body, `"usage":{`) {
		t.Fatalf("client got a usage chunk it did not ask for:\n%s", body)
	}
	var sent struct {
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	_ = json.Unmarshal(h.fake.Requests()[0].Body, &sent)
	if !sent.StreamOptions.IncludeUsage {
		t.Fatalf("upstream not asked for usage: %s", h.fake.Requests()[0].Body)
	}
}

// verifierTimeout bounds the wait for the verifier's answer to start: a stall
// is a 504 in the client's envelope, while a long streamed answer that started
// in time is not cut.
func TestVerifierTimeout(t *testing.T) {
	h := newHarness(t, strings.Replace(cascadeRules(""), "    threshold: 0.5\n", "    threshold: 0.5\n    verifierTimeout: 1s\n", 1), harnessOptions{})
	c := h.anthropic()
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{StallBeforeHeaders: time.Minute}) // ends when the proxy hangs up
	for _, stream := range []bool{false, true} {
		var err error
		if stream {
			_, _, err = streamAnthropic(t, c, capitalParams("claude-opus-5-5"))
		} else {
			_, err = c.Messages.New(context.Background(), capitalParams("claude-opus-5-5"))
		}
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("stream=%v: want 504, got %v", stream, err)
		}
	}
	long := strings.Repeat("word ", 40)
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: long, ChunkDelay: 40 * time.Millisecond}) // ~3 s of events
	msg, _, err := streamAnthropic(t, c, capitalParams("claude-opus-5-5"))
	if err != nil || msg.Content[0].Text != long {
		t.Fatalf("long verifier stream cut: %v", err)
	}
	// The failed requests still booked the draft they paid for.
	if v := testutil.ToFloat64(h.metrics.Tokens.WithLabelValues("claude-haiku-5-5", "output")); v == 0 {
		t.Fatal("draft tokens of failed requests were not recorded")
	}
}
