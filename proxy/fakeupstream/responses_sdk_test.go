package fakeupstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

func responseParams(model, text string) responses.ResponseNewParams {
	return responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(text)}}
}

func TestResponsesSDKNonStream(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	s.SetReply("gpt-5", fakeupstream.Reply{Text: "Plain answer.", Usage: &fakeupstream.Usage{InputTokens: 30, CacheReadInputTokens: 12, OutputTokens: 3}})
	c := openAIClient(url + "/v1/")
	r, err := c.Responses.New(context.Background(), responseParams("gpt-5", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Object != "response" || r.Status != responses.ResponseStatusCompleted || r.Model != "gpt-5" || r.OutputText() != "Plain answer." {
		t.Fatalf("response = %s", r.RawJSON())
	}
	u := r.Usage
	if u.InputTokens != 42 || u.InputTokensDetails.CachedTokens != 12 || u.OutputTokens != 3 || u.TotalTokens != 45 {
		t.Fatalf("usage = %s", u.RawJSON())
	}
	if got := s.Requests()[0]; got.Endpoint != fakeupstream.EndpointResponses || got.Dialect != fakeupstream.DialectOpenAI || got.Model != "gpt-5" {
		t.Fatalf("recorded %+v", got)
	}
}

// The SDK reads every streamed event; the text deltas add up to the text,
// sequence numbers count up from 0, and response.completed carries the usage.
func TestResponsesSDKStream(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	s.SetReply("gpt-5-mini", fakeupstream.Reply{Text: "Streaming works fine.", Usage: &fakeupstream.Usage{InputTokens: 9, OutputTokens: 4},
		ToolCalls: []fakeupstream.ToolCall{{Name: "get_weather", Input: json.RawMessage(`{"city":"Paris","units":"metric"}`)}}})
	c := openAIClient(url + "/v1/")
	stream := c.Responses.NewStreaming(context.Background(), responseParams("gpt-5-mini", "hi"))
	defer stream.Close()
	var types []string
	var text, args string
	var completed responses.Response
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != int64(len(types)) {
			t.Fatalf("event %d has sequence_number %d", len(types), ev.SequenceNumber)
		}
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			text += ev.Delta
		case "response.function_call_arguments.delta":
			args += ev.Delta
		case "response.completed":
			completed = ev.AsResponseCompleted().Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if types[0] != "response.created" || types[1] != "response.in_progress" || types[len(types)-1] != "response.completed" {
		t.Fatalf("event types %v", types)
	}
	if text != "Streaming works fine." || args != `{"city":"Paris","units":"metric"}` {
		t.Fatalf("text %q arguments %q", text, args)
	}
	if completed.OutputText() != "Streaming works fine." || completed.Usage.OutputTokens != 4 || completed.Usage.InputTokens != 9 || len(completed.Output) != 2 {
		t.Fatalf("completed = %s", completed.RawJSON())
	}
	call := completed.Output[1].AsFunctionCall()
	if call.Name != "get_weather" || call.Arguments != args || call.CallID == "" {
		t.Fatalf("function call = %s", completed.Output[1].RawJSON())
	}
}

func TestResponsesSDKErrors(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	c := openAIClient(url + "/v1/")
	s.SetReply("gpt-5", fakeupstream.Reply{Status: http.StatusTooManyRequests})
	_, err := c.Responses.New(context.Background(), responseParams("gpt-5", "hi"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Code != "rate_limit_exceeded" {
		t.Fatalf("want a 429, got %v", err)
	}
	_, err = c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-5"})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Param != "input" {
		t.Fatalf("want a 400 naming input, got %v", err)
	}
}

func TestEmbeddingsSDK(t *testing.T) {
	s, url := startServer(t, fakeupstream.Options{})
	c := openAIClient(url + "/v1/")
	in := openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first text", "second text"}}
	res, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "text-embedding-3-small", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if res.Object != "list" || res.Model != "text-embedding-3-small" || len(res.Data) != 2 || res.Usage.PromptTokens == 0 || res.Usage.TotalTokens != res.Usage.PromptTokens {
		t.Fatalf("embeddings = %s", res.RawJSON())
	}
	for i, d := range res.Data {
		var norm float64
		for _, f := range d.Embedding {
			norm += f * f
		}
		if d.Index != int64(i) || len(d.Embedding) != fakeupstream.DefaultEmbeddingDimensions || math.Abs(norm-1) > 1e-5 {
			t.Fatalf("embedding %d: index %d, %d dims, norm² %v", i, d.Index, len(d.Embedding), norm)
		}
	}
	// base64 decodes to the same vectors; dimensions is honoured; the same text gives the same vector.
	b64, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "text-embedding-3-small", Input: in,
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64})
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Data {
		for j := range res.Data[i].Embedding {
			if math.Abs(b64.Data[i].Embedding[j]-res.Data[i].Embedding[j]) > 1e-7 {
				t.Fatalf("base64 vector %d differs at %d", i, j)
			}
		}
	}
	small, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}, Dimensions: openai.Int(4)})
	if err != nil || len(small.Data) != 1 || len(small.Data[0].Embedding) != 4 {
		t.Fatalf("dimensions: %v %+v", err, small)
	}
	if got := s.Requests()[0]; got.Endpoint != fakeupstream.EndpointEmbeddings || got.Model != "text-embedding-3-small" {
		t.Fatalf("recorded %+v", got)
	}
	_, err = c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{}}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty input: want a 400, got %v", err)
	}
}
