package quality

import (
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func TestComplexityOrdersTasks(t *testing.T) {
	g, err := New(nil, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	// From easiest to hardest for a small model.
	asks := []string{
		"Write a short poem about the sea.",
		"What is the capital of France?",
		"Explain how vaccines train the immune system.",
		"Implement a function to find the kth smallest element of two sorted arrays in linear time, and give its time complexity.",
		"A train leaves at 3 pm going 60 km/h; a second leaves at 4 pm going 80 km/h on the same track. " +
			"At what time does the second catch up, and how far from the station? Prove that your answer is the only solution.",
	}
	prev := -1.0
	for _, a := range asks {
		c := g.Complexity(ask(a))
		if c.Score <= prev {
			t.Errorf("complexity(%q) = %.3f, not above the previous %.3f", a, c.Score, prev)
		}
		prev = c.Score
	}
	if l := g.Complexity(ask(asks[0])).Level; l != LevelSimple {
		t.Errorf("poem level = %s, want simple", l)
	}
	if l := g.Complexity(ask(asks[4])).Level; l != LevelHard {
		t.Errorf("word problem level = %s, want hard", l)
	}
}

func TestComplexityFollowUpInheritsTask(t *testing.T) {
	g, _ := New(nil, 0.7)
	follow := &llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "Solve x + y = 4z and x*y = 4z^2; express x - y in terms of z."}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "x - y = 0"}}},
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "Now in terms of y?"}}},
	}}
	if f, alone := g.Complexity(follow).Score, g.Complexity(ask("Now in terms of y?")).Score; f <= alone+0.2 {
		t.Fatalf("follow-up of a math question %.3f should be well above the same words alone %.3f", f, alone)
	}
}

func TestComplexityUsesLatestUserTextNotToolResults(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "Write a haiku about autumn."}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{toolUse("Read", `{"file_path":"a"}`)}},
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "toolu_1", Content: []llm.Block{{Type: llm.BlockText, Text: strings.Repeat("prove the theorem by induction ", 50)}}}}},
	}}
	// A turn carrying only tool results is the agent's loop, not a new ask:
	// the conversation still holds one ask, so it is no follow-up.
	text, turns := latestUserText(req)
	if text != "Write a haiku about autumn." || turns != 1 {
		t.Fatalf("latestUserText = %q, %d; want the haiku ask and 1 turn", text, turns)
	}
}

func TestSkipDraft(t *testing.T) {
	hard := "Prove that the sum of the first n odd numbers is n^2, then compute the probability that two dice sum to at least 3, and implement both in Python."
	never, _ := New(nil, 0.7)
	if never.SkipDraft(ask(hard)) {
		t.Fatal("SkipDraft without SkipDraftAbove must be false")
	}
	g, _ := New(&rules.Gate{SkipDraftAbove: ptr(0.5)}, 0.7)
	if !g.SkipDraft(ask(hard)) {
		t.Fatalf("hard request (complexity %.2f) not skipped at 0.5", g.Complexity(ask(hard)).Score)
	}
	if g.SkipDraft(ask("Say hello.")) {
		t.Fatal("trivial request skipped")
	}
}
