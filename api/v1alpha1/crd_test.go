package v1alpha1

import (
	"os"
	"sort"
	"testing"

	"sigs.k8s.io/yaml"
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
