// Package routequality holds each rule's quality loop: the settings it
// declares (quality target, audits, second opinions), the samples its
// traffic produced (scored drafts, some compared with the verifier's
// answer), the score learned from them and the threshold in effect.
//
// A Route is shared by every request of its rule and outlives rules
// reloads (Registry keeps it while the rule's draft, verifier and gate stay
// the same). Standalone, a proxy calibrates its routes itself; in a cluster
// the operator aggregates every pod's samples and hands each pod the same
// Calibration (SetCalibration).
package routequality
