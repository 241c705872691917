package jsonenc

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeString(t *testing.T) {
	for _, raw := range []string{
		`""`, `"plain"`, `"a\nb\t\"q\"\\ \/ \b\f\r"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`, `"lone \ud83d here"`,
		`"\ud83d\u0041"`, `"\ude00"`, "\"bad \xff utf8\"", `"é 中 😀"`, `"\ud83d\ud83d\ude00"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got, ok := DecodeString([]byte(raw)); !ok || got != want {
			t.Errorf("DecodeString(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{``, `"`, `x`, `"a`, `"\"`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\nb\"", `"a"b"`, `5`} {
		if _, ok := DecodeString([]byte(raw)); ok {
			t.Errorf("DecodeString(%q) accepted an invalid literal", raw)
		}
	}
}

// DecodeString agrees with encoding/json on every input.
func FuzzDecodeString(f *testing.F) {
	for _, s := range []string{`"a\nb"`, `"\ud83d\ude00"`, `"\ud83d"`, "\"\xff\"", `"\u0000"`, `"x\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		err := json.Unmarshal(raw, &want)
		got, ok := DecodeString(raw)
		trimmed := strings.TrimSpace(string(raw)) == string(raw)
		switch {
		case ok && (err != nil || got != want):
			t.Fatalf("DecodeString(%q) = %q, encoding/json: %q, %v", raw, got, want, err)
		case !ok && err == nil && trimmed && len(raw) > 0 && raw[0] == '"':
			t.Fatalf("DecodeString(%q) refused what encoding/json decodes to %q", raw, want)
		}
	})
}

func TestDecodeStringAllocatesOnce(t *testing.T) {
	raw := []byte(`"` + strings.Repeat(`line\n\"quoted\"\t`, 1000) + `"`)
	if n := testing.AllocsPerRun(10, func() { _, _ = DecodeString(raw) }); n != 1 {
		t.Errorf("%v allocations, want 1", n)
	}
}

// DecodeStringShared decodes as DecodeString; a literal without escapes
// shares raw's bytes (no allocation), one with escapes is a copy.
func TestDecodeStringShared(t *testing.T) {
	for _, raw := range []string{`""`, `"plain"`, `"a\nb"`, `"\u00e9"`, "\"bad \xff utf8\"", `"é 中"`} {
		want, wantOK := DecodeString([]byte(raw))
		if got, ok := DecodeStringShared([]byte(raw)); got != want || ok != wantOK {
			t.Errorf("DecodeStringShared(%s) = %q, %v; DecodeString: %q, %v", raw, got, ok, want, wantOK)
		}
	}
	plain := []byte(`"` + strings.Repeat("plain prompt text ", 1000) + `"`)
	if n := testing.AllocsPerRun(10, func() { _, _ = DecodeStringShared(plain) }); n != 0 {
		t.Errorf("a literal without escapes: %v allocations, want 0", n)
	}
	s, _ := DecodeStringShared(plain)
	plain[1] = 'P' // the string shares the literal's bytes: this is why they must never change
	if s[0] != 'P' {
		t.Errorf("the string does not share the literal's bytes")
	}
	escaped := []byte(`"a\nb"`)
	s, _ = DecodeStringShared(escaped)
	escaped[1] = 'X'
	if s != "a\nb" {
		t.Errorf("a literal with escapes: %q changed with its bytes", s)
	}
}

// DecodeStringShared agrees with DecodeString on every input.
func FuzzDecodeStringShared(f *testing.F) {
	for _, s := range []string{`"a\nb"`, `"plain"`, `""`, "\"\xff\"", `"x\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wantOK := DecodeString(raw)
		if got, ok := DecodeStringShared(raw); got != want || ok != wantOK {
			t.Fatalf("DecodeStringShared(%q) = %q, %v; DecodeString: %q, %v", raw, got, ok, want, wantOK)
		}
	})
}
