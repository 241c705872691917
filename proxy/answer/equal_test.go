package answer

import (
	"testing"
)

func TestEqual(t *testing.T) {
	type pair struct {
		a, b              string
		equal, comparable bool
	}
	eq := func(a, b string) pair { return pair{a, b, true, true} }
	ne := func(a, b string) pair { return pair{a, b, false, true} }
	na := func(a, b string) pair { return pair{a, b, false, false} }
	for _, p := range []pair{
		// Numbers.
		eq("0.5", "1/2"),
		eq("1/2", "\\frac{1}{2}"),
		eq("\\frac{1}{2}", "0.5"),
		eq("1,234", "1234"),
		eq("$57.00", "57"),
		eq("57 dollars", "$57"),
		eq("12 cm", "12"),
		eq("12cm", "12 cm"),
		eq("1e3", "1000"),
		eq("1.2 \\times 10^{3}", "1200"),
		eq("-7", "−7"),
		eq("0.3333333", "1/3"),
		eq("2.5", "5/2"),
		eq("1 1/2", "3/2"),
		eq("3\\frac{1}{2}", "3.5"),
		eq("five", "5"),
		ne("1000000", "1000001"), // integers: exact, no tolerance
		ne("2.33", "7/3"),
		ne("18", "-18"),
		ne("0", "[0]"),
		ne("08999", "8999"), // a string of digits
		// Percentages: the number before the sign, or a ratio against a fraction.
		eq("50%", "50"),
		eq("50%", "1/2"),
		eq("50\\%", "50 percent"),
		ne("50%", "0.5"),
		ne("50%", "5"),
		// Expressions.
		eq("2\\sqrt{3}", "\\sqrt{12}"),
		eq("2\\sqrt{3}", "2√3"),
		eq("2\\sqrt{3}", "3.4641016"),
		ne("2\\sqrt{3}", "3.46"),
		eq("\\frac{\\sqrt{3}}{2}", "sqrt(3)/2"),
		eq("25\\pi", "25π"),
		eq("\\infty", "∞"),
		eq("x^2+1", "1 + x^{2}"),
		eq("(x+1)^2", "x^2+2x+1"),
		ne("x+1", "x+2"),
		ne("x+1", "y+1"),
		ne("12-10d", "12"),
		eq("(1, 2)", "\\left(1,2\\right)"),
		eq("(0.5, 1)", "(\\frac{1}{2}, 1)"),
		ne("(1, 2)", "(2, 1)"),
		eq("[-3, 5)", "[-3,5)"),
		ne("[-3, 5)", "(-3, 5)"),
		eq("\\{1, 2\\}", "\\{1,2\\}"),
		// Choices.
		eq("C", "(c)"),
		eq("C) Paris", "C"),
		ne("C", "D"),
		na("C", "3"),
		na("C", "'hello'"),
		// Literals by value.
		eq("[1, 2]", "[1,2]"),
		eq("{'foo': ['bar']}", `{"foo": ["bar"]}`),
		eq("True", "true"),
		eq("None", "null"),
		eq("[1, 2,]", "[1, 2]"),
		eq("'{'a': -1}'", "{'a': -1}"),
		ne("[1, 2]", "[2, 1]"),
		ne("['a']", "['A']"),
		ne("(1,)", "(1)"),
		// Quoted strings: exact, quotes aside.
		eq("'816'", "816"),
		eq("'seiq d'", "\"seiq d\""),
		ne("'HeY'", "'hey'"),
		ne("'     7     '", "'7'"),
		eq("''", "\"\""),
		// No answer.
		na("", "5"),
		na("", ""),
	} {
		a, b := Parse(p.a), Parse(p.b)
		if p.a == "" {
			a = Answer{}
		}
		if p.b == "" {
			b = Answer{}
		}
		gotEq, gotCmp := Equal(a, b)
		if gotEq != p.equal || gotCmp != p.comparable {
			t.Errorf("Equal(%q, %q) = %v, %v; want %v, %v (%v / %v)", p.a, p.b, gotEq, gotCmp, p.equal, p.comparable, a, b)
		}
		if e2, c2 := Equal(b, a); e2 != gotEq || c2 != gotCmp {
			t.Errorf("Equal not symmetric on %q, %q", p.a, p.b)
		}
	}
}

// Phrases cut from prose fold case, punctuation and spaces; strings a
// writer delimited do not.
func TestEqualText(t *testing.T) {
	prose := func(s string) Answer { return Extract("The answer is " + s) }
	json := func(s string) Answer { return Extract(`{"answer": "` + s + `"}`) }
	for _, tc := range []struct {
		name  string
		a, b  Answer
		equal bool
	}{
		{"prose folds", prose("New York, NY."), prose("new york  ny"), true},
		{"prose apostrophe", prose("Don't panic"), prose("dont panic"), true},
		{"prose commas separate", prose("1,2,3 blind mice"), prose("123 blind mice"), false},
		{"prose symbols stay", prose("C++"), prose("C#"), false},
		{"json exact case", json("HeY dUde"), json("hey dude"), false},
		{"json exact spaces", json("a    b"), json("a b"), false},
		{"json equals quoted", json("seiq d"), Parse("'seiq d'"), true},
		{"json escapes", json(`t\\nZA`), Parse(`'t\nZA'`), true},
		{"json against prose", json("Paris"), prose("Paris."), true},
		{"json against prose case", json("Paris"), prose("paris"), false},
		{"text against number", prose("five apples and a pear"), Parse("5"), false},
	} {
		if tc.a.Kind == None || tc.b.Kind == None {
			t.Fatalf("%s: no answer in %v / %v", tc.name, tc.a, tc.b)
		}
		got, cmp := Equal(tc.a, tc.b)
		if got != tc.equal || !cmp {
			t.Errorf("%s: Equal(%v, %v) = %v, %v; want %v", tc.name, tc.a, tc.b, got, cmp, tc.equal)
		}
		if g2, _ := Equal(tc.b, tc.a); g2 != got {
			t.Errorf("%s: not symmetric", tc.name)
		}
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"New York, NY.":    "new york ny",
		"  Hello   World ": "hello world",
		"don't":            "dont",
		"1,2,3":            "1 2 3",
		"Ünïcode":          "ünïcode",
		"!?":               "",
		"C++ (or C#)":      "c++ or c#",
	} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}
