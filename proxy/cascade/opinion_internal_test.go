package cascade

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

type dialectOnly llm.Dialect

func (d dialectOnly) Name() string         { return "p" }
func (d dialectOnly) Dialect() llm.Dialect { return llm.Dialect(d) }
func (dialectOnly) Complete(_ context.Context, _ *llm.Request, _ llm.Body, _ http.Header) (*llm.Response, error) {
	panic("not called")
}
func (dialectOnly) Stream(_ context.Context, _ *llm.Request, _ llm.Body, _ http.Header) (llm.Stream, error) {
	panic("not called")
}

// An opinion is asked in the cheapest form that answers: not streamed, no
// thinking (and so none of the history's thinking blocks), no logprobs; the
// same limit, tools and tool choice.
func TestOpinionRequestIsTheCheapestThatAnswers(t *testing.T) {
	tool := llm.Tool{Name: "lookup", InputSchema: json.RawMessage(`{"type":"object"}`)}
	client := &llm.Request{
		Model: "big", MaxTokens: 4096, Stream: true, IncludeUsage: true, Logprobs: true, TopLogprobs: 5,
		Thinking: &llm.Thinking{Type: "enabled", BudgetTokens: 2048},
		Tools:    []llm.Tool{tool}, ToolChoice: &llm.ToolChoice{Type: "auto"},
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "q1"}}},
			{Role: llm.RoleAssistant, Content: []llm.Block{
				{Type: llm.BlockThinking, Thinking: "hmm", Signature: "sig"},
				{Type: llm.BlockText, Text: "a1"},
			}},
			{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockRedactedThinking, Data: "xyz"}}},
			{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "q2"}}},
		},
	}
	for _, d := range []llm.Dialect{llm.Anthropic, llm.OpenAI} {
		req := opinionRequest(Request{Req: client, Raw: []byte(`{}`), RawDialect: llm.Anthropic}, dialectOnly(d), "peer-1")
		if req.Model != "peer-1" || req.Stream || req.IncludeUsage || req.Logprobs || req.TopLogprobs != 0 || req.Thinking != nil {
			t.Errorf("%s: opinion request %+v", d, req)
		}
		if req.MaxTokens != 4096 || len(req.Tools) != 1 || req.ToolChoice == nil {
			t.Errorf("%s: limit %d, tools %v, choice %v: want the client's", d, req.MaxTokens, req.Tools, req.ToolChoice)
		}
		if len(req.Messages) != 3 || len(req.Messages[1].Content) != 1 || req.Messages[1].Content[0].Text != "a1" {
			t.Errorf("%s: history %+v, want the thinking blocks (and the message left empty) removed", d, req.Messages)
		}
	}
	if !client.Stream || client.Thinking == nil || len(client.Messages) != 4 || len(client.Messages[1].Content) != 2 {
		t.Fatalf("the client's request was modified: %+v", client)
	}
}

func text(s string) *llm.Response {
	return &llm.Response{Content: []llm.Block{{Type: llm.BlockText, Text: s}}}
}

func toolCall(id, name, input string) *llm.Response {
	return &llm.Response{Content: []llm.Block{{Type: llm.BlockText, Text: "Let me look."},
		{Type: llm.BlockToolUse, ID: id, Name: name, Input: json.RawMessage(input)}}}
}

func TestAgreement(t *testing.T) {
	for _, tc := range []struct {
		name     string
		draft    *llm.Response
		opinions []*llm.Response // nil: the opinion did not answer
		want     routequality.Agreement
	}{
		{"numbers agree", text("So the total is 42.\n\nThe answer is 42."), []*llm.Response{text("**Answer: 42.0**"), text("The answer is 41.")},
			routequality.Agreement{Asked: 2, Compared: 2, Agree: 1, DraftAnswer: true}},
		{"unanswered opinion not compared", text("The answer is (B)."), []*llm.Response{nil, text("The answer is B.")},
			routequality.Agreement{Asked: 2, Compared: 1, Agree: 1, DraftAnswer: true}},
		{"choice against number not comparable", text("The answer is (B)."), []*llm.Response{text("The answer is 42.")},
			routequality.Agreement{Asked: 1, DraftAnswer: true}},
		{"draft without an answer", text(""), []*llm.Response{text("The answer is 42.")},
			routequality.Agreement{Asked: 1}},
		{"same tool call, other id and key order", toolCall("t1", "lookup", `{"a":1,"b":"x"}`),
			[]*llm.Response{toolCall("t9", "lookup", `{"b":"x","a":1.0}`), toolCall("t2", "lookup", `{"a":2,"b":"x"}`), text("The answer is 42.")},
			routequality.Agreement{Asked: 3, Compared: 3, Agree: 1, DraftAnswer: true}},
		{"opinion calls a tool, draft answers", text("The answer is 42."), []*llm.Response{toolCall("t1", "lookup", `{}`)},
			routequality.Agreement{Asked: 1, Compared: 1, DraftAnswer: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &opinions{calls: make([]*Call, len(tc.opinions)), answers: tc.opinions}
			if got := o.agreement(tc.draft); got != tc.want {
				t.Errorf("agreement %+v, want %+v", got, tc.want)
			}
		})
	}
}
