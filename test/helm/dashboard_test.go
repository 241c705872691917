// Package helm tests the Helm chart in charts/cascadeflow-operator and the
// images it runs: that the chart agrees with config/ (CRD, manager RBAC),
// renders what the operator needs, installs into a real API server, that its
// Grafana dashboard queries only metrics the proxy really exports, and that
// the Dockerfiles build what the chart and the operator run.
package helm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

var dashboardPath = filepath.Join(chartDir, "dashboards", "cascadeflow.json")

// family is one exported metric family: its type and label names.
type family struct {
	kind   dto.MetricType
	labels map[string]bool
}

// exportedFamilies returns every family metrics.New and the client-key
// limiter register. Vector metrics
// only appear in a gather once they have a child, so each vec gets one child
// first (its label count is found by trying: GetMetricWithLabelValues returns
// an error, not a panic, on the wrong count).
func exportedFamilies(t *testing.T) map[string]family {
	t.Helper()
	m := metrics.New()
	// The client-key metrics, on the same registry (what Limiter.Register does).
	touched := touchVecs(t, m) + touchVecs(t, teams.NewMetrics(m.Registry))
	if touched < 15 {
		t.Fatalf("touched only %d metric vectors in metrics.Metrics and teams.Metrics; have the structs changed?", touched)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]family{}
	for _, mf := range mfs {
		fam := family{kind: mf.GetType(), labels: map[string]bool{}}
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				fam.labels[lp.GetName()] = true
			}
		}
		out[mf.GetName()] = fam
	}
	return out
}

// touchVecs gives every metric vector field of the struct s points to one
// child and returns how many it touched.
func touchVecs(t *testing.T, s any) int {
	t.Helper()
	v := reflect.ValueOf(s).Elem()
	collectorType := reflect.TypeFor[prometheus.Collector]()
	touched := 0
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.Type().Implements(collectorType) || f.IsNil() {
			continue
		}
		get := f.MethodByName("GetMetricWithLabelValues")
		if !get.IsValid() {
			continue
		}
		ok := false
		for n := 0; n <= 8 && !ok; n++ {
			args := make([]reflect.Value, n)
			for j := range args {
				args[j] = reflect.ValueOf("x")
			}
			out := get.Call(args)
			ok = out[len(out)-1].IsNil()
		}
		if !ok {
			t.Fatalf("could not create a child of %s.%s", v.Type(), v.Type().Field(i).Name)
		}
		touched++
	}
	return touched
}

// targetLabels are added by Prometheus at scrape time (the chart's PodMonitor
// adds cascaderoute); dashboards may filter and group by them.
var targetLabels = map[string]bool{
	"namespace": true, "pod": true, "instance": true, "job": true, "container": true,
	"service": true, "cascaderoute": true, "__name__": true,
}

// promqlFuncs are the PromQL functions and aggregations a dashboard may use;
// the parser accepts MetricsQL, a superset, so anything else is refused here.
var promqlFuncs = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`abs absent absent_over_time avg_over_time ceil changes clamp clamp_max clamp_min
		count_over_time day_of_month day_of_week day_of_year days_in_month delta deriv exp floor histogram_avg
		histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum hour
		idelta increase irate label_join label_replace last_over_time ln log10 log2 max_over_time min_over_time minute
		month predict_linear present_over_time quantile_over_time rate resets round scalar sgn sort sort_desc sqrt
		stddev_over_time stdvar_over_time sum_over_time time timestamp vector year
		sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio`) {
		promqlFuncs[f] = true
	}
}

// grafanaVars replaces Grafana's variables with values that keep a query valid PromQL.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h",
	"${namespace}", ".*", "$namespace", ".*", "${rule}", ".*", "$rule", ".*", "${team}", ".*", "$team", ".*",
)

// checkQuery parses one PromQL query and returns what is wrong with it: a
// parse error, an unknown metric, a label the metric does not have, a range
// function without a range, or a function PromQL lacks.
func checkQuery(expr string, fams map[string]family) []string {
	q := grafanaVars.Replace(expr)
	if strings.Contains(q, "$") {
		return []string{fmt.Sprintf("unknown Grafana variable in %q", expr)}
	}
	e, err := metricsql.Parse(q)
	if err != nil {
		return []string{fmt.Sprintf("parse %q: %v", expr, err)}
	}
	var problems []string
	metricLabels := map[string]bool{} // every label of every metric in the query, for by/without
	metricsql.VisitAll(e, func(node metricsql.Expr) {
		switch n := node.(type) {
		case *metricsql.MetricExpr:
			for _, group := range n.LabelFilterss {
				name, labels := "", []string{}
				for _, lf := range group {
					if lf.Label == "__name__" {
						name = lf.Value
						continue
					}
					labels = append(labels, lf.Label)
				}
				have, ok := seriesLabels(name, fams)
				if !ok {
					problems = append(problems, fmt.Sprintf("metric %q is not exported by the proxy (in %q)", name, expr))
					continue
				}
				for l := range have {
					metricLabels[l] = true
				}
				for _, l := range labels {
					if !have[l] && !targetLabels[l] {
						problems = append(problems, fmt.Sprintf("metric %q has no label %q (in %q)", name, l, expr))
					}
				}
			}
		case *metricsql.FuncExpr:
			if !promqlFuncs[n.Name] {
				problems = append(problems, fmt.Sprintf("%s is not a PromQL function (in %q)", n.Name, expr))
			}
			if i := metricsql.GetRollupArgIdx(n); i >= 0 && i < len(n.Args) {
				if re, ok := n.Args[i].(*metricsql.RollupExpr); !ok || re.Window == nil {
					problems = append(problems, fmt.Sprintf("%s needs a range vector like x[5m] (in %q)", n.Name, expr))
				}
			}
		case *metricsql.AggrFuncExpr:
			if !promqlFuncs[n.Name] {
				problems = append(problems, fmt.Sprintf("%s is not a PromQL aggregation (in %q)", n.Name, expr))
			}
		}
	})
	// Grouping labels are checked against all metrics in the query: visiting
	// leaves first has filled metricLabels before this runs.
	metricsql.VisitAll(e, func(node metricsql.Expr) {
		if n, ok := node.(*metricsql.AggrFuncExpr); ok {
			for _, l := range n.Modifier.Args {
				if !metricLabels[l] && !targetLabels[l] {
					problems = append(problems, fmt.Sprintf("%s %s (%s): no metric in the query has label %q (in %q)", n.Name, n.Modifier.Op, l, l, expr))
				}
			}
		}
	})
	return problems
}

// seriesLabels returns the labels of a series name: a family's own name, or
// for histograms and summaries its _bucket, _sum and _count series.
func seriesLabels(name string, fams map[string]family) (map[string]bool, bool) {
	if f, ok := fams[name]; ok && f.kind != dto.MetricType_HISTOGRAM && f.kind != dto.MetricType_SUMMARY {
		return f.labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if !found {
			continue
		}
		f, ok := fams[base]
		if !ok || (f.kind != dto.MetricType_HISTOGRAM && f.kind != dto.MetricType_SUMMARY) {
			continue
		}
		if suffix == "_bucket" {
			if f.kind != dto.MetricType_HISTOGRAM {
				continue
			}
			labels := map[string]bool{"le": true}
			for l := range f.labels {
				labels[l] = true
			}
			return labels, true
		}
		return f.labels, true
	}
	return nil, false
}

// labelValuesQuery matches Grafana's label_values(selector, label) variable query.
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// dashboardQueries returns every PromQL query in a Grafana dashboard: panel
// targets (at any depth, rows included) and variable queries, keyed by where
// they are.
func dashboardQueries(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				if s, ok := child.(string); ok && k == "expr" {
					out[path+".expr"] = s
					continue
				}
				walk(path+"."+k, child)
			}
		case []any:
			for i, child := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), child)
			}
		}
	}
	walk("", doc)
	vars, _ := doc.(map[string]any)["templating"].(map[string]any)["list"].([]any)
	for _, v := range vars {
		v := v.(map[string]any)
		if v["type"] != "query" {
			continue
		}
		def, _ := v["definition"].(string)
		m := labelValuesQuery.FindStringSubmatch(def)
		if m == nil {
			t.Errorf("variable %v: query %q is not label_values(selector, label)", v["name"], def)
			continue
		}
		// The label must exist too: count by (label) (selector) checks both.
		out["variable "+v["name"].(string)] = fmt.Sprintf("count by (%s) (%s)", m[2], m[1])
	}
	return out
}

func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	fams := exportedFamilies(t)
	queries := dashboardQueries(t, raw)
	if len(queries) < 20 {
		t.Fatalf("found %d queries in %s; the walker is broken or the dashboard lost its panels", len(queries), dashboardPath)
	}
	used := map[string]bool{}
	keys := make([]string, 0, len(queries))
	for k := range queries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, where := range keys {
		for _, p := range checkQuery(queries[where], fams) {
			t.Errorf("%s: %s", where, p)
		}
		for name := range fams {
			if strings.Contains(queries[where], name) {
				used[name] = true
			}
		}
	}
	// What the dashboard must show, by the metric that carries it.
	for _, name := range []string{
		"cascadeflow_requests_total",                // requests, draft acceptance rate
		"cascadeflow_savings_usd_total",             // dollars saved
		"cascadeflow_extra_cost_usd_total",          // net of escalations
		"cascadeflow_cost_usd_total",                // cost by model
		"cascadeflow_stage_duration_seconds",        // latency by outcome
		"cascadeflow_upstream_errors_total",         // errors
		"cascadeflow_http_requests_total",           // errors by status
		"cascadeflow_baseline_cost_usd_total",       // savings ratio
		"cascadeflow_http_request_duration_seconds", // latency of every request
		"cascadeflow_quality_estimate",              // realised quality
		"cascadeflow_quality_target",                // against the target
		"cascadeflow_quality_threshold",             // threshold in effect
		"cascadeflow_audit_cost_usd_total",          // what measuring quality costs
		"cascadeflow_client_cost_usd_total",         // cost per team and key
		"cascadeflow_client_savings_usd_total",      // savings per team and key
		"cascadeflow_client_tokens_total",           // tokens per team and key
		"cascadeflow_client_requests_total",         // requests per team and key
		"cascadeflow_client_refusals_total",         // what the keys' limits refused
	} {
		if !used[name] {
			t.Errorf("the dashboard has no query on %s", name)
		}
	}
}

// The checker must catch the mistakes it exists for; a checker that accepts
// everything would let the dashboard test pass forever.
func TestCheckQueryRejectsMistakes(t *testing.T) {
	fams := exportedFamilies(t)
	good := `sum by (model) (rate(cascadeflow_cost_usd_total{namespace=~"$namespace", rule=~"$rule"}[$__rate_interval]))`
	if p := checkQuery(good, fams); len(p) != 0 {
		t.Fatalf("a correct query was rejected: %v", p)
	}
	for _, bad := range []string{
		`sum(rate(cascadeflow_request_total[5m]))`,                                            // metric typo
		`sum(rate(cascadeflow_requests_total{outcom="accepted"}[5m]))`,                        // label typo
		`sum by (modle) (rate(cascadeflow_cost_usd_total[5m]))`,                               // grouping label typo
		`rate(cascadeflow_requests_total)`,                                                    // no range
		`histogram_quantile(0.9, sum by (le) (rate(cascadeflow_stage_duration_seconds[5m])))`, // histogram without _bucket
		`sum(rate(cascadeflow_requests_total[5m])`,                                            // unbalanced
		`median_over_time(cascadeflow_http_in_flight_requests[5m])`,                           // MetricsQL only
		`sum(rate(cascadeflow_requests_total{rule=~"$tenant"}[5m]))`,                          // unknown variable
		`cascadeflow_savings_usd`,                                                             // counter without _total
	} {
		if p := checkQuery(bad, fams); len(p) == 0 {
			t.Errorf("checkQuery accepted %q", bad)
		}
	}
}

// The Teams rows: a team variable from the client-key metrics, panels that
// compare teams, and a row Grafana repeats per team whose panels show cost,
// savings, tokens and requests of that team only.
func TestDashboardPanelsPerTeam(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
				IncludeAll bool   `json:"includeAll"`
				Multi      bool   `json:"multi"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Repeat  string `json:"repeat"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range doc.Templating.List {
		if v.Name == "team" {
			found = true
			if !strings.Contains(v.Definition, "cascadeflow_client_") || !strings.HasSuffix(v.Definition, ", team)") || !v.IncludeAll || !v.Multi {
				t.Errorf("team variable %+v", v)
			}
		}
	}
	if !found {
		t.Fatal("no team variable")
	}
	var row string
	perTeam := map[string]bool{}
	for _, p := range doc.Panels {
		if p.Type == "row" {
			row = p.Repeat
			continue
		}
		for _, tg := range p.Targets {
			if strings.Contains(tg.Expr, "cascadeflow_client_") && !strings.Contains(tg.Expr, `team=~"$team"`) {
				t.Errorf("panel %q: %s ignores the team variable", p.Title, tg.Expr)
			}
			if row != "team" {
				continue
			}
			for _, m := range []string{"cost_usd", "savings_usd", "tokens", "requests"} {
				if strings.Contains(tg.Expr, "cascadeflow_client_"+m+"_total") {
					perTeam[m] = true
				}
			}
		}
	}
	for _, m := range []string{"cost_usd", "savings_usd", "tokens", "requests"} {
		if !perTeam[m] {
			t.Errorf("the row repeated per team has no panel on cascadeflow_client_%s_total", m)
		}
	}
}
