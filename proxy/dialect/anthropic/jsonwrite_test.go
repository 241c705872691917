package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
)

func TestAppendString(t *testing.T) {
	cases := []string{"", "plain", `q"uote\back`, "ctl\x00\x01\x1f\t\n\r", "<html>&amp;", "é × 日本", "\u2028\u2029", "bad\xffutf8\xc3", strings.Repeat("a\"", 100)}
	for _, s := range cases {
		b := jsonenc.AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, b, err)
		}
		// Each invalid UTF-8 byte becomes U+FFFD, as strings.Map (and encoding/json) do.
		want := strings.Map(func(r rune) rune { return r }, s)
		if got != want {
			t.Errorf("%q round-tripped to %q", s, got)
		}
		if strings.ContainsAny(string(b), "\n\r\u2028") {
			t.Errorf("%q: raw line break in %q", s, b)
		}
	}
}
