package status

import (
	"math"
	"testing"
)

func TestMoneyAndShareFormats(t *testing.T) {
	for v, want := range map[float64]string{0: "$0", 0.0015: "$0.001500", -0.009: "−$0.009000", 2.125: "$2.125",
		1234.5: "$1234.50", math.NaN(): "—"} {
		if got := usd(v); got != want {
			t.Errorf("usd(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{-0.009: "−$0.009", 0.00285: "$0.00285", 12: "$12"} {
		if got := usdAxis(v); got != want {
			t.Errorf("usdAxis(%v) = %q, want %q", v, got, want)
		}
	}
	if got := pct(2.0 / 3); got != "66.7%" {
		t.Errorf("pct(2/3) = %q", got)
	}
	if got := pct(math.NaN()); got != "—" {
		t.Errorf("pct(NaN) = %q", got)
	}
	if got, want := secs(0.0021), "2.1 ms"; got != want {
		t.Errorf("secs = %q, want %q", got, want)
	}
}
