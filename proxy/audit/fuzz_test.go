package audit_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// ParseVerdict takes the last verdict mark of any text, never panics.
func FuzzParseVerdict(f *testing.F) {
	for _, s := range []string{"", "[[A]]", "B wins. [[B]]", "[[A]] then [[C]]", "[[", "]]]][[[[B]]", "[[A]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := audit.ParseVerdict(s)
		last := -1
		for _, m := range []string{"[[A]]", "[[B]]", "[[C]]"} {
			last = max(last, strings.LastIndex(s, m))
		}
		if (last < 0) != (v == audit.NoVerdict) {
			t.Fatalf("ParseVerdict(%q) = %s", s, v)
		}
		if last >= 0 && s[last+2] != "?ABC"[v] {
			t.Fatalf("ParseVerdict(%q) = %s, last mark at %d", s, v, last)
		}
	})
}

// Exact is symmetric on any two answers, and an answer equals itself when
// it is comparable at all.
func FuzzExact(f *testing.F) {
	for _, c := range [][3]string{
		{"#### 72", "The answer is 72.", ""},
		{"\\boxed{\\frac{1}{2}}", "0.5", ""},
		{"Answer: B", "(C)", ""},
		{"Let me check.", "", `{"path":"a.go"}`},
		{"{\"answer\": [1, 2]}", "[1,2]", `{"x": 1e0}`},
	} {
		f.Add(c[0], c[1], c[2])
	}
	f.Fuzz(func(t *testing.T, a, b, args string) {
		resp := func(text string, withTool bool) *llm.Response {
			r := &llm.Response{Content: []llm.Block{{Type: llm.BlockText, Text: text}}}
			if withTool && json.Valid([]byte(args)) {
				r.Content = append(r.Content, llm.Block{Type: llm.BlockToolUse, Name: "f", Input: json.RawMessage(args)})
			}
			return r
		}
		for _, tools := range [][2]bool{{false, false}, {true, false}, {true, true}} {
			x, y := resp(a, tools[0]), resp(b, tools[1])
			eq1, ok1 := audit.Exact(x, y)
			eq2, ok2 := audit.Exact(y, x)
			if eq1 != eq2 || ok1 != ok2 {
				t.Fatalf("Exact(%q, %q) = %v %v, reversed %v %v", a, b, eq1, ok1, eq2, ok2)
			}
			if eq, ok := audit.Exact(x, x); ok && !eq {
				t.Fatalf("Exact(%q, itself) = not equal", a)
			}
		}
	})
}
