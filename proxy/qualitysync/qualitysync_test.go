package qualitysync_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/qualitysync"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func registry(names ...string) *routequality.Registry {
	g := &routequality.Registry{}
	for _, n := range names {
		g.Route(&rules.Rule{Name: n})
	}
	return g
}

func TestConfigMapName(t *testing.T) {
	if got := qualitysync.ConfigMapName("my-route", "proxy-7d9f-abcde"); got != "my-route-quality-proxy-7d9f-abcde" {
		t.Errorf("short name %q", got)
	}
	route := strings.Repeat("r", 200)
	a := qualitysync.ConfigMapName(route, strings.Repeat("p", 60)+"-a")
	b := qualitysync.ConfigMapName(route, strings.Repeat("p", 60)+"-b")
	if a == b {
		t.Errorf("two pods share %q", a)
	}
	for _, n := range []string{a, b, qualitysync.ConfigMapName(strings.Repeat("r", 233), strings.Repeat("p", 30))} {
		if len(n) > 253 {
			t.Errorf("%d characters", len(n))
		}
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			t.Errorf("%q: %v", n, errs)
		}
	}
	if !strings.HasPrefix(a, route+"-quality-ppp") {
		t.Errorf("%q does not start with the route and pod", a)
	}
}

func TestCalibrationsApply(t *testing.T) {
	g := registry("opus", "sonnet", "haiku")
	c := &qualitysync.Calibrations{Registry: g}
	sonnetBefore := g.Routes()["sonnet"].Calibration()
	doc := `{
	  "opus": {"threshold": 0.83, "reason": "calibrated", "target": 0.95, "labels": 400, "samples": 2000, "met": true},
	  "haiku": {"threshold": 1.01, "reason": "escalate-all"},
	  "gone": {"threshold": 0.5, "reason": "calibrated"}
	}`
	if err := c.Apply([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	routes := g.Routes()
	if got := routes["opus"].Calibration(); got.Threshold != 0.83 || got.Labels != 400 || !got.Met {
		t.Errorf("opus runs with %+v", got)
	}
	if got := routes["haiku"].Calibration(); got.Threshold != calibrate.Never {
		t.Errorf("haiku runs with %+v", got)
	}
	if bypass, _ := routes["haiku"].Bypass(); !bypass && routes["haiku"].Settings().Explore == 0 {
		t.Error("haiku escalating everything does not bypass the draft")
	}
	if got := routes["sonnet"].Calibration(); got.Threshold != sonnetBefore.Threshold || got.Reason != sonnetBefore.Reason {
		t.Errorf("sonnet, not named, changed: %+v", got)
	}

	// A broken document, a removed key, or one bad rule: what holds stays.
	for _, bad := range []string{`{"opus": `, `[1,2]`, `{"opus": {"threshold": "high"}}`} {
		if err := c.Apply([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := c.Apply(nil); err != nil {
		t.Error(err)
	}
	if got := routes["opus"].Calibration(); got.Threshold != 0.83 {
		t.Errorf("opus lost its calibration: %+v", got)
	}
	err := c.Apply([]byte(`{"opus": {"threshold": 7, "reason": "calibrated"}, "haiku": {"threshold": 0.6, "reason": "calibrated"}}`))
	if err == nil || !strings.Contains(err.Error(), `rule "opus"`) {
		t.Errorf("threshold 7: %v", err)
	}
	if got := routes["opus"].Calibration(); got.Threshold != 0.83 {
		t.Errorf("opus took a threshold of 7: %+v", got)
	}
	if got := routes["haiku"].Calibration(); got.Threshold != 0.6 {
		t.Errorf("haiku, valid beside a bad rule, runs with %+v", got)
	}
	err = c.Apply([]byte(`{"opus": {"threshold": 0.5, "reason": "calibrated", "model": {"features": ["other"], "bias": 1, "weights": [1]}}}`))
	if err == nil || !strings.Contains(err.Error(), "features") {
		t.Errorf("a score over other features: %v", err)
	}
}

// The calibration document comes from the cluster: whatever it holds, the
// parser does not panic, and what it returns is usable.
func FuzzParseCalibrations(f *testing.F) {
	for _, s := range []string{
		`{"opus": {"threshold": 0.83, "reason": "calibrated", "met": true}}`,
		`{"opus": {"threshold": 0.5, "model": {"features": ["prior"], "bias": 1, "weights": [1, 2]}}}`,
		`{}`, `null`, `[]`, `{"a": null}`, `{"a": {"threshold": -1}}`, `{"a": {"threshold": 1e400}}`,
	} {
		f.Add([]byte(s))
	}
	names := routequality.FeatureNames()
	f.Fuzz(func(t *testing.T, data []byte) {
		cals, err := qualitysync.ParseCalibrations(data)
		if err != nil && !json.Valid(data) && len(cals) > 0 {
			t.Fatalf("invalid JSON yielded %d calibrations", len(cals))
		}
		for name, c := range cals {
			if c.Threshold < 0 || c.Threshold > calibrate.Never {
				t.Fatalf("%s: threshold %v returned", name, c.Threshold)
			}
			if c.Model != nil {
				if len(c.Model.Weights) > len(names) {
					t.Fatalf("%s: %d weights returned", name, len(c.Model.Weights))
				}
				c.Model.Predict(make([]float64, len(names)))
			}
		}
	})
}

// Save writes nothing before Load: a state not yet read is never replaced.
func TestFileSavesOnlyAfterLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	g := registry("opus")
	f := &qualitysync.File{Path: path, Registry: g}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("saved before Load: %v", err)
	}
	if restored, err := f.Load(); restored || err != nil {
		t.Fatalf("missing file: restored %v, %v", restored, err)
	}
	g.Routes()["opus"].Add(routequality.Sample{Outcome: "accepted"})
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	var st routequality.State
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || st.Version != routequality.StateVersion || len(st.Routes["opus"].Samples) != 1 {
		t.Fatalf("saved %s (%v)", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A state file that cannot be moved aside (a read-only directory) is never
// overwritten.
func TestFileNeverOverwritesAStateItCouldNotSetAside(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	f := &qualitysync.File{Path: path, Registry: registry("opus")}
	if _, err := f.Load(); err == nil || !strings.Contains(err.Error(), "not be overwritten") {
		t.Fatalf("load: %v", err)
	}
	_ = os.Chmod(dir, 0o700)
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not json" {
		t.Errorf("the unreadable state was replaced by %q", b)
	}
}
