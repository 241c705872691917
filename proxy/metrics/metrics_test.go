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

// SetQuality replaces every quality gauge: a rule gone, or a reason no
// longer in effect, leaves no series behind; Gatherer refreshes first.
func TestSetQualityAndGatherer(t *testing.T) {
	m := New()
	reason := "cold-start"
	rules := map[string]Quality{"a": {Estimate: 0.9, Lower: 0.85, Upper: 0.95, Target: 0.9, Met: false, Threshold: 0.7, Samples: 10, Labels: 4}}
	g := m.Gatherer(func() {
		if q, ok := rules["a"]; ok {
			q.Reason = reason
			rules["a"] = q
		}
		m.SetQuality(rules)
	})
	value := func(name string, labels map[string]string) (float64, bool) {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metric:
			for _, mt := range mf.GetMetric() {
				got := map[string]string{}
				for _, lp := range mt.GetLabel() {
					got[lp.GetName()] = lp.GetValue()
				}
				for k, v := range labels {
					if got[k] != v {
						continue metric
					}
				}
				return mt.GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	if v, ok := value("cascadeflow_quality_lower_bound", map[string]string{"rule": "a"}); !ok || v != 0.85 {
		t.Errorf("lower bound %v %v", v, ok)
	}
	if v, ok := value("cascadeflow_quality_target_met", map[string]string{"rule": "a"}); !ok || v != 0 {
		t.Errorf("target met %v %v", v, ok)
	}
	if v, ok := value("cascadeflow_quality_calibration", map[string]string{"rule": "a", "reason": "cold-start"}); !ok || v != 1 {
		t.Errorf("calibration reason %v %v", v, ok)
	}
	reason = "calibrated"
	if _, ok := value("cascadeflow_quality_calibration", map[string]string{"rule": "a", "reason": "cold-start"}); ok {
		t.Error("the previous reason is still exported")
	}
	if v, ok := value("cascadeflow_quality_calibration", map[string]string{"rule": "a", "reason": "calibrated"}); !ok || v != 1 {
		t.Errorf("new reason %v %v", v, ok)
	}
	delete(rules, "a")
	rules["b"] = Quality{Threshold: 0.5, Reason: "configured", Met: true}
	if _, ok := value("cascadeflow_quality_threshold", map[string]string{"rule": "a"}); ok {
		t.Error("a removed rule's threshold is still exported")
	}
	if v, ok := value("cascadeflow_quality_threshold", map[string]string{"rule": "b"}); !ok || v != 0.5 {
		t.Errorf("rule b threshold %v %v", v, ok)
	}
}
