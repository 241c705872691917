package quality

import (
	"strings"
	"testing"
)

const healthyParagraph = `Photosynthesis converts light energy into chemical energy. Plants absorb
sunlight with chlorophyll, split water molecules, release oxygen and use the captured energy
to fix carbon dioxide into sugars through the Calvin cycle. The sugars feed growth, respiration
and the storage of starch in roots and seeds, which in turn sustains most food chains on Earth.`

func TestRepetitionSignal(t *testing.T) {
	c := defaults(t)
	if r := repetitionSignal(view(ask("q"), answer(healthyParagraph)), c); !r.applies || r.score != 1 {
		t.Fatalf("healthy text: %+v, want score 1", r)
	}
	loop := "The answer is that the answer is " + strings.Repeat("the answer is the answer is ", 30)
	if r := repetitionSignal(view(ask("q"), answer(loop)), c); r.score > 0.1 {
		t.Fatalf("degenerate loop: %+v, want score near 0", r)
	}
	lines := "Step one: open the file now.\n" + strings.Repeat("I will now check the file again.\n", 6) + "Done with the work here."
	if r := repetitionSignal(view(ask("q"), answer(lines)), c); r.score > 0.2 {
		t.Fatalf("repeated lines: %+v, want a low score", r)
	}
	if r := repetitionSignal(view(ask("q"), answer("Short answer: yes.")), c); r.applies {
		t.Fatalf("too short to judge: %+v, want not applicable", r)
	}
	cjkLoop := strings.Repeat("我们继续讨论这个问题", 30)
	if r := repetitionSignal(view(ask("q"), answer(cjkLoop)), c); r.score > 0.1 {
		t.Fatalf("looping text without spaces: %+v, want score near 0", r)
	}
	cjk := "光合作用是植物利用阳光把水和二氧化碳转化为糖类并释放氧气的过程，它为地球上几乎所有的食物链提供能量，也维持了大气中的氧气含量。"
	if r := repetitionSignal(view(ask("q"), answer(cjk)), c); r.score != 1 {
		t.Fatalf("healthy text without spaces: %+v, want score 1", r)
	}
}

func TestRepeatedLineShareIgnoresShortLines(t *testing.T) {
	code := "func a() {\n\treturn 1\n}\n\nfunc b() {\n\treturn 2\n}\n\nfunc c() {\n\treturn 3\n}\n"
	if got := repeatedLineShare(code); got != 0 {
		t.Fatalf("repeatedLineShare(code) = %v, want 0 (short lines like } repeat legitimately)", got)
	}
}
