package qualitysync

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// Calibrations puts the operator's calibrations in effect: a document (the
// rules ConfigMap's routequality.CalibrationKey) mapping rule names to
// routequality.Calibration. Every route it names runs with its calibration
// from then on (Route.SetCalibration); routes it does not name are left
// alone, and so are all routes when the key is removed (they keep the last
// calibration they were given).
type Calibrations struct {
	Registry *routequality.Registry
	Log      *slog.Logger

	mu   sync.Mutex
	last [32]byte // the document last applied, to log changes only
}

// Apply applies a calibration document; nil or empty means the key is
// absent. It runs on every delivery of the rules ConfigMap, after its
// rules, so routes a rules change created get their calibration too. A
// document that does not decode changes nothing; a rule whose calibration
// is invalid keeps its current one while the others apply. The error says
// what was rejected.
func (c *Calibrations) Apply(data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := sha256.Sum256(data)
	changed := sum != c.last
	c.last = sum
	if len(bytes.TrimSpace(data)) == 0 {
		if changed {
			c.log().Info("no calibrations from the operator; routes keep the calibration they run with")
		}
		return nil
	}
	cals, err := ParseCalibrations(data)
	routes := c.Registry.Routes()
	applied, unknown := 0, 0
	for name, cal := range cals {
		if r, ok := routes[name]; ok {
			r.SetCalibration(cal)
			applied++
		} else {
			unknown++
		}
	}
	if err != nil {
		if changed {
			c.log().Error("calibrations from the operator rejected", "error", err.Error(), "applied", applied)
		}
		return err
	}
	if changed {
		c.log().Info("calibrations from the operator applied", "routes", applied, "unknown_rules", unknown)
	}
	return nil
}

// ParseCalibrations decodes a calibration document. A rule whose
// calibration is unusable (a threshold outside [0, calibrate.Never], a
// score over other features than this proxy computes) is left out and named
// in the error, which wraps the decode error when the document is not a
// JSON object of calibrations at all (then nothing is returned).
func ParseCalibrations(data []byte) (map[string]routequality.Calibration, error) {
	var raw map[string]routequality.Calibration
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode %s: %w", routequality.CalibrationKey, err)
	}
	features := routequality.FeatureNames()
	out := make(map[string]routequality.Calibration, len(raw))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		cal := raw[name]
		switch {
		case !(cal.Threshold >= 0 && cal.Threshold <= calibrate.Never):
			errs = append(errs, fmt.Errorf("rule %q: threshold %v is outside [0, %v]", name, cal.Threshold, calibrate.Never))
		case cal.Model != nil && !slices.Equal(cal.Model.Features, features):
			errs = append(errs, fmt.Errorf("rule %q: the score's features %q are not this proxy's %q", name, cal.Model.Features, features))
		case cal.Model != nil && len(cal.Model.Weights) > len(features):
			errs = append(errs, fmt.Errorf("rule %q: the score has %d weights for %d features", name, len(cal.Model.Weights), len(features)))
		default:
			out[name] = cal
		}
	}
	return out, errors.Join(errs...)
}

func (c *Calibrations) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}
