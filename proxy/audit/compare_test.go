package audit_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// toolCall is a tool call as a model writes it.
type toolCall struct{ name, args string }

// wire writes an answer as the vendor would send it and decodes it with the
// dialect's codec, so the comparers see what the proxy sees.
func wire(t *testing.T, d llm.Dialect, text string, calls ...toolCall) *llm.Response {
	t.Helper()
	var codec dialect.Codec
	var body []byte
	switch d {
	case llm.Anthropic:
		codec = anthropic.Codec{}
		content := []map[string]any{}
		if text != "" {
			content = append(content, map[string]any{"type": "text", "text": text})
		}
		for i, c := range calls {
			content = append(content, map[string]any{"type": "tool_use", "id": fmt.Sprintf("toolu_%02d", i), "name": c.name, "input": json.RawMessage(c.args)})
		}
		stop := "end_turn"
		if len(calls) > 0 {
			stop = "tool_use"
		}
		body, _ = json.Marshal(map[string]any{"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-5-5",
			"content": content, "stop_reason": stop, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 40, "output_tokens": 60}})
	case llm.OpenAI:
		codec = openai.Codec{}
		msg := map[string]any{"role": "assistant", "content": text}
		if text == "" {
			msg["content"] = nil
		}
		finish := "stop"
		if len(calls) > 0 {
			var tc []map[string]any
			for i, c := range calls {
				tc = append(tc, map[string]any{"id": fmt.Sprintf("call_%d", i), "type": "function",
					"function": map[string]any{"name": c.name, "arguments": c.args}})
			}
			msg["tool_calls"] = tc
			finish = "tool_calls"
		}
		body, _ = json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "created": 1764720000, "model": "gpt-4.1-mini",
			"choices": []map[string]any{{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   map[string]int{"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100}})
	}
	r, err := codec.DecodeResponse(body)
	if err != nil {
		t.Fatalf("decode %s answer: %v\n%s", d, err, body)
	}
	return r
}

type answerPair struct {
	name            string
	draft, verifier string
	draftCalls      []toolCall
	verifierCalls   []toolCall
	// equal and comparable are what Exact must find.
	equal, comparable bool
}

var pairs = []answerPair{
	{name: "same number, different working",
		draft:    "Natalia sold 48 clips in April and half as many, 24, in May.\n48 + 24 = 72\n#### 72",
		verifier: "In April she sold 48 clips. In May she sold 48 / 2 = 24 clips.\nAltogether: 48 + 24 = 72 clips.\n\nThe answer is 72.",
		equal:    true, comparable: true},
	{name: "different numbers",
		draft:    "She earns $12 an hour, so 50 minutes pay 12 * 50 / 60 = $10.\nThe answer is $10.",
		verifier: "Per minute: 12 / 60 = $0.2. For 50 minutes: 0.2 * 50 = $10.50? No: 0.2 * 50 = 10. She earned \\boxed{12}.",
		equal:    false, comparable: true},
	{name: "boxed fraction against decimal",
		draft:    "Adding the probabilities gives $\\frac{1}{4} + \\frac{1}{4} = \\boxed{\\frac{1}{2}}$.",
		verifier: "The probability is 0.5.\n\nThe final answer is 0.5",
		equal:    true, comparable: true},
	{name: "JSON answer field",
		draft:    "```json\n{\"reasoning\": \"Paris is the capital.\", \"answer\": \"Paris\"}\n```",
		verifier: "{\"answer\": \"Paris\", \"confidence\": 0.99}",
		equal:    true, comparable: true},
	{name: "choice letters",
		draft:    "Option B fits best because mitochondria produce ATP.\n\nAnswer: B",
		verifier: "The correct choice is **(C)**.\n\nThe answer is (C).",
		equal:    false, comparable: true},
	{name: "short strings",
		draft:    "The answer is New York.",
		verifier: "Answer: new york",
		equal:    true, comparable: true},
	{name: "open-ended prose has no final answer",
		draft:    "Entropy measures how many microscopic arrangements are compatible with what we observe. A gas spreading out is overwhelmingly likely because there are vastly more spread-out arrangements than bunched-up ones, which is why the second law holds in practice.",
		verifier: "Entropy is a measure of disorder. Think of a shuffled deck: there are many more disordered orders than ordered ones, so shuffling almost always increases disorder. Heat flowing from hot to cold is the same statistics at work.",
		equal:    false, comparable: false},
	{name: "one side without a final answer",
		draft:    "I'd have to think about that more carefully before committing to a number, since the problem statement is ambiguous about whether the discount applies before tax.",
		verifier: "#### 18",
		equal:    false, comparable: false},
	{name: "same tool calls, arguments spelled differently",
		draft: "Let me look that up.", draftCalls: []toolCall{{"get_weather", `{"city":"Paris","units":"metric","days":1}`}},
		verifier: "", verifierCalls: []toolCall{{"get_weather", `{"days": 1.0, "units": "metric", "city": "Paris"}`}},
		equal: true, comparable: true},
	{name: "different tool arguments",
		draftCalls:    []toolCall{{"read_file", `{"path":"src/main.go"}`}},
		verifierCalls: []toolCall{{"read_file", `{"path":"src/server.go"}`}},
		equal:         false, comparable: true},
	{name: "a tool call against a text answer",
		draft: "The file defines two handlers.", verifierCalls: []toolCall{{"read_file", `{"path":"src/main.go"}`}},
		equal: false, comparable: true},
	{name: "same calls in another order",
		draftCalls:    []toolCall{{"edit", `{"line":1}`}, {"edit", `{"line":2}`}},
		verifierCalls: []toolCall{{"edit", `{"line":2}`}, {"edit", `{"line":1}`}},
		equal:         false, comparable: true},
}

func TestExactOnRealAnswersInBothDialects(t *testing.T) {
	for _, d := range []llm.Dialect{llm.Anthropic, llm.OpenAI} {
		for _, p := range pairs {
			t.Run(string(d)+"/"+p.name, func(t *testing.T) {
				draft, verifier := wire(t, d, p.draft, p.draftCalls...), wire(t, d, p.verifier, p.verifierCalls...)
				eq, ok := audit.Exact(draft, verifier)
				if eq != p.equal || ok != p.comparable {
					t.Errorf("Exact = equal %v comparable %v; want %v %v", eq, ok, p.equal, p.comparable)
				}
				if eq2, ok2 := audit.Exact(verifier, draft); eq2 != eq || ok2 != ok {
					t.Errorf("Exact is not symmetric: %v %v the other way", eq2, ok2)
				}
			})
		}
	}
	if _, ok := audit.Exact(nil, wire(t, llm.Anthropic, "#### 3")); ok {
		t.Error("a missing answer is comparable")
	}
}

func TestPlanByComparer(t *testing.T) {
	kind := func(p answerPair) string {
		switch {
		case p.comparable && p.equal:
			return "equal"
		case p.comparable:
			return "differ"
		}
		return "none"
	}
	type want struct {
		label audit.Label
		judge bool
	}
	good, bad := audit.Label{By: audit.ByExact, Counted: true, Good: true}, audit.Label{By: audit.ByExact, Counted: true}
	uncounted := audit.Label{By: audit.ByExact}
	cases := []struct {
		comparer rules.Comparer
		hasJudge bool
		by       map[string]want // by kind of pair
	}{
		{rules.ComparerExact, false, map[string]want{"equal": {good, false}, "differ": {bad, false}, "none": {uncounted, false}}},
		{rules.ComparerExact, true, map[string]want{"equal": {good, false}, "differ": {bad, false}, "none": {uncounted, false}}},
		{rules.ComparerAuto, false, map[string]want{"equal": {good, false}, "differ": {bad, false}, "none": {uncounted, false}}},
		{rules.ComparerAuto, true, map[string]want{"equal": {good, false}, "differ": {audit.Label{}, true}, "none": {audit.Label{}, true}}},
		{"", true, map[string]want{"equal": {good, false}, "differ": {audit.Label{}, true}, "none": {audit.Label{}, true}}},
		{rules.ComparerJudge, true, map[string]want{"equal": {audit.Label{}, true}, "differ": {audit.Label{}, true}, "none": {audit.Label{}, true}}},
		{rules.ComparerJudge, false, map[string]want{"equal": {audit.Label{}, false}, "differ": {audit.Label{}, false}, "none": {audit.Label{}, false}}},
	}
	for _, c := range cases {
		for _, p := range pairs {
			d, v := wire(t, llm.OpenAI, p.draft, p.draftCalls...), wire(t, llm.OpenAI, p.verifier, p.verifierCalls...)
			label, judge := audit.Plan(c.comparer, c.hasJudge, d, v)
			w := c.by[kind(p)]
			if label != w.label || judge != w.judge {
				t.Errorf("%q judge=%v, %s (%s): got %+v judge %v; want %+v judge %v", c.comparer, c.hasJudge, p.name, kind(p), label, judge, w.label, w.judge)
			}
		}
	}
}
