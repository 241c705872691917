package quality

import (
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func TestTruncationStopReasonsVeto(t *testing.T) {
	c := defaults(t)
	for _, sr := range []llm.StopReason{llm.StopMaxTokens, llm.StopContextLimit, llm.StopPauseTurn} {
		resp := answer("A perfectly fine looking sentence.")
		resp.StopReason = sr
		r := truncationSignal(view(ask("q"), resp), c)
		if !r.applies || !r.veto || r.score != 0 {
			t.Errorf("%s: got %+v, want a veto with score 0", sr, r)
		}
	}
}

func TestDanglingEnd(t *testing.T) {
	for text, want := range map[string]bool{
		"The answer is 42.":                      false,
		"#### 18\n\n":                            false,
		"Here is the function:":                  true,
		"```python\ndef f():\n    return 1\n":    true,
		"```python\ndef f():\n    return 1\n```": false,
		"So Jim has a debt of $100,00":           true,
		"In total it costs 1,234":                false,
		"Das Ergebnis ist 12,5":                  false, // a decimal comma
		"the list is 1,2":                        false,
		"there are 75 - ":                        true,
		"You can buy apples, pears and":          true,
		"Hello":                                  false,
		"- item one\n- item two":                 false,
		"The remaining budget goes to the":       true,
		"Un texte français qui se termine bien.": false,
		"这是一个完整的句子。":                             false,
		"这句话没有说完，":                               true,
	} {
		got := danglingEnd(text) != ""
		if got != want {
			t.Errorf("danglingEnd(%q) = %q, want dangling=%v", text, danglingEnd(text), want)
		}
	}
}

func TestUnfinishedLastLine(t *testing.T) {
	for text, want := range map[string]bool{
		"First step.\nThe remaining movies cost 400 - 160 = <<400-1":       true,
		"So the total number of apples that she has left over is probably": true,
		"The total is 12 apples.":                                                        false,
		"Short last line without a stop":                                                 false, // under 40 bytes
		"Steps:\n- Improved error handling for network requests in the client":           false, // a list item
		"Steps:\n1. Improved error handling for network requests in the client":          false,
		"Read more about it at https://example.com/docs/getting-started/overview-page":   false,
		"| column one | column two | column three | column four |":                       false,
		"```go\nfunc main() { fmt.Println(\"hello, world, this is a long line\") }\n```": false,
		"她说这句话的时候还没有想好要怎么结束这个非常长的句子并且一直写下去直到停住了没有":                                       false, // no spaces: not 6 words
	} {
		if got := unfinishedLastLine(text); got != want {
			t.Errorf("unfinishedLastLine(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestTruncationDanglingScoreAndToolCalls(t *testing.T) {
	c := withOptions(t, map[string]float64{"dangling_score": 0.25})
	r := truncationSignal(view(ask("q"), answer("Here is the code:")), c)
	if r.veto || r.score != 0.25 {
		t.Fatalf("dangling text: got %+v, want score 0.25 without veto", r)
	}
	resp := answer("Let me read the file:")
	resp.Content = append(resp.Content, toolUse("Read", `{"path":"a.go"}`))
	resp.StopReason = llm.StopToolUse
	if r := truncationSignal(view(ask("q"), resp), c); r.score != 1 {
		t.Fatalf("text before a tool call: got %+v, want score 1", r)
	}
	stopped := answer("Item one, item two,")
	stopped.StopReason = llm.StopSequence
	if r := truncationSignal(view(ask("q"), stopped), c); r.score != 1 {
		t.Fatalf("text ended by a stop sequence: got %+v, want score 1", r)
	}
}
