package quality

import (
	"context"
	"math"
	"runtime"
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

func TestCheckedWorkLowersTheComplexityPenalty(t *testing.T) {
	g, err := New(nil, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := ask(wordProblem)
	checked := g.Evaluate(ctx, req, answer("20% of 25 is 0.2 x 25 = 5 unripe.\nWith 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good.\nSo 25 - 8 = 17 oranges are good.\n#### 17"), nil)
	cx, ok := checked.Signal(SignalComplexity)
	if !ok || !strings.Contains(cx.Detail, "calculations checked") {
		t.Fatalf("complexity signal %+v, want checked work noted", cx)
	}
	// Three correct calculations are full evidence: half the penalty goes.
	want := 1 - 0.5*checked.Complexity.Score*(1-0.5)
	if math.Abs(cx.Score-want) > 1e-12 {
		t.Fatalf("complexity signal %v, want %v", cx.Score, want)
	}
	// The same work without the bad orange: coverage flags it and the prior
	// stays whole.
	unchecked := g.Evaluate(ctx, req, answer("20% of 25 is 0.2 x 25 = 5 unripe.\nWith 2 sour, 5 + 2 = 7 are not good.\nSo 25 - 7 = 18 oranges are good.\n#### 18"), nil)
	cx2, _ := unchecked.Signal(SignalComplexity)
	if want := 1 - 0.5*unchecked.Complexity.Score; math.Abs(cx2.Score-want) > 1e-12 {
		t.Fatalf("complexity signal with a dropped quantity %v, want the full prior %v", cx2.Score, want)
	}
	if unchecked.Score >= checked.Score {
		t.Fatalf("dropped quantity scored %v, not below the complete solution's %v", unchecked.Score, checked.Score)
	}
	// With the arithmetic signal off nothing is checked.
	g0, _ := New(&rules.Gate{Weights: map[string]float64{SignalArithmetic: 0}}, 0.7)
	d0 := g0.Evaluate(ctx, req, answer("20% of 25 is 0.2 x 25 = 5 unripe.\nWith 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good.\nSo 25 - 8 = 17 oranges are good."), nil)
	if cx0, _ := d0.Signal(SignalComplexity); cx0.Score != 1-0.5*d0.Complexity.Score {
		t.Fatalf("arithmetic off: complexity signal %v, want the full prior", cx0.Score)
	}
}

// Checked work is weighed against the steps the problem needs: a problem
// giving n quantities takes at least n-1 operations, so fewer correct
// calculations vouch for it only in part.
func TestCheckedWorkCountsAgainstTheStepsNeeded(t *testing.T) {
	g, err := New(nil, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := ask(wordProblem) // 25, 1, 20 %, 2: four quantities, three steps
	// Two correct calculations that still mention every quantity.
	d := g.Evaluate(ctx, req, answer("Unripe: the 20% are 0.2 x 25 = 5. Not good: the 5 unripe, 1 bad and 2 sour, 8 in all.\nSo 25 - 8 = 17 oranges are good.\n#### 17"), nil)
	cx, ok := d.Signal(SignalComplexity)
	if !ok || !strings.Contains(cx.Detail, "2 calculations checked") {
		t.Fatalf("complexity signal %+v, want 2 calculations checked", cx)
	}
	if want := 1 - 0.5*d.Complexity.Score*(1-0.5*2.0/3); math.Abs(cx.Score-want) > 1e-12 {
		t.Fatalf("complexity signal %v, want %v (two of three steps checked)", cx.Score, want)
	}
	// A problem giving three quantities needs two steps: two correct
	// calculations are full evidence.
	req3 := ask("A basket contains 25 oranges among which 20% are unripe and 2 are sour; the rest are good. How many oranges are good?")
	d3 := g.Evaluate(ctx, req3, answer("Unripe: the 20% are 0.2 x 25 = 5.\nSo 25 - 5 - 2 = 18 oranges are good.\n#### 18"), nil)
	cx3, _ := d3.Signal(SignalComplexity)
	if want := 1 - 0.5*d3.Complexity.Score*(1-0.5); math.Abs(cx3.Score-want) > 1e-12 {
		t.Fatalf("three-quantity problem: complexity signal %v (%s), want %v (fully checked)", cx3.Score, cx3.Detail, want)
	}
}

// The gate reads a long prompt through windows: its cost does not grow with
// the pasted material (the prompt is never lower-cased whole), for the
// latest ask and for the earlier turns alike.
func TestEvaluateAllocatesLittleForAHugePrompt(t *testing.T) {
	g, err := New(nil, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Repeat("The Proxy Forwards Requests And Relays Answers As They Arrive. ", 16<<10) // 1 MiB
	req := ask(doc + " How many requests were forwarded?")
	req.Messages = append([]llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: doc}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "Noted."}}},
	}, req.Messages...)
	draft := answer("Three requests were forwarded.")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 5
	for range runs {
		g.Evaluate(context.Background(), req, draft, nil)
	}
	runtime.ReadMemStats(&after)
	if perRun := float64(after.TotalAlloc-before.TotalAlloc) / runs; perRun > 0.05*float64(len(doc)) {
		t.Errorf("Evaluate allocates %.0f bytes for a %d byte prompt, want a small fraction of it", perRun, len(doc))
	}
}
