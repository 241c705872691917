// Command gateresearch measures, offline on the cascade-eval data, how
// today's quality gate, second-opinion agreement, a per-route logistic
// model learned online from audit labels and a confidence-bound threshold
// controller trade cost against quality, with one configuration for every
// file. Throwaway research code: it prints Markdown tables.
//
//	go run ./bench/gateresearch                 # all sections
//	go run ./bench/gateresearch -split          # zeroeval files split into one route per source
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	dir := flag.String("data", "../shared/data/cascade-eval", "cascade-eval folder")
	seeds := flag.Int("seeds", 10, "random orders per controller configuration")
	split := flag.Bool("split", false, "one route per (file, source) instead of one per file")
	sections := flag.String("sections", "extract,auc,static,ctl,weights,sens", "sections to print")
	flag.IntVar(&streamLen, "stream", 0, "controller runs replay this many rows drawn with replacement (0: one pass in random order)")
	flag.Parse()

	paths := []string{filepath.Join(*dir, "pairs-dev.jsonl")}
	zs, _ := filepath.Glob(filepath.Join(*dir, "zeroeval", "pairs-zeroeval-*.jsonl"))
	sort.Strings(zs)
	paths = append(paths, zs...)
	if _, err := os.Stat(paths[0]); err != nil {
		fmt.Println("skip:", err)
		return
	}
	byRoute, order, err := loadAll(paths)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateresearch:", err)
		os.Exit(1)
	}
	routes := map[string][]*item{}
	var rorder []string
	for _, r := range order {
		for i := range byRoute[r] {
			it := &byRoute[r][i]
			name := r
			if *split && !strings.HasPrefix(r, "dev:") {
				name = r + ":" + it.source
				it.route = name
			}
			if _, ok := routes[name]; !ok {
				rorder = append(rorder, name)
			}
			routes[name] = append(routes[name], it)
		}
	}
	want := map[string]bool{}
	for s := range strings.SplitSeq(*sections, ",") {
		want[s] = true
	}
	if want["extract"] {
		reportExtraction(rorder, routes)
	}
	if want["auc"] {
		reportAUC(rorder, routes)
	}
	if want["static"] {
		reportStatic(rorder, routes)
	}
	if want["ctl"] {
		reportController(rorder, routes, *seeds)
	}
	if want["weights"] {
		reportWeights(rorder, routes)
	}
	if want["sens"] {
		reportSensitivity(rorder, routes, *seeds)
	}
}

// sources returns the sources of a route in a fixed order, plus "all" when
// the route mixes several.
func sources(items []*item) []string {
	seen := map[string]bool{}
	var out []string
	for _, it := range items {
		if !seen[it.source] {
			seen[it.source] = true
			out = append(out, it.source)
		}
	}
	sort.Strings(out)
	if len(out) > 1 {
		out = append(out, "all")
	}
	return out
}

func subset(items []*item, src string) []*item {
	if src == "all" {
		return items
	}
	var out []*item
	for _, it := range items {
		if it.source == src {
			out = append(out, it)
		}
	}
	return out
}

func maxOthers(items []*item) int {
	m := 0
	for _, it := range items {
		m = max(m, len(it.cOther))
	}
	return m
}

func reportExtraction(order []string, routes map[string][]*item) {
	fmt.Print("\n## Final-answer extraction\n\n")
	fmt.Println("| route | source | n | draft extracted | verifier extracted | others extracted | exact(draft=verifier) vs good: agree | P(good \\| exact) | P(good \\| not exact) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, r := range order {
		for _, src := range sources(routes[r]) {
			its := subset(routes[r], src)
			if src == "all" || !its[0].hasFinal {
				continue
			}
			var okD, okV, okO, nO, agree, ge, ne, gn, nn float64
			for _, it := range its {
				okD += b2f(it.okD)
				okV += b2f(it.okV)
				for _, o := range it.okO {
					okO += b2f(o)
					nO++
				}
				agree += b2f(it.exactLabel == it.good)
				if it.exactLabel {
					ne++
					ge += b2f(it.good)
				} else {
					nn++
					gn += b2f(it.good)
				}
			}
			n := float64(len(its))
			other := "—"
			if nO > 0 {
				other = f3(okO / nO)
			}
			fmt.Printf("| %s | %s | %d | %.3f | %.3f | %s | %.3f | %.3f (%d) | %.3f (%d) |\n", r, src, len(its), okD/n, okV/n, other, agree/n, ge/ne, int(ne), gn/nn, int(nn))
		}
	}
}

func reportAUC(order []string, routes map[string][]*item) {
	fmt.Print("\n## Separation: AUC of each score for good (draft ≥ verifier) vs bad\n\n")
	fmt.Print("Signals that never fire on a source are shown as —. `agree1`/`agree2`: share of 1 / 2 second opinions agreeing with the draft's final answer. LR-CV: logistic model, 5-fold cross-validated by group, true labels.\n\n")
	head := "| route | source | n | good | gate |"
	sep := "|---|---|---|---|---|"
	for _, s := range signalNames {
		head += " " + s + " |"
		sep += "---|"
	}
	head += " agree1 | agree2 | LR-CV m=0 | LR-CV m=2 |"
	sep += "---|---|---|---|"
	fmt.Println(head)
	fmt.Println(sep)
	for _, r := range order {
		for _, src := range sources(routes[r]) {
			its := subset(routes[r], src)
			y := make([]bool, len(its))
			good := 0.0
			prior := make([]float64, len(its))
			for i, it := range its {
				y[i] = it.good
				good += b2f(it.good)
				prior[i] = it.prior
			}
			line := fmt.Sprintf("| %s | %s | %d | %.2f | %s |", r, src, len(its), good/float64(len(its)), f2(auc(prior, y)))
			for j := range signalNames {
				s := make([]float64, len(its))
				varies := false
				for i, it := range its {
					s[i] = it.sig[j]
					if s[i] != 1 {
						varies = true
					}
				}
				if !varies {
					line += " — |"
					continue
				}
				fires := 0
				for _, v := range s {
					if v < 1 {
						fires++
					}
				}
				line += fmt.Sprintf(" %s (%d%%) |", f2(auc(s, y)), 100*fires/len(s))
			}
			m := maxOthers(its)
			for _, k := range []int{1, 2} {
				if m < k || !its[0].hasFinal {
					line += " — |"
					continue
				}
				s := make([]float64, len(its))
				for i, it := range its {
					s[i] = float64(it.agreeK(k))
				}
				line += " " + f2(auc(s, y)) + " |"
			}
			line += " " + f2(auc(cvScores(its, 0, 2, 5, 1), y)) + " |"
			if m >= 2 {
				line += " " + f2(auc(cvScores(its, 2, 2, 5, 1), y)) + " |"
			} else {
				line += " — |"
			}
			fmt.Println(line)
		}
	}
}

func reportStatic(order []string, routes map[string][]*item) {
	fmt.Print("\n## Static thresholds: cheapest cost share keeping ≥ 95 % retained quality (hindsight sweep)\n\n")
	fmt.Print("Cost share includes the second opinions (each row pays m other models at their own prices). Escalation rate in brackets. LR-CV = logistic model scored out of fold (5 folds by group); LR-in = fitted on all rows (optimistic). ✘ = no threshold keeps 95 %. Targets: with second opinions ≤ oracle + 0.10; MT-Bench ≤ 0.15, GSM8K ≤ 0.40.\n\n")
	cols := []string{"oracle", "random", "gate", "agree m=1", "agree m=2", "agree×gate m=1", "agree×gate m=2", "agree,gate lex m=2", "LR-CV m=0", "LR-CV m=1", "LR-CV m=2", "LR-in m=0", "LR-in m=2"}
	fmt.Println("| route | source | n | " + strings.Join(cols, " | ") + " |")
	fmt.Println("|---|---|---|" + strings.Repeat("---|", len(cols)))
	for _, r := range order {
		for _, src := range sources(routes[r]) {
			its := subset(routes[r], src)
			m := maxOthers(its)
			line := fmt.Sprintf("| %s | %s | %d |", r, src, len(its))
			o := oracle(its)
			line += fmt.Sprintf(" %.3f (%.2f) |", o.cost, o.esc)
			line += fmt.Sprintf(" %.3f |", randomAt(its, 0.95))
			sc := func(f func(*item) float64) []float64 {
				s := make([]float64, len(its))
				for i, it := range its {
					s[i] = f(it)
				}
				return s
			}
			cell := func(s []float64, mm int) string {
				b := cheapestAt(its, s, mm, 0.95)
				if !b.ok {
					return " ✘ |"
				}
				return fmt.Sprintf(" %.3f (%.2f) |", b.cost, b.esc)
			}
			line += cell(sc(func(it *item) float64 { return it.prior }), 0)
			for _, k := range []int{1, 2} {
				if m < k {
					line += " — |"
					continue
				}
				line += cell(sc(func(it *item) float64 { return float64(it.agreeK(k)) }), k)
			}
			for _, k := range []int{1, 2} {
				if m < k {
					line += " — |"
					continue
				}
				line += cell(sc(func(it *item) float64 { return warmScore(it, k) }), k)
			}
			if m < 2 {
				line += " — |"
			} else {
				line += cell(sc(func(it *item) float64 { return float64(it.agreeK(2)) + it.prior }), 2)
			}
			for _, k := range []int{0, 1, 2} {
				if m < k {
					line += " — |"
					continue
				}
				line += cell(cvScores(its, k, 2, 5, 1), k)
			}
			for _, k := range []int{0, 2} {
				if m < k {
					line += " — |"
					continue
				}
				_, s := insample(its, k, 2)
				line += cell(s, k)
			}
			fmt.Println(line)
		}
	}
}

func defaultCtl() ctlConfig {
	return ctlConfig{m: 2, audit: 0.10, judgeEscRate: 0.2, minLabels: 100, refit: 25, lambda: 2,
		delta: 0.05, bound: "cp", target: 0.95, configured: 0.7, warmup: 200, learn: true, bypassMin: 200}
}

type variant struct {
	name string
	cfg  ctlConfig
}

func controllerVariants() []variant {
	base := defaultCtl()
	v := func(name string, f func(*ctlConfig)) variant {
		c := base
		f(&c)
		return variant{name, c}
	}
	return []variant{
		v("gate only, configured 0.7 (today)", func(c *ctlConfig) { c.m = 0; c.learn = false; c.minLabels = 1 << 30; c.audit = 0 }),
		v("gate + controller (no learning), exact labels", func(c *ctlConfig) { c.m = 0; c.learn = false }),
		v("LR m=0, exact labels", func(c *ctlConfig) { c.m = 0 }),
		v("LR m=2, exact labels", func(c *ctlConfig) {}),
		v("LR m=2, judge labels", func(c *ctlConfig) { c.judgeMode = true }),
		v("LR m=0, hybrid labels", func(c *ctlConfig) { c.m = 0; c.hybrid = true }),
		v("LR m=1, hybrid labels", func(c *ctlConfig) { c.m = 1; c.hybrid = true }),
		v("LR m=2, hybrid labels", func(c *ctlConfig) { c.hybrid = true }),
		v("LR m=0, hybrid, bypass", func(c *ctlConfig) { c.m = 0; c.hybrid = true; c.bypass = 0.1 }),
		v("LR m=1, hybrid, bypass", func(c *ctlConfig) { c.m = 1; c.hybrid = true; c.bypass = 0.1 }),
		v("LR m=2, hybrid, bypass", func(c *ctlConfig) { c.hybrid = true; c.bypass = 0.1 }),
		v("LR m=0, hybrid, bypass, safe start", func(c *ctlConfig) { c.m = 0; c.hybrid = true; c.bypass = 0.1; c.safeStart = true }),
		v("LR m=1, hybrid, bypass, safe start", func(c *ctlConfig) { c.m = 1; c.hybrid = true; c.bypass = 0.1; c.safeStart = true }),
		v("LR m=2, hybrid, bypass, safe start", func(c *ctlConfig) { c.hybrid = true; c.bypass = 0.1; c.safeStart = true }),
		v("LR m=1, hybrid, bypass, safe start, judge all disagreements", func(c *ctlConfig) {
			c.m = 1
			c.hybrid = true
			c.bypass = 0.1
			c.safeStart = true
			c.judgeEscRate = 1
		}),
	}
}

// recommended is the index in controllerVariants of the configuration the
// per-source breakdown shows.
const recommended = 12

type agg struct {
	ret, minRet, par, est, cost, costPost, esc, labels, moved, lb, tau, byp float64
	okRet                                                                   int
	n                                                                       int
	src                                                                     map[string][2]float64
}

func runSeeds(items []*item, cfg ctlConfig, seeds int) agg {
	a := agg{minRet: math.Inf(1), src: map[string][2]float64{}}
	for s := 1; s <= seeds; s++ {
		r := runController(items, cfg, int64(s))
		a.ret += r.retained
		a.minRet = math.Min(a.minRet, r.retained)
		if r.retained >= 0.94 {
			a.okRet++
		}
		a.par += r.parity
		a.est += r.estParity
		a.cost += r.cost
		a.costPost += r.costPost
		a.esc += r.esc
		a.byp += r.bypassed
		a.labels += float64(r.labels)
		a.moved += float64(r.moved)
		a.lb += r.finalLB
		a.tau += r.finalTau
		for k, v := range r.perSource {
			p := a.src[k]
			a.src[k] = [2]float64{p[0] + v[0], p[1] + v[1]}
		}
		a.n++
	}
	n := float64(a.n)
	a.ret /= n
	a.par /= n
	a.est /= n
	a.cost /= n
	a.costPost /= n
	a.esc /= n
	a.byp /= n
	a.labels /= n
	a.moved /= n
	a.lb /= n
	a.tau /= n
	for k, v := range a.src {
		a.src[k] = [2]float64{v[0] / n, v[1] / n}
	}
	return a
}

func reportController(order []string, routes map[string][]*item, seeds int) {
	mode := "one pass over the rows in random order"
	if streamLen > 0 {
		mode = fmt.Sprintf("streams of %d rows drawn with replacement", streamLen)
	}
	fmt.Printf("\n## Online: learned score + threshold controller (%d seeds, %s; means)\n\n", seeds, mode)
	c := defaultCtl()
	fmt.Printf("Defaults: audit %.0f %% of accepted drafts (verifier call, background); escalated rows labelled free by exact final-answer comparison (routes without a final answer: pairwise judge at the verifier's price on %.0f %% of escalated rows); first fit after %d labels, refit every %d labels; L2 λ=%g towards the prior weights; one-sided %s bound at %.0f %% confidence; target parity %.2f (share of requests served an answer at least as good as the verifier's, as the controller measures it); configured threshold %.2f on the warm-up score (gate × (1+k)/(1+m)). Cost includes draft, second opinions, escalations, audits and judge calls; post-warm-up cost counts rows after the first %d.\n\n",
		100*c.audit, 100*c.judgeEscRate, c.minLabels, c.refit, c.lambda, strings.ToUpper(c.bound), 100*(1-c.delta), c.target, c.configured, c.warmup)
	fmt.Println("| route | variant | retained (min; seeds ≥ 0.94) | true parity | controller's parity estimate | cost | cost after 200 | hindsight static (same m, LR-in) | ratio | esc. | bypassed | labels | first move at row |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range order {
		its := routes[r]
		m := maxOthers(its)
		for _, v := range controllerVariants() {
			if v.cfg.m > m {
				continue
			}
			a := runSeeds(its, v.cfg, seeds)
			_, s := insample(its, v.cfg.m, v.cfg.lambda)
			hs := cheapestAt(its, s, v.cfg.m, 0.95)
			hsTxt, ratio := "✘", "—"
			if hs.ok {
				hsTxt = f3(hs.cost)
				ratio = fmt.Sprintf("%.2f", a.costPost/hs.cost)
			}
			moved := "never"
			if a.moved >= 0 && v.cfg.minLabels < 1<<29 {
				moved = fmt.Sprintf("%.0f", a.moved)
			}
			fmt.Printf("| %s | %s | %.3f (%.3f; %d/%d) | %.3f | %.3f | %.3f | %s | %s | %s | %.2f | %.2f | %.0f | %s |\n",
				r, v.name, a.ret, a.minRet, a.okRet, a.n, a.par, a.est, a.cost, f3(a.costPost), hsTxt, ratio, a.esc, a.byp, a.labels, moved)
		}
	}
	// Per-source breakdown of the main variant on mixed routes.
	fmt.Print("\nPer source inside mixed routes (today's gate at 0.7, and the recommended configuration: LR m=1, hybrid labels, bypass, safe start), retained / cost share:\n\n")
	fmt.Println("| route | source | today: retained | today: cost | recommended: retained | recommended: cost | static oracle cost |")
	fmt.Println("|---|---|---|---|---|---|---|")
	vs := controllerVariants()
	for _, r := range order {
		its := routes[r]
		if len(sources(its)) < 2 {
			continue
		}
		today := runSeeds(its, vs[0].cfg, 1)
		main := runSeeds(its, vs[recommended].cfg, seeds)
		for _, src := range sources(its) {
			if src == "all" {
				continue
			}
			o := oracle(subset(its, src))
			fmt.Printf("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", r, src, today.src[src][0], today.src[src][1], main.src[src][0], main.src[src][1], o.cost)
		}
	}
}

var featNames = func() []string {
	n := []string{"intercept", "logit(gate)"}
	n = append(n, signalNames...)
	return append(n, "log length", "agree share", "none agree", "draft no answer", "all differ")
}()

func reportWeights(order []string, routes map[string][]*item) {
	fmt.Print("\n## Learned weights (all rows, true labels, λ=2, m=2 where available; 0 under a non-negativity constraint = neutralised)\n\n")
	fmt.Println("| route | " + strings.Join(featNames, " | ") + " |")
	fmt.Println("|---|" + strings.Repeat("---|", len(featNames)))
	for _, r := range order {
		its := routes[r]
		m := min(maxOthers(its), 2)
		if !its[0].hasFinal {
			m = 0
		}
		mod, _ := insample(its, m, 2)
		line := "| " + r + " |"
		for j := range featNames {
			if j < len(mod.w) {
				line += fmt.Sprintf(" %.2f |", mod.w[j])
			} else {
				line += " — |"
			}
		}
		fmt.Println(line)
	}
}

func reportSensitivity(order []string, routes map[string][]*item, seeds int) {
	fmt.Print("\n## Sensitivity of the recommended controller (LR m=1 where available, hybrid labels, bypass, safe start): mean retained / cost after 200 rows / seeds ≥ 0.94\n\n")
	type knob struct {
		name string
		f    func(*ctlConfig)
	}
	knobs := []knob{
		{"default", func(c *ctlConfig) {}},
		{"minLabels 50", func(c *ctlConfig) { c.minLabels = 50 }},
		{"minLabels 200", func(c *ctlConfig) { c.minLabels = 200 }},
		{"refit 10", func(c *ctlConfig) { c.refit = 10 }},
		{"refit 50", func(c *ctlConfig) { c.refit = 50 }},
		{"λ 0.3", func(c *ctlConfig) { c.lambda = 0.3 }},
		{"λ 10", func(c *ctlConfig) { c.lambda = 10 }},
		{"Wilson 95 %", func(c *ctlConfig) { c.bound = "wilson" }},
		{"CP 90 %", func(c *ctlConfig) { c.delta = 0.10 }},
		{"CP 99 %", func(c *ctlConfig) { c.delta = 0.01 }},
		{"target 0.97", func(c *ctlConfig) { c.target = 0.97 }},
		{"judge rate 0.5", func(c *ctlConfig) { c.judgeEscRate = 0.5 }},
		{"configured start", func(c *ctlConfig) { c.safeStart = false }},
		{"no bypass", func(c *ctlConfig) { c.bypass = 0 }},
	}
	head := "| route |"
	for _, k := range knobs {
		head += " " + k.name + " |"
	}
	fmt.Println(head)
	fmt.Println("|---|" + strings.Repeat("---|", len(knobs)))
	for _, r := range order {
		its := routes[r]
		line := "| " + r + " |"
		for _, k := range knobs {
			c := controllerVariants()[recommended].cfg
			c.m = min(maxOthers(its), c.m)
			k.f(&c)
			a := runSeeds(its, c, seeds)
			line += fmt.Sprintf(" %.3f / %s / %d |", a.ret, f3(a.costPost), a.okRet)
		}
		fmt.Println(line)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func f2(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.2f", x)
}

func f3(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.3f", x)
}
