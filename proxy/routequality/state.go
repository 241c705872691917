package routequality

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Where the quality loop's state lives in a cluster. Each proxy pod writes
// its samples to a ConfigMap of its own (SamplesKey holds a State with that
// pod's samples); the operator merges them and writes the Calibrations it
// computes (CalibrationKey: a JSON object of Calibration by rule name) into
// the route's rules ConfigMap, which every pod watches.
const (
	SamplesKey     = "samples.json"
	CalibrationKey = "calibration.json"
	// LabelRole marks the ConfigMaps a pod publishes samples in, with
	// RoleSamples as value; LabelRoute names their CascadeRoute.
	LabelRole   = "routing.cascadeflow.io/role"
	RoleSamples = "quality-samples"
	LabelRoute  = "routing.cascadeflow.io/route"
)

// StateVersion is the only State version this package reads and writes.
const StateVersion = 1

// State is the quality loop's durable state: a pod's published samples, the
// operator's merged archive, or a standalone proxy's state file.
type State struct {
	Version int                   `json:"version"`
	Routes  map[string]RouteState `json:"routes"`
}

// RouteState is one rule's part of a State.
type RouteState struct {
	// Samples are the newest samples (at most Window), oldest first.
	Samples []Sample `json:"samples,omitempty"`
	// Calibration is the calibration last in effect.
	Calibration *Calibration `json:"calibration,omitempty"`
	// Spend and AuditSpend are the USD spent answering clients and auditing
	// (since the route started; they bound the audit budget).
	Spend      float64 `json:"spend,omitempty"`
	AuditSpend float64 `json:"auditSpend,omitempty"`
}

// Export is the registry's state: every route's samples, calibration and
// spend.
func (g *Registry) Export() State {
	st := State{Version: StateVersion, Routes: map[string]RouteState{}}
	for name, r := range g.Routes() {
		r.mu.Lock()
		cal := r.cal
		st.Routes[name] = RouteState{
			Samples:     append([]Sample(nil), r.samples...),
			Calibration: &cal,
			Spend:       r.spend,
			AuditSpend:  r.audit,
		}
		r.mu.Unlock()
	}
	return st
}

// Import restores a state into the registry's routes of the same names
// (routes created later by Route do not see it): their samples, spend, and
// a calibration recomputed from the samples under the route's current
// settings. Routes the state does not name are left alone.
func (g *Registry) Import(st State) error {
	if st.Version != StateVersion {
		return fmt.Errorf("quality state version %d: only %d is supported", st.Version, StateVersion)
	}
	for name, r := range g.Routes() {
		rs, ok := st.Routes[name]
		if !ok {
			continue
		}
		r.mu.Lock()
		r.samples = newest(rs.Samples, Window)
		r.spend, r.audit = rs.Spend, rs.AuditSpend
		if !r.remote {
			r.cal = Calibrate(r.s, r.samples)
		}
		r.mu.Unlock()
	}
	return nil
}

// Merge adds the samples of parts to base (an archive), one copy of each
// sample (identified by rule, pod and sequence number), keeping the newest
// Window per rule in time order. Spend adds up only for routes whose samples
// are new, so merging the same part twice changes nothing.
func Merge(base State, parts ...State) State {
	out := State{Version: StateVersion, Routes: map[string]RouteState{}}
	type id struct {
		pod string
		seq uint64
	}
	seen := map[string]map[id]bool{}
	add := func(rule string, rs RouteState, counted bool) {
		cur := out.Routes[rule]
		if seen[rule] == nil {
			seen[rule] = map[id]bool{}
		}
		fresh := 0
		for _, s := range rs.Samples {
			k := id{s.Pod, s.Seq}
			if seen[rule][k] {
				continue
			}
			seen[rule][k] = true
			cur.Samples = append(cur.Samples, s)
			fresh++
		}
		if counted || fresh > 0 {
			cur.Spend += rs.Spend
			cur.AuditSpend += rs.AuditSpend
		}
		if rs.Calibration != nil {
			cur.Calibration = rs.Calibration
		}
		out.Routes[rule] = cur
	}
	for rule, rs := range base.Routes {
		add(rule, rs, true)
	}
	for _, p := range parts {
		for rule, rs := range p.Routes {
			add(rule, rs, false)
		}
	}
	for rule, rs := range out.Routes {
		sort.SliceStable(rs.Samples, func(i, j int) bool { return rs.Samples[i].Time.Before(rs.Samples[j].Time) })
		rs.Samples = newest(rs.Samples, Window)
		out.Routes[rule] = rs
	}
	return out
}

func newest(s []Sample, n int) []Sample {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return append([]Sample(nil), s...)
}

// WriteSamples writes samples as JSON Lines, one sample per line.
func WriteSamples(w io.Writer, samples []Sample) error {
	enc := json.NewEncoder(w)
	for i := range samples {
		if err := enc.Encode(&samples[i]); err != nil {
			return fmt.Errorf("write sample %d: %w", i, err)
		}
	}
	return nil
}

// ReadSamples reads samples written by WriteSamples.
func ReadSamples(r io.Reader) ([]Sample, error) {
	dec := json.NewDecoder(r)
	var out []Sample
	for {
		var s Sample
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read sample %d: %w", len(out)+1, err)
		}
		out = append(out, s)
	}
}
