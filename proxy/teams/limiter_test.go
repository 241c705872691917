package teams

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func newTestLimiter(store Store, now time.Time) (*Limiter, *Metrics) {
	m := NewMetrics(prometheus.NewRegistry())
	l := NewLimiter(store, m, nil)
	l.now = fixedClock(now)
	return l, m
}

var now0 = time.Date(2026, 12, 3, 14, 33, 10, 0, time.UTC)

func refusal(t *testing.T, err error) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a refusal, got %v", err)
	}
	return r
}

func TestHardBudgetRefusesWhatWouldOvershoot(t *testing.T) {
	ctx := context.Background()
	l, m := newTestLimiter(NewMemory(), now0)
	id := &Identity{Name: "alice", Team: "payments", Limits: Limits{Budget: &Budget{USD: 1, Period: Day, Enforcement: Hard}}}
	// Three requests estimated at $0.40: the third would reach $1.20 while
	// the first two are in flight.
	a, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.4})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.4})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Admit(ctx, id, "m", "", Estimate{USD: 0.4})
	r := refusal(t, err)
	if r.Reason != ReasonBudget || r.RetryAfter != 24*time.Hour-(14*time.Hour+33*time.Minute+10*time.Second) {
		t.Errorf("refusal %+v", r)
	}
	// Committing less than reserved frees the difference.
	a.Commit(ctx, Usage{USD: 0.1, InputTokens: 10, OutputTokens: 5})
	b.Commit(ctx, Usage{USD: 0.1})
	b.Commit(ctx, Usage{USD: 5}) // a second commit is ignored
	c, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.4})
	if err != nil {
		t.Fatalf("$0.20 spent, $0.40 more fits in $1: %v", err)
	}
	c.Commit(ctx, Usage{USD: 0.7})
	// $0.90 spent: a request estimated at $0.2 no longer fits.
	if _, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.2}); refusal(t, err).Reason != ReasonBudget {
		t.Fatal("want a budget refusal")
	}
	st, err := l.Budgets(ctx, []*Identity{id})
	if err != nil || len(st) != 1 {
		t.Fatalf("budgets %v %v", st, err)
	}
	if s := st[0]; s.SpentUSD != 0.9 || s.InFlightUSD != 0 || s.RemainingUSD < 0.0999 || s.RemainingUSD > 0.1001 || s.Exceeded || !s.PeriodEnd.Equal(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("state %+v", s)
	}
	if got := testutil.ToFloat64(m.CostUSD.WithLabelValues("payments", "alice")); got < 0.8999 || got > 0.9001 {
		t.Errorf("cost metric %v", got)
	}
	if got := testutil.ToFloat64(m.Refusals.WithLabelValues("payments", "alice", "budget")); got != 2 {
		t.Errorf("refusals metric %v", got)
	}
	if tot := l.Totals(); len(tot) != 1 || tot[0].Requests != 3 || tot[0].Refused != 2 || tot[0].InputTokens != 10 {
		t.Errorf("totals %+v", tot)
	}
}

func TestTeamBudgetIsShared(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLimiter(NewMemory(), now0)
	team := &Budget{USD: 1, Period: Month}
	alice := &Identity{Name: "alice", Team: "t", TeamBudget: team}
	bob := &Identity{Name: "bob", Team: "t", TeamBudget: team}
	a, err := l.Admit(ctx, alice, "m", "", Estimate{USD: 0.6})
	if err != nil {
		t.Fatal(err)
	}
	a.Commit(ctx, Usage{USD: 0.6})
	if _, err := l.Admit(ctx, bob, "m", "", Estimate{USD: 0.6}); refusal(t, err).Reason != ReasonTeamBudget {
		t.Fatal("bob should hit the team budget alice spent")
	}
	st, _ := l.Budgets(ctx, []*Identity{alice, bob})
	if len(st) != 1 || st[0].Scope != "team" || st[0].SpentUSD != 0.6 {
		t.Errorf("one team budget expected, got %+v", st)
	}
}

func TestSoftBudgetAlertsButAdmits(t *testing.T) {
	ctx := context.Background()
	l, m := newTestLimiter(NewMemory(), now0)
	id := &Identity{Name: "alice", Limits: Limits{Budget: &Budget{USD: 0.5, Period: Week, Enforcement: Soft}}}
	for i := 0; i < 4; i++ {
		ls, err := l.Admit(ctx, id, "m", "", Estimate{USD: 1})
		if err != nil {
			t.Fatalf("soft budgets never refuse: %v", err)
		}
		ls.Commit(ctx, Usage{USD: 0.3})
	}
	if got := testutil.ToFloat64(m.SoftExceeded.WithLabelValues("key", "alice")); got != 1 {
		t.Errorf("crossing reported %v times, want once", got)
	}
	st, _ := l.Budgets(ctx, []*Identity{id})
	if !st[0].Exceeded || st[0].RemainingUSD != 0 || st[0].Enforcement != "soft" {
		t.Errorf("state %+v", st[0])
	}
}

func TestRequestsPerMinute(t *testing.T) {
	ctx := context.Background()
	store := NewMemory()
	l, _ := newTestLimiter(store, now0)
	id := &Identity{Name: "alice", Limits: Limits{RequestsPerMinute: 3}}
	for i := 0; i < 3; i++ {
		if _, err := l.Admit(ctx, id, "m", "", Estimate{}); err != nil {
			t.Fatal(err)
		}
	}
	r := refusal(t, func() error { _, err := l.Admit(ctx, id, "m", "", Estimate{}); return err }())
	if r.Reason != ReasonRequests || r.RetryAfterSeconds() != 50 {
		t.Errorf("refusal %+v (retry %d)", r, r.RetryAfterSeconds())
	}
	l.now = fixedClock(now0.Add(50 * time.Second)) // the next minute
	if _, err := l.Admit(ctx, id, "m", "", Estimate{}); err != nil {
		t.Fatalf("a new minute admits again: %v", err)
	}
}

func TestTokensPerMinuteCommitsActual(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLimiter(NewMemory(), now0)
	id := &Identity{Name: "alice", Limits: Limits{TokensPerMinute: 1000}}
	a, err := l.Admit(ctx, id, "m", "", Estimate{Tokens: 900})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(ctx, id, "m", "", Estimate{Tokens: 200}); refusal(t, err).Reason != ReasonTokens {
		t.Fatal("900 reserved + 200 > 1000")
	}
	a.Commit(ctx, Usage{InputTokens: 100, OutputTokens: 50})
	if _, err := l.Admit(ctx, id, "m", "", Estimate{Tokens: 800}); err != nil {
		t.Fatalf("150 used + 800 fits: %v", err)
	}
}

func TestAllowedModels(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLimiter(NewMemory(), now0)
	id := &Identity{Name: "alice", Models: []string{"claude-haiku-4-5", "sonnet-rule"}}
	if _, err := l.Admit(ctx, id, "claude-haiku-4-5", "", Estimate{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(ctx, id, "claude-sonnet-4-5", "sonnet-rule", Estimate{}); err != nil {
		t.Fatalf("allowed by rule name: %v", err)
	}
	if _, err := l.Admit(ctx, id, "claude-opus-4-1", "", Estimate{}); refusal(t, err).Reason != ReasonModel {
		t.Fatal("opus is not allowed")
	}
}

func TestNoLimitsNoStoreCalls(t *testing.T) {
	l, _ := newTestLimiter(failingStore{}, now0)
	ls, err := l.Admit(context.Background(), &Identity{Name: "alice"}, "m", "", Estimate{USD: 1})
	if err != nil || ls == nil {
		t.Fatalf("a key without limits needs no store: %v", err)
	}
	ls.Commit(context.Background(), Usage{USD: 1})
	if ls, err := l.Admit(context.Background(), nil, "m", "", Estimate{}); ls != nil || err != nil {
		t.Fatal("no identity: no lease")
	}
}

type failingStore struct{}

func (failingStore) Reserve(context.Context, []Check) (int, error) { return 0, errors.New("boom") }
func (failingStore) Add(context.Context, []Delta) error            { return errors.New("boom") }
func (failingStore) Get(context.Context, []string) ([]int64, error) {
	return nil, errors.New("boom")
}

// Concurrent requests on one in-memory store never overshoot a hard budget.
func TestConcurrentHardBudgetMemory(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLimiter(NewMemory(), now0)
	id := &Identity{Name: "alice", Limits: Limits{Budget: &Budget{USD: 10, Period: Day}}}
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				ls, err := l.Admit(ctx, id, "m", "", Estimate{USD: 0.05})
				if err != nil {
					continue
				}
				ls.Commit(ctx, Usage{USD: 0.05})
			}
		}()
	}
	wg.Wait()
	st, _ := l.Budgets(ctx, []*Identity{id})
	if st[0].SpentUSD > 10 || st[0].SpentUSD < 9.95 {
		t.Errorf("spent %v of a $10 budget", st[0].SpentUSD)
	}
}

func slicesSort(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }
