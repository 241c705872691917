package quality

import (
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func TestEmptySignal(t *testing.T) {
	for text, veto := range map[string]bool{
		"":        true,
		"   \n\t": true,
		"...":     true,
		"—":       true,
		"4":       false,
		"Yes.":    false,
		"是的":      false,
	} {
		r := emptySignal(view(ask("q"), answer(text)), 1)
		if r.veto != veto || (veto && r.score != 0) || (!veto && r.score != 1) {
			t.Errorf("emptySignal(%q) = %+v, want veto=%v", text, r, veto)
		}
	}
	withTool := answer("")
	withTool.Content = append(withTool.Content, toolUse("Bash", `{"command":"ls"}`))
	if r := emptySignal(view(ask("q"), withTool), 1); r.veto {
		t.Errorf("a tool-only answer is not empty: %+v", r)
	}
}

func TestEmptySignalMinAnswerChars(t *testing.T) {
	c, err := resolve(&rules.Gate{MinAnswerChars: ptr(5)})
	if err != nil {
		t.Fatal(err)
	}
	if r := emptySignal(view(ask("q"), answer("ok.")), c.minAnswerChars); !r.veto || r.detail != "near-empty: 2 letters or digits" {
		t.Errorf("2 letters with MinAnswerChars 5: %+v, want near-empty veto", r)
	}
	if r := emptySignal(view(ask("q"), answer("hello")), c.minAnswerChars); r.veto {
		t.Errorf("5 letters with MinAnswerChars 5: %+v, want pass", r)
	}
}
