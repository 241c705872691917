package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Duration is a time.Duration written as a Go duration string ("30s", "2m").
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string; zero is omitted by omitempty
// only on pointers, so zero encodes as "0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	d.Duration = v
	return nil
}

// IsZero lets encoders omit unset durations (encoding/json honours omitzero).
func (d Duration) IsZero() bool { return d.Duration == 0 }

// MaxFileSize bounds a rules file.
const MaxFileSize = 4 << 20

// Decode reads a rules file (YAML or JSON) strictly: unknown fields, wrong
// types and trailing documents are errors naming the field. It validates the
// result and returns it.
func Decode(data []byte) (*Set, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("rules: file is %d bytes, over the %d byte limit", len(data), MaxFileSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("rules: file is empty")
	}
	if n, err := countDocuments(data); err != nil {
		return nil, fmt.Errorf("rules: parse: %w", err)
	} else if n != 1 {
		return nil, fmt.Errorf("rules: the file holds %d YAML documents; want exactly one", n)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("rules: parse: %w", err)
	}
	// First the shape, with a path for every problem; then the typed decode,
	// which cannot fail on a document of the right shape.
	var doc any
	gen := json.NewDecoder(bytes.NewReader(js))
	gen.UseNumber()
	if err := gen.Decode(&doc); err != nil {
		return nil, fmt.Errorf("rules: parse: %w", err)
	}
	var shapeErrs []error
	checkShape(doc, reflect.TypeFor[Set](), "", &shapeErrs)
	if len(shapeErrs) > 0 {
		return nil, fmt.Errorf("rules: %w", errors.Join(shapeErrs...))
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var s Set
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("rules: %w", describeDecodeError(err))
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeFile reads and decodes a rules file.
func DecodeFile(path string) (*Set, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("rules: read %s: %w", path, err)
	}
	s, err := Decode(data)
	return s, data, err
}

// describeDecodeError turns encoding/json's errors into messages that name the field.
func describeDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		return fmt.Errorf("field %s: cannot use a JSON %s as %s", field, te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("syntax error at offset %d: %v", se.Offset, se)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(msg, "json: unknown field "))
	}
	return errors.New(strings.TrimPrefix(msg, "json: "))
}

// EncodeJSON is the deterministic encoding: struct fields in schema order,
// map keys sorted, no insignificant whitespace. Equal sets encode equally.
func EncodeJSON(s *Set) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("rules: encode: %w", err)
	}
	return b, nil
}

// EncodeYAML is the deterministic YAML encoding (keys sorted).
func EncodeYAML(s *Set) ([]byte, error) {
	js, err := EncodeJSON(s)
	if err != nil {
		return nil, err
	}
	y, err := yaml.JSONToYAML(js)
	if err != nil {
		return nil, fmt.Errorf("rules: encode yaml: %w", err)
	}
	return y, nil
}
