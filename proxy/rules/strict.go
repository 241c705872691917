package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml2 "go.yaml.in/yaml/v2"
)

// countDocuments returns how many non-empty YAML documents data holds. A
// second document would otherwise be dropped without a word.
func countDocuments(data []byte) (int, error) {
	dec := yaml2.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if v != nil {
			n++
		}
	}
}

// checkShape walks a decoded JSON document (numbers as json.Number) against
// the schema type t and reports, with the path of each (rules[0].draft.model),
// every member the schema does not have, every value of the wrong JSON type
// and every value a field's own decoder rejects. Member names must match the
// schema exactly: encoding/json would also accept "Version" or "baseurl".
func checkShape(v any, t reflect.Type, path string, errs *[]error) {
	bad := func(format string, args ...any) {
		p := path
		if p == "" {
			p = "(document)"
		}
		*errs = append(*errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	if v == nil {
		return // null leaves the zero value, as encoding/json does; Validate judges it
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		raw, err := json.Marshal(v)
		if err == nil {
			err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw)
		}
		if err != nil {
			bad("%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		checkShape(v, t.Elem(), path, errs)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("must be an object, got %s", jsonKind(v))
			return
		}
		fields := map[string]reflect.Type{}
		collectFields(t, fields)
		for _, k := range sortedKeys(obj) {
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, fmt.Errorf("%s: unknown field", join(path, k)))
				continue
			}
			checkShape(obj[k], ft, join(path, k), errs)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("must be an object, got %s", jsonKind(v))
			return
		}
		for _, k := range sortedKeys(obj) {
			checkShape(obj[k], t.Elem(), path+"["+k+"]", errs)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			bad("must be a list, got %s", jsonKind(v))
			return
		}
		for i, e := range arr {
			checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("must be a string, got %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("must be true or false, got %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			bad("must be an integer, got %s", jsonKind(v))
		} else if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			bad("must be an integer, got %s", n)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			bad("must be a number, got %s", jsonKind(v))
		} else if _, err := strconv.ParseFloat(n.String(), t.Bits()); err != nil {
			bad("number %s is out of range", n)
		}
	}
}

// collectFields maps JSON member names to field types, promoting the fields
// of untagged embedded structs (Judge embeds Target) as encoding/json does.
func collectFields(t reflect.Type, into map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			collectFields(f.Type, into)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		into[name] = f.Type
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
