package helm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Every value in values.yaml is in the chart README's values table: a map
// documented as a whole (e.g. `resources`) covers its keys, anything else
// must be listed key by key.
func TestReadmeDocumentsEveryValue(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := func(key string) bool { return strings.Contains(string(readme), "| `"+key+"` |") }
	checked := 0
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if prefix != "" && documented(prefix) {
			checked++
			return
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 {
			t.Errorf("value %s is not in the README's values table", prefix)
			return
		}
		for k, child := range m {
			if prefix != "" {
				k = prefix + "." + k
			}
			walk(k, child)
		}
	}
	walk("", values)
	if checked < 40 {
		t.Errorf("only %d values found documented; is the table still a markdown table?", checked)
	}
}
