package turn

import (
	"os"
	"testing"
)

// BenchmarkClassify reads a request Claude Code sent (about 50 KB).
func BenchmarkClassify(b *testing.B) {
	raw, err := os.ReadFile("testdata/claudecode-continue.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if Classify(raw).Kind != Continue {
			b.Fatal("not a continuation")
		}
	}
}
