package helm

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The user guide's metrics reference names every metric the proxy exports
// (the go_ and process_ collectors are mentioned as families).
func TestMetricsReferenceListsEveryMetric(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name := range exportedFamilies(t) {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		n++
		if !strings.Contains(string(doc), "| `"+name+"` |") {
			t.Errorf("docs/metrics.md has no table row for %s", name)
		}
	}
	if n < 15 {
		t.Fatalf("only %d cascadeflow metrics exported; exportedFamilies is broken", n)
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)\s]*)?\)`)

// Relative links in the user guide and the chart README point at files that exist.
func TestGuideLinksResolve(t *testing.T) {
	pages, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	pages = append(pages, filepath.Join(chartDir, "README.md"))
	checked := 0
	for _, page := range pages {
		if filepath.Base(page) == "claude-code.md" {
			continue // maintained with the Claude Code suite, checked there
		}
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			if _, err := os.Stat(filepath.Join(filepath.Dir(page), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", page, target)
			}
		}
	}
	if checked < 15 {
		t.Errorf("only %d relative links found; is the pattern broken?", checked)
	}
}
