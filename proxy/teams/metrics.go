package teams

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the per-key and per-team collectors. Labels are bounded: key
// and team names come from the configuration; a key with no name is "".
type Metrics struct {
	Requests     *prometheus.CounterVec // team, key
	CostUSD      *prometheus.CounterVec // team, key
	SavingsUSD   *prometheus.CounterVec // team, key
	Tokens       *prometheus.CounterVec // team, key, kind (input|output)
	Refusals     *prometheus.CounterVec // team, key, reason
	SoftExceeded *prometheus.CounterVec // scope (key|team), name
}

// NewMetrics registers the collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_client_requests_total", Help: "Model requests served, by the client key's team and name.",
		}, []string{"team", "key"}),
		CostUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_client_cost_usd_total", Help: "What the upstream calls of a client key's requests cost, in USD.",
		}, []string{"team", "key"}),
		SavingsUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_client_savings_usd_total", Help: "What cascading saved a client key against its requested models, in USD (requests that cost more than their baseline add nothing).",
		}, []string{"team", "key"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_client_tokens_total", Help: "Tokens of a client key's upstream calls, by kind (input, output).",
		}, []string{"team", "key", "kind"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_client_refusals_total", Help: "Requests a client key's limits refused, by reason (budget, team_budget, requests, tokens, model, store).",
		}, []string{"team", "key", "reason"}),
		SoftExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cascadeflow_client_soft_budget_exceeded_total", Help: "Soft budgets this process saw crossed (once per period), by scope (key, team) and name.",
		}, []string{"scope", "name"}),
	}
	reg.MustRegister(m.Requests, m.CostUSD, m.SavingsUSD, m.Tokens, m.Refusals, m.SoftExceeded)
	return m
}

func (m *Metrics) record(team, key string, u Usage) {
	m.Requests.WithLabelValues(team, key).Inc()
	m.CostUSD.WithLabelValues(team, key).Add(max(u.USD, 0))
	// A counter cannot go down: negative savings are left out, as the rule-level metric does.
	m.SavingsUSD.WithLabelValues(team, key).Add(max(u.SavingsUSD, 0))
	m.Tokens.WithLabelValues(team, key, "input").Add(float64(u.InputTokens))
	m.Tokens.WithLabelValues(team, key, "output").Add(float64(u.OutputTokens))
}
