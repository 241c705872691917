package routequality

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
