package app_test

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

const qualityRules = `version: v1
providers:
  - {name: anthropic, type: anthropic, baseURL: http://127.0.0.1:1, apiKey: {env: ANTHROPIC_API_KEY}}
rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: anthropic, model: claude-haiku-5-5}
    verifier: {provider: anthropic, model: claude-opus-5-5}
    quality: {target: 0.9, minSamples: 20}
  - {name: sonnet, models: [claude-sonnet-5-5], draft: {provider: anthropic, model: claude-haiku-5-5}, verifier: {provider: anthropic, model: claude-sonnet-5-5}}
`

// qualityProxy assembles a proxy with a quality state file, loads the
// rules and serves until the returned stop is called (which waits for the
// shutdown, the last save included).
func qualityProxy(t *testing.T, state string, log *slog.Logger) (*app.Proxy, func()) {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := app.New(app.Options{Log: log, QualityState: state, QualityStateInterval: time.Hour,
		LookupEnv: func(string) (string, bool) { return "key", true }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load([]byte(qualityRules), "test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, wait, err := p.Serve(ctx, "127.0.0.1:0", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := wait(); err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return p, stop
}

// addSamples gives a route n labelled samples: drafts scoring above 0.5 are good.
func addSamples(r *routequality.Route, n int) {
	for i := range n {
		score := float64(i%20) / 20
		x := make([]float64, routequality.NumFeatures)
		x[0] = 4*score - 2
		r.Add(routequality.Sample{Sample: calibrate.Sample{Score: score, Features: x, Mass: 1, Labelled: true,
			Good: score > 0.5, LabelProb: 1}, Outcome: "accepted"})
	}
}

// comparable drops what differs between two computations of the same calibration.
// comparable drops what may differ between two fits of the same samples:
// the time, and the model's last digits (a refit warm-starts from the model
// in effect, a restored route fits afresh).
func comparable(c routequality.Calibration) routequality.Calibration {
	c.UpdatedAt = time.Time{}
	if c.Model != nil {
		m := *c.Model
		m.Bias = math.Round(m.Bias*1e3) / 1e3
		m.Weights = make([]float64, len(c.Model.Weights))
		for i, w := range c.Model.Weights {
			m.Weights[i] = math.Round(w*1e3) / 1e3
		}
		c.Model = &m
	}
	return c
}

// A proxy collects samples and stops; the next one, started on the same
// state file, runs with the same samples, spend and calibration.
func TestQualityStateSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quality.json")
	p1, stop := qualityProxy(t, path, nil)
	opus := p1.Quality.Routes()["opus"]
	addSamples(opus, 3*routequality.RefitEvery) // the last refit covers every sample
	opus.Spend(1.5, false)
	opus.Spend(0.25, true)
	before := opus.Calibration()
	if before.Reason != string(calibrate.Calibrated) || before.Model == nil {
		t.Fatalf("the first proxy did not calibrate: %+v", before)
	}
	samples := opus.Samples()
	stop()

	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no state file after shutdown: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", info.Mode().Perm())
	}

	p2, _ := qualityProxy(t, path, nil)
	restored := p2.Quality.Routes()["opus"]
	if restored == opus {
		t.Fatal("the second proxy shares the first one's route")
	}
	if got := restored.Samples(); len(got) != len(samples) || !reflect.DeepEqual(got[len(got)-1].Features, samples[len(samples)-1].Features) ||
		got[3].Seq != samples[3].Seq || got[3].Good != samples[3].Good {
		t.Errorf("restored %d samples, want %d equal ones", len(got), len(samples))
	}
	if got, want := comparable(restored.Calibration()), comparable(before); !reflect.DeepEqual(got, want) {
		t.Errorf("restored calibration\n%+v\nwant\n%+v", got, want)
	}
	if spend, audit := restored.Costs(); spend != 1.5 || audit != 0.25 {
		t.Errorf("restored spend %v audit %v, want 1.5 and 0.25", spend, audit)
	}
	if n := len(p2.Quality.Routes()["sonnet"].Samples()); n != 0 {
		t.Errorf("sonnet has %d samples, want none", n)
	}
	// New samples continue the sequence.
	restored.Add(routequality.Sample{Outcome: "accepted"})
	if got := restored.Samples(); got[len(got)-1].Seq <= samples[len(samples)-1].Seq {
		t.Errorf("next sequence number %d after %d", got[len(got)-1].Seq, samples[len(samples)-1].Seq)
	}
}

// A state file that does not decode, or of another version, is a logged
// error: the proxy starts afresh, keeps the file aside and saves anew.
func TestQualityStateCorruptFileIsSetAside(t *testing.T) {
	for name, content := range map[string]string{
		"corrupt":       `{"version": 1, "routes": {"opus": {"samples": [`,
		"other version": `{"version": 99, "routes": {}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "quality.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			logs := &syncBuffer{}
			p, stop := qualityProxy(t, path, slog.New(slog.NewTextHandler(logs, nil)))
			if !strings.Contains(logs.String(), "quality state not restored") || !strings.Contains(logs.String(), "moved aside") {
				t.Errorf("no clear error logged:\n%s", logs)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("set-aside copies: %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != content {
				t.Errorf("the set-aside copy holds %q", b)
			}
			addSamples(p.Quality.Routes()["opus"], 2)
			stop()
			p2, _ := qualityProxy(t, path, nil)
			if n := len(p2.Quality.Routes()["opus"].Samples()); n != 2 {
				t.Errorf("after the fresh save, %d samples restored, want 2", n)
			}
		})
	}
}
