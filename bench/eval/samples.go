package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// samplesOut is the -samples folder ("" writes nothing) and judgeNoise the
// -judge-noise rate; both set once by realMain before any pass runs.
var (
	samplesOut string
	judgeNoise float64
)

// sampleRow is one line of a -samples file: a quality sample without its
// texts, and what the data set recorded for its row.
type sampleRow struct {
	routequality.Sample
	// Row is the row's ID ("" when the draft matched no row); Source its
	// source; DraftScore and VerifierScore its recorded labels, and True
	// whether the draft is at least as good (the label a perfect comparer
	// would give).
	Row           string  `json:"row,omitempty"`
	Source        string  `json:"source,omitempty"`
	DraftScore    float64 `json:"draftScore"`
	VerifierScore float64 `json:"verifierScore"`
	True          bool    `json:"true"`
}

// writeSamples writes the pass's routes' calibrations and samples into dir,
// one file per file, variant and repeat.
func writeSamples(dir string, f *fileSetup, v onlineVariant, repeat string, reg *routequality.Registry) error {
	byDraft := map[string]int{}
	for i, r := range f.Rows {
		byDraft[strings.TrimSpace(r.Draft.Text)] = i
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	slug := func(s string) string {
		return strings.NewReplacer(" ", "", "+", "-", "/", "of").Replace(s)
	}
	name := filepath.Join(dir, fmt.Sprintf("%s.%s.%s.jsonl", f.Slug, slug(v.Name), slug(repeat)))
	out, err := os.Create(name)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, rs := range reg.Export().Routes {
		if rs.Calibration != nil {
			if err := enc.Encode(map[string]any{"calibration": rs.Calibration}); err != nil {
				break
			}
		}
		for _, s := range rs.Samples {
			row := sampleRow{Sample: s}
			if i, ok := byDraft[strings.TrimSpace(s.DraftText)]; ok {
				r := f.Rows[i]
				row.Row, row.Source, row.DraftScore, row.VerifierScore = r.ID, r.Source, r.Draft.Score, r.Verifier.Score
				row.True = r.Draft.Score >= r.Verifier.Score
			}
			row.Prompt, row.DraftText, row.VerifierText = "", "", ""
			if err := enc.Encode(row); err != nil {
				break
			}
		}
	}
	if err := out.Close(); err != nil {
		return err
	}
	return nil
}
