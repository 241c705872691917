package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
)

func (m *Metrics) registerResilience() {
	m.Retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cascadeflow_upstream_retries_total", Help: "Upstream calls retried after a failure before the answer began, by provider and reason (connection, timeout, or the status: 408, 429, 500, 502, 503, 504, 529).",
	}, []string{"provider", "reason"})
	m.Fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cascadeflow_fallbacks_total", Help: "Calls made to a fallback target because the target before it failed, by rule (empty for the default route), target (draft, verifier, default) and the fallback's model.",
	}, []string{"rule", "target", "model"})
	m.BreakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cascadeflow_circuit_breaker_state", Help: "State of a provider's circuit breaker: 0 closed, 1 half-open, 2 open.",
	}, []string{"provider"})
	m.BreakerTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cascadeflow_circuit_breaker_transitions_total", Help: "Circuit breaker state changes, by provider and the state entered (open, half-open, closed).",
	}, []string{"provider", "state"})
	m.Registry.MustRegister(m.Retries, m.Fallbacks, m.BreakerState, m.BreakerTransitions)
}

// Retried counts a retry (resilience.Observer).
func (m *Metrics) Retried(provider, reason string) {
	m.Retries.WithLabelValues(provider, reason).Inc()
}

// BreakerChanged records a breaker's state (resilience.Observer).
func (m *Metrics) BreakerChanged(provider string, s resilience.State, transition bool) {
	m.BreakerState.WithLabelValues(provider).Set(float64(s))
	if transition {
		m.BreakerTransitions.WithLabelValues(provider, s.String()).Inc()
	}
}
