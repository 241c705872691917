package teams

import (
	"testing"
	"time"
)

func TestPeriodWindow(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		p          Period
		now        string
		start, end string
	}{
		{Day, "2026-12-03T14:33:42Z", "2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z"},
		{Day, "2026-12-31T23:59:59Z", "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z"},
		{Day, "2026-12-03T01:00:00+05:00", "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"}, // UTC, not local
		{Week, "2026-12-03T14:33:42Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"},     // a Thursday
		{Week, "2026-11-30T00:00:00Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"},     // Monday midnight starts a week
		{Week, "2026-12-06T23:59:59Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"},     // Sunday ends it
		{Week, "2027-01-01T12:00:00Z", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"},     // across a year
		{Month, "2026-12-03T14:33:42Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{Month, "2028-02-29T10:00:00Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"}, // leap year
		{Month, "2026-01-31T23:59:59Z", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"},
	}
	for _, c := range cases {
		s, e := c.p.Window(at(c.now))
		if !s.Equal(at(c.start)) || !e.Equal(at(c.end)) {
			t.Errorf("%s window of %s = [%s, %s), want [%s, %s)", c.p, c.now, s.Format(time.RFC3339), e.Format(time.RFC3339), c.start, c.end)
		}
	}
}

func TestPeriodValid(t *testing.T) {
	for _, p := range []Period{Day, Week, Month} {
		if !p.Valid() {
			t.Errorf("%q should be valid", p)
		}
	}
	for _, p := range []Period{"", "year", "Day"} {
		if p.Valid() {
			t.Errorf("%q should be invalid", p)
		}
	}
}

func TestMicroUSD(t *testing.T) {
	if got := toMicro(0.0000015); got != 2 {
		t.Errorf("toMicro rounds to nearest: got %d, want 2", got)
	}
	if got := toMicro(-1); got != 0 {
		t.Errorf("negative spend counts 0, got %d", got)
	}
	if got := fromMicro(toMicro(12.345678)); got != 12.345678 {
		t.Errorf("round trip: %v", got)
	}
}

func TestMinuteWindowAndRetry(t *testing.T) {
	now := time.Date(2026, 12, 3, 14, 33, 42, 500e6, time.UTC)
	s, e := minute(now)
	if !s.Equal(time.Date(2026, 12, 3, 14, 33, 0, 0, time.UTC)) || e.Sub(s) != time.Minute {
		t.Errorf("minute window [%s, %s)", s, e)
	}
	if got := retrySeconds(e.Sub(now)); got != 18 {
		t.Errorf("retry after 17.5s rounds up to 18, got %d", got)
	}
	if got := retrySeconds(0); got != 1 {
		t.Errorf("retry after is at least 1s, got %d", got)
	}
}
