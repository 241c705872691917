package tokencount

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// knownCounts are texts with token counts published by others (no tokenizer
// runs here). Sources:
//   - [cookbook] OpenAI Cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb
//     (github.com/openai/openai-cookbook), printed outputs of tiktoken.
//   - [ids] tutorials that print the cl100k_base token ids next to the count
//     (theneuralbase.com tiktoken-openai; lzwjava.github.io tiktoken guide;
//     a tiktoken walkthrough printing [23078, 374, 2294, 0] for "China is great!").
var knownCounts = []struct {
	text     string
	encoding string
	tokens   int
	prose    bool // English prose, for the over-count margin
	source   string
}{
	{"tiktoken is great!", "cl100k_base", 6, true, "cookbook: t|ik|token| is| great|!"},
	{"antidisestablishmentarianism", "cl100k_base", 6, false, "cookbook"},
	{"antidisestablishmentarianism", "gpt2", 5, false, "cookbook"},
	{"2 + 2 = 4", "cl100k_base", 7, false, "cookbook: 2| +| |2| =| |4"},
	{"2 + 2 = 4", "gpt2", 5, false, "cookbook"},
	{"お誕生日おめでとう", "cl100k_base", 9, false, "cookbook"},
	{"お誕生日おめでとう", "gpt2", 14, false, "cookbook"},
	{"Hello, world! How are you today?", "cl100k_base", 9, true, "ids [15339 11 1917 0 2650 527 499 3432 30]"},
	{"Hello, how are you doing today?", "cl100k_base", 8, true, "ids [9906 11 1268 527 499 3815 3432 30]"},
	{"The quick brown fox jumps over the lazy dog.", "cl100k_base", 10, true, "two tutorials"},
	{"China is great!", "cl100k_base", 4, true, "ids [23078 374 2294 0]"},
}

func TestTextNeverBelowKnownCounts(t *testing.T) {
	for _, k := range knownCounts {
		got := Text(k.text)
		if got < k.tokens {
			t.Errorf("Text(%q) = %d, below the %d tokens %s counts (%s)", k.text, got, k.tokens, k.encoding, k.source)
		}
		t.Logf("%-46q %-11s known %2d  estimate %2d  (%.2fx)", k.text, k.encoding, k.tokens, got, float64(got)/float64(k.tokens))
	}
}

// Measured with the estimator as committed: the prose rows above come to
// 51 estimated for 37 known tokens (1.38x overall, 1.17x–1.50x per row), and
// the cookbook conversation below to 193 for 129 (1.50x); the worst row is
// Japanese at 2.00x of cl100k. Anthropic's token
// counting notes say tiktoken under-counts Claude by ~15–20% on typical text,
// which this margin covers; it stays far below the 2.5x that would make
// Claude Code compact much too early.
func TestTextProseMargin(t *testing.T) {
	var est, known int
	for _, k := range knownCounts {
		if !k.prose {
			continue
		}
		got := Text(k.text)
		est += got
		known += k.tokens
		if r := float64(got) / float64(k.tokens); r >= 2.5 {
			t.Errorf("Text(%q) = %d for %d known tokens: %.2fx, want < 2.5x", k.text, got, k.tokens, r)
		}
	}
	r := float64(est) / float64(known)
	t.Logf("prose: estimate %d for %d known tokens (%.2fx)", est, known, r)
	if r < 1.2 || r >= 2.5 {
		t.Errorf("prose margin %.2fx; want between 1.2x (Claude counts ~20%% more than cl100k) and 2.5x", r)
	}
}

func TestTextRules(t *testing.T) {
	// Expected values follow the rules in Text's doc comment, counted by hand.
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abc", 1},
		{"abcd", 2},
		{"getUserName", 5},                      // get|User|Name: 1+2+2
		{"HTTPServer", 4},                       // no lower-to-upper change: one run of 10
		{"1234567890", 10},                      // a token per digit
		{"v2", 2},                               // letters and digits never share a token
		{"a b", 2},                              // " b" merges
		{"a  b", 3},                             // a, "  " (1), b
		{"a" + strings.Repeat(" ", 8) + "b", 4}, // 8 spaces: 2
		{"x ", 2},                               // trailing space
		{"x \n", 3},                             // space before a newline, the newline
		{"a +", 2},                              // " +" merges
		{"\t\n\r", 3},
		{"{}", 2},
		{"é", 1},        // 2-byte
		{"日本", 4},       // 3-byte CJK: 2 each
		{"“ok”", 3},     // curly quotes: 1 each, ok 1
		{"😀", 3},        // 4-byte
		{"\xff\xfe", 2}, // invalid bytes
		{"naïve", 3},    // na|ï|ve
	} {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestTextUpperBoundsForDigitsAndSymbols(t *testing.T) {
	// One token can hold no less than one character, so a text of n digits or
	// ASCII symbols (other than spaces) is at most n tokens in any vocabulary
	// and Text must say at least... exactly n, since it charges one for each.
	for _, s := range []string{"3141592653589793", "{}[](),;:.!?\"'`~@#$%^&*-+=_|\\/<>", "\n\n\n\t\t"} {
		if got := Text(s); got != len(s) {
			t.Errorf("Text(%q) = %d, want %d", s, got, len(s))
		}
	}
}

func TestEstimateStructure(t *testing.T) {
	hello := llm.Message{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "Hello, Claude"}}}
	// perRequest 8 + perMessage 4 + perBlock 3 + Text("Hello, Claude") 5 (Hel|lo, ",", " Claude" 2).
	if got := Estimate(&llm.Request{Messages: []llm.Message{hello}}); got != 20 {
		t.Errorf("one message: %d, want 20", got)
	}
	if got := Estimate(&llm.Request{}); got != 8 {
		t.Errorf("empty request: %d, want 8", got)
	}
	base := Estimate(&llm.Request{Messages: []llm.Message{hello}})

	// Tools add the provider's tool-use system prompt once, plus each tool.
	tool := llm.Tool{Name: "get_weather", Description: "Get the current weather in a given location",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`)}
	one := Estimate(&llm.Request{Messages: []llm.Message{hello}, Tools: []llm.Tool{tool}})
	two := Estimate(&llm.Request{Messages: []llm.Message{hello}, Tools: []llm.Tool{tool, tool}})
	if one-base < 346+Text(tool.Description) {
		t.Errorf("one tool adds %d tokens; Anthropic's tool system prompt alone is 346", one-base)
	}
	if perTool := two - one; perTool != one-base-toolPrompt {
		t.Errorf("second tool adds %d, first (without the tool prompt) %d", perTool, one-base-toolPrompt)
	}

	// A tool round trip counts the ids, the input and the result.
	id := "toolu_01A09q90qw90lq917835lq9"
	round := []llm.Message{hello,
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockToolUse, ID: id, Name: "get_weather", Input: json.RawMessage(`{"location":"San Francisco, CA"}`)}}},
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: id, Content: []llm.Block{{Type: llm.BlockText, Text: "15 degrees"}}}}},
	}
	got := Estimate(&llm.Request{Messages: round})
	want := base + 2*perMessage +
		perBlock + Text(id) + Text("get_weather") + Text(`{"location":"San Francisco, CA"}`) +
		perBlock + Text(id) + perBlock + Text("15 degrees")
	if got != want {
		t.Errorf("tool round trip: %d, want %d", got, want)
	}
	if Text(id) < 10 {
		t.Errorf("Text(%q) = %d: a tool id is many tokens", id, Text(id))
	}

	img := Estimate(&llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockImage, MediaType: "image/png", Data: "iVBORw0KGgo="}}}}})
	if img < 1568 {
		t.Errorf("an image: %d; Claude bills up to ~1,600 tokens for one", img)
	}

	sys := Estimate(&llm.Request{System: []llm.Block{{Type: llm.BlockText, Text: "You are a scientist"}}, Messages: []llm.Message{hello}})
	if sys-base != perBlock+Text("You are a scientist") {
		t.Errorf("system prompt adds %d", sys-base)
	}

	thinking := Estimate(&llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Content: []llm.Block{
		{Type: llm.BlockThinking, Thinking: "Let me think step by step.", Signature: "sig"},
		{Type: llm.BlockRedactedThinking, Data: strings.Repeat("A", 400)},
	}}}})
	if thinking != perRequest+perMessage+perBlock+Text("Let me think step by step.")+perBlock+100 {
		t.Errorf("thinking blocks: %d", thinking)
	}

	unknown := Estimate(&llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{
		{Type: "document", Raw: json.RawMessage(`{"type":"document","source":{"type":"text","media_type":"text/plain","data":"The grass is green."}}`)},
	}}}})
	if unknown < perRequest+perMessage+perBlock+Text("The grass is green.") {
		t.Errorf("a block of unknown type is not counted: %d", unknown)
	}
}

// The OpenAI Cookbook's example conversation, for which the OpenAI API
// reported 129 prompt tokens on gpt-4-0613 (and 127 on gpt-3.5-turbo-0301).
func TestEstimateCookbookConversation(t *testing.T) {
	system := []string{
		"You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
		"New synergies will help drive top-line growth.",
		"Things working well together will increase revenue.",
		"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
		"Let's talk later when we're less busy about how to do better.",
	}
	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText,
		Text: "This late pivot means we don't have time to boil the ocean for the client deliverable."}}}}}
	for _, s := range system {
		req.System = append(req.System, llm.Block{Type: llm.BlockText, Text: s})
	}
	got := Estimate(req)
	t.Logf("cookbook conversation: estimate %d for 129 reported (%.2fx)", got, float64(got)/129)
	if got < 129 {
		t.Errorf("Estimate = %d, below the 129 tokens the API reported", got)
	}
	if float64(got)/129 >= 2.5 {
		t.Errorf("Estimate = %d: %.2fx the reported count", got, float64(got)/129)
	}
}
