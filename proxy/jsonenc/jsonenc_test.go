package jsonenc

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// AppendString agrees with encoding/json on what the string decodes back to,
// and writes < > & unescaped.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\n\r\t\x00\x1f", "<a&b>", "\u2028\u2029", "caf\xc3\xa9", "bad\xff\xfeutf8", "emoji 😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, out, err)
		}
		std, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(std, &want)
		if got != want {
			t.Fatalf("%q round-tripped to %q, encoding/json gives %q", s, got, want)
		}
		if strings.ContainsAny(s, "<>&") && strings.Contains(string(out), `\u003c`) {
			t.Fatalf("HTML-escaped: %s", out)
		}
	})
}

func TestTypeNameAndLineCol(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{{"", "a string"}, {1, "an integer"}, {1.5, "a number"}, {true, "a boolean"}, {[]int{}, "an array"}, {map[string]int{}, "an object"}, {&struct{}{}, "an object"}} {
		if got := TypeName(reflect.TypeOf(c.v)); got != c.want {
			t.Errorf("TypeName(%T) = %q, want %q", c.v, got, c.want)
		}
	}
	// encoding/json reports a syntax error's offset after the offending byte
	// (here the x at line 2, column 8).
	line, col := LineCol([]byte("{\n  \"a\": x\n}"), 10)
	if line != 2 || col != 8 {
		t.Fatalf("LineCol = %d:%d, want 2:8", line, col)
	}
}

func TestFirstByte(t *testing.T) {
	for in, want := range map[string]byte{
		`{"a":1}`: '{', " \t\r\n[1]": '[', `"s"`: '"', "\n null": 'n', "-1": '-', "": 0, " \n\t": 0,
	} {
		if got := FirstByte([]byte(in)); got != want {
			t.Errorf("FirstByte(%q) = %q, want %q", in, got, want)
		}
	}
}
