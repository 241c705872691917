package main

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
)

// plotPoints bounds the points drawn per line (the figures are cumulative,
// so a point every few rows loses nothing visible).
const plotPoints = 300

var variantColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

// onlineSVG draws each measured pass over its steps: the retained quality
// and the cost share so far (audits included) and the threshold in effect.
func (r *report) onlineSVG() string {
	const (
		left, top, w, h, gap, right = 70, 50, 760, 200, 60, 230
	)
	panels := []struct {
		title      string
		ymin, ymax float64
		value      func(run *onlineRun, i int, acc *cumulative) float64
		lines      []float64 // reference lines
	}{
		{"retained quality so far (served / always-verifier)", 0.7, 1.1, func(_ *onlineRun, _ int, a *cumulative) float64 { return ratio(a.label, a.vlabel) },
			[]float64{evaldata.QualityTarget, evaldata.RetainedFloor}},
		{"cost share so far (audits included)", 0, 1.4, func(_ *onlineRun, _ int, a *cumulative) float64 { return ratio(a.cost, a.base) }, []float64{1}},
		{"threshold in effect (above 1: escalate all)", 0, 1.05, func(run *onlineRun, i int, _ *cumulative) float64 { return math.Min(run.Rows[i].Threshold, 1.02) }, nil},
	}
	var runs []*onlineRun
	if r.Online != nil {
		runs = r.Online.Runs
	}
	n := len(r.File.Rows)
	height := top + len(panels)*(h+gap) + 10
	width := left + w + right
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s: the quality loop online (%d rows, one pass each)</text>`+"\n", left, html.EscapeString(r.File.title()), n)
	for pi, p := range panels {
		y0 := float64(top + pi*(h+gap))
		a := axis{x0: left, y0: y0, w: w, h: h, xmin: 0, xmax: float64(max(n, 1)), ymin: p.ymin, ymax: p.ymax}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold">%s</text>`+"\n", left, y0-8, html.EscapeString(p.title))
		for y := p.ymin; y <= p.ymax+1e-9; y += 0.1 {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", a.x0, a.py(y), a.x0+a.w, a.py(y))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="10">%.1f</text>`+"\n", a.x0-4, a.py(y)+3, y)
		}
		for x := 0; x <= n; x += 100 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%d</text>`+"\n", a.px(float64(x)), a.y0+a.h+13, x)
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="2 3"/>`+"\n",
			a.px(evaldata.WarmUp), a.y0, a.px(evaldata.WarmUp), a.y0+a.h)
		for _, l := range p.lines {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#666" stroke-dasharray="6 4"/>`+"\n", a.x0, a.py(l), a.x0+a.w, a.py(l))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#666">%.2f</text>`+"\n", a.x0+a.w+4, a.py(l)+3, l)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", a.x0, a.y0, a.w, a.h)
		for ri, run := range runs {
			var acc cumulative
			var pts []string
			every := max(1, len(run.Rows)/plotPoints)
			for i := range run.Rows {
				acc.add(&run.Rows[i])
				if i%every != 0 && i != len(run.Rows)-1 {
					continue
				}
				v := p.value(run, i, &acc)
				if math.IsNaN(v) {
					continue
				}
				v = math.Min(math.Max(v, p.ymin), p.ymax)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", a.px(float64(i+1)), a.py(v)))
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", strings.Join(pts, " "), variantColors[ri%len(variantColors)])
		}
	}
	for ri, run := range runs {
		y := top + 10 + ri*20
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/><text x="%d" y="%d">%s</text>`+"\n",
			left+w+40, y, left+w+64, y, variantColors[ri%len(variantColors)], left+w+70, y+4, html.EscapeString(run.Variant.Name))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="#666">dotted: end of the %d-row warm-up</text>`+"\n", left+w+40, top+10+len(runs)*20+10, evaldata.WarmUp)
	b.WriteString("</svg>\n")
	return b.String()
}

// cumulative sums a pass's figures up to a step.
type cumulative struct{ label, vlabel, cost, base float64 }

func (c *cumulative) add(r *onlineRow) {
	c.label += r.Label
	c.vlabel += r.VerifierLabel
	c.cost += r.AnswerUSD + r.AuditUSD
	c.base += r.BaselineUSD
}
