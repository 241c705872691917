package v1alpha1

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
)

// Every field must say what it is for, so `kubectl explain cascaderoute.spec...` helps.
func TestEveryCRDFieldIsDocumented(t *testing.T) {
	data, err := os.ReadFile("../../config/crd/bases/routing.cascadeflow.io_cascaderoutes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1alpha1" {
		t.Fatalf("versions = %+v", crd.Spec.Versions)
	}
	var undocumented []string
	var walk func(path string, schema map[string]any)
	walk = func(path string, schema map[string]any) {
		props, _ := schema["properties"].(map[string]any)
		for name, p := range props {
			prop := p.(map[string]any)
			child := path + "." + name
			// metadata is ObjectMeta; the API server documents it.
			if d, _ := prop["description"].(string); d == "" && child != ".metadata" {
				undocumented = append(undocumented, child)
			}
			walk(child, prop)
			if items, ok := prop["items"].(map[string]any); ok {
				walk(child+"[]", items)
			}
			if ap, ok := prop["additionalProperties"].(map[string]any); ok {
				walk(child+"{}", ap)
			}
		}
	}
	root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	walk("", root)
	sort.Strings(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("fields without a description: %v", undocumented)
	}
	// Sanity check of the walk itself: it must have reached deep fields.
	spec := root["properties"].(map[string]any)["spec"].(map[string]any)
	rules := spec["properties"].(map[string]any)["rules"].(map[string]any)
	if _, ok := rules["items"].(map[string]any)["properties"].(map[string]any)["threshold"]; !ok {
		t.Error("schema has no spec.rules[].threshold")
	}
}

// The CRD's lists of gate signal, option and level names are written by hand
// in CEL rules; they must be exactly the names the gate knows.
func TestCRDGateNamesMatchTheGate(t *testing.T) {
	data, err := os.ReadFile("../../config/crd/bases/routing.cascadeflow.io_cascaderoutes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	at := func(v any, path ...string) any {
		for _, p := range path {
			if p == "0" {
				v = v.([]any)[0]
				continue
			}
			v = v.(map[string]any)[p]
		}
		return v
	}
	gate := at(crd, "spec", "versions", "0", "schema", "openAPIV3Schema", "properties", "spec", "properties", "rules",
		"items", "properties", "gate", "properties").(map[string]any)
	list := regexp.MustCompile(`k in \[([^\]]*)\]`)
	// names returns the names listed in the field's rules that contain marker.
	names := func(field, marker string) []string {
		for _, r := range at(gate, field, "x-kubernetes-validations").([]any) {
			rule := r.(map[string]any)["rule"].(string)
			if !strings.Contains(rule, marker) {
				continue
			}
			m := list.FindStringSubmatch(rule)
			if m == nil {
				t.Fatalf("%s: no list in rule %q", field, rule)
			}
			var out []string
			for _, q := range strings.Split(m[1], ",") {
				out = append(out, strings.Trim(strings.TrimSpace(q), "'"))
			}
			return out
		}
		t.Fatalf("%s: no rule with %q", field, marker)
		return nil
	}
	for _, tc := range []struct {
		field, marker string
		want          []string
	}{
		{"weights", "self.all(k, k in", gateconfig.SignalNames()},
		{"options", "self.all(k, k in", gateconfig.OptionNames()},
		{"options", "<= 1.0", gateconfig.UnitOptions()},
		{"complexityThresholds", "self.all(k, k in", gateconfig.Levels()},
	} {
		if got := names(tc.field, tc.marker); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CRD gate.%s lists %v, the gate knows %v", tc.field, got, tc.want)
		}
	}
	// Every option's lower bound is at least 0, which the CRD's
	// "must not be negative" rule relies on.
	for _, name := range gateconfig.OptionNames() {
		if _, err := gateconfig.ParseOptions("options", map[string]float64{name: -0.001}); err == nil {
			t.Errorf("option %s accepts a negative value, which the CRD refuses", name)
		}
	}
}
