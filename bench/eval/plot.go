package main

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
)

// Plot geometry (pixels).
const (
	plotPanelW  = 440
	plotPanelH  = 340
	plotLeft    = 64
	plotTop     = 56
	plotGap     = 90
	plotBottom  = 150 // axis labels and legend
	plotRight   = 24
	plotTickLen = 4
)

// svg draws quality against cost share per source: the gate's threshold
// sweep, random routing, the baselines, the oracle and the target region.
// Hand-written SVG: no plotting dependency.
func (r *report) svg() string {
	n := len(r.Sources)
	w := plotLeft + n*plotPanelW + (n-1)*plotGap + plotRight
	h := plotTop + plotPanelH + plotBottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s: quality against cost share over the threshold sweep</text>`+"\n", plotLeft, html.EscapeString(r.File.title()))
	for i, s := range r.Sources {
		x0 := plotLeft + i*(plotPanelW+plotGap)
		r.panel(&b, s, float64(x0), plotTop)
	}
	r.legend(&b, plotLeft, plotTop+plotPanelH+58)
	b.WriteString("</svg>\n")
	return b.String()
}

// axis maps data to pixels for one panel.
type axis struct {
	x0, y0, w, h           float64 // panel origin (top-left) and size
	xmin, xmax, ymin, ymax float64
}

func (a axis) px(x float64) float64 { return a.x0 + (x-a.xmin)/(a.xmax-a.xmin)*a.w }
func (a axis) py(y float64) float64 { return a.y0 + a.h - (y-a.ymin)/(a.ymax-a.ymin)*a.h }

func (r *report) panel(b *strings.Builder, source string, x0, y0 float64) {
	base := r.Base[source]
	var pts []sweepPoint
	for _, p := range r.Points {
		if p.Source == source {
			pts = append(pts, p)
		}
	}
	ymin := math.Min(base.Draft.Quality, base.Verifier.Quality)
	ymax := math.Max(base.Oracle.Quality, base.Verifier.Quality)
	for _, p := range pts {
		ymin, ymax = math.Min(ymin, p.Quality), math.Max(ymax, p.Quality)
	}
	a := axis{x0: x0, y0: y0, w: plotPanelW, h: plotPanelH,
		xmin: 0, xmax: math.Ceil((1+base.DraftCostShare)*10+0.5) / 10,
		ymin: math.Max(0, math.Floor((ymin-0.02)*20)/20), ymax: math.Min(1.05, math.Ceil((ymax+0.02)*20)/20)}

	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="14" font-weight="bold">%s (%d rows)</text>`+"\n", x0, y0-10, html.EscapeString(evaldata.SourceTitle(source)), base.Rows)
	// Target region: cost share ≤ target and quality ≥ 95 % of verifier.
	if ct, ok := evaldata.CostTargets[source]; ok {
		qt := evaldata.QualityTarget * base.Verifier.Quality
		if qt < a.ymax {
			top := a.py(a.ymax)
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#2ca02c" fill-opacity="0.10" stroke="#2ca02c" stroke-dasharray="3 3"/>`+"\n",
				a.px(0), top, a.px(ct)-a.px(0), a.py(math.Max(qt, a.ymin))-top)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#2ca02c" font-size="11">target: ≥95%% of verifier at ≤%.2f</text>`+"\n", a.px(0)+4, top+13, ct)
		}
	}
	// Grid and ticks.
	for x := 0.0; x <= a.xmax+1e-9; x += 0.1 {
		px := a.px(x)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", px, a.y0, px, a.y0+a.h)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%.1f</text>`+"\n", px, a.y0+a.h+plotTickLen+12, x)
	}
	for y := a.ymin; y <= a.ymax+1e-9; y += 0.05 {
		py := a.py(y)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", a.x0, py, a.x0+a.w, py)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="11">%.2f</text>`+"\n", a.x0-plotTickLen-2, py+4, y)
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", a.x0, a.y0, a.w, a.h)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">cost share (cost / always-verifier cost)</text>`+"\n", a.x0+a.w/2, a.y0+a.h+36)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">quality (mean score of answers returned)</text>`+"\n", a.x0-46, a.y0+a.h/2)

	clip := fmt.Sprintf("clip-%s", strings.ReplaceAll(source, "_", "-"))
	fmt.Fprintf(b, `<clipPath id="%s"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></clipPath>`+"\n", clip, a.x0, a.y0, a.w, a.h)
	fmt.Fprintf(b, `<g clip-path="url(#%s)">`+"\n", clip)
	d, v := base.Draft, base.Verifier
	line := func(x1, y1, x2, y2 float64, style string) {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" %s/>`+"\n", a.px(x1), a.py(y1), a.px(x2), a.py(y2), style)
	}
	line(d.CostShare, d.Quality, base.DraftCostShare+1, v.Quality, `stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="6 4"`)
	line(d.CostShare, d.Quality, 1, v.Quality, `stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="1 3"`)
	var poly []string
	for _, p := range pts {
		poly = append(poly, fmt.Sprintf("%.1f,%.1f", a.px(p.CostShare), a.py(p.Quality)))
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="#1f77b4" stroke-width="2"/>`+"\n", strings.Join(poly, " "))
	for _, p := range pts {
		if p.OnGrid && decimal(p.Threshold, 1) == p.Threshold {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2" fill="#1f77b4"/>`+"\n", a.px(p.CostShare), a.py(p.Quality))
		}
	}
	b.WriteString("</g>\n")

	square := func(x, y float64, color, label string) {
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="9" height="9" fill="%s"><title>%s</title></rect>`+"\n", a.px(x)-4.5, a.py(y)-4.5, color, html.EscapeString(label))
	}
	square(d.CostShare, d.Quality, "#ff7f0e", fmt.Sprintf("always-draft: %.3f at %.3f", d.Quality, d.CostShare))
	square(v.CostShare, v.Quality, "#d62728", fmt.Sprintf("always-verifier: %.3f at %.3f", v.Quality, v.CostShare))
	o := base.Oracle
	fmt.Fprintf(b, `<path d="M %.1f %.1f l 6 10 l -12 0 z" fill="#9467bd"><title>oracle: %.3f at %.3f</title></path>`+"\n", a.px(o.CostShare), a.py(o.Quality)-6, o.Quality, o.CostShare)
	// The default's label goes below its marker, the tuned one's above, so
	// they stay readable when both thresholds land on the same point.
	mark := func(t float64, label string, shape string, dy float64) {
		if p, ok := r.point(source, t); ok {
			x, y := a.px(p.CostShare), a.py(p.Quality)
			fmt.Fprintf(b, shape+"\n", x, y)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" fill="#1f77b4" stroke="white" stroke-width="3" paint-order="stroke">%s</text>`+"\n", x+7, y+dy, html.EscapeString(label))
		}
	}
	mark(r.DefaultThreshold, formatThreshold(r.DefaultThreshold), `<circle cx="%.1f" cy="%.1f" r="5.5" fill="white" stroke="#1f77b4" stroke-width="2"/>`, 14)
	if op, ok := r.Operating[source]; ok {
		// The sweep has a point at the operating score, which takes the same
		// decisions as the rule's threshold.
		mark(op.Score, formatThreshold(op.Threshold), `<path d="M %.1f %.1f m 0 -7 l 7 7 l -7 7 l -7 -7 z" fill="#1f77b4"/>`, -7)
	}
}

func (r *report) legend(b *strings.Builder, x, y int) {
	items := []struct{ sym, label string }{
		{`<line x1="0" y1="0" x2="24" y2="0" stroke="#1f77b4" stroke-width="2"/>`, "cascade via the proxy, every observed score (dots every 0.10)"},
		{`<circle cx="12" cy="0" r="5.5" fill="white" stroke="#1f77b4" stroke-width="2"/>`, "proxy default threshold " + formatThreshold(r.DefaultThreshold)},
		{`<path d="M 12 -7 l 7 7 l -7 7 l -7 -7 z" fill="#1f77b4"/>`, "threshold tuned on dev for this source (cheapest ≥ 95 %)"},
		{`<line x1="0" y1="0" x2="24" y2="0" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="6 4"/>`, "random escalation at the same rate (draft always paid)"},
		{`<line x1="0" y1="0" x2="24" y2="0" stroke="#7f7f7f" stroke-width="1.5" stroke-dasharray="1 3"/>`, "random router (one model per row)"},
		{`<rect x="7.5" y="-4.5" width="9" height="9" fill="#ff7f0e"/>`, "always-draft (" + shortModel(r.File.Draft) + ")"},
		{`<rect x="7.5" y="-4.5" width="9" height="9" fill="#d62728"/>`, "always-verifier (" + shortModel(r.File.Verifier) + ")"},
		{`<path d="M 12 -6 l 6 10 l -12 0 z" fill="#9467bd"/>`, "oracle (accept iff draft score ≥ verifier score)"},
	}
	for i, it := range items {
		col, rowN := i/4, i%4
		fmt.Fprintf(b, `<g transform="translate(%d %d)">%s<text x="32" y="4">%s</text></g>`+"\n", x+col*470, y+rowN*20, it.sym, html.EscapeString(it.label))
	}
}
