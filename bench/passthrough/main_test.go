package main

import (
	"os"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func TestPassthroughRulesAreValid(t *testing.T) {
	set, err := rules.Decode([]byte(passthroughRules("http://127.0.0.1:9")))
	if err != nil {
		t.Fatalf("the benchmark's rules file is refused: %v", err)
	}
	if len(set.Rules) != 0 || set.DefaultRoute == nil || set.DefaultRoute.Provider != "anthropic" {
		t.Fatalf("want no rules and a default route to anthropic, got %+v", set)
	}
	if len(set.Providers) != 1 || set.Providers[0].APIKey == nil || set.Providers[0].APIKey.Env != upstreamKeyEnv {
		t.Fatalf("want one provider keyed by $%s, got %+v", upstreamKeyEnv, set.Providers)
	}
}

func TestMedianOf(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := medianOf(c.in); got != c.want {
			t.Errorf("medianOf(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// The ratio pairs each round's target figure with the bare proxy's figure
// of the same round, then takes the median.
func TestRatioIsMedianOfPerRoundRatios(t *testing.T) {
	r := func(rps float64, cpu map[string]float64) *loadResult {
		return &loadResult{RPS: rps, Requests: 1000, CPUSeconds: cpu}
	}
	rep := &report{results: map[key][]*loadResult{
		{"s", "bare"}:        {r(100, map[string]float64{"bare": 0.1}), r(200, map[string]float64{"bare": 0.1}), r(50, map[string]float64{"bare": 0.1})},
		{"s", "cascadeflow"}: {r(90, map[string]float64{"cascadeflow": 0.2}), r(220, map[string]float64{"cascadeflow": 0.1}), r(60, map[string]float64{"cascadeflow": 0.3})},
	}}
	// Per round: 0.9, 1.1, 1.2 -> median 1.1 (the ratio of medians would be 90/100).
	if got := rep.ratio("s", "cascadeflow", rps); got < 1.0999 || got > 1.1001 {
		t.Errorf("throughput ratio = %v, want 1.1", got)
	}
	// CPU per request is read from each target's own process: 2, 1, 3 -> 2.
	if got := rep.ratio("s", "cascadeflow", proxyCPU); got != 2 {
		t.Errorf("cpu ratio = %v, want 2", got)
	}
	if got := rep.median("s", "cascadeflow", proxyCPU); got != 200 {
		t.Errorf("median cpu = %v µs/request, want 200", got)
	}
}

func TestVmHWMOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	if got := vmHWM(os.Getpid()); got < 1 || got > 4096 {
		t.Fatalf("own peak RSS = %v MiB", got)
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{12345.6: "12346", 123.45: "123.5", 12.345: "12.35", 1.2345: "1.234"} {
		if got := num(in); !strings.EqualFold(got, want) {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
}

// The drain counts the access log's lines, however the pipe splits them,
// and keeps every other line.
func TestLogDrainCountsInfoLines(t *testing.T) {
	var other strings.Builder
	d := &logDrain{other: &other}
	in := `{"level":"INFO","msg":"request"}` + "\n" + `{"level":"WARN","msg":"slow"}` + "\n" + `{"level":"INFO","msg":"request"}` + "\n"
	for i := 0; i < len(in); i += 7 {
		_, _ = d.Write([]byte(in[i:min(i+7, len(in))]))
	}
	if n, size := d.counts(); n != 2 || size != 2*len(`{"level":"INFO","msg":"request"}`+"\n") {
		t.Errorf("counted %d info lines, %d bytes", n, size)
	}
	if other.String() != `{"level":"WARN","msg":"slow"}`+"\n" {
		t.Errorf("kept %q", other.String())
	}
}
