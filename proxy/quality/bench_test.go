package quality

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// benchRequest looks like an agentic coding turn: a dozen tools with real
// schemas, a few turns of history and a concrete ask.
func benchRequest() *llm.Request {
	req := &llm.Request{Model: "claude-sonnet-5-5", MaxTokens: 32000}
	for i := 0; i < 12; i++ {
		schema := fmt.Sprintf(`{"type":"object","properties":{"file_path":{"type":"string","description":"Absolute path %d"},
			"offset":{"type":"integer","minimum":0},"limit":{"type":"integer","minimum":1,"maximum":2000},
			"mode":{"type":"string","enum":["read","write","append"]},"options":{"type":"object","properties":{"recursive":{"type":"boolean"}}}},
			"required":["file_path"],"additionalProperties":false}`, i)
		req.Tools = append(req.Tools, llm.Tool{Name: fmt.Sprintf("Tool%d", i), Description: "does things", InputSchema: json.RawMessage(schema)})
	}
	req.Messages = []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "The test TestParse fails with an off-by-one error in parser.go. Find the bug, explain it, fix it and show the corrected function."}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockText, Text: "Let me look at the file."}, toolUse("Tool1", `{"file_path":"/src/parser.go"}`)}},
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, ToolUseID: "toolu_1", Content: []llm.Block{{Type: llm.BlockText, Text: strings.Repeat("func parse(s string) int { return len(s) - 1 }\n", 40)}}}}},
	}
	return req
}

// benchDraft is a ~2 KB answer with some arithmetic, code and a tool call.
func benchDraft() *llm.Response {
	var b strings.Builder
	b.WriteString("The bug is in the loop bound: the function iterates while i <= len(s), so for a 12 byte input it reads 13 bytes; 12 + 1 = 13 and the last read is out of range. ")
	b.WriteString("Changing the condition to i < len(s) fixes it. With 40 test cases of 3 inputs each, 40 * 3 = 120 inputs now pass, and 120 / 4 = 30 per file.\n\n")
	b.WriteString("```go\nfunc parse(s string) int {\n\tn := 0\n\tfor i := 0; i < len(s); i++ {\n\t\tif s[i] == ',' {\n\t\t\tn++\n\t\t}\n\t}\n\treturn n\n}\n```\n\n")
	for b.Len() < 1900 {
		b.WriteString("The parser now stops at the last byte, the fields are counted once, and the error path returns early when the input is empty. ")
	}
	b.WriteString("I will apply the fix now.")
	return &llm.Response{
		StopReason: llm.StopToolUse,
		Content: []llm.Block{
			{Type: llm.BlockText, Text: b.String()},
			toolUse("Tool3", `{"file_path":"/src/parser.go","mode":"write","offset":10,"limit":20,"options":{"recursive":false}}`),
		},
	}
}

func TestBenchDraftIsRealistic(t *testing.T) {
	g, _ := New(nil, 0.7)
	d := g.Evaluate(context.Background(), benchRequest(), benchDraft(), nil)
	if n := len(benchDraft().Text()); n < 1900 || n > 2300 {
		t.Fatalf("draft text is %d bytes, want about 2 KB", n)
	}
	if s, ok := d.Signal(SignalToolCalls); !ok || s.Score != 1 {
		t.Fatalf("tool call signal %+v, want a validated call", s)
	}
	if s, ok := d.Signal(SignalArithmetic); !ok || s.Score != 1 {
		t.Fatalf("arithmetic signal %+v, want checked statements", s)
	}
}

// BenchmarkEvaluate measures one gate decision (no judge) on a 2 KB answer
// with a tool call against 12 tool schemas, schemas already cached. It also
// reports the p99 of individually timed decisions.
func BenchmarkEvaluate(b *testing.B) {
	g, err := New(nil, 0.7)
	if err != nil {
		b.Fatal(err)
	}
	req, draft := benchRequest(), benchDraft()
	ctx := context.Background()
	g.Evaluate(ctx, req, draft, nil) // warm the schema cache
	durs := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		g.Evaluate(ctx, req, draft, nil)
		durs = append(durs, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkEvaluateWordProblem measures a decision on a worked word problem,
// where the coverage and answer signals and the checked-work discount run.
func BenchmarkEvaluateWordProblem(b *testing.B) {
	g, err := New(nil, 0.7)
	if err != nil {
		b.Fatal(err)
	}
	req := ask(strings.Repeat("Question: Tom has 3 apples and buys 4 more. How many does he have?\nAnswer: 3 + 4 = 7.\n#### 7\n\n", 8) +
		"Question: " + wordProblem + "\nAnswer:")
	draft := answer(strings.Repeat("20% of 25 is 0.2 x 25 = 5 unripe oranges, as the question says.\nWith 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good.\n", 8) +
		"So 25 - 8 = 17 oranges are good.\n#### 17")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.Evaluate(ctx, req, draft, nil)
	}
}
