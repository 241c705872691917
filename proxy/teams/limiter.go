package teams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reason says which limit refused a request.
type Reason string

const (
	ReasonBudget     Reason = "budget"      // the key's hard budget
	ReasonTeamBudget Reason = "team_budget" // the team's hard budget
	ReasonRequests   Reason = "requests"    // requests per minute
	ReasonTokens     Reason = "tokens"      // tokens per minute
	ReasonModel      Reason = "model"       // the key may not use this model
	ReasonStore      Reason = "store"       // fail closed: the shared store is unreachable
)

// Refusal is a request a limit turned away.
type Refusal struct {
	Reason Reason
	// RetryAfter is when the limit resets (the end of the minute or period).
	RetryAfter time.Duration
	Message    string
}

func (r *Refusal) Error() string { return r.Message }

// Estimate is what a request may use, reserved before it runs: an upper
// bound keeps a hard budget from being overshot.
type Estimate struct {
	USD    float64
	Tokens int64
}

// Usage is what a request used, committed when it ends.
type Usage struct {
	USD          float64
	SavingsUSD   float64
	InputTokens  int64
	OutputTokens int64
}

// Limiter admits requests of named keys against their limits and commits
// their usage. Keys without limits are only attributed.
type Limiter struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
	m     *Metrics

	mu    sync.Mutex
	local map[subject]*Totals // attribution in this process, for /api/stats
	soft  map[string]bool     // soft budgets already reported crossed, by counter key
}

type subject struct{ team, key string }

// Totals is one key's attribution in this process.
type Totals struct {
	Team         string  `json:"team"`
	Key          string  `json:"key"`
	Requests     int64   `json:"requests"`
	Refused      int64   `json:"refused"`
	CostUSD      float64 `json:"costUSD"`
	SavingsUSD   float64 `json:"savingsUSD"`
	InputTokens  int64   `json:"inputTokens"`
	OutputTokens int64   `json:"outputTokens"`
}

// NewLimiter returns a limiter counting in store (nil: in memory). m may be nil.
func NewLimiter(store Store, m *Metrics, log *slog.Logger) *Limiter {
	if store == nil {
		store = NewMemory()
	}
	if log == nil {
		log = slog.Default()
	}
	return &Limiter{store: store, log: log, now: time.Now, m: m, local: map[subject]*Totals{}, soft: map[string]bool{}}
}

// Register creates the limiter's metrics on reg; call it before serving.
func (l *Limiter) Register(reg prometheus.Registerer) { l.m = NewMetrics(reg) }

// Store is where the counters are kept.
func (l *Limiter) Store() Store { return l.store }

// counterTTL keeps a counter past its window, so a late commit still lands in it.
func counterTTL(end, now time.Time) time.Duration { return end.Sub(now) + time.Hour }

// budgetKeys are a budget's two counters in its current period: used
// (committed spend plus in-flight estimates, what admission checks) and
// spent (committed spend only, what status reports).
func budgetKeys(kind, name string, b *Budget, now time.Time) (used, spent string, end time.Time) {
	start, end := b.Period.Window(now)
	return counterKey("used", kind, name, start), counterKey("spent", kind, name, start), end
}

// Lease is an admitted request's reservation; Commit ends it.
type Lease struct {
	l      *Limiter
	id     *Identity
	est    Estimate
	rule   string
	held   []Delta // reserved amounts to take back on commit
	spent  []Delta // counters that get the actual spend
	tokens string  // the tokens-per-minute counter, when limited
	soft   []softBudget
	once   sync.Once
}

type softBudget struct {
	scope   string // "key" or "team"
	spent   string
	limit   int64
	periodE time.Time
}

// Admit reserves est for a request of id for model (its rule, "" for none).
// It returns a *Refusal when a limit says no, ErrUnavailable when the
// store is unreachable under a fail-closed policy.
func (l *Limiter) Admit(ctx context.Context, id *Identity, model, rule string, est Estimate) (*Lease, error) {
	if id == nil {
		return nil, nil
	}
	if len(id.Models) > 0 && !slices.Contains(id.Models, model) && (rule == "" || !slices.Contains(id.Models, rule)) {
		return nil, l.refuse(id, &Refusal{Reason: ReasonModel, Message: fmt.Sprintf("the key %q may not use model %q", id.Name, model)})
	}
	now := l.now()
	lease := &Lease{l: l, id: id, est: est, rule: rule}
	var checks []Check
	var reasons []Reason
	var resets []time.Time
	usd := toMicro(est.USD)
	if usd == 0 {
		usd = 1 // an exhausted budget must refuse even an unpriced request
	}
	add := func(kind, name, scope string, b *Budget, reason Reason) {
		if b == nil || b.USD <= 0 {
			return
		}
		used, spent, end := budgetKeys(kind, name, b, now)
		ttl := counterTTL(end, now)
		limit := toMicro(b.USD)
		if b.Enforcement == Soft {
			lease.soft = append(lease.soft, softBudget{scope: scope, spent: spent, limit: limit, periodE: end})
			limit = 0
		}
		checks, reasons, resets = append(checks, Check{Key: used, Limit: limit, Amount: usd, TTL: ttl}), append(reasons, reason), append(resets, end)
		lease.held = append(lease.held, Delta{Key: used, Amount: -usd, TTL: ttl})
		lease.spent = append(lease.spent, Delta{Key: used, TTL: ttl}, Delta{Key: spent, TTL: ttl})
	}
	add("key", id.Name, "key", id.Budget, ReasonBudget)
	if id.Team != "" {
		add("team", id.Team, "team", id.TeamBudget, ReasonTeamBudget)
	}
	mStart, mEnd := minute(now)
	if id.RequestsPerMinute > 0 {
		checks = append(checks, Check{Key: counterKey("rpm", "key", id.Name, mStart), Limit: id.RequestsPerMinute, Amount: 1, TTL: 2 * time.Minute})
		reasons, resets = append(reasons, ReasonRequests), append(resets, mEnd)
	}
	if id.TokensPerMinute > 0 {
		tokens := max(est.Tokens, 1)
		lease.tokens = counterKey("tpm", "key", id.Name, mStart)
		checks = append(checks, Check{Key: lease.tokens, Limit: id.TokensPerMinute, Amount: tokens, TTL: 2 * time.Minute})
		reasons, resets = append(reasons, ReasonTokens), append(resets, mEnd)
		lease.held = append(lease.held, Delta{Key: lease.tokens, Amount: -tokens, TTL: 2 * time.Minute})
	}
	if len(checks) == 0 {
		return lease, nil
	}
	denied, err := l.store.Reserve(ctx, checks)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, l.refuse(id, &Refusal{Reason: ReasonStore, RetryAfter: time.Second,
				Message: "the proxy cannot check this key's limits right now (its limits store is unreachable); retry shortly"})
		}
		return nil, fmt.Errorf("reserve limits: %w", err)
	}
	if denied < 0 {
		return lease, nil
	}
	wait := resets[denied].Sub(now)
	r := &Refusal{Reason: reasons[denied], RetryAfter: wait}
	switch r.Reason {
	case ReasonBudget:
		r.Message = fmt.Sprintf("the key %q has spent its %s budget of $%.2f; it resets at %s", id.Name, id.Budget.Period, id.Budget.USD, resets[denied].Format(time.RFC3339))
	case ReasonTeamBudget:
		r.Message = fmt.Sprintf("the team %q has spent its %s budget of $%.2f; it resets at %s", id.Team, id.TeamBudget.Period, id.TeamBudget.USD, resets[denied].Format(time.RFC3339))
	case ReasonRequests:
		r.Message = fmt.Sprintf("the key %q is limited to %d requests per minute; retry in %ds", id.Name, id.RequestsPerMinute, retrySeconds(wait))
	case ReasonTokens:
		r.Message = fmt.Sprintf("the key %q is limited to %d tokens per minute; retry in %ds", id.Name, id.TokensPerMinute, retrySeconds(wait))
	}
	return nil, l.refuse(id, r)
}

// retrySeconds rounds a wait up to whole seconds, at least 1, for Retry-After.
func retrySeconds(d time.Duration) int64 { return max(int64(math.Ceil(d.Seconds())), 1) }

// RetryAfterSeconds is r.RetryAfter as a Retry-After header value.
func (r *Refusal) RetryAfterSeconds() int64 { return retrySeconds(r.RetryAfter) }

func (l *Limiter) refuse(id *Identity, r *Refusal) error {
	l.mu.Lock()
	l.totals(id).Refused++
	l.mu.Unlock()
	if l.m != nil {
		l.m.Refusals.WithLabelValues(id.Team, id.Name, string(r.Reason)).Inc()
	}
	return r
}

func (l *Limiter) totals(id *Identity) *Totals {
	s := subject{id.Team, id.Name}
	t := l.local[s]
	if t == nil {
		t = &Totals{Team: id.Team, Key: id.Name}
		l.local[s] = t
	}
	return t
}

// Commit records what the request used: the reservation is replaced by the
// actual spend and tokens. It is safe to call more than once (only the
// first counts) and on a nil lease.
func (ls *Lease) Commit(ctx context.Context, u Usage) {
	if ls == nil {
		return
	}
	ls.once.Do(func() { ls.l.commit(ctx, ls, u) })
}

func (l *Limiter) commit(ctx context.Context, ls *Lease, u Usage) {
	id := ls.id
	l.mu.Lock()
	t := l.totals(id)
	t.Requests++
	t.CostUSD += u.USD
	t.SavingsUSD += u.SavingsUSD
	t.InputTokens += u.InputTokens
	t.OutputTokens += u.OutputTokens
	l.mu.Unlock()
	if l.m != nil {
		l.m.record(id.Team, id.Name, u)
	}
	actual := toMicro(u.USD)
	deltas := make([]Delta, 0, len(ls.held)+len(ls.spent))
	deltas = append(deltas, ls.held...)
	for _, d := range ls.spent {
		d.Amount = actual
		deltas = append(deltas, d)
	}
	if ls.tokens != "" {
		deltas = append(deltas, Delta{Key: ls.tokens, Amount: u.InputTokens + u.OutputTokens, TTL: 2 * time.Minute})
	}
	if len(deltas) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx) // the client may be gone; its spend still counts
	if err := l.store.Add(ctx, deltas); err != nil {
		l.log.Error("limits: commit failed; the spend is not counted", "key", id.Name, "team", id.Team, "error", err.Error())
		return
	}
	for _, sb := range ls.soft {
		l.checkSoft(ctx, id, sb)
	}
}

// checkSoft reports a soft budget crossed, once per period and process.
func (l *Limiter) checkSoft(ctx context.Context, id *Identity, sb softBudget) {
	l.mu.Lock()
	done := l.soft[sb.spent]
	l.mu.Unlock()
	if done {
		return
	}
	v, err := l.store.Get(ctx, []string{sb.spent})
	if err != nil || v[0] <= sb.limit {
		return
	}
	l.mu.Lock()
	if l.soft[sb.spent] {
		l.mu.Unlock()
		return
	}
	l.soft[sb.spent] = true
	l.mu.Unlock()
	name := id.Name
	if sb.scope == "team" {
		name = id.Team
	}
	l.log.Warn("soft budget exceeded", "scope", sb.scope, "name", name, "team", id.Team, "spent_usd", fromMicro(v[0]), "budget_usd", fromMicro(sb.limit), "period_end", sb.periodE.Format(time.RFC3339))
	if l.m != nil {
		l.m.SoftExceeded.WithLabelValues(sb.scope, name).Inc()
	}
}

// Totals is this process's attribution per key, sorted by team and key.
func (l *Limiter) Totals() []Totals {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Totals, 0, len(l.local))
	for _, t := range l.local {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Totals) int {
		if a.Team != b.Team {
			return compare(a.Team, b.Team)
		}
		return compare(a.Key, b.Key)
	})
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BudgetState is a budget's standing in its current period, shared by
// every replica. It holds names and figures, never a key.
type BudgetState struct {
	Scope        string    `json:"scope"` // key or team
	Name         string    `json:"name"`
	Team         string    `json:"team,omitempty"`
	Period       Period    `json:"period"`
	Enforcement  string    `json:"enforcement"`
	BudgetUSD    float64   `json:"budgetUSD"`
	SpentUSD     float64   `json:"spentUSD"`
	InFlightUSD  float64   `json:"inFlightUSD"` // reserved by requests not yet finished
	RemainingUSD float64   `json:"remainingUSD"`
	PeriodEnd    time.Time `json:"periodEnd"`
	Exceeded     bool      `json:"exceeded"`
}

// Budgets reads the state of every budget of ids (team budgets once).
func (l *Limiter) Budgets(ctx context.Context, ids []*Identity) ([]BudgetState, error) {
	now := l.now()
	var out []BudgetState
	var keys []string
	seenTeam := map[string]bool{}
	add := func(scope, name, team string, b *Budget) {
		if b == nil || b.USD <= 0 {
			return
		}
		used, spent, end := budgetKeys(scope, name, b, now)
		enf := string(b.Enforcement)
		if enf == "" {
			enf = string(Hard)
		}
		out = append(out, BudgetState{Scope: scope, Name: name, Team: team, Period: b.Period, Enforcement: enf, BudgetUSD: b.USD, PeriodEnd: end})
		keys = append(keys, used, spent)
	}
	for _, id := range ids {
		add("key", id.Name, id.Team, id.Budget)
		if id.Team != "" && !seenTeam[id.Team] {
			seenTeam[id.Team] = true
			add("team", id.Team, id.Team, id.TeamBudget)
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	vals, err := l.store.Get(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read budgets: %w", err)
	}
	for i := range out {
		used, spent := vals[2*i], vals[2*i+1]
		s := &out[i]
		s.SpentUSD = fromMicro(spent)
		s.InFlightUSD = fromMicro(max(used-spent, 0))
		s.RemainingUSD = max(s.BudgetUSD-s.SpentUSD, 0)
		s.Exceeded = s.SpentUSD >= s.BudgetUSD
	}
	return out, nil
}
