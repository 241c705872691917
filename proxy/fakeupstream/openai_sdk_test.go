package fakeupstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

func openAIClient(baseURL string, opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(baseURL),
		option.WithAPIKey("test-key"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(10 * time.Second),
	}
	return openai.NewClient(append(base, opts...)...)
}

func chatParams(model, text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

// accumulateChat streams with the SDK and its ChatCompletionAccumulator.
func accumulateChat(t *testing.T, c openai.Client, params openai.ChatCompletionNewParams) (openai.ChatCompletionAccumulator, int, error) {
	t.Helper()
	stream := c.Chat.Completions.NewStreaming(context.Background(), params)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		chunks++
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("accumulator rejected chunk %d: %s", chunks, stream.Current().RawJSON())
		}
	}
	return acc, chunks, stream.Err()
}

func TestOpenAISDKNonStream(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	c := openAIClient(url + "/v1/")
	res, err := c.Chat.Completions.New(context.Background(), chatParams("gpt-5-mini", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Object != "chat.completion" || res.Model != "gpt-5-mini" || len(res.Choices) != 1 {
		t.Fatalf("completion = %s", res.RawJSON())
	}
	ch := res.Choices[0]
	if ch.Message.Content != "Hello from gpt-5-mini." || ch.FinishReason != "stop" || ch.Message.Role != "assistant" {
		t.Fatalf("choice = %s", ch.RawJSON())
	}
	// "Hello" " from" " gpt" "-" "5" "-" "mini" "." = 8 tokens.
	want := documentedInputTokens(t, s.Requests()[0].Body)
	u := res.Usage
	if u.CompletionTokens != 8 || u.PromptTokens != want || u.TotalTokens != want+8 || !u.JSON.PromptTokensDetails.Valid() || !u.JSON.CompletionTokensDetails.Valid() {
		t.Fatalf("usage = %s", u.RawJSON())
	}
	if ch.JSON.Logprobs.Raw() != "null" {
		t.Fatalf("logprobs without asking = %s", ch.JSON.Logprobs.Raw())
	}
}

func TestOpenAISDKPathWithoutV1(t *testing.T) {
	_, url := startServer(t, fakeupstream.Options{})
	// A base URL without /v1 makes clients call /chat/completions.
	c := openAIClient(url + "/")
	res, err := c.Chat.Completions.New(context.Background(), chatParams("gpt-5", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].Message.Content != "Hello from gpt-5." {
		t.Fatalf("content = %q", res.Choices[0].Message.Content)
	}
}

func TestOpenAISDKStreamWithUsage(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	s.SetReply("gpt-5", fakeupstream.Reply{
		Text:  "Streaming works fine.",
		Usage: &fakeupstream.Usage{InputTokens: 90, CacheReadInputTokens: 10, OutputTokens: 7, ReasoningTokens: 3},
	})
	c := openAIClient(url + "/v1/")
	params := chatParams("gpt-5", "hi")
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	acc, chunks, err := accumulateChat(t, c, params)
	if err != nil {
		t.Fatal(err)
	}
	// role chunk + 4 content tokens + finish chunk + usage chunk.
	if chunks != 7 {
		t.Fatalf("chunks = %d", chunks)
	}
	ch := acc.Choices[0]
	if ch.Message.Content != "Streaming works fine." || ch.FinishReason != "stop" {
		t.Fatalf("accumulated = %+v", ch)
	}
	u := acc.Usage
	if u.PromptTokens != 100 || u.CompletionTokens != 7 || u.TotalTokens != 107 ||
		u.PromptTokensDetails.CachedTokens != 10 || u.CompletionTokensDetails.ReasoningTokens != 3 {
		t.Fatalf("usage = %+v", u)
	}

	// Without include_usage there is no usage chunk.
	acc, chunks, err = accumulateChat(t, c, chatParams("gpt-5", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if chunks != 6 || acc.Usage.TotalTokens != 0 {
		t.Fatalf("chunks = %d usage = %+v", chunks, acc.Usage)
	}
}

func TestOpenAISDKToolCalls(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	args := `{"query":"cheapest flight to Lisbon","max_stops":1}`
	reply := fakeupstream.Reply{ToolCalls: []fakeupstream.ToolCall{
		{Name: "search_flights", Input: json.RawMessage(args)},
		{Name: "get_time", Input: json.RawMessage(`{"tz":"Europe/Lisbon"}`), ID: "call_custom"},
	}}
	c := openAIClient(url + "/v1/")

	s.Enqueue(reply)
	res, err := c.Chat.Completions.New(context.Background(), chatParams("gpt-5", "book"))
	if err != nil {
		t.Fatal(err)
	}
	msg := res.Choices[0].Message
	if res.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 2 || msg.JSON.Content.Raw() != "null" {
		t.Fatalf("completion = %s", res.RawJSON())
	}
	if tc := msg.ToolCalls[0]; tc.Type != "function" || tc.Function.Name != "search_flights" || tc.Function.Arguments != args || tc.ID == "" {
		t.Fatalf("tool call 0 = %s", tc.RawJSON())
	}
	if msg.ToolCalls[1].ID != "call_custom" {
		t.Fatalf("tool call 1 id = %q", msg.ToolCalls[1].ID)
	}

	s.Enqueue(reply)
	stream := c.Chat.Completions.NewStreaming(context.Background(), chatParams("gpt-5", "book"))
	var acc openai.ChatCompletionAccumulator
	var finished []openai.FinishedChatCompletionToolCall
	argumentChunks := 0
	for stream.Next() {
		chunk := stream.Current()
		if len(chunk.Choices) > 0 {
			for _, d := range chunk.Choices[0].Delta.ToolCalls {
				if d.ID == "" && d.Function.Arguments != "" {
					argumentChunks++
				}
			}
		}
		if !acc.AddChunk(chunk) {
			t.Fatalf("rejected chunk %s", chunk.RawJSON())
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = append(finished, tc)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Arguments != args || calls[0].Function.Name != "search_flights" ||
		calls[1].Function.Arguments != `{"tz":"Europe/Lisbon"}` || calls[1].ID != "call_custom" {
		t.Fatalf("accumulated tool calls = %+v", calls)
	}
	if len(finished) != 2 || finished[0].Arguments != args {
		t.Fatalf("JustFinishedToolCall = %+v", finished)
	}
	if argumentChunks < 4 {
		t.Fatalf("arguments arrived in %d fragments, want several per call", argumentChunks)
	}
	if acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("finish = %q", acc.Choices[0].FinishReason)
	}
}

func TestOpenAISDKLogprobs(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	c := openAIClient(url + "/v1/")
	reply := fakeupstream.Reply{Text: "Yes, certainly.", Logprobs: []float64{-0.1, -0.2, -0.3}}
	params := chatParams("gpt-5", "sure?")
	params.Logprobs = openai.Bool(true)
	params.TopLogprobs = openai.Int(2)

	check := func(name string, content []openai.ChatCompletionTokenLogprob) {
		t.Helper()
		wantTokens := []string{"Yes", ",", " certainly", "."}
		wantLP := []float64{-0.1, -0.2, -0.3, -0.3} // the list's last value repeats
		if len(content) != len(wantTokens) {
			t.Fatalf("%s: %d logprobs", name, len(content))
		}
		for i, lp := range content {
			if lp.Token != wantTokens[i] || math.Abs(lp.Logprob-wantLP[i]) > 1e-9 {
				t.Fatalf("%s: token %d = %q %v", name, i, lp.Token, lp.Logprob)
			}
			if string(int64sToBytes(lp.Bytes)) != wantTokens[i] {
				t.Fatalf("%s: bytes %v", name, lp.Bytes)
			}
			if len(lp.TopLogprobs) != 2 || lp.TopLogprobs[0].Token != lp.Token || lp.TopLogprobs[1].Logprob >= lp.Logprob {
				t.Fatalf("%s: top_logprobs %+v", name, lp.TopLogprobs)
			}
		}
	}

	s.Enqueue(reply)
	res, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	check("non-stream", res.Choices[0].Logprobs.Content)

	s.Enqueue(reply)
	acc, _, err := accumulateChat(t, c, params)
	if err != nil {
		t.Fatal(err)
	}
	check("stream", acc.Choices[0].Logprobs.Content)

	s.Enqueue(fakeupstream.Reply{Text: "a b", MeanLogprob: -1.5})
	res, err = c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	for _, lp := range res.Choices[0].Logprobs.Content {
		if lp.Logprob != -1.5 {
			t.Fatalf("mean logprob: %+v", lp)
		}
	}
}

func int64sToBytes(in []int64) []byte {
	out := make([]byte, len(in))
	for i, v := range in {
		out[i] = byte(v)
	}
	return out
}

func TestOpenAISDKModels(t *testing.T) {
	_, url := startServer(t, fakeupstream.Options{Models: []string{"gpt-5", "claude-opus-5-5"}})
	c := openAIClient(url + "/v1/")
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != "gpt-5" || page.Data[0].OwnedBy != "openai" || page.Data[1].OwnedBy != "anthropic" || page.Data[0].Created == 0 {
		t.Fatalf("models = %s", page.RawJSON())
	}
	m, err := c.Models.Get(context.Background(), "gpt-5")
	if err != nil || m.ID != "gpt-5" || m.Object != "model" {
		t.Fatalf("get = %+v, %v", m, err)
	}
	_, err = c.Models.Get(context.Background(), "gpt-404")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
		t.Fatalf("unknown model err = %v", err)
	}
}

func TestOpenAISDKErrors(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{RequireKey: "sk-right"})
	var apiErr *openai.Error
	wrong := openAIClient(url + "/v1/")
	_, err := wrong.Chat.Completions.New(context.Background(), chatParams("gpt-5", "hi"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
		t.Fatalf("wrong key: err = %v", err)
	}

	c := openAIClient(url+"/v1/", option.WithAPIKey("sk-right"))
	s.Enqueue(fakeupstream.Reply{Status: 429, ErrorMessage: "slow down"})
	_, err = c.Chat.Completions.New(context.Background(), chatParams("gpt-5", "hi"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" || apiErr.Message != "slow down" {
		t.Fatalf("429: err = %v", err)
	}
	s.Enqueue(fakeupstream.Reply{Status: 503})
	_, err = c.Chat.Completions.New(context.Background(), chatParams("gpt-5", "hi"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Type != "server_error" {
		t.Fatalf("503: err = %v", err)
	}

	// Missing messages is rejected like the real API does.
	_, err = c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5"})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "messages" {
		t.Fatalf("no messages: err = %v", err)
	}

	// A mid-stream error is a data: {"error":...} event.
	s.Enqueue(fakeupstream.Reply{Text: "a b c d", StreamErrorAfterEvents: 2})
	acc, _, err := accumulateChat(t, c, chatParams("gpt-5", "hi"))
	if err == nil || acc.Choices[0].Message.Content != "a" {
		t.Fatalf("mid-stream: err = %v, content %q", err, acc.Choices[0].Message.Content)
	}
}
