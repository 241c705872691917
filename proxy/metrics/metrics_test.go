package metrics

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The stage-duration HELP lists exactly the stages the proxy emits: every
// StageDuration.WithLabelValues("...") literal in the proxy's sources.
func TestHardeningStageHelpMatchesEmittedStages(t *testing.T) {
	var emitted []string
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "WithLabelValues" {
				return true
			}
			if inner, ok := sel.X.(*ast.SelectorExpr); !ok || inner.Sel.Name != "StageDuration" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: a stage label that is not a literal; extend this test", fset.Position(call.Pos()))
				return true
			}
			s, _ := strconv.Unquote(lit.Value)
			if !slices.Contains(emitted, s) {
				emitted = append(emitted, s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emitted) < 2 {
		t.Fatalf("found only %v emitted; is the scan broken?", emitted)
	}
	slices.Sort(emitted)
	declared := slices.Sorted(slices.Values(Stages))
	if !slices.Equal(emitted, declared) {
		t.Errorf("stages emitted %v, declared in Stages (and the HELP) %v", emitted, declared)
	}
	help := collectorHelp(t, "cascadeflow_stage_duration_seconds")
	for _, s := range Stages {
		if !strings.Contains(help, s) {
			t.Errorf("HELP %q does not name stage %s", help, s)
		}
	}
	for _, gone := range []string{"judge", "upstream"} {
		if strings.Contains(help, gone) && !slices.Contains(emitted, gone) {
			t.Errorf("HELP %q names stage %s, which is never emitted", help, gone)
		}
	}
}

func collectorHelp(t *testing.T, name string) string {
	t.Helper()
	m := New()
	m.StageDuration.WithLabelValues("total", "accepted").Observe(1)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetHelp()
		}
	}
	t.Fatalf("%s not exported", name)
	return ""
}
