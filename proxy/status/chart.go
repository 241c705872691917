package status

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Charts are inline SVG built from numbers only; the few words in them are
// escaped.
const (
	chartW, chartH             = 340.0, 120.0
	padL, padR, padT, padB     = 58.0, 8.0, 10.0, 20.0
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	colourSavings, colourGood  = "#1f6feb", "#1a7f37"
	colourBand, colourTarget   = "#aee3bd", "#cf222e"
	colourAxis, colourGridText = "#8c959f", "#57606a"
)

// frame maps times and values onto the plot area.
type frame struct {
	t0, t1 time.Time
	lo, hi float64
}

func (f frame) x(t time.Time) float64 {
	span := f.t1.Sub(f.t0).Seconds()
	if span <= 0 {
		return padL + plotW
	}
	return padL + plotW*t.Sub(f.t0).Seconds()/span
}

func (f frame) y(v float64) float64 {
	if f.hi <= f.lo {
		return padT + plotH/2
	}
	return padT + plotH*(f.hi-v)/(f.hi-f.lo)
}

// svg writes the chart's frame: axes, the y labels at lo and hi and the
// time span.
func (f frame) svg(b *strings.Builder, title string, label func(float64) string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, template.HTMLEscapeString(title))
	fmt.Fprintf(b, `<title>%s</title>`, template.HTMLEscapeString(title))
	fmt.Fprintf(b, `<path d="M%.1f %.1fV%.1fH%.1f" fill="none" stroke="%s"/>`, padL, padT, padT+plotH, padL+plotW, colourAxis)
	text := func(x, y float64, anchor, s string) {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="10" fill="%s">%s</text>`,
			x, y, anchor, colourGridText, template.HTMLEscapeString(s))
	}
	text(padL-4, padT+4, "end", label(f.hi))
	text(padL-4, padT+plotH, "end", label(f.lo))
	text(padL, chartH-5, "start", "−"+span(f.t1.Sub(f.t0)))
	text(padL+plotW, chartH-5, "end", "now")
}

// line is an SVG path through the finite values of v over h, broken where
// a value is unknown.
func line(f frame, h []Point, v func(Point) float64) string {
	var b strings.Builder
	pen := false
	for _, p := range h {
		y := v(p)
		if !finite(y) {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%.1f %.1f", cmd, f.x(p.Time), f.y(y))
		pen = true
	}
	return b.String()
}

// collecting is shown until the history has two points in time.
func collecting(title string) template.HTML {
	return template.HTML(`<p class="muted">` + template.HTMLEscapeString(title) + `: collecting history…</p>`)
}

func enough(h []Point) bool { return len(h) >= 2 && h[len(h)-1].Time.After(h[0].Time) }

// savingsChart plots the net savings (after audit costs) over the history.
func savingsChart(h []Point) template.HTML {
	const title = "Net savings over time (USD, after audit costs)"
	if !enough(h) {
		return collecting(title)
	}
	f := frame{t0: h[0].Time, t1: h[len(h)-1].Time}
	for _, p := range h {
		f.lo, f.hi = math.Min(f.lo, p.NetSavingsUSD), math.Max(f.hi, p.NetSavingsUSD)
	}
	if f.hi == f.lo {
		f.hi = f.lo + 0.01
	}
	var b strings.Builder
	f.svg(&b, title, usdAxis)
	if f.lo < 0 {
		fmt.Fprintf(&b, `<path d="M%.1f %.1fH%.1f" stroke="%s" stroke-dasharray="2 3"/>`, padL, f.y(0), padL+plotW, colourAxis)
	}
	fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, line(f, h, func(p Point) float64 { return p.NetSavingsUSD }), colourSavings)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// qualityChart plots the quality estimate with its interval and the target.
func qualityChart(h []Point, q *Quality) template.HTML {
	const title = "Quality over time (estimate, interval, target)"
	if q == nil {
		return ""
	}
	if !enough(h) {
		return collecting(title)
	}
	f := frame{t0: h[0].Time, t1: h[len(h)-1].Time, lo: 1, hi: 1}
	known := false
	for _, p := range h {
		if finite(p.Lower) {
			f.lo, known = math.Min(f.lo, p.Lower), true
		}
	}
	if !known {
		return template.HTML(`<p class="muted">` + template.HTMLEscapeString(title) + `: no draft compared yet</p>`)
	}
	if q.Target > 0 {
		f.lo = math.Min(f.lo, q.Target)
	}
	f.lo = math.Max(0, math.Floor(f.lo*10-0.5)/10)
	var b strings.Builder
	f.svg(&b, title, func(v float64) string { return fmt.Sprintf("%.0f%%", v*100) })
	// The interval as a band: along the upper bounds, back along the lower.
	var band strings.Builder
	for i := 0; i < len(h); i++ {
		if finite(h[i].Upper) && finite(h[i].Lower) {
			fmt.Fprintf(&band, "%.1f,%.1f ", f.x(h[i].Time), f.y(h[i].Upper))
		}
	}
	for i := len(h) - 1; i >= 0; i-- {
		if finite(h[i].Upper) && finite(h[i].Lower) {
			fmt.Fprintf(&band, "%.1f,%.1f ", f.x(h[i].Time), f.y(h[i].Lower))
		}
	}
	fmt.Fprintf(&b, `<polygon points="%s" fill="%s" opacity="0.6"/>`, strings.TrimSpace(band.String()), colourBand)
	if q.Target > 0 {
		fmt.Fprintf(&b, `<path d="M%.1f %.1fH%.1f" stroke="%s" stroke-dasharray="4 3"/>`, padL, f.y(q.Target), padL+plotW, colourTarget)
	}
	fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, line(f, h, func(p Point) float64 { return p.Quality }), colourGood)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// span says a duration briefly: 45s, 12m, 3h.
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%.1fh", d.Hours())
}
