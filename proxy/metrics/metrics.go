// Package metrics defines every Prometheus metric the proxy exports, on a
// registry of its own (never the global one). Names use the cascadeflow_
// prefix and base units; labels are bounded: rule names come from the rules
// file, model names from the rules or the price table, and a model name a
// client invented is recorded as "other".
package metrics

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// Metrics holds the proxy's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	// HTTP layer.
	Requests        *prometheus.CounterVec   // endpoint, code
	RequestDuration *prometheus.HistogramVec // endpoint
	InFlight        prometheus.Gauge

	// Routing and cascade.
	RouteRequests  *prometheus.CounterVec   // rule, outcome (passthrough|accepted|escalated|turn_draft|turn_verifier|draft_only|verifier_only|skipped_draft|bypassed|error|canceled)
	DraftFailures  *prometheus.CounterVec   // rule, reason (error|timeout)
	SecondOpinions *prometheus.CounterVec   // rule, end (answered|failed|dropped|canceled)
	GateScore      *prometheus.HistogramVec // rule
	StageDuration  *prometheus.HistogramVec // stage (one of Stages), outcome
	Tokens         *prometheus.CounterVec   // model, kind (input|output|cache_write|cache_read)
	CostUSD        *prometheus.CounterVec   // rule, model
	BaselineUSD    *prometheus.CounterVec   // rule
	SavingsUSD     *prometheus.CounterVec   // rule: money saved by requests that cost less than the baseline
	ExtraCostUSD   *prometheus.CounterVec   // rule: money lost by requests that cost more (escalations pay for both models)
	UnknownPrice   *prometheus.CounterVec   // model
	UpstreamErrors *prometheus.CounterVec   // provider, kind

	// Latency as the client sees it.
	TimeToFirstToken   *prometheus.HistogramVec // rule, outcome, model
	TimePerOutputToken *prometheus.HistogramVec // rule, outcome, model

	// Resilience (see resilience.go).
	Retries            *prometheus.CounterVec // provider, reason
	Fallbacks          *prometheus.CounterVec // rule, target (draft|verifier|default), model
	BreakerState       *prometheus.GaugeVec   // provider: 0 closed, 1 half-open, 2 open
	BreakerTransitions *prometheus.CounterVec // provider, state
	// Quality loop, per rule. The gauges are read from the rules' quality
	// loops when metrics are gathered (see Gatherer); the counters are kept
	// as audits run.
	QualityEstimate    *prometheus.GaugeVec   // rule: estimated share of answers at least as good as the verifier's
	QualityLower       *prometheus.GaugeVec   // rule: its lower bound at the rule's confidence
	QualityRealised    *prometheus.GaugeVec   // rule, bound: the quality the served answers delivered
	QualityUpper       *prometheus.GaugeVec   // rule: its upper bound
	QualityTarget      *prometheus.GaugeVec   // rule: the declared target (0: none)
	QualityTargetMet   *prometheus.GaugeVec   // rule: 1 when the target holds at the declared confidence
	QualityThreshold   *prometheus.GaugeVec   // rule: the threshold in effect
	QualityCalibration *prometheus.GaugeVec   // rule, reason (configured|cold-start|calibrated|escalate-all): 1 for the reason in effect
	QualityCalSamples  *prometheus.GaugeVec   // rule: samples the calibration in effect was computed from
	QualityCalLabels   *prometheus.GaugeVec   // rule: labelled samples among them
	QualitySamples     *prometheus.CounterVec // rule, labelled (true|false): samples this process added
	Audits             *prometheus.CounterVec // rule, source (accepted|escalated), comparer (exact|judge|none), verdict (good|bad|none|error)
	AuditsSkipped      *prometheus.CounterVec // rule, reason (budget|saturated|shutdown)
	AuditCostUSD       *prometheus.CounterVec // rule: verifier and judge calls made only to compare
	NetSavingsUSD      *prometheus.GaugeVec   // rule: savings minus extra cost minus audit cost

	// Rules loading.
	RulesReloads *prometheus.CounterVec // result (ok|invalid|unchanged)
	RulesInfo    *prometheus.GaugeVec   // hash: 1 for the loaded rules
	RulesLoaded  prometheus.Gauge       // unix time of the last successful load

	gatherMu sync.Mutex
}

// Stages are the stage label values of cascadeflow_stage_duration_seconds:
// the draft call, each second-opinion call, the quality gate's decision, the
// verifier (the request's time after draft, gate and the wait for second
// opinions), and the whole cascaded request.
var Stages = []string{"draft", "opinion", "gate", "verifier", "total"}

// New registers all collectors on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_http_requests_total", Help: "HTTP requests served, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cascadeflow_http_request_duration_seconds", Help: "Time from request to the last byte of the response.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"endpoint"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cascadeflow_http_in_flight_requests", Help: "Requests being served now.",
		}),
		RouteRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_requests_total", Help: "Model requests by rule and outcome (passthrough, accepted, escalated, turn_draft, turn_verifier, draft_only, verifier_only, skipped_draft, bypassed, error, canceled).",
		}, []string{"rule", "outcome"}),
		DraftFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_draft_failures_total", Help: "Draft calls that failed and were escalated, by reason (error, timeout).",
		}, []string{"rule", "reason"}),
		SecondOpinions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_second_opinions_total", Help: "Second-opinion calls by rule and how they ended (answered, failed, dropped: not awaited, canceled: the client went away).",
		}, []string{"rule", "end"}),
		GateScore: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cascadeflow_gate_score", Help: "Quality gate score of drafts.",
			Buckets: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}, // literal: LinearBuckets gives le="0.30000000000000004"
		}, []string{"rule"}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cascadeflow_stage_duration_seconds", Help: "Duration of each cascade stage (" + strings.Join(Stages, ", ") + ") by request outcome; total is the whole cascaded request.",
			Buckets: []float64{.0001, .001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"stage", "outcome"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_tokens_total", Help: "Tokens by model and kind (input, output, cache_write, cache_read).",
		}, []string{"model", "kind"}),
		CostUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_cost_usd_total", Help: "Actual spend in US dollars by rule and model (draft, second-opinion, verifier and judge calls).",
		}, []string{"rule", "model"}),
		BaselineUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_baseline_cost_usd_total", Help: "What the requested model alone would have cost, in US dollars, by rule.",
		}, []string{"rule"}),
		SavingsUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_savings_usd_total", Help: "Baseline minus actual cost, summed over requests that cost less than the baseline, by rule. Net savings = this - cascadeflow_extra_cost_usd_total.",
		}, []string{"rule"}),
		ExtraCostUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_extra_cost_usd_total", Help: "Actual minus baseline cost, summed over requests that cost more than the baseline (escalations), by rule.",
		}, []string{"rule"}),
		UnknownPrice: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_unknown_price_total", Help: "Requests whose cost could not be computed because a model has no price.",
		}, []string{"model"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_upstream_errors_total", Help: "Failed upstream calls by provider and error kind.",
		}, []string{"provider", "kind"}),
		TimeToFirstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cascadeflow_time_to_first_token_seconds", Help: "Time from a model request's arrival to the first content token written to the client (a non-streamed answer: to its body), by rule, outcome and served model.",
			Buckets: []float64{.025, .05, .1, .25, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120},
		}, []string{"rule", "outcome", "model"}),
		TimePerOutputToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cascadeflow_time_per_output_token_seconds", Help: "Streamed answers: (last content token written - first) / (output tokens - 1), by rule, outcome and served model.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .015, .02, .03, .04, .05, .075, .1, .15, .25, .5, 1},
		}, []string{"rule", "outcome", "model"}),
		QualityEstimate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_estimate", Help: "Estimated share of the rule's answers at least as good as the verifier's would have been (escalated answers count as good), at the threshold in effect.",
		}, []string{"rule"}),
		QualityLower: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_lower_bound", Help: "Lower bound of cascadeflow_quality_estimate at the rule's confidence.",
		}, []string{"rule"}),
		QualityUpper: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_upper_bound", Help: "Upper bound of cascadeflow_quality_estimate at the rule's confidence.",
		}, []string{"rule"}),
		QualityRealised: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_realised", Help: "Estimated share of the answers served (over the samples kept) at least as good as the verifier's would have been, whatever thresholds were in effect; bound: estimate, lower or upper (at the rule's confidence).",
		}, []string{"rule", "bound"}),
		QualityTarget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_target", Help: "The rule's quality target (0: none declared).",
		}, []string{"rule"}),
		QualityTargetMet: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_target_met", Help: "1 when the rule's quality target holds at its confidence (always 1 without a target), else 0.",
		}, []string{"rule"}),
		QualityThreshold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_threshold", Help: "The threshold in effect (1.01: every draft is escalated).",
		}, []string{"rule"}),
		QualityCalibration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_calibration", Help: "1 for the reason the threshold in effect holds (configured, cold-start, calibrated, escalate-all).",
		}, []string{"rule", "reason"}),
		QualityCalSamples: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_calibration_samples", Help: "Samples the calibration in effect was computed from.",
		}, []string{"rule"}),
		QualityCalLabels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_quality_calibration_labels", Help: "Labelled samples (drafts compared with the verifier) the calibration in effect was computed from.",
		}, []string{"rule"}),
		QualitySamples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_quality_samples_total", Help: "Samples this process added to the rule's quality loop, labelled (compared with the verifier) or not.",
		}, []string{"rule", "labelled"}),
		Audits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_audits_total", Help: "Drafts compared with the verifier's answer, by source (accepted: an audit; escalated: the answer the client got), comparer (exact, judge, none) and verdict (good, bad, none: not comparable, error: a call failed).",
		}, []string{"rule", "source", "comparer", "verdict"}),
		AuditsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_audits_skipped_total", Help: "Comparisons drawn but not made, by reason (budget: over quality.audit.maxCostShare; saturated: too many running; shutdown).",
		}, []string{"rule", "reason"}),
		AuditCostUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_audit_cost_usd_total", Help: "Spend in US dollars on calls made only to compare (audit verifier calls, pairwise judge calls), by rule. Not part of cascadeflow_cost_usd_total.",
		}, []string{"rule"}),
		NetSavingsUSD: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_net_savings_usd", Help: "Savings minus extra cost minus audit cost, in US dollars, by rule, since the process started.",
		}, []string{"rule"}),
		RulesReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_rules_reloads_total", Help: "Rules load attempts by result (ok, invalid, unchanged).",
		}, []string{"result"}),
		RulesInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cascadeflow_rules_info", Help: "1 for the SHA-256 hash of the rules being served.",
		}, []string{"hash"}),
		RulesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cascadeflow_rules_loaded_timestamp_seconds", Help: "Unix time the serving rules were loaded.",
		}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Requests, m.RequestDuration, m.InFlight,
		m.RouteRequests, m.DraftFailures, m.SecondOpinions, m.GateScore, m.StageDuration,
		m.Tokens, m.CostUSD, m.BaselineUSD, m.SavingsUSD, m.ExtraCostUSD, m.UnknownPrice, m.UpstreamErrors,
		m.TimeToFirstToken, m.TimePerOutputToken,
		m.QualityEstimate, m.QualityLower, m.QualityUpper, m.QualityRealised, m.QualityTarget, m.QualityTargetMet, m.QualityThreshold,
		m.QualityCalibration, m.QualityCalSamples, m.QualityCalLabels, m.QualitySamples,
		m.Audits, m.AuditsSkipped, m.AuditCostUSD, m.NetSavingsUSD,
		m.RulesReloads, m.RulesInfo, m.RulesLoaded,
	)
	m.registerResilience()
	return m
}

// Quality is one rule's quality-loop figures, as the gauges show them.
type Quality struct {
	Estimate, Lower, Upper float64
	// Realised, RealisedLower and RealisedUpper: the served answers' quality.
	Realised, RealisedLower, RealisedUpper float64
	Target                                 float64
	Met                                    bool
	Threshold                              float64
	Reason                                 string
	Samples, Labels                        int
}

// SetQuality sets the quality gauges of every rule in qs (by rule name) and
// drops those of rules no longer there.
func (m *Metrics) SetQuality(qs map[string]Quality) {
	for _, g := range []*prometheus.GaugeVec{m.QualityEstimate, m.QualityLower, m.QualityUpper, m.QualityRealised, m.QualityTarget,
		m.QualityTargetMet, m.QualityThreshold, m.QualityCalibration, m.QualityCalSamples, m.QualityCalLabels} {
		g.Reset()
	}
	for rule, q := range qs {
		m.QualityEstimate.WithLabelValues(rule).Set(q.Estimate)
		m.QualityLower.WithLabelValues(rule).Set(q.Lower)
		m.QualityUpper.WithLabelValues(rule).Set(q.Upper)
		m.QualityRealised.WithLabelValues(rule, "estimate").Set(q.Realised)
		m.QualityRealised.WithLabelValues(rule, "lower").Set(q.RealisedLower)
		m.QualityRealised.WithLabelValues(rule, "upper").Set(q.RealisedUpper)
		m.QualityTarget.WithLabelValues(rule).Set(q.Target)
		met := 0.0
		if q.Met {
			met = 1
		}
		m.QualityTargetMet.WithLabelValues(rule).Set(met)
		m.QualityThreshold.WithLabelValues(rule).Set(q.Threshold)
		m.QualityCalibration.WithLabelValues(rule, q.Reason).Set(1)
		m.QualityCalSamples.WithLabelValues(rule).Set(float64(q.Samples))
		m.QualityCalLabels.WithLabelValues(rule).Set(float64(q.Labels))
	}
}

// Gatherer gathers the registry after refresh has updated the gauges read
// from state (SetQuality). Gathers are serialised so one's refresh cannot
// empty the gauges under another.
func (m *Metrics) Gatherer(refresh func()) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		m.gatherMu.Lock()
		defer m.gatherMu.Unlock()
		if refresh != nil {
			refresh()
		}
		return m.Registry.Gather()
	})
}

// SetRulesHash marks hash as the one being served.
func (m *Metrics) SetRulesHash(hash string) {
	m.RulesInfo.Reset()
	m.RulesInfo.WithLabelValues(hash).Set(1)
}

// CountDroppedLogLines exports dropped (read when scraped) as
// cascadeflow_log_lines_dropped_total: log lines the asynchronous log sink
// dropped because its buffer was full. Call it once.
func (m *Metrics) CountDroppedLogLines(dropped func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "cascadeflow_log_lines_dropped_total",
		Help: "Log lines (mostly access log lines) dropped because the log output could not keep up and the buffer was full.",
	}, func() float64 { return float64(dropped()) }))
}
