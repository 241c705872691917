package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
)

var greetingRow = evaldata.Row{
	ID: "greet-1", Source: "chat",
	Messages: []evaldata.Message{{Role: "user", Content: "hello"}},
	Draft:    evaldata.Answer{Model: evaldata.DevDraftModel, Text: " Hi there.", Score: 0.5},
	Verifier: evaldata.Answer{Model: evaldata.DevVerifierModel, Text: "Hello! How can I help?", Score: 1},
}

func startReplay(t *testing.T, rows ...evaldata.Row) (*replayUpstream, *openai.Client) {
	t.Helper()
	up, err := newReplayUpstream(rows, replayKey)
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := startUpstream(up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	c := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey(replayKey), option.WithMaxRetries(0))
	return up, &c
}

func greetingParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}
}

func TestReplayAnswersRecordedTextPerModel(t *testing.T) {
	up, c := startReplay(t, greetingRow)
	for model, want := range map[string]string{evaldata.DevDraftModel: " Hi there.", evaldata.DevVerifierModel: "Hello! How can I help?"} {
		resp, err := c.Chat.Completions.New(context.Background(), greetingParams(model))
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if got := resp.Choices[0].Message.Content; got != want {
			t.Errorf("%s answered %q, want %q", model, got, want)
		}
		if resp.Choices[0].FinishReason != "stop" {
			t.Errorf("%s: finish reason %q", model, resp.Choices[0].FinishReason)
		}
		// "hello" is 5 bytes: ceil(5/4) = 2 prompt tokens.
		if resp.Usage.PromptTokens != 2 {
			t.Errorf("%s: prompt tokens %d, want 2", model, resp.Usage.PromptTokens)
		}
	}
	calls, misses := up.counts()
	if calls[evaldata.DevDraftModel] != 1 || calls[evaldata.DevVerifierModel] != 1 || misses != 0 {
		t.Errorf("calls %v, misses %d", calls, misses)
	}
}

func TestReplayCompletionTokensFollowTheRule(t *testing.T) {
	_, c := startReplay(t, greetingRow)
	// " Hi there." is 10 bytes: 3 tokens; "Hello! How can I help?" is 22: 6.
	for model, want := range map[string]int64{evaldata.DevDraftModel: 3, evaldata.DevVerifierModel: 6} {
		resp, err := c.Chat.Completions.New(context.Background(), greetingParams(model))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Usage.CompletionTokens != want || resp.Usage.TotalTokens != want+2 {
			t.Errorf("%s: usage %+v, want %d completion tokens", model, resp.Usage, want)
		}
	}
}

func TestReplayStreamsLikeOpenAI(t *testing.T) {
	long := greetingRow
	long.Verifier.Text = strings.Repeat("Ünïcödé text, streamed in pieces. ", 6)
	_, c := startReplay(t, long)
	p := greetingParams(evaldata.DevVerifierModel)
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := c.Chat.Completions.NewStreaming(context.Background(), p)
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for s.Next() {
		acc.AddChunk(s.Current())
		chunks++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != long.Verifier.Text {
		t.Errorf("streamed %q, want %q", got, long.Verifier.Text)
	}
	if chunks < 5 {
		t.Errorf("only %d chunks: the text was not streamed in pieces", chunks)
	}
	if acc.Usage.PromptTokens != 2 || acc.Usage.CompletionTokens == 0 {
		t.Errorf("usage %+v: the include_usage chunk is missing", acc.Usage)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish reason %q", acc.Choices[0].FinishReason)
	}
}

func TestReplayRejectsUnknownPromptModelAndKey(t *testing.T) {
	up, c := startReplay(t, greetingRow)
	var apiErr *openai.Error
	p := greetingParams(evaldata.DevDraftModel)
	p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello!")}
	if _, err := c.Chat.Completions.New(context.Background(), p); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("unknown prompt: %v, want a 404", err)
	}
	if _, err := c.Chat.Completions.New(context.Background(), greetingParams("gpt-3.5-turbo")); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("unknown model: %v, want a 404", err)
	}
	if _, misses := up.counts(); misses != 2 {
		t.Errorf("misses = %d, want 2", misses)
	}
	if _, err := c.Chat.Completions.New(context.Background(), greetingParams(evaldata.DevDraftModel), option.WithAPIKey("wrong")); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: %v, want a 401", err)
	}
}

func TestReplayRejectsDuplicatePrompts(t *testing.T) {
	twin := greetingRow
	twin.ID = "greet-2"
	if _, err := newReplayUpstream([]evaldata.Row{greetingRow, twin}, ""); err == nil {
		t.Error("two rows with the same messages were accepted")
	}
}

func TestPromptKeySeparatesRolesAndBoundaries(t *testing.T) {
	a := promptKey([]evaldata.Message{{Role: "user", Content: "ab"}, {Role: "user", Content: "c"}})
	b := promptKey([]evaldata.Message{{Role: "user", Content: "a"}, {Role: "user", Content: "bc"}})
	c := promptKey([]evaldata.Message{{Role: "assistant", Content: "ab"}, {Role: "user", Content: "c"}})
	if a == b || a == c {
		t.Error("different prompts share a key")
	}
}

func TestSplitTextKeepsRunesWhole(t *testing.T) {
	for _, n := range []int{1, 2, 3, 48} {
		s := "héllo wörld — ünïcödé 😀 end"
		parts := splitText(s, n)
		if strings.Join(parts, "") != s {
			t.Fatalf("n=%d: pieces do not join back", n)
		}
		for _, p := range parts {
			if !utf8.ValidString(p) {
				t.Errorf("n=%d: piece %q cuts a rune", n, p)
			}
			if len(p) > n && utf8.RuneCountInString(p) > 1 {
				t.Errorf("n=%d: piece %q is longer than %d bytes", n, p, n)
			}
		}
	}
}
