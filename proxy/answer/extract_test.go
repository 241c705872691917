package answer

import (
	"math"
	"strings"
	"testing"
)

// The texts below are short hand-written excerpts in the style of the
// cascade-eval answers: GSM8K few-shot completions ("#### 18") and chat
// prose, ZeroEval's JSON replies for GSM8K, MATH and CRUXEval, and
// MT-Bench's open-ended prose.
func TestExtract(t *testing.T) {
	for _, tc := range []struct {
		name   string
		text   string
		kind   Kind
		want   string // parsed with Parse and compared with Equal; "" for None
		marker Marker
	}{
		// GSM8K few-shot completions.
		{"hash", " Janet has 16 - 3 - 4 = <<16-3-4=9>>9 eggs left.\nShe makes 9 * $2 = $<<9*2=18>>18.\n#### 18\n\n", Number, "18", MarkerHash},
		{"hash currency and separators", "The house is worth 80,000 + 70,000 = $<<80000+70000=150000>>150,000.\n#### $4,400", Number, "4400", MarkerHash},
		{"hash sentence", "each book cost her $10 / 2 = $5.\n#### Each book cost $5.", Number, "5", MarkerHash},
		{"hash wins over a later equation", "#### 18\nCheck: 9 * 2 = 20", Number, "18", MarkerHash},

		// GSM8K chat prose without a marker.
		{"last line equals", "Lani spent $230.\n\nTogether, Ellen and Lani spent $105 (Ellen's spending) + $230 (Lani's spending) = $335 in all.", Number, "335", MarkerEquals},
		{"equals with unit", "Since they drive 10 mph, after 2 hours they will be 10 mph * 2 hours = 20 miles apart.", Number, "20", MarkerEquals},
		{"equals thousands", "The profit Josh made is $155,000 - $130,000 = $25,000.", Number, "25000", MarkerEquals},
		{"stated number after computations", "The first glass costs $5 and every second glass 60% of that, $3.\n8 * $5 = $40 and 8 * $3 = $24, so $40 + $24 = $64 in total.\n\nTherefore, Kylar needs to pay $64 for the 16 glasses.", Number, "64", MarkerLastLine},
		{"computed number is not the first one", "21 days / 7 days/week = 3 weeks.\n\nThe 42 kg bag of rice will last for 3 weeks.", Number, "3", MarkerLastLine},
		{"compound adjective skipped", "Gerald's improved time = 0.90 * 40 = 36 seconds\n\nSo Gerald can now run the 400-meter hurdles in 36 seconds.", Number, "36", MarkerLastLine},
		{"the remainder is", "8 / 4 = 2 with no remainder.\nTherefore, when twice the number is divided by 4, the remainder is 0.", Number, "0", MarkerLastLine},
		{"paragraph on one line", "From -8 <= x <= 6, the values with x < -6 are x = -7 and x = -8. The sum of -7 and -8 is -15.", Number, "-15", MarkerLastLine},
		{"stated without arithmetic", "Using the Extended Euclidean Algorithm, we find that the inverse of 160 modulo 1399 is 1058.", Number, "1058", MarkerLastLine},
		{"last number behind closing words", "We have 3 + 4 = 7 apples.\nThat is the total.\nGreat job!\nSee you.", Number, "7", MarkerLastNumber},

		// Explicit phrases.
		{"answer is with unit", "She earns 19 * 3 = 57.\nThe answer is 57 dollars.", Number, "57", MarkerAnswerIs},
		{"answer is currency", "So the answer is $57.00.", Number, "57", MarkerAnswerIs},
		{"final answer with unit", "The final answer is 12 cm.", Number, "12", MarkerFinal},
		{"final answer bold", "**Final Answer:** 1,234", Number, "1234", MarkerFinal},
		{"answer on the next line", "The answer is:\n\n42", Number, "42", MarkerAnswerIs},
		{"answer heading", "We add the two parts.\n\n# Answer\n\n42", Number, "42", MarkerAnswerIs},
		{"final answer heading", "**Final Answer**\n$\\frac{1}{2}$", Number, "0.5", MarkerFinal},
		{"answer as a word", "To answer\nthe question we need 3 + 4 = 7 apples.", Number, "7", MarkerEquals},
		{"bold statement", "**Answer: 42**", Number, "42", MarkerAnswerIs},
		{"last line is the number", "Adding everything up gives the total.\n\n$1,200.", Number, "1200", MarkerLastLine},
		{"answer percent", "30 of 60 is half, so the answer is 45%.", Number, "45%", MarkerAnswerIs},
		{"mixed number", "So the answer is 1 1/2 cups.", Number, "1.5", MarkerAnswerIs},
		{"fraction", "The probability is 1 - 1/36.\nAnswer: 35/36", Number, "35/36", MarkerAnswerIs},
		{"scientific", "The answer is 1.5e-3.", Number, "0.0015", MarkerAnswerIs},
		{"scientific latex", "Final answer: $1.2 \\times 10^{5}$", Number, "120000", MarkerFinal},
		{"unicode minus", "The answer is −7.", Number, "-7", MarkerAnswerIs},
		{"spelled out", "The answer is five.", Number, "5", MarkerAnswerIs},
		{"spelled word in a phrase", "Answer: One of the two sisters", Text, "", MarkerAnswerIs},
		{"currency then sentence", "The answer is $18. Then she buys more eggs tomorrow.", Number, "18", MarkerAnswerIs},
		{"last statement wins", "The answer is 5. Wait, 2 + 4 = 6, let me recheck.\nThe answer is 6.", Number, "6", MarkerAnswerIs},
		{"reason after the answer", "The answer is 18 because 9 * 2 = 18 and she sells all of them.", Number, "18", MarkerAnswerIs},
		{"quoted phrase", "The answer is \"hello world\".", Text, "'hello world'", MarkerAnswerIs},
		{"answer word without statement", "Let me answer the question step by step: 3 + 4 = 7", Number, "7", MarkerEquals},

		// MATH with \boxed.
		{"boxed integer", "Adding the roots, $24+25=\\boxed{49}$.", Number, "49", MarkerBoxed},
		{"boxed nested braces", "Therefore $\\cos 30^\\circ = \\boxed{\\frac{\\sqrt{3}}{2}}$.", Expr, "\\sqrt{3}/2", MarkerBoxed},
		{"boxed dfrac", "so the probability is $\\boxed{\\dfrac{1}{2}}$.", Number, "0.5", MarkerBoxed},
		{"boxed mixed number", "The length is $\\boxed{3\\frac{1}{2}}$ feet.", Number, "7/2", MarkerBoxed},
		{"boxed tuple", "The point is $\\boxed{\\left( 1, -2 \\right)}$.", Expr, "(1,-2)", MarkerBoxed},
		{"boxed interval", "So $x \\in \\boxed{[-3, 5)}$.", Expr, "[-3,5)", MarkerBoxed},
		{"boxed pi", "The area is $\\boxed{25\\pi}$.", Expr, "25π", MarkerBoxed},
		{"boxed polynomial", "Expanding, we get $\\boxed{x^{2} + 2x + 1}$.", Expr, "(x+1)^2", MarkerBoxed},
		{"boxed degrees", "The angle is $\\boxed{30^\\circ}$.", Number, "30", MarkerBoxed},
		{"last boxed", "First $\\boxed{2}$, but correcting the sign, $\\boxed{-2}$.", Number, "-2", MarkerBoxed},

		// ZeroEval JSON replies.
		{"json gsm8k", "Here is the solution:\n\n{\n    \"reasoning\": \"9 eggs * $2 per egg = $18.\",\n    \"answer\": \"18\"\n}", Number, "18", MarkerJSON},
		{"json wins over boxed", "```json\n{\n    \"reasoning\": \"Therefore $a+b=\\\\boxed{5}$\",\n    \"answer\": \"7\"\n}\n```", Number, "7", MarkerJSON},
		{"json latex unescaped", "{\"reasoning\": \"halve it\", \"answer\": \"\\frac{1}{2}\"}", Number, "0.5", MarkerJSON},
		{"json latex escaped", "{\"reasoning\": \"\", \"answer\": \"2\\\\sqrt{3}\"}", Expr, "\\sqrt{12}", MarkerJSON},
		{"json number value", "{\"reasoning\": \"...\", \"answer\": 42}", Number, "42", MarkerJSON},
		{"json choice in fence", "Here is my reasoning.\n```json\n{\"reasoning\": \"Only B fits.\", \"answer\": \"B\"}\n```\nI hope this helps.", Choice, "B", MarkerJSON},
		{"json last answer wins", "```json\n{\"answer\": \"18\"}\n```\n**Correction:**\n```json\n{\"answer\": \"16\"}\n```", Number, "16", MarkerJSON},
		{"json unit answer", "{\"reasoning\": \"...\", \"answer\": \"230 miles\"}", Number, "230", MarkerJSON},

		// CRUXEval.
		{"crux dict", "{\n    \"reasoning\": \"The function adds 'bar' to a list under 'foo'.\",\n    \"answer\": \"{'foo': ['bar']}\"\n}", Literal, "{'foo': ['bar']}", MarkerJSON},
		{"crux json-quoted dict", "{\"reasoning\": \"...\", \"answer\": \"{\\\"foo\\\": [\\\"bar\\\"]}\"}", Literal, "{'foo': ['bar']}", MarkerJSON},
		{"crux list value", "{\"reasoning\": \"...\", \"answer\": [\"avc  a .d e\"]}", Literal, "['avc  a .d e']", MarkerJSON},
		{"crux bare string", "{\"reasoning\": \"...\", \"answer\": \"seiq d\"}", Text, "'seiq d'", MarkerJSON},
		{"crux spaces count", "{\"reasoning\": \"...\", \"answer\": \"     7     \"}", Text, "'     7     '", MarkerJSON},
		{"crux empty string", "{\"reasoning\": \"returns an empty string\", \"answer\": \"\"}", Text, "''", MarkerJSON},
		{"crux symbols", "{\"reasoning\": \"...\", \"answer\": \"!?\"}", Text, "'!?'", MarkerJSON},
		{"crux quoted number", "{\"reasoning\": \"...\", \"answer\": \"'816'\"}", Number, "816", MarkerJSON},
		{"crux assert", "[ANSWER]\nassert f([1, 2, 3]) == [1, 2]\n[/ANSWER]", Literal, "[1,2]", MarkerAssert},
		{"crux assert string with ==", "```python\nassert f('a==b') == 'a==b!' # the output\n```", Text, "'a==b!'", MarkerAssert},

		// Multiple choice.
		{"choice parenthesised", "Looking at each option, the answer is (C).", Choice, "C", MarkerAnswerIs},
		{"choice colon", "Answer: C", Choice, "C", MarkerAnswerIs},
		{"choice with option text", "The correct answer is C) Paris", Choice, "C", MarkerAnswerIs},
		{"choice bold", "After weighing the options, the best one is clear.\n\n**C**", Choice, "C", MarkerBold},
		{"article is not a choice", "Answer: A person who sells goods", Text, "", MarkerAnswerIs},

		// Whole short texts.
		{"whole number", "42", Number, "42", MarkerWhole},
		{"whole currency", "$57.00", Number, "57", MarkerWhole},

		// Open-ended prose: no answer.
		{"prose", "Aloha! I recently had the pleasure of visiting Hawaii, and it was an unforgettable trip.\n\nThe beaches were stunning and the people welcoming.\n\nMahalo,\n[Your Name]", None, "", ""},
		{"numbered list", "Here are four headlines:\n1. \"Breakthrough in Renewable Bio-Energy\"\n2. \"The Ethical Dilemma\"\n3. \"Harvesting Nature's Bounty\"", None, "", ""},
		{"code", "Here is the program:\n\n```python\nx = 10\nprint(x)\n```\n\nIt prints the value.", None, "", ""},
		{"cut-off json", "```json\n{\n    \"reasoning\": \"Let x = 5. Then 2x = 10 and the area is 10 * 3 = 30, so", None, "", ""},
		{"empty", "  \n ", None, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Extract(tc.text)
			if got.Kind != tc.kind || got.Marker != tc.marker {
				t.Fatalf("Extract = %v, want kind %v marker %q", got, tc.kind, tc.marker)
			}
			if tc.kind == None {
				if got.Confidence != 0 {
					t.Errorf("no answer with confidence %v", got.Confidence)
				}
				return
			}
			if got.Confidence <= 0 || got.Confidence > 1 {
				t.Errorf("confidence %v out of (0, 1]", got.Confidence)
			}
			if tc.want == "" {
				return
			}
			want := Parse(tc.want)
			if eq, cmp := Equal(got, want); !eq || !cmp {
				t.Errorf("Extract = %v, want equal to %v (equal %v, comparable %v)", got, want, eq, cmp)
			}
		})
	}
}

// Explicit markers are more certain than the last line, and the last line
// more than the last number.
func TestConfidenceOrder(t *testing.T) {
	order := []Marker{MarkerJSON, MarkerFinal, MarkerAnswerIs, MarkerEquals, MarkerLastLine, MarkerLastNumber}
	for i := 1; i < len(order); i++ {
		if confidence[order[i-1]] <= confidence[order[i]] {
			t.Errorf("confidence %s %v <= %s %v", order[i-1], confidence[order[i-1]], order[i], confidence[order[i]])
		}
	}
	for _, m := range []Marker{MarkerBoxed, MarkerHash} {
		if confidence[m] < confidence[MarkerFinal] {
			t.Errorf("%s below a final-answer phrase", m)
		}
	}
	if got := Extract("Paris"); got.Kind != Text || got.Confidence != wholeTextConfidence {
		t.Errorf("short phrase: %v", got)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in    string
		kind  Kind
		text  string
		value float64
	}{
		{"18", Number, "18", 18},
		{"1,450,000", Number, "1450000", 1450000},
		{"-3.50", Number, "-3.5", -3.5},
		{"007", Text, "007", math.NaN()},
		{"1,2,3,4", Expr, "(1,2,3,4)", math.NaN()},
		{"(c)", Choice, "C", math.NaN()},
		{"[1, 'a', None]", Literal, `[1,"a",None]`, math.NaN()},
		{"true", Literal, "True", math.NaN()},
		{"'{'a': -1}'", Literal, `{"a":-1}`, math.NaN()},
		{"{'a', set()}", Literal, `{"a",set()}`, math.NaN()},
		{"{'a': (1,)}", Literal, `{"a":(1,)}`, math.NaN()},
		{`"hello" he said`, Text, `"hello" he said`, math.NaN()},
		{"[1 2]", Text, "[1 2]", math.NaN()},
		{"\\frac{3}{4}", Number, "0.75", 0.75},
		{"2\\sqrt{3}", Expr, "2*sqrt(3)", 2 * math.Sqrt(3)},
		{"175 + 100sqrt(3)", Expr, "175+100*sqrt(3)", 175 + 100*math.Sqrt(3)},
		{"x = 5", Number, "5", 5},
		{"12-10d", Expr, "12-10*d", math.NaN()},
		{"2:00 pm", Text, "2:00 pm", math.NaN()},
		{"3 i h o x", Text, "3 i h o x", math.NaN()},
		{"", None, "", math.NaN()},
		{strings.Repeat("9", maxSpan+1), None, "", math.NaN()},
	} {
		got := Parse(tc.in)
		if got.Kind != tc.kind || got.Text != tc.text {
			t.Errorf("Parse(%q) = %v, want %v %q", tc.in, got, tc.kind, tc.text)
			continue
		}
		if !math.IsNaN(tc.value) && (!got.HasValue || math.Abs(got.Value-tc.value) > 1e-9) {
			t.Errorf("Parse(%q) value %v (has %v), want %v", tc.in, got.Value, got.HasValue, tc.value)
		}
	}
}

func TestLatexToPlain(t *testing.T) {
	for in, want := range map[string]string{
		"\\frac{1}{2}":                    "((1)/(2))",
		"\\dfrac12":                       "((1)/(2))",
		"3\\frac{1}{2}":                   "(3+((1)/(2)))",
		"\\sqrt[3]{8}":                    "((8)^(1/(3)))",
		"\\left( 1, 2 \\right)":           "( 1, 2 )",
		"10^{\\circ}":                     "10",
		"\\$1{,}000":                      "1,000",
		"1,\\!000":                        "1,000",
		"5 \\text{ cm}":                   "5 cm",
		"\\{1, 2\\}":                      "{1, 2}",
		"2 \\cdot 3 \\times 4 \\div 6":    "2 * 3 * 4 / 6",
		"\\\\sqrt{2}":                     "sqrt(2)",
		"x \\le 3":                        "x <= 3",
		"½ × π":                           "(1/2) * pi",
		"\\frac{\\sqrt{3}}{2} \\approx x": "(( sqrt(3))/(2)) approx x",
	} {
		if got := latexToPlain(in); got != want {
			t.Errorf("latexToPlain(%q) = %q, want %q", in, got, want)
		}
	}
}
