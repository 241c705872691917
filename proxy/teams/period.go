// Package teams enforces the limits of named client keys — spend budgets per
// day, week or month, requests and tokens per minute — and attributes every
// request's cost, savings and tokens to its key and team. Counters live in a
// Store: Redis when several replicas must enforce one limit together, memory
// for a single proxy. A request reserves an estimate before it runs and
// commits its actual usage when it ends, so concurrent requests cannot
// overshoot a hard budget by more than the estimates in flight.
package teams

import (
	"fmt"
	"time"
)

// Period is the window a budget resets on: calendar periods in UTC.
type Period string

const (
	Day   Period = "day"
	Week  Period = "week" // Monday 00:00 UTC to the next Monday
	Month Period = "month"
)

// Valid reports whether p is a known period.
func (p Period) Valid() bool { return p == Day || p == Week || p == Month }

// Window is the period holding now: [start, end), in UTC.
func (p Period) Window(now time.Time) (start, end time.Time) {
	now = now.UTC()
	y, m, d := now.Date()
	switch p {
	case Week:
		// time.Weekday counts from Sunday; weeks here start on Monday (ISO 8601).
		back := (int(now.Weekday()) + 6) % 7
		start = time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 7)
	case Month:
		start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	default:
		start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	}
}

// Enforcement says what happens when a budget is spent.
type Enforcement string

const (
	// Hard refuses requests that would spend more than the budget.
	Hard Enforcement = "hard"
	// Soft only alerts: a log line, a metric and the operator's Event.
	Soft Enforcement = "soft"
)

// Budget is a spend limit over a period.
type Budget struct {
	USD         float64
	Period      Period
	Enforcement Enforcement
}

// Limits are what one key (or one team) may use. Zero values mean no limit.
type Limits struct {
	Budget            *Budget
	RequestsPerMinute int64
	TokensPerMinute   int64
}

// Identity is who a client key belongs to and what it may do.
type Identity struct {
	Name string // the key's name; unique
	Team string // "" when the key belongs to no team
	Limits
	// TeamBudget is the team's shared budget, when it has one.
	TeamBudget *Budget
	// Models the key may request (requested model names or rule names); empty: any.
	Models []string
}

// microUSD is the unit spend is counted in: integers keep Redis counters exact.
const microUSD = 1e6

func toMicro(usd float64) int64 {
	if usd <= 0 {
		return 0
	}
	return int64(usd*microUSD + 0.5)
}

func fromMicro(v int64) float64 { return float64(v) / microUSD }

// minute is the fixed window of the rate limits.
func minute(now time.Time) (start, end time.Time) {
	start = now.UTC().Truncate(time.Minute)
	return start, start.Add(time.Minute)
}

// counterKey names a counter in the store: every counter of one subject
// (key or team) and window is distinct and expires after its window.
func counterKey(kind, subjectKind, subject string, start time.Time) string {
	return fmt.Sprintf("cascadeflow:%s:%s:%s:%d", kind, subjectKind, subject, start.Unix())
}
