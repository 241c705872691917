// Package metrics defines every Prometheus metric the proxy exports, on a
// registry of its own (never the global one). Names use the cascadeflow_
// prefix and base units; labels are bounded: rule names come from the rules
// file, model names from the rules or the price table, and a model name a
// client invented is recorded as "other".
package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the proxy's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	// HTTP layer.
	Requests        *prometheus.CounterVec   // endpoint, code
	RequestDuration *prometheus.HistogramVec // endpoint
	InFlight        prometheus.Gauge

	// Routing and cascade.
	RouteRequests  *prometheus.CounterVec   // rule, outcome (passthrough|accepted|escalated|draft_only|verifier_only|skipped_draft|bypassed|error|canceled)
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

	// Rules loading.
	RulesReloads *prometheus.CounterVec // result (ok|invalid|unchanged)
	RulesInfo    *prometheus.GaugeVec   // hash: 1 for the loaded rules
	RulesLoaded  prometheus.Gauge       // unix time of the last successful load
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
			Name: "cascadeflow_requests_total", Help: "Model requests by rule and outcome (passthrough, accepted, escalated, draft_only, verifier_only, skipped_draft, bypassed, error, canceled).",
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
		m.RulesReloads, m.RulesInfo, m.RulesLoaded,
	)
	return m
}

// SetRulesHash marks hash as the one being served.
func (m *Metrics) SetRulesHash(hash string) {
	m.RulesInfo.Reset()
	m.RulesInfo.WithLabelValues(hash).Set(1)
}
