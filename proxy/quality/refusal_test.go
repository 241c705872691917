package quality

import (
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

func TestRefusalSignal(t *testing.T) {
	c := defaults(t)
	long := strings.Repeat("Here is a detailed and useful explanation of the topic. ", 20)
	for name, tc := range map[string]struct {
		text  string
		score float64
		veto  bool
	}{
		"english refusal":   {"I'm sorry, but I can't help with that request.", 0, true},
		"curly apostrophe":  {"I can’t help with that.", 0, true},
		"spanish refusal":   {"Lo siento, pero no puedo ayudar con eso.", 0, true},
		"chinese refusal":   {"抱歉，我无法回答这个问题。", 0, true},
		"as an ai":          {"As an AI language model, I do not have opinions.", 0, true},
		"partial refusal":   {long + " I cannot provide legal advice, but the general rule is above.", 0.6, false},
		"normal answer":     {"Paris is the capital of France.", 1, false},
		"help in substance": {"To help with the migration, run the script twice.", 1, false},
	} {
		t.Run(name, func(t *testing.T) {
			r := refusalSignal(view(ask("q"), answer(tc.text)), c)
			if r.veto != tc.veto || r.score != tc.score {
				t.Fatalf("got %+v, want score %v veto %v", r, tc.score, tc.veto)
			}
		})
	}
	resp := answer("Some text")
	resp.StopReason = llm.StopRefusal
	if r := refusalSignal(view(ask("q"), resp), c); !r.veto {
		t.Fatalf("stop_reason refusal: %+v, want veto", r)
	}
}
