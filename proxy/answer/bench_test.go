package answer

import (
	"strings"
	"testing"
)

// benchProse is a 2 KB chat answer to a word problem with no answer marker,
// the slowest path: every marker is looked for before the last line.
var benchProse = func() string {
	var b strings.Builder
	for i := 0; b.Len() < 1900; i++ {
		b.WriteString("Each of the 16 glasses after the first costs 60% of $5, which is $3, so the pair costs $5 + $3 = $8.\n")
		b.WriteString("There are 16 / 2 = 8 such pairs, and Kylar keeps a careful list of every purchase he makes.\n\n")
	}
	b.WriteString("Therefore, Kylar needs to pay $64 for the 16 glasses.")
	return b.String()
}()

// benchJSON is a 2 KB ZeroEval-style reply with a JSON answer field.
var benchJSON = "```json\n{\n    \"reasoning\": \"" +
	strings.Repeat("We can rewrite the equation as $(x-7)^2+(y-24)^2=625$, a circle of radius $25$. ", 22) +
	"\",\n    \"answer\": \"\\\\frac{49}{2}\"\n}\n```"

func BenchmarkExtract(b *testing.B) {
	for _, bc := range []struct{ name, text string }{{"prose", benchProse}, {"json", benchJSON}} {
		if a := Extract(bc.text); a.Kind != Number {
			b.Fatalf("%s: %v", bc.name, a)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				Extract(bc.text)
			}
		})
	}
}

func BenchmarkEqual(b *testing.B) {
	x, y := Parse("\\frac{\\sqrt{3}}{2}"), Parse("sqrt(3)/2")
	b.ReportAllocs()
	for b.Loop() {
		Equal(x, y)
	}
}

// benchHostile is 64 KB of unclosed markers: the bounds on tries and scans
// keep Extract linear in the text.
var benchHostile = strings.Repeat("\\boxed{ {\"answer\": \"x [ assert f( == ' **A** answer: (", 1200)

func BenchmarkExtractHostile(b *testing.B) {
	b.SetBytes(int64(len(benchHostile)))
	b.ReportAllocs()
	for b.Loop() {
		Extract(benchHostile)
	}
}
