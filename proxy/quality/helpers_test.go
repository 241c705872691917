package quality

import (
	"encoding/json"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// ask builds a one-turn request.
func ask(text string) *llm.Request {
	return &llm.Request{Model: "m", MaxTokens: 1024, Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: text}}},
	}}
}

// answer builds a finished text response.
func answer(text string) *llm.Response {
	return &llm.Response{StopReason: llm.StopEndTurn, Content: []llm.Block{{Type: llm.BlockText, Text: text}}}
}

func toolUse(name, input string) llm.Block {
	return llm.Block{Type: llm.BlockToolUse, ID: "toolu_1", Name: name, Input: json.RawMessage(input)}
}

func view(req *llm.Request, resp *llm.Response) *draftView { return newDraftView(req, resp) }

func defaults(t testing.TB) *config {
	t.Helper()
	c, err := resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withOptions(t testing.TB, opts map[string]float64) *config {
	t.Helper()
	c, err := resolve(&rules.Gate{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }
