package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// judgeFunc is a judge model: it reads which answer is shown first and
// second and writes its verdict.
type judgeFunc func(first, second string) string

type fakeJudge struct {
	decide judgeFunc
	delay  time.Duration
	err    error

	mu   sync.Mutex
	reqs []*llm.Request
}

func (f *fakeJudge) Complete(ctx context.Context, req *llm.Request, raw llm.Body, h http.Header) (*llm.Response, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	user := req.Messages[0].Content[0].Text
	between := func(start, end string) string {
		i := strings.Index(user, start)
		j := strings.Index(user, end)
		return user[i+len(start) : j]
	}
	text := f.decide(between(audit.MarkStartA, audit.MarkEndA), between(audit.MarkStartB, audit.MarkEndB))
	return &llm.Response{Content: []llm.Block{{Type: llm.BlockText, Text: text}}, Usage: llm.Usage{InputTokens: 300, OutputTokens: 50}}, nil
}

func textAnswer(s string) *llm.Response {
	return &llm.Response{Content: []llm.Block{{Type: llm.BlockText, Text: s}}}
}

func TestJudgeCompareBothOrders(t *testing.T) {
	const draft, verifier = "Paris is the capital.", "The capital of France is Paris."
	prefer := func(winner string) judgeFunc {
		return func(first, second string) string {
			if first == winner {
				return "A is more precise. [[A]]"
			}
			return "B is more precise. [[B]]"
		}
	}
	alwaysFirst := func(first, second string) string { return "[[A]]" }
	cases := []struct {
		name   string
		decide judgeFunc
		good   bool
		err    error
	}{
		{"the verifier preferred in both orders", prefer(verifier), false, nil},
		{"the draft preferred in both orders", prefer(draft), true, nil},
		{"a tie", func(string, string) string { return "Equivalent. [[C]]" }, true, nil},
		{"position bias cancels to a tie", alwaysFirst, true, nil},
		{"no verdict", func(string, string) string { return "Both are fine." }, false, audit.ErrNoVerdict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeJudge{decide: c.decide}
			j := &audit.Judge{Provider: f, Model: "judge-model", Timeout: 5 * time.Second}
			good, usage, err := j.Compare(context.Background(), "[user]\nWhat is the capital of France?", textAnswer(draft), textAnswer(verifier))
			if !errors.Is(err, c.err) || (err == nil && good != c.good) {
				t.Fatalf("good %v err %v; want %v %v", good, err, c.good, c.err)
			}
			if usage.InputTokens != 600 || usage.OutputTokens != 100 {
				t.Errorf("usage %+v: want both calls' usage", usage)
			}
			if len(f.reqs) != 2 {
				t.Fatalf("%d judge calls, want 2 (both orders)", len(f.reqs))
			}
			firsts := map[string]bool{}
			for _, r := range f.reqs {
				if r.Model != "judge-model" || r.Temperature == nil || *r.Temperature != 0 || !strings.Contains(r.System[0].Text, "[[C]]") {
					t.Errorf("judge request: model %q temperature %v system %+v", r.Model, r.Temperature, r.System)
				}
				u := r.Messages[0].Content[0].Text
				firsts[u[strings.Index(u, audit.MarkStartA)+len(audit.MarkStartA):strings.Index(u, audit.MarkEndA)]] = true
				if !strings.HasPrefix(u, audit.MarkQuestion+"[user]\nWhat is the capital of France?") {
					t.Errorf("judge prompt does not start with the question: %q", u)
				}
			}
			if !firsts[draft] || !firsts[verifier] {
				t.Errorf("the two calls showed first %v; want each answer first once", firsts)
			}
		})
	}
}

func TestJudgeCompareFailures(t *testing.T) {
	slow := &fakeJudge{decide: func(string, string) string { return "[[A]]" }, delay: time.Hour}
	j := &audit.Judge{Provider: slow, Model: "judge-model", Timeout: 20 * time.Millisecond}
	_, _, err := j.Compare(context.Background(), "q", textAnswer("a"), textAnswer("b"))
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.ErrTimeout {
		t.Errorf("a judge slower than its timeout: %v, want a timeout error", err)
	}
	down := &fakeJudge{err: &llm.Error{Kind: llm.ErrOverloaded, Message: "overloaded"}}
	j = &audit.Judge{Provider: down, Model: "judge-model"}
	if _, _, err := j.Compare(context.Background(), "q", textAnswer("a"), textAnswer("b")); !errors.As(err, &le) || le.Kind != llm.ErrOverloaded {
		t.Errorf("a failing judge: %v", err)
	}
}

func TestConversationAndAnswerText(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "What's the weather in Paris?"}}},
		{Role: llm.RoleAssistant, Content: []llm.Block{{Type: llm.BlockThinking, Thinking: "secret"}, {Type: llm.BlockToolUse, Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}}},
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockToolResult, Content: []llm.Block{{Type: llm.BlockText, Text: "18°C, sunny"}}}}},
		{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockImage, Data: "AAAA"}}},
	}}
	want := "[user]\nWhat's the weather in Paris?\n[assistant]\n[tool call] get_weather {\"city\":\"Paris\"}\n[user]\n[tool result]\n18°C, sunny"
	if got := audit.Conversation(req); got != want {
		t.Errorf("Conversation:\n%s\nwant:\n%s", got, want)
	}
	resp := &llm.Response{Content: []llm.Block{{Type: llm.BlockText, Text: "Checking."}, {Type: llm.BlockToolUse, Name: "get_weather", Input: json.RawMessage(`{"city":"Lyon"}`)}}}
	if got := audit.AnswerText(resp); got != "Checking.\n[tool call] get_weather {\"city\":\"Lyon\"}" {
		t.Errorf("AnswerText: %q", got)
	}
}

func TestJudgeClipsLongAnswersOnCharacterBoundaries(t *testing.T) {
	var mu sync.Mutex
	var seen string
	f := &fakeJudge{decide: func(first, second string) string {
		mu.Lock()
		defer mu.Unlock()
		if len(first) > len(seen) {
			seen = first
		}
		return "[[C]]"
	}}
	long := strings.Repeat("é", 20000) // 40,000 bytes
	j := &audit.Judge{Provider: f, Model: "m"}
	if _, _, err := j.Compare(context.Background(), "q", textAnswer(long), textAnswer("short")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 24<<10+len("…") || !strings.HasSuffix(seen, "…") || !strings.HasPrefix(seen, "éé") {
		t.Errorf("long answer shown as %d bytes ending %q", len(seen), seen[len(seen)-8:])
	}
	for _, r := range seen {
		if r == '\uFFFD' {
			t.Fatal("the clipped answer split a character")
		}
	}
}
