package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

func TestWriteSamplesMatchesRowsAndDropsTexts(t *testing.T) {
	f := &fileSetup{Slug: "dev", Rows: []evaldata.Row{
		{ID: "a", Source: "gsm8k", Draft: evaldata.Answer{Text: "#### 72", Score: 0}, Verifier: evaldata.Answer{Text: "#### 71", Score: 1}},
		{ID: "b", Source: "gsm8k", Draft: evaldata.Answer{Text: "#### 5", Score: 1}, Verifier: evaldata.Answer{Text: "#### 5", Score: 1}},
	}}
	target := 0.95
	var reg routequality.Registry
	q := reg.Route(&rules.Rule{Name: "eval", Quality: &rules.Quality{Target: &target}})
	q.Add(routequality.Sample{Sample: calibrate.Sample{Score: 0.4, Disputed: true}, DraftText: " #### 72\n", Prompt: "secret prompt"})
	q.Add(routequality.Sample{Sample: calibrate.Sample{Score: 0.9, Labelled: true, Good: true}, DraftText: "#### 5"})
	q.Add(routequality.Sample{Sample: calibrate.Sample{Score: 0.1}, DraftText: "no such row"})
	dir := t.TempDir()
	if err := writeSamples(dir, f, onlineVariant{Name: "online-learned + 1 opinion"}, "repeat 1/3", &reg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "dev.online-learned-1opinion.repeat1of3.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "secret prompt") || strings.Contains(string(b), "####") {
		t.Errorf("texts written: %s", b)
	}
	var rows []sampleRow
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"calibration"`) {
			continue
		}
		var r sampleRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 3 {
		t.Fatalf("%d sample lines, want 3", len(rows))
	}
	if r := rows[0]; r.Row != "a" || r.True || !r.Disputed || r.VerifierScore != 1 {
		t.Errorf("first sample %+v, want row a, a worse draft, disputed", r)
	}
	if r := rows[1]; r.Row != "b" || !r.True || !r.Labelled {
		t.Errorf("second sample %+v, want row b, as good", r)
	}
	if r := rows[2]; r.Row != "" {
		t.Errorf("unmatched sample matched row %q", r.Row)
	}
}
