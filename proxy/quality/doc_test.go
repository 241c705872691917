package quality

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
)

// The package documentation is the user's reference: it must name every
// signal and list every option with its default.
func TestDocNamesEverySignalAndOption(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range gateconfig.SignalNames() {
		if !regexp.MustCompile(`(?m)^//\t` + s + ` `).MatchString(doc) {
			t.Errorf("doc.go does not describe signal %s", s)
		}
	}
	i := strings.Index(doc, "// # Settings")
	if i < 0 {
		t.Fatal("doc.go has no Settings section")
	}
	table := doc[i:]
	row := regexp.MustCompile(`(?m)^//\t([a-z_]+) +([0-9.]+) +\S`)
	var names []string
	defaults := gateconfig.DefaultOptions().Map()
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		names = append(names, m[1])
		if v, err := strconv.ParseFloat(m[2], 64); err != nil || v != defaults[m[1]] {
			t.Errorf("doc.go gives %s the default %s, the gate %v", m[1], m[2], defaults[m[1]])
		}
	}
	if got, want := strings.Join(names, " "), strings.Join(gateconfig.OptionNames(), " "); got != want {
		t.Errorf("doc.go lists the options\n%s\nthe gate has\n%s", got, want)
	}
}
