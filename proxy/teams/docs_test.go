package teams

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Every metric of this package has a row in the metrics reference.
func TestMetricsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.record("t", "k", Usage{USD: 1, SavingsUSD: 1, InputTokens: 1, OutputTokens: 1})
	m.Refusals.WithLabelValues("t", "k", "budget").Inc()
	m.SoftExceeded.WithLabelValues("key", "k").Inc()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 6 {
		t.Fatalf("gathered %d families, want 6", len(fams))
	}
	for _, f := range fams {
		if !strings.Contains(string(doc), "| `"+f.GetName()+"` |") {
			t.Errorf("docs/metrics.md has no table row for %s", f.GetName())
		}
	}
}
