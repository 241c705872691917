package answer

import (
	"reflect"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"#### 18",
	" She makes 9 * $2 = $<<9*2=18>>18.\n#### $1,234.50",
	"Therefore, Kylar needs to pay $64 for the 16 glasses.",
	"The final answer is $\\boxed{\\frac{\\sqrt{3}}{2}}$.",
	"\\boxed{3\\frac{1}{2}}",
	"\\boxed{\\left[ -3, 5 \\right)}",
	"\\boxed{x^{2}+2x+1}",
	"\\frac{\\frac{\\frac{1}{2}}{3}}{4}",
	"\\sqrt[3]{8} + \\sqrt{\\pi} - 1.2 \\times 10^{-3}",
	"```json\n{\"reasoning\": \"...\", \"answer\": \"B\"}\n```",
	"{\"reasoning\": \"x\", \"answer\": \"\\frac{1}{2}\"}",
	"{\"answer\": \"{'foo': ['bar']}\"}",
	"{\"answer\": [1, {\"a\": \"]\"}]}",
	"{\"answer\": \"     7     \"}",
	"{\"answer\": \"\\u00e9\\ud83d\"}",
	"assert f('a==b') == 'a==b!' # out",
	"The answer is (C).",
	"**C**",
	"The answer is \"hello world\".",
	"50% or 1/2",
	"1 1/2 cups",
	"-$5.00",
	"1e999",
	"((((((((((1))))))))))",
	"'\\x41\\u00e9\\",
	"\"\"\"triple\"\"\"",
	"“curly”",
	"= = = 5 =",
	"answer: answer: answer:",
	strings.Repeat("\\frac{", 40) + "1" + strings.Repeat("}", 40),
	strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100),
	strings.Repeat("[", 60) + strings.Repeat("]", 60),
}

// checkAnswer holds the invariants of any extracted or parsed answer.
func checkAnswer(t *testing.T, in string, a Answer) {
	t.Helper()
	if (a.Kind == None) != (a.Confidence == 0) {
		t.Fatalf("%q: kind %v with confidence %v", in, a.Kind, a.Confidence)
	}
	if a.Confidence < 0 || a.Confidence > 1 {
		t.Fatalf("%q: confidence %v", in, a.Confidence)
	}
	eq, cmp := Equal(a, a)
	if a.Kind == None {
		if eq || cmp {
			t.Fatalf("%q: no answer is comparable", in)
		}
		return
	}
	if !eq || !cmp {
		t.Fatalf("%q: %v not equal to itself", in, a)
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		a := Extract(text)
		if b := Extract(text); !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: not deterministic: %v then %v", text, a, b)
		}
		checkAnswer(t, text, a)
		checkAnswer(t, text, Parse(text))
	})
}

func FuzzEqual(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, fuzzSeeds[(i+1)%len(fuzzSeeds)])
	}
	f.Add("0.5", "1/2")
	f.Add("50%", "\\frac{1}{2}")
	f.Add("'816'", "816")
	f.Add("x+1", "1+x")
	f.Fuzz(func(t *testing.T, x, y string) {
		for _, pair := range [][2]Answer{{Parse(x), Parse(y)}, {Extract(x), Extract(y)}} {
			a, b := pair[0], pair[1]
			e1, c1 := Equal(a, b)
			e2, c2 := Equal(b, a)
			if e1 != e2 || c1 != c2 {
				t.Fatalf("Equal(%v, %v) = %v, %v but reversed %v, %v", a, b, e1, c1, e2, c2)
			}
			if e1 && !c1 {
				t.Fatalf("equal but not comparable: %v, %v", a, b)
			}
			if (a.Kind == None || b.Kind == None) && c1 {
				t.Fatalf("comparable without an answer: %v, %v", a, b)
			}
		}
	})
}
