package openai_test

// Client compatibility: the official openai-go SDK talks to an httptest
// server (127.0.0.1) whose answers are produced by this codec, and whose
// requests are decoded by it.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	cfopenai "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

var codec = cfopenai.Codec{}

// fakeServer decodes each request with the codec and answers with
// respond(turn, request).
type fakeServer struct {
	t        *testing.T
	mu       sync.Mutex
	requests []*llm.Request
	respond  func(w http.ResponseWriter, turn int, req *llm.Request)
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Errorf("read body: %v", err)
		return
	}
	if r.URL.Path != "/chat/completions" {
		s.t.Errorf("path %s", r.URL.Path)
	}
	req, err := codec.DecodeRequest(body)
	if err != nil {
		s.t.Errorf("DecodeRequest of the SDK's body failed: %v\n%s", err, body)
		status, eb := codec.ErrorResponse(err)
		w.WriteHeader(status)
		_, _ = w.Write(eb)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	turn := len(s.requests)
	s.mu.Unlock()
	s.respond(w, turn, req)
}

func newClient(t *testing.T, h http.Handler) oai.Client {
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return oai.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
}

func writeStream(t *testing.T, w http.ResponseWriter, req *llm.Request, evs []llm.Event) {
	enc := codec.NewStreamEncoder(req)
	var out []byte
	for _, ev := range evs {
		var err error
		if out, err = enc.Encode(out, ev); err != nil {
			t.Errorf("encode %s: %v", ev.Type, err)
		}
	}
	out = enc.Finish(out)
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = w.Write(out)
}

func text(i int, s string) llm.Event {
	return llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: &llm.Delta{Type: llm.DeltaText, Text: s}}
}

func args(i int, s string) llm.Event {
	return llm.Event{Type: llm.EventBlockDelta, Index: i, Delta: &llm.Delta{Type: llm.DeltaInputJSON, PartialJSON: s}}
}

func start(i int, b llm.Block) llm.Event {
	return llm.Event{Type: llm.EventBlockStart, Index: i, Block: &b}
}
func stop(i int) llm.Event { return llm.Event{Type: llm.EventBlockStop, Index: i} }

// TestSDKStreamingToolRoundTrip runs a two-turn tool conversation through the
// SDK's streaming client and ChatCompletionAccumulator.
func TestSDKStreamingToolRoundTrip(t *testing.T) {
	srv := &fakeServer{t: t}
	srv.respond = func(w http.ResponseWriter, turn int, req *llm.Request) {
		switch turn {
		case 1: // an Anthropic-shaped answer: thinking, text, two tool calls
			writeStream(t, w, req, []llm.Event{
				{Type: llm.EventMessageStart, Message: &llm.Response{ID: "msg_1", Model: "claude-haiku-5-5", Created: 1727000000, Usage: llm.Usage{InputTokens: 20, CacheReadInputTokens: 80, OutputTokens: 1}}},
				start(0, llm.Block{Type: llm.BlockThinking}),
				{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaThinking, Thinking: "two lookups"}},
				{Type: llm.EventBlockDelta, Index: 0, Delta: &llm.Delta{Type: llm.DeltaSignature, Signature: "sig"}},
				stop(0),
				start(1, llm.Block{Type: llm.BlockText}), text(1, "Checking "), text(1, "both."), stop(1),
				start(2, llm.Block{Type: llm.BlockToolUse, ID: "toolu_a", Name: "get_weather"}), args(2, ""), args(2, `{"city":`), args(2, `"Paris"}`), stop(2),
				start(3, llm.Block{Type: llm.BlockToolUse, ID: "toolu_b", Name: "get_time"}), args(3, `{"tz":"CET"}`), stop(3),
				{Type: llm.EventMessageDelta, StopReason: llm.StopToolUse, Usage: &llm.Usage{OutputTokens: 30}},
				{Type: llm.EventMessageStop},
			})
		default:
			writeStream(t, w, req, []llm.Event{
				{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-2", Model: "gpt-4o-mini", Created: 1727000001, Usage: llm.Usage{InputTokens: 150}}},
				start(0, llm.Block{Type: llm.BlockText}), text(0, "Paris: 18C "), text(0, "at 12:00."), stop(0),
				{Type: llm.EventMessageDelta, StopReason: llm.StopEndTurn, Usage: &llm.Usage{OutputTokens: 9}},
				{Type: llm.EventMessageStop},
			})
		}
	}
	client := newClient(t, srv)

	params := oai.ChatCompletionNewParams{
		Model: "gpt-4o-mini",
		Messages: []oai.ChatCompletionMessageParamUnion{
			oai.DeveloperMessage("Be brief."),
			oai.UserMessage([]oai.ChatCompletionContentPartUnionParam{
				oai.TextContentPart("Weather and time in this city?"),
				oai.ImageContentPart(oai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
			}),
		},
		StreamOptions:     oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)},
		ParallelToolCalls: oai.Bool(false),
		MaxTokens:         oai.Int(512),
		Tools: []oai.ChatCompletionToolUnionParam{
			oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name:        "get_weather",
				Description: oai.String("Current weather"),
				Parameters:  oai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]string{"type": "string"}}},
			}),
			oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time"}),
		},
	}

	acc := accumulate(t, client, params)
	if len(acc.Choices) != 1 {
		t.Fatalf("choices %d", len(acc.Choices))
	}
	msg := acc.Choices[0].Message
	if acc.ID != "chatcmpl-msg_1" || acc.Model != "claude-haiku-5-5" || acc.Created != 1727000000 {
		t.Errorf("envelope id=%q model=%q created=%d", acc.ID, acc.Model, acc.Created)
	}
	if msg.Content != "Checking both." || acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("content %q finish %q", msg.Content, acc.Choices[0].FinishReason)
	}
	type call struct{ ID, Name, Args string }
	var calls []call
	for _, tc := range msg.ToolCalls {
		calls = append(calls, call{tc.ID, tc.Function.Name, tc.Function.Arguments})
	}
	wantCalls := []call{{"toolu_a", "get_weather", `{"city":"Paris"}`}, {"toolu_b", "get_time", `{"tz":"CET"}`}}
	if !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("tool calls %+v, want %+v", calls, wantCalls)
	}
	if u := acc.Usage; u.PromptTokens != 100 || u.CompletionTokens != 30 || u.TotalTokens != 130 || u.PromptTokensDetails.CachedTokens != 80 {
		t.Errorf("usage %+v", u)
	}

	// Turn 2: the SDK's own way of continuing a tool conversation.
	params.Messages = append(params.Messages, msg.ToParam(),
		oai.ToolMessage("18C", msg.ToolCalls[0].ID),
		oai.ToolMessage("12:00", msg.ToolCalls[1].ID))
	acc2 := accumulate(t, client, params)
	if got := acc2.Choices[0].Message.Content; got != "Paris: 18C at 12:00." || acc2.Choices[0].FinishReason != "stop" {
		t.Errorf("turn 2 content %q finish %q", got, acc2.Choices[0].FinishReason)
	}
	if u := acc2.Usage; u.PromptTokens != 150 || u.CompletionTokens != 9 {
		t.Errorf("turn 2 usage %+v", u)
	}

	// What the server decoded from the SDK's requests.
	if len(srv.requests) != 2 {
		t.Fatalf("server saw %d requests", len(srv.requests))
	}
	r1, r2 := srv.requests[0], srv.requests[1]
	if !r1.Stream || !r1.IncludeUsage || r1.MaxTokens != 512 || r1.ToolChoice == nil || !r1.ToolChoice.DisableParallelToolUse {
		t.Errorf("turn 1 options: stream=%v include_usage=%v max=%d tool_choice=%+v", r1.Stream, r1.IncludeUsage, r1.MaxTokens, r1.ToolChoice)
	}
	if len(r1.Tools) != 2 || r1.Tools[0].Name != "get_weather" || !strings.Contains(string(r1.Tools[0].InputSchema), `"city"`) {
		t.Errorf("tools %+v", r1.Tools)
	}
	if len(r1.System) != 1 || r1.System[0].Text != "Be brief." {
		t.Errorf("system %+v", r1.System)
	}
	if img := r1.Messages[0].Content[1]; img.Type != llm.BlockImage || img.MediaType != "image/png" || img.Data != "iVBORw0KGgo=" {
		t.Errorf("image %+v", img)
	}
	if len(r2.Messages) != 3 {
		t.Fatalf("turn 2 has %d canonical messages, want user, assistant, user(tool results)", len(r2.Messages))
	}
	asst := r2.Messages[1]
	if asst.Role != llm.RoleAssistant || len(asst.Content) != 3 || asst.Content[0].Text != "Checking both." ||
		asst.Content[1].Type != llm.BlockToolUse || asst.Content[1].ID != "toolu_a" || string(asst.Content[1].Input) != `{"city":"Paris"}` {
		t.Errorf("assistant turn %+v", asst)
	}
	results := r2.Messages[2]
	if results.Role != llm.RoleUser || len(results.Content) != 2 ||
		results.Content[0].ToolUseID != "toolu_a" || results.Content[0].Content[0].Text != "18C" ||
		results.Content[1].ToolUseID != "toolu_b" || results.Content[1].Content[0].Text != "12:00" {
		t.Errorf("tool results %+v", results)
	}
}

func accumulate(t *testing.T, client oai.Client, params oai.ChatCompletionNewParams) oai.ChatCompletionAccumulator {
	t.Helper()
	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	defer stream.Close()
	var acc oai.ChatCompletionAccumulator
	n := 0
	for stream.Next() {
		n++
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("accumulator rejected chunk %d: %s", n, stream.Current().RawJSON())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream error after %d chunks: %v", n, err)
	}
	return acc
}

func TestSDKNonStreaming(t *testing.T) {
	srv := &fakeServer{t: t}
	srv.respond = func(w http.ResponseWriter, _ int, req *llm.Request) {
		if req.Stream {
			t.Error("non-streaming call decoded as streaming")
		}
		body, err := codec.EncodeResponse(&llm.Response{
			ID: "msg_9", Model: "claude-haiku-5-5", Created: 1727000009, StopReason: llm.StopToolUse,
			Content: []llm.Block{
				{Type: llm.BlockThinking, Thinking: "t", Signature: "s"},
				{Type: llm.BlockToolUse, ID: "toolu_9", Name: "lookup", Input: json.RawMessage(`{"q":"x"}`)},
			},
			Usage:    llm.Usage{InputTokens: 5, CacheCreationInputTokens: 7, OutputTokens: 3},
			Logprobs: []llm.TokenLogprob{{Token: "lookup", Logprob: -0.75}},
		})
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
	client := newClient(t, srv)
	res, err := client.Chat.Completions.New(context.Background(), oai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("find x")},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Choices[0]
	if res.ID != "chatcmpl-msg_9" || res.Object != "chat.completion" || c.FinishReason != "tool_calls" || c.Message.Content != "" {
		t.Errorf("id %q object %q finish %q content %q", res.ID, res.Object, c.FinishReason, c.Message.Content)
	}
	if c.Message.JSON.Content.Raw() != "null" {
		t.Errorf("content is %s, want null for a tool-only answer", c.Message.JSON.Content.Raw())
	}
	if len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].ID != "toolu_9" || c.Message.ToolCalls[0].Function.Arguments != `{"q":"x"}` {
		t.Errorf("tool calls %+v", c.Message.ToolCalls)
	}
	if res.Usage.PromptTokens != 12 || res.Usage.CompletionTokens != 3 || res.Usage.PromptTokensDetails.CacheWriteTokens != 7 {
		t.Errorf("usage %+v", res.Usage)
	}
	if len(c.Logprobs.Content) != 1 || c.Logprobs.Content[0].Token != "lookup" || c.Logprobs.Content[0].Logprob != -0.75 {
		t.Errorf("logprobs %+v", c.Logprobs.Content)
	}
}

func TestSDKSeesErrorResponses(t *testing.T) {
	tests := []struct {
		err                      error
		status                   int
		typ, code, param, substr string
	}{
		{&llm.Error{Kind: llm.ErrNotFound, Message: "The model `nope` does not exist", Param: "model"}, 404, "invalid_request_error", "model_not_found", "model", "does not exist"},
		{&llm.Error{Kind: llm.ErrAuthentication, Message: "Incorrect API key provided"}, 401, "invalid_request_error", "invalid_api_key", "", "Incorrect API key"},
		{&llm.Error{Kind: llm.ErrOverloaded, Status: 529, Message: "Overloaded"}, 503, "service_unavailable_error", "server_is_overloaded", "", "Overloaded"},
		{errors.New("dial tcp 10.0.0.7:443: secret internals"), 500, "server_error", "", "", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+tt.code, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				status, body := codec.ErrorResponse(tt.err)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write(body)
			})
			client := newClient(t, h)
			_, err := client.Chat.Completions.New(context.Background(), oai.ChatCompletionNewParams{
				Model: "nope", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")},
			})
			var apiErr *oai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T) is not *openai.Error", err, err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Type != tt.typ || apiErr.Code != tt.code || apiErr.Param != tt.param || !strings.Contains(apiErr.Message, tt.substr) {
				t.Errorf("got status=%d type=%q code=%q param=%q message=%q", apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Param, apiErr.Message)
			}
			if strings.Contains(apiErr.Message, "secret") {
				t.Errorf("internal error text leaked: %q", apiErr.Message)
			}
		})
	}
}

func TestSDKSeesInBandStreamError(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		enc := codec.NewStreamEncoder(&llm.Request{Stream: true})
		out, _ := enc.Encode(nil, llm.Event{Type: llm.EventMessageStart, Message: &llm.Response{ID: "chatcmpl-e", Model: "m", Created: 1}})
		out, _ = enc.Encode(out, start(0, llm.Block{Type: llm.BlockText}))
		out, _ = enc.Encode(out, text(0, "partial"))
		out = append(out, codec.ErrorEvent(&llm.Error{Kind: llm.ErrOverloaded, Message: "upstream overloaded mid-stream"})...)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(out)
	})
	client := newClient(t, h)
	stream := client.Chat.Completions.NewStreaming(context.Background(), oai.ChatCompletionNewParams{
		Model: "m", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")},
	})
	defer stream.Close()
	var acc oai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	var se *ssestream.StreamError
	if !errors.As(stream.Err(), &se) || !strings.Contains(se.Error(), "upstream overloaded mid-stream") {
		t.Fatalf("stream error %v (%T), want *ssestream.StreamError with our message", stream.Err(), stream.Err())
	}
	if acc.Choices[0].Message.Content != "partial" {
		t.Errorf("content before the error %q", acc.Choices[0].Message.Content)
	}
}
