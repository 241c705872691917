package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
)

var greetingRow = evaldata.Row{
	ID: "greet-1", Source: "chat",
	Messages: []evaldata.Message{{Role: "user", Content: "hello"}},
	Draft:    evaldata.Answer{Model: evaldata.DevDraftModel, Text: " Hi there.", Score: 0.5},
	Verifier: evaldata.Answer{Model: evaldata.DevVerifierModel, Text: "Hello! How can I help?", Score: 1},
}

func startReplay(t *testing.T, rows ...evaldata.Row) (*replayUpstream, *openai.Client) {
	t.Helper()
	f, err := newFileSetup("replay.jsonl", rows, evaldata.Prices)
	if err != nil {
		t.Fatal(err)
	}
	up, err := newReplayUpstream(rows, f.Prices, replayKey)
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
	for model, want := range map[string]string{draftModel: " Hi there.", verifierModel: "Hello! How can I help?"} {
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
	if calls[roleDraft] != 1 || calls[roleVerifier] != 1 || misses != 0 {
		t.Errorf("calls %v, misses %d", calls, misses)
	}
}

func TestReplayCompletionTokensFollowTheRule(t *testing.T) {
	_, c := startReplay(t, greetingRow)
	// " Hi there." is 10 bytes: 3 tokens; "Hello! How can I help?" is 22: 6.
	for model, want := range map[string]int64{draftModel: 3, verifierModel: 6} {
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
	p := greetingParams(verifierModel)
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
	p := greetingParams(draftModel)
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
	if _, err := c.Chat.Completions.New(context.Background(), greetingParams(draftModel), option.WithAPIKey("wrong")); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: %v, want a 401", err)
	}
}

func TestReplayRejectsDuplicatePrompts(t *testing.T) {
	twin := greetingRow
	twin.ID = "greet-2"
	if _, err := newReplayUpstream([]evaldata.Row{greetingRow, twin}, nil, ""); err == nil {
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

// opinionRow has two other models' answers, labelled apart from the draft's
// and the verifier's.
var opinionRow = evaldata.Row{
	ID: "math-1", Source: "math",
	Messages: []evaldata.Message{{Role: "user", Content: "What is 6 times 7? Answer in JSON."}},
	Draft:    evaldata.Answer{Model: "meta-llama/Meta-Llama-3-8B-Instruct", Text: `{"answer": "41"}`, Score: 0},
	Verifier: evaldata.Answer{Model: "meta-llama/Meta-Llama-3-70B-Instruct", Text: `{"answer": "42"}`, Score: 1},
	Others: []evaldata.Answer{
		{Model: "google/gemini-1.5-flash", Text: `{"reasoning": "6*7", "answer": "42"}`, Score: 1},
		{Model: "Qwen/Qwen2-7B-Instruct", Text: `{"answer": "42.0"}`, Score: 1},
	},
}

func TestReplayServesOtherModelsAtTheirOwnPrice(t *testing.T) {
	up, c := startReplay(t, opinionRow)
	ask := func(model string) (string, error) {
		resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(opinionRow.Messages[0].Content)}})
		if err != nil {
			return "", err
		}
		return resp.Choices[0].Message.Content, nil
	}
	for i, o := range opinionRow.Others {
		got, err := ask(otherModel(i))
		if err != nil || got != o.Text {
			t.Errorf("%s answered %q, %v; want others[%d] %q", otherModel(i), got, err, i, o.Text)
		}
	}
	if _, err := ask("other-model-3"); err == nil {
		t.Error("other-model-3 answered although the row has two others")
	}
	calls, misses, _ := up.take()
	if len(calls) != 2 || misses != 1 {
		t.Fatalf("%d calls and %d misses, want 2 and 1", len(calls), misses)
	}
	// 35 bytes of prompt: 9 tokens. Gemini: 36 bytes = 9 tokens at $0.075/$0.30;
	// Qwen2-7B: 18 bytes = 5 tokens at $0.20/$0.20.
	want := []float64{(9*0.075 + 9*0.30) / 1e6, (9*0.20 + 5*0.20) / 1e6}
	for i, c := range calls {
		if c.Role != roleOther || c.Row != 0 || !near(c.USD, want[i]) {
			t.Errorf("call %d: %+v, want role other, row 0, %.10f USD", i, c, want[i])
		}
	}
}

// judgeParams is a pairwise judge request for the two answers, in order.
func judgeParams(convo, first, second string) openai.ChatCompletionNewParams {
	system, user := audit.PairwisePrompt(convo, first, second)
	return openai.ChatCompletionNewParams{Model: judgeModel, Messages: []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage(system), openai.UserMessage(user)}}
}

func TestJudgeVerdictFollowsTheOrderOfTheAnswers(t *testing.T) {
	up, c := startReplay(t, opinionRow)
	convo := "[user]\n" + opinionRow.Messages[0].Content
	cases := []struct {
		name          string
		first, second string
		want          audit.Verdict
	}{
		{"draft first, verifier better", opinionRow.Draft.Text, opinionRow.Verifier.Text, audit.B},
		{"verifier first, verifier better", opinionRow.Verifier.Text, opinionRow.Draft.Text, audit.A},
		{"equal labels tie", opinionRow.Verifier.Text, opinionRow.Others[0].Text, audit.Tie},
		{"an opinion against the draft", opinionRow.Others[1].Text, opinionRow.Draft.Text, audit.A},
	}
	for _, tc := range cases {
		resp, err := c.Chat.Completions.New(context.Background(), judgeParams(convo, tc.first, tc.second))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := audit.ParseVerdict(resp.Choices[0].Message.Content); got != tc.want {
			t.Errorf("%s: verdict %v, want %v (%q)", tc.name, got, tc.want, resp.Choices[0].Message.Content)
		}
	}
	// A draft judged in both orders against a better verifier answer is bad.
	good, ok := audit.DraftGood(audit.B, audit.A)
	if !ok || good {
		t.Error("audit.DraftGood reads the simulated verdicts otherwise")
	}
	calls, misses, _ := up.take()
	if len(calls) != len(cases) || misses != 0 {
		t.Fatalf("%d judge calls, %d misses", len(calls), misses)
	}
	for _, call := range calls {
		if call.Role != roleJudge || call.Row != 0 {
			t.Errorf("judge call %+v: want role judge on row 0", call)
		}
		// Priced as the verifier (Llama-3-70B, $0.90/$0.90).
		if want := priceOf(evaldata.Prices["meta-llama/Meta-Llama-3-70B-Instruct"], call.In, call.Out); !near(call.USD, want) || call.In < 100 {
			t.Errorf("judge call priced %.10f for %d+%d tokens, want %.10f", call.USD, call.In, call.Out, want)
		}
	}
	// The judge's prompt trims trailing new lines off the answers.
	trailing := opinionRow
	trailing.Draft.Text = "41\n\n"
	_, c3 := startReplay(t, trailing)
	resp, err := c3.Chat.Completions.New(context.Background(), judgeParams(convo, "41", opinionRow.Verifier.Text))
	if err != nil || audit.ParseVerdict(resp.Choices[0].Message.Content) != audit.B {
		t.Errorf("trimmed draft: %v, %v; want verdict B", resp, err)
	}
	// Answers the prompt shortened are still found, by prefix and conversation.
	long := strings.Repeat("a long verifier answer, ", 10)
	row := greetingRow
	row.ID, row.Messages = "long-1", []evaldata.Message{{Role: "user", Content: "Tell me something long."}}
	row.Verifier.Text = long
	_, c2 := startReplay(t, row)
	resp, err = c2.Chat.Completions.New(context.Background(), judgeParams("[user]\nTell me something long.", row.Draft.Text, long[:100]+"…"))
	if err != nil {
		t.Fatal(err)
	}
	if got := audit.ParseVerdict(resp.Choices[0].Message.Content); got != audit.B {
		t.Errorf("shortened answer: verdict %v, want B", got)
	}
}

func TestJudgeRefusesPromptsItCannotRead(t *testing.T) {
	up, c := startReplay(t, opinionRow)
	for name, p := range map[string]openai.ChatCompletionNewParams{
		"no markers":       {Model: judgeModel, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Which is better, A or B?")}},
		"unknown answers":  judgeParams("[user]\nWhat?", "one answer", "another answer"),
		"one known answer": judgeParams("[user]\nWhat?", opinionRow.Draft.Text, "made up"),
	} {
		if _, err := c.Chat.Completions.New(context.Background(), p); err == nil {
			t.Errorf("%s: the judge answered", name)
		}
	}
	if _, err := c.Chat.Completions.New(context.Background(), greetingParams(draftModel)); err == nil {
		t.Error("a prompt not in the data was answered")
	}
	if _, misses, judge, _ := up.takeAll(); misses != 4 || judge != 3 {
		t.Errorf("%d misses of which %d the judge's, want 4 and 3", misses, judge)
	}
}

func FuzzParsePairwise(f *testing.F) {
	_, user := audit.PairwisePrompt("[user]\nq", "first answer", "second answer")
	f.Add(user)
	f.Add(audit.MarkStartA + audit.MarkEndB)
	f.Add(audit.MarkStartB + "x" + audit.MarkEndB + audit.MarkStartA + "y" + audit.MarkEndA)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		convo, first, second, ok := parsePairwise(s)
		if !ok {
			return
		}
		for _, part := range []string{convo, first, second} {
			if !strings.Contains(s, part) {
				t.Fatalf("part %q is not in the prompt", part)
			}
		}
	})
}

func TestNoisyJudgeErrsAtItsRate(t *testing.T) {
	up, c := startReplay(t, opinionRow)
	up.noise, up.rng = 0.3, rand.New(rand.NewPCG(1, 2))
	convo := "[user]\n" + opinionRow.Messages[0].Content
	const n = 600
	wrong := 0
	for range n {
		resp, err := c.Chat.Completions.New(context.Background(), judgeParams(convo, opinionRow.Draft.Text, opinionRow.Verifier.Text))
		if err != nil {
			t.Fatal(err)
		}
		if audit.ParseVerdict(resp.Choices[0].Message.Content) != audit.B {
			wrong++
		}
	}
	// A random verdict is wrong two times in three: 0.3 × 2/3 = 0.2.
	if share := float64(wrong) / n; share < 0.14 || share > 0.26 {
		t.Errorf("%d of %d verdicts wrong (%.3f), want about 0.2", wrong, n, share)
	}
}
