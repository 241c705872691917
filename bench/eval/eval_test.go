package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// syntheticRows are three made-up rows (two sources) with hand-counted
// token estimates, so the replay can be run without the real data.
var syntheticRows = []evaldata.Row{
	{ID: "qa-1", Source: "qa",
		Messages: []evaldata.Message{{Role: "user", Content: "What is the capital of France?"}},                         // 30 bytes: 8 tokens
		Draft:    evaldata.Answer{Model: evaldata.DevDraftModel, Text: "The capital of France is Paris.", Score: 1},     // 31: 8
		Verifier: evaldata.Answer{Model: evaldata.DevVerifierModel, Text: "Paris is the capital of France.", Score: 1}}, // 31: 8
	{ID: "qa-2", Source: "qa",
		Messages: []evaldata.Message{{Role: "user", Content: "Write a haiku about autumn leaves."}},                                                                   // 34: 9
		Draft:    evaldata.Answer{Model: evaldata.DevDraftModel, Text: "I'm sorry, but I can't help with that.", Score: 0},                                            // 38: 10
		Verifier: evaldata.Answer{Model: evaldata.DevVerifierModel, Text: "Crimson leaves let go,\ndrifting on the cooling wind,\nautumn says goodbye.", Score: 0.9}}, // 73: 19
	{ID: "chat-1", Source: "chat",
		Messages: []evaldata.Message{{Role: "user", Content: "hello"}, {Role: "assistant", Content: " Hi there."}, {Role: "user", Content: "What is the capital of France?"}}, // 2+3+8 = 13
		Draft:    evaldata.Answer{Model: evaldata.DevDraftModel, Text: "The capital of France is Paris.", Score: 0.8},
		Verifier: evaldata.Answer{Model: evaldata.DevVerifierModel, Text: "Paris is the capital of France.", Score: 0.9}},
}

// syntheticFile is syntheticRows as one data file.
func syntheticFile(t *testing.T) *fileSetup {
	t.Helper()
	f, err := newFileSetup("synthetic.jsonl", syntheticRows, evaldata.Prices)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMeasureThroughTheProxy(t *testing.T) {
	rep, err := measure(context.Background(), syntheticFile(t), 2, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("consistency problems: %q", rep.Problems)
	}
	if strings.Join(rep.Sources, ",") != "qa,chat" {
		t.Errorf("sources %v", rep.Sources)
	}
	// Prices from the rule: draft $0.60/$0.60, verifier $10/$30 per million.
	// qa: draft (8+8)·0.6 + (9+10)·0.6 = 21 µ$; verifier 8·10+8·30 + 9·10+19·30 = 980 µ$.
	approx(t, "qa draft cost share", rep.Base["qa"].Draft.CostShare, 21.0/980.0)
	// chat: draft (13+8)·0.6 = 12.6 µ$; verifier 13·10 + 8·30 = 370 µ$.
	approx(t, "chat draft cost share", rep.Base["chat"].Draft.CostShare, 12.6/370.0)
	approx(t, "qa verifier quality", rep.Base["qa"].Verifier.Quality, 0.95)
	approx(t, "qa oracle quality", rep.Base["qa"].Oracle.Quality, 0.95)

	// The default pass as the client saw it agrees with the sweep's point
	// computed from the per-row scores and costs.
	// Every row's full-precision score was read from /api/stats and rounds
	// to its header.
	if rep.Exact.Rows != len(syntheticRows) || rep.Exact.Scored != len(syntheticRows) || rep.Exact.HeaderDisagree != 0 {
		t.Errorf("exact scores: %+v", rep.Exact)
	}
	for _, s := range rep.Sources {
		p, ok := rep.point(s, rep.DefaultThreshold)
		if !ok {
			t.Fatalf("no sweep point at the default threshold for %s", s)
		}
		got := rep.Default[s]
		approx(t, s+" observed vs predicted quality", got.Quality, p.Quality)
		approx(t, s+" observed vs predicted escalation", got.Escalation, p.Escalation)
		if d := got.CostShare - p.CostShare; d > 1e-4 || d < -1e-4 {
			t.Errorf("%s: observed cost share %.6f, predicted %.6f", s, got.CostShare, p.CostShare)
		}
	}
	nonStream, stream := 0, 0
	for _, c := range rep.Checks {
		if c.Stream {
			stream++
		} else {
			nonStream++
		}
		if c.Mismatches != 0 || c.ScoreChanged != 0 || c.TextChanged != 0 {
			t.Errorf("check @%v (stream %v): %+v", c.Threshold, c.Stream, c)
		}
	}
	// Each source's operating point was re-run through the proxy (unless it
	// is the default threshold, whose pass is the default one).
	for s, op := range rep.Operating {
		if op.Threshold == rep.DefaultThreshold {
			continue
		}
		c, ok := rep.check(op.Threshold)
		if !ok || !slices.Contains(c.For, s) {
			t.Errorf("%s: no re-run at its operating threshold %v", s, op.Threshold)
			continue
		}
		got := c.Observed[s]
		approx(t, s+" operating quality, observed vs predicted", got.Quality, op.Predicted.Quality)
		approx(t, s+" operating escalation, observed vs predicted", got.Escalation, op.Predicted.Escalation)
	}
	if nonStream < 2 || stream != 1 {
		t.Errorf("%d threshold re-runs and %d streaming passes; want ≥ 2 and 1", nonStream, stream)
	}
	if want := len(syntheticRows) * (3 + nonStream + stream); rep.Requests != want {
		t.Errorf("%d requests, want %d", rep.Requests, want)
	}
}

func TestOutputsAreWellFormed(t *testing.T) {
	rep, err := measure(context.Background(), syntheticFile(t), 2, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := rep.write(dir); err != nil {
		t.Fatal(err)
	}
	csvText, _ := os.ReadFile(filepath.Join(dir, "sweep.csv"))
	lines := strings.Split(strings.TrimSpace(string(csvText)), "\n")
	if lines[0] != "threshold,source,kind,quality,quality_ratio_vs_verifier,cost_share,escalation_rate,random_quality_at_same_rate,random_router_quality_at_same_cost" {
		t.Errorf("csv header %q", lines[0])
	}
	if len(lines) != 1+len(rep.Points) {
		t.Errorf("csv has %d lines, want %d", len(lines), 1+len(rep.Points))
	}
	// Per source: the 101 grid thresholds and every observed score.
	perSource := map[string]int{}
	grid := map[string]int{}
	scores := map[string]map[string]bool{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		perSource[f[1]]++
		if strings.Contains(f[2], "grid") {
			grid[f[1]]++
		}
		if strings.Contains(f[2], "score") {
			if scores[f[1]] == nil {
				scores[f[1]] = map[string]bool{}
			}
			scores[f[1]][f[0]] = true
		}
	}
	for _, s := range rep.Sources {
		if grid[s] != 101 {
			t.Errorf("%s: %d grid rows, want 101", s, grid[s])
		}
		// Every row was scored, so each of its distinct scores is a threshold.
		if n := len(scores[s]); n == 0 || n != rep.Resolution[s].DistinctExact {
			t.Errorf("%s: %d score rows, want the %d distinct scores", s, n, rep.Resolution[s].DistinctExact)
		}
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "sweep.svg"))
	dec := xml.NewDecoder(bytes.NewReader(svg))
	polylines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("sweep.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
			for _, a := range se.Attr {
				if a.Name.Local == "points" && len(strings.Fields(a.Value)) != perSource[rep.Sources[polylines-1]] {
					t.Errorf("curve %d has %d points, want %d", polylines, len(strings.Fields(a.Value)), perSource[rep.Sources[polylines-1]])
				}
			}
		}
	}
	if polylines != 2 {
		t.Errorf("%d curves, want one per source", polylines)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "results.md"))
	for _, want := range []string{"### qa (2 rows)", "### chat (1 rows)", "make eval", "tuned on dev", "sweep.svg"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	for _, r := range syntheticRows {
		b, _ := json.Marshal(r.Verifier.Text)
		if bytes.Contains(md, []byte(r.Verifier.Text)) || bytes.Contains(csvText, b) {
			t.Errorf("an answer text leaked into the outputs")
		}
	}
}

func TestSkipsWithoutData(t *testing.T) {
	var out, errOut bytes.Buffer
	dir := t.TempDir()
	code := realMain([]string{"-data", filepath.Join(dir, "absent", "pairs-dev.jsonl"), "-out", filepath.Join(dir, "out")}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if !strings.Contains(out.String(), "skipped") {
		t.Errorf("no skip message: %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Error("outputs were written although the data is absent")
	}
}

func TestRunWritesOutputsFromADataFile(t *testing.T) {
	dir := t.TempDir()
	var data bytes.Buffer
	for _, r := range syntheticRows {
		b, _ := json.Marshal(r)
		data.Write(append(b, '\n'))
	}
	path := filepath.Join(dir, "pairs.jsonl")
	if err := os.WriteFile(path, data.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := realMain([]string{"-data", path, "-out", filepath.Join(dir, "out"), "-concurrency", "2", "-repeats", "2"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, name := range []string{"pairs/results.md", "pairs/sweep.csv", "pairs/sweep.svg", "pairs/online.csv", "pairs/online-summary.csv", "pairs/online.svg", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, "out", name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	if !strings.Contains(out.String(), "== qa (2 rows) ==") {
		t.Errorf("the table was not printed: %q", out.String())
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "out", "README.md"))
	for _, want := range []string{"## Online: the quality loop", "### Run to run", "### In short", "## Where the gate still fails", "(pairs/results.md)"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "out", "pairs", "online.svg"))
	dec := xml.NewDecoder(bytes.NewReader(svg))
	lines3 := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("online.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines3++
		}
	}
	if lines3 != 3*2 {
		t.Errorf("online.svg has %d lines, want one per variant in each of its 3 panels", lines3)
	}
	// Two variants (the rows have no other models' answers), each row once.
	online, _ := os.ReadFile(filepath.Join(dir, "out", "pairs", "online.csv"))
	lines := strings.Split(strings.TrimSpace(string(online)), "\n")
	if len(lines) != 1+2*len(syntheticRows) {
		t.Errorf("online.csv has %d lines, want %d", len(lines), 1+2*len(syntheticRows))
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "online-learned,") && !strings.HasPrefix(l, "offline-learned,") {
			t.Errorf("online.csv line of an unexpected variant: %q", l)
		}
	}
}

func TestWhichAnswer(t *testing.T) {
	r := &syntheticRows[0]
	cases := []struct{ text, outcome, want string }{
		{r.Draft.Text, outcomeAccepted, servedDraft},
		{r.Verifier.Text, "escalated", servedVerifier},
		{r.Draft.Text + r.Verifier.Text, "escalated", servedOther}, // mixed
		{"", outcomeAccepted, servedOther},
	}
	for _, c := range cases {
		if got := whichAnswer(r, c.text, c.outcome); got != c.want {
			t.Errorf("whichAnswer(%q) = %s, want %s", c.text, got, c.want)
		}
	}
	same := evaldata.Row{Draft: evaldata.Answer{Text: "42"}, Verifier: evaldata.Answer{Text: "42"}}
	if whichAnswer(&same, "42", outcomeAccepted) != servedDraft || whichAnswer(&same, "42", "escalated") != servedVerifier {
		t.Error("identical answers are not told apart by the outcome")
	}
}

func TestGateFingerprintIgnoresTests(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("gate.go", "package quality\n")
	write("gate_test.go", "package quality\n")
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "loop.go"), []byte("package loop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if gateFingerprint(dir) == gateFingerprint(dir, other) {
		t.Error("a second directory did not change the fingerprint")
	}
	first := gateFingerprint(dir)
	if len(first) != 12 {
		t.Fatalf("fingerprint %q", first)
	}
	write("gate_test.go", "package quality // changed\n")
	if gateFingerprint(dir) != first {
		t.Error("a test file changed the fingerprint")
	}
	write("gate.go", "package quality // changed\n")
	if gateFingerprint(dir) == first {
		t.Error("a change to the gate did not change the fingerprint")
	}
	if gateFingerprint(filepath.Join(dir, "absent")) != "" {
		t.Error("a missing directory has a fingerprint")
	}
}

func TestStatsScoreReadsOneRequestAtFullPrecision(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/stats" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	ctx := context.Background()

	body = `{"total_queries":1,"rules":[{"rule":"other","requests":1,"meanGateScore":0.5},{"rule":"eval","requests":1,"meanGateScore":0.8136630127}]}`
	got, err := statsScore(ctx, srv.Client(), srv.URL)
	if err != nil || got != 0.8136630127 {
		t.Errorf("score %v, %v; want 0.8136630127", got, err)
	}
	body = `{"rules":[{"rule":"eval","requests":2,"meanGateScore":0.7}]}`
	if _, err := statsScore(ctx, srv.Client(), srv.URL); err == nil {
		t.Error("a mean over two requests was taken as one score")
	}
	body = `{"rules":[]}`
	if _, err := statsScore(ctx, srv.Client(), srv.URL); err == nil {
		t.Error("no error when the rule has no stats")
	}
}

// TestRunReplaysAQualitySamplesExport: a rule's samples, as the proxy exports
// them, are detected, their labelled samples with texts replayed in both
// modes, and the rest counted as skipped.
func TestRunReplaysAQualitySamplesExport(t *testing.T) {
	var samples []routequality.Sample
	for i, r := range syntheticRows {
		req := &llm.Request{}
		for _, m := range r.Messages {
			req.Messages = append(req.Messages, llm.Message{Role: llm.Role(m.Role), Content: []llm.Block{{Type: llm.BlockText, Text: m.Content}}})
		}
		samples = append(samples, routequality.Sample{Sample: calibrate.Sample{Labelled: true, Good: r.Draft.Score == 1},
			Rule: "chat", Seq: uint64(i + 1), Outcome: "accepted", DraftCost: 1e-5, VerifierCost: 3e-4,
			Prompt: audit.Conversation(req), DraftText: r.Draft.Text, VerifierText: r.Verifier.Text})
	}
	samples = append(samples, routequality.Sample{Rule: "chat", Seq: 9, Outcome: "accepted", Prompt: "[user]\nunlabelled", DraftText: "a", VerifierText: "b"},
		routequality.Sample{Sample: calibrate.Sample{Labelled: true}, Rule: "chat", Seq: 10, Outcome: "escalated"})
	var data bytes.Buffer
	if err := routequality.WriteSamples(&data, samples); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "samples.jsonl")
	if err := os.WriteFile(path, data.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := realMain([]string{"-data", path, "-out", filepath.Join(dir, "out"), "-concurrency", "2", "-repeats", "1"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if want := "rule chat's quality samples, 3 of 5 replayed (skipped: 1 no prompt"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks %q: %s", want, errOut.String())
	}
	if !strings.Contains(errOut.String(), "1 unlabelled") || !strings.Contains(errOut.String(), "from the samples' recorded costs") {
		t.Errorf("stderr does not count the unlabelled sample or say how it priced: %s", errOut.String())
	}
	if !strings.Contains(out.String(), "== samples (3 rows) ==") {
		t.Errorf("the offline table was not printed: %q", out.String())
	}
	results, _ := os.ReadFile(filepath.Join(dir, "out", "samples", "results.md"))
	if !bytes.Contains(results, []byte("from the samples' recorded costs")) || bytes.Contains(results, []byte("$0/$0")) {
		t.Errorf("results.md does not give the samples' prices: %s", results)
	}
	online, err := os.ReadFile(filepath.Join(dir, "out", "samples", "online.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(online)), "\n"); len(lines) != 1+2*3 {
		t.Errorf("online.csv has %d lines, want a header and each of 3 rows in 2 variants", len(lines))
	}
}
