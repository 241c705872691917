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

// view analyses a draft as Evaluate does with every signal on.
func view(req *llm.Request, resp *llm.Response) *analysis {
	c, err := resolve(nil)
	if err != nil {
		panic(err)
	}
	return analyse(req, resp, c)
}

// defaults returns the default options.
func defaults(t testing.TB) *options {
	t.Helper()
	return withOptions(t, nil)
}

// withOptions returns the default options overridden by opts.
func withOptions(t testing.TB, opts map[string]float64) *options {
	t.Helper()
	c, err := resolve(&rules.Gate{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return &c.opt
}

func ptr[T any](v T) *T { return &v }
