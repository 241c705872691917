package status

import (
	"fmt"
	"html/template"
	"math"
	"time"
)

var funcs = template.FuncMap{
	"usd":   usd,
	"pct":   pct,
	"secs":  secs,
	"score": func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"clock": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"span":  span,
	"short": func(h string) string {
		if len(h) > 12 {
			return h[:12]
		}
		return h
	},
	"threshold": func(v float64) string {
		if v > 1 {
			return fmt.Sprintf("%.2f (escalate all)", v)
		}
		return fmt.Sprintf("%.2f", v)
	},
}

// usd formats dollars with the precision small amounts need: $0.001500,
// −$2.125, $1234.50.
func usd(v float64) string {
	if !finite(v) {
		return "—"
	}
	sign, a := "", math.Abs(v)
	if v < 0 {
		sign = "−"
	}
	switch {
	case a >= 100:
		return fmt.Sprintf("%s$%.2f", sign, a)
	case a >= 1:
		return fmt.Sprintf("%s$%.3f", sign, a)
	case a == 0:
		return "$0"
	}
	return fmt.Sprintf("%s$%.6f", sign, a)
}

// usdAxis is a chart axis label: three significant digits.
func usdAxis(v float64) string {
	if v < 0 {
		return fmt.Sprintf("−$%.3g", -v)
	}
	return fmt.Sprintf("$%.3g", v)
}

// pct formats a share as a percentage ("—" while unknown).
func pct(v float64) string {
	if !finite(v) {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", v*100)
}

// secs formats a duration in seconds as ms below a second.
func secs(v float64) string {
	if v < 1 {
		return fmt.Sprintf("%.1f ms", v*1000)
	}
	return fmt.Sprintf("%.2f s", v)
}
