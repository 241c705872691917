package fakeupstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

func startServer(t *testing.T, opts fakeupstream.Options) (*fakeupstream.Server, string) {
	t.Helper()
	s := fakeupstream.New(opts)
	url := s.Start()
	t.Cleanup(s.Close)
	return s, url
}

func anthropicClient(url string, opts ...option.RequestOption) anthropic.Client {
	base := []option.RequestOption{
		option.WithBaseURL(url),
		option.WithAPIKey("test-key"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(10 * time.Second),
	}
	return anthropic.NewClient(append(base, opts...)...)
}

func userParams(model, text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: 256,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
	}
}

// accumulate runs a streaming request to completion with the SDK's own
// accumulator and returns the message and the event types in order.
func accumulate(t *testing.T, c anthropic.Client, params anthropic.MessageNewParams) (anthropic.Message, []string, error) {
	t.Helper()
	stream := c.Messages.NewStreaming(context.Background(), params)
	defer stream.Close()
	var msg anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", ev.Type, err)
		}
	}
	return msg, types, stream.Err()
}

// documentedInputTokens applies the fake's documented input estimate,
// ceil(bytes/4) of the raw system+messages+tools JSON, to a recorded body.
func documentedInputTokens(t *testing.T, body []byte) int64 {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	n := len(fields["system"]) + len(fields["messages"]) + len(fields["tools"])
	return int64((n + 3) / 4)
}

func TestAnthropicSDKDefaultAnswerNamesModel(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	c := anthropicClient(url)
	msg, err := c.Messages.New(context.Background(), userParams("claude-haiku-5-5", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != "Hello from claude-haiku-5-5." {
		t.Fatalf("content = %+v", msg.Content)
	}
	if msg.Model != "claude-haiku-5-5" || msg.Role != "assistant" || msg.StopReason != anthropic.StopReasonEndTurn {
		t.Fatalf("model %q role %q stop %q", msg.Model, msg.Role, msg.StopReason)
	}
	// "Hello" " from" " claude" "-" "haiku" "-" "5" "-" "5" "." = 10 tokens.
	if msg.Usage.OutputTokens != 10 || msg.Usage.InputTokens != documentedInputTokens(t, s.Requests()[0].Body) {
		t.Fatalf("usage = %+v", msg.Usage)
	}
	if msg.ID == "" {
		t.Fatal("empty message id")
	}
}

func TestAnthropicSDKStreamAccumulatesSameAsNonStream(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	reply := fakeupstream.Reply{Text: "The answer is 42, of course.", TokensPerDelta: 2}
	s.SetReply("claude-sonnet-5-5", reply)
	c := anthropicClient(url)

	msg, types, err := accumulate(t, c, userParams("claude-sonnet-5-5", "question"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"message_start", "content_block_start",
		"content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}
	if !equalStrings(types, want) {
		t.Fatalf("event types = %v, want %v (ping is skipped by the SDK)", types, want)
	}
	if got := msg.Content[0].Text; got != reply.Text {
		t.Fatalf("streamed text = %q", got)
	}
	if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.OutputTokens != 8 {
		t.Fatalf("stop %q usage %+v", msg.StopReason, msg.Usage)
	}

	full, err := c.Messages.New(context.Background(), userParams("claude-sonnet-5-5", "question"))
	if err != nil {
		t.Fatal(err)
	}
	if full.Content[0].Text != msg.Content[0].Text || full.Usage.OutputTokens != msg.Usage.OutputTokens ||
		full.Usage.InputTokens != msg.Usage.InputTokens {
		t.Fatalf("non-stream %+v differs from stream %+v", full.Usage, msg.Usage)
	}
}

func TestAnthropicSDKToolCalls(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	input := `{"city":"Paris","days":3,"units":"metric","note":"naïve café"}`
	reply := fakeupstream.Reply{
		Text:      "Let me check.",
		ToolCalls: []fakeupstream.ToolCall{{Name: "get_weather", Input: json.RawMessage(input)}, {Name: "noop"}},
	}
	c := anthropicClient(url)
	for _, stream := range []bool{false, true} {
		s.Enqueue(reply)
		var msg anthropic.Message
		if stream {
			m, _, err := accumulate(t, c, userParams("claude-opus-5-5", "weather?"))
			if err != nil {
				t.Fatal(err)
			}
			msg = m
		} else {
			m, err := c.Messages.New(context.Background(), userParams("claude-opus-5-5", "weather?"))
			if err != nil {
				t.Fatal(err)
			}
			msg = *m
		}
		if msg.StopReason != anthropic.StopReasonToolUse || len(msg.Content) != 3 {
			t.Fatalf("stream=%v stop %q content %+v", stream, msg.StopReason, msg.Content)
		}
		tool := msg.Content[1]
		if tool.Type != "tool_use" || tool.Name != "get_weather" || tool.ID == "" {
			t.Fatalf("stream=%v tool block %+v", stream, tool)
		}
		var got, want map[string]any
		if err := json.Unmarshal(tool.Input, &got); err != nil {
			t.Fatalf("stream=%v tool input %q: %v", stream, tool.Input, err)
		}
		_ = json.Unmarshal([]byte(input), &want)
		if got["city"] != want["city"] || got["note"] != want["note"] || got["days"] != want["days"] {
			t.Fatalf("stream=%v tool input = %v", stream, got)
		}
		if string(msg.Content[2].Input) != "{}" || msg.Content[2].ID == tool.ID {
			t.Fatalf("stream=%v second tool = %+v", stream, msg.Content[2])
		}
	}
}

func TestAnthropicSDKThinkingSignature(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	s.SetReply("claude-opus-5-5", fakeupstream.Reply{Thinking: "Let me think about this carefully.", Text: "Done."})
	c := anthropicClient(url)
	msg, _, err := accumulate(t, c, userParams("claude-opus-5-5", "think"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[1].Text != "Done." {
		t.Fatalf("content = %+v", msg.Content)
	}
	th := msg.Content[0]
	if th.Thinking != "Let me think about this carefully." {
		t.Fatalf("thinking = %q", th.Thinking)
	}
	if th.Signature == "" || th.Signature != fakeupstream.Signature("claude-opus-5-5", th.Thinking) {
		t.Fatalf("signature = %q", th.Signature)
	}
	full, err := c.Messages.New(context.Background(), userParams("claude-opus-5-5", "think"))
	if err != nil {
		t.Fatal(err)
	}
	if full.Content[0].Signature != th.Signature {
		t.Fatalf("non-stream signature %q != stream %q", full.Content[0].Signature, th.Signature)
	}
}

func TestAnthropicSDKSignatureValidation(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{ValidateSignatures: true})
	s.SetReply("claude-haiku-5-5", fakeupstream.Reply{Thinking: "cheap thoughts", Text: "draft"})
	c := anthropicClient(url)
	draft, _, err := accumulate(t, c, userParams("claude-haiku-5-5", "q"))
	if err != nil {
		t.Fatal(err)
	}
	followUp := func(model string) anthropic.MessageNewParams {
		p := userParams(model, "q")
		p.Messages = append(p.Messages, draft.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("more")))
		return p
	}

	// Another model family must reject the haiku-signed block, like the real API.
	_, err = c.Messages.New(context.Background(), followUp("claude-opus-5-5"))
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Type() != "invalid_request_error" {
		t.Fatalf("err = %v", err)
	}
	if apiErr.Message != "messages.1.content.0: Invalid `signature` in `thinking` block" {
		t.Fatalf("message = %q", apiErr.Message)
	}
	// The signing family accepts it.
	if _, err := c.Messages.New(context.Background(), followUp("claude-haiku-5-5")); err != nil {
		t.Fatalf("same model: %v", err)
	}

	// A tampered block is rejected even by its own model.
	tampered := followUp("claude-haiku-5-5")
	tampered.Messages[1] = anthropic.NewAssistantMessage(anthropic.NewThinkingBlock(draft.Content[0].Signature, "edited thoughts"))
	if _, err := c.Messages.New(context.Background(), tampered); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("tampered: err = %v", err)
	}
}

func TestAnthropicSDKCountTokens(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	c := anthropicClient(url)
	res, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-opus-5-5",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if want := documentedInputTokens(t, reqs[0].Body); res.InputTokens != want || want < 10 {
		t.Fatalf("input_tokens = %d, want %d", res.InputTokens, want)
	}
	if len(reqs) != 1 || reqs[0].Endpoint != fakeupstream.EndpointCountTokens || reqs[0].Model != "claude-opus-5-5" {
		t.Fatalf("recorded %+v", reqs)
	}
}

func TestAnthropicSDKModels(t *testing.T) {
	models := []string{"claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"}
	_, url := startServer(t, fakeupstream.Options{Models: models})
	c := anthropicClient(url)

	page, err := c.Models.List(context.Background(), anthropic.ModelListParams{Limit: anthropic.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || !page.HasMore || page.FirstID != models[0] || page.LastID != models[1] {
		t.Fatalf("first page = %+v", page)
	}
	var all []string
	iter := c.Models.ListAutoPaging(context.Background(), anthropic.ModelListParams{Limit: anthropic.Int(2)})
	for iter.Next() {
		all = append(all, iter.Current().ID)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if !equalStrings(all, models) {
		t.Fatalf("auto-paged ids = %v", all)
	}

	info, err := c.Models.Get(context.Background(), "claude-sonnet-4-5-20250929", anthropic.ModelGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if info.DisplayName != "Claude Sonnet 4.5" || info.CreatedAt.IsZero() || info.Type != "model" {
		t.Fatalf("model = %+v", info)
	}
	_, err = c.Models.Get(context.Background(), "claude-nope", anthropic.ModelGetParams{})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Type() != "not_found_error" {
		t.Fatalf("unknown model err = %v", err)
	}
}

func TestAnthropicSDKErrors(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{RequireKey: "right-key"})
	var apiErr *anthropic.Error

	bad := anthropicClient(url)
	_, err := bad.Messages.New(context.Background(), userParams("claude-opus-5-5", "hi"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Type() != "authentication_error" || apiErr.RequestID == "" {
		t.Fatalf("wrong key: err = %v", err)
	}

	good := anthropicClient(url, option.WithAPIKey("right-key"))
	cases := []struct {
		status int
		typ    string
	}{{529, "overloaded_error"}, {429, "rate_limit_error"}, {500, "api_error"}, {413, "request_too_large"}, {403, "permission_error"}}
	for _, tc := range cases {
		s.Enqueue(fakeupstream.Reply{Status: tc.status, ErrorMessage: "scripted"})
		_, err := good.Messages.New(context.Background(), userParams("claude-opus-5-5", "hi"))
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || string(apiErr.Type()) != tc.typ || apiErr.Message != "scripted" {
			t.Fatalf("status %d: err = %v", tc.status, err)
		}
	}

	// An HTML error page (a load balancer in the way) still surfaces as *Error.
	s.Enqueue(fakeupstream.Reply{Status: 502, RawBody: []byte("<html><body>Bad Gateway</body></html>"), ContentType: "text/html"})
	_, err = good.Messages.New(context.Background(), userParams("claude-opus-5-5", "hi"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 {
		t.Fatalf("html: err = %v", err)
	}

	// A mid-stream failure arrives as event: error and surfaces from the stream.
	s.Enqueue(fakeupstream.Reply{Text: "partial answer here", StreamErrorAfterEvents: 4})
	msg, _, err := accumulate(t, good, userParams("claude-opus-5-5", "hi"))
	if !errors.As(err, &apiErr) || apiErr.Type() != "overloaded_error" {
		t.Fatalf("mid-stream: err = %v", err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "partial" {
		t.Fatalf("mid-stream partial content = %+v", msg.Content)
	}
}

func TestAnthropicSDKResetMidStream(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	s.Enqueue(fakeupstream.Reply{Text: "one two three four five", ResetAfterEvents: 5})
	_, types, err := accumulate(t, anthropicClient(url), userParams("claude-opus-5-5", "hi"))
	if err == nil {
		t.Fatal("stream that was reset ended without error")
	}
	// 5 events written: message_start, ping (skipped by the SDK), block start, 2 deltas.
	if len(types) != 4 {
		t.Fatalf("events before reset = %v", types)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
