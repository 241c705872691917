package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// fileSetup is one data file ready to replay: its rows, its real models and
// the price of every name the replay upstream serves.
type fileSetup struct {
	Path string
	// Name is the file's base name; Slug names its output folder.
	Name, Slug string
	Rows       []evaldata.Row
	// Draft, Verifier and Others are the file's real model ids (one pairing
	// and the same others in every row).
	Draft, Verifier string
	Others          []string
	// Prices are by served name (draft-model, ...), each its real model's;
	// PriceBasis says where they come from when not evaldata.Prices.
	Prices     map[string]rules.Price
	PriceBasis string
}

// dataFiles lists the JSON Lines files to replay: path itself when it is a
// file, else every *.jsonl under it, in lexical order.
func dataFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".jsonl") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", path, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .jsonl file under %s: %w", path, fs.ErrNotExist)
	}
	slices.Sort(files)
	return files, nil
}

// loadFile reads a file, a cascade-eval pairs file or a rule's quality
// samples export (said on log), and prices its models.
func loadFile(path string, log io.Writer) (*fileSetup, error) {
	samples, err := evaldata.IsSamplesFile(path)
	if err != nil {
		return nil, err
	}
	if samples {
		s, err := evaldata.ReadSamplesFile(path)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "eval: %s: rule %s's quality samples, %d of %d replayed%s; %s\n",
			filepath.Base(path), s.Rule, len(s.Rows), s.Total, skippedText(s.Skipped), pricedText(s))
		f, err := newFileSetup(path, s.Rows, s.Prices)
		if err != nil {
			return nil, err
		}
		f.PriceBasis = priceBasis(s)
		return f, nil
	}
	rows, err := evaldata.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return newFileSetup(path, rows, evaldata.Prices)
}

// skippedText lists the samples skipped, by reason.
func skippedText(skipped map[string]int) string {
	reasons := slices.Sorted(maps.Keys(skipped))
	var parts []string
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", skipped[r], r))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (skipped: " + strings.Join(parts, ", ") + ")"
}

// pricedText says how a samples export's models are priced.
func pricedText(s *evaldata.SampleRows) string {
	d, v := s.Prices[s.Rows[0].Draft.Model], s.Prices[s.Rows[0].Verifier.Model]
	return fmt.Sprintf("draft $%.4g/M tokens, verifier $%.4g/M tokens, %s", d.Input, v.Input, priceBasis(s))
}

// priceBasis says where a samples export's prices come from.
func priceBasis(s *evaldata.SampleRows) string {
	if s.PricedFromCosts {
		return "from the samples' recorded costs, per estimated token"
	}
	return "default prices: the samples record no draft or no verifier cost"
}

// newFileSetup checks that rows share their models and prices them with
// prices (by real model id).
func newFileSetup(path string, rows []evaldata.Row, prices map[string]rules.Price) (*fileSetup, error) {
	if len(rows) == 0 {
		return nil, errors.New("no rows")
	}
	name := filepath.Base(path)
	f := &fileSetup{Path: path, Name: name, Slug: slugOf(name), Rows: rows,
		Draft: rows[0].Draft.Model, Verifier: rows[0].Verifier.Model, Prices: map[string]rules.Price{}}
	for _, o := range rows[0].Others {
		f.Others = append(f.Others, o.Model)
	}
	for i := range rows {
		r := &rows[i]
		if r.Draft.Model != f.Draft || r.Verifier.Model != f.Verifier || len(r.Others) != len(f.Others) {
			return nil, fmt.Errorf("%s: row %s has other models than the file's first row", name, r.ID)
		}
		for j, o := range r.Others {
			if o.Model != f.Others[j] {
				return nil, fmt.Errorf("%s: row %s: others[%d] is %s, %s in the first row", name, r.ID, j, o.Model, f.Others[j])
			}
		}
	}
	price := func(served, model string) error {
		p, ok := prices[model]
		if !ok {
			return fmt.Errorf("%s: no price for %s", name, model)
		}
		f.Prices[served] = p
		return nil
	}
	if err := price(draftModel, f.Draft); err != nil {
		return nil, err
	}
	if err := price(verifierModel, f.Verifier); err != nil {
		return nil, err
	}
	if err := price(judgeModel, f.Verifier); err != nil {
		return nil, err
	}
	for i, m := range f.Others {
		if err := price(otherModel(i), m); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// slugOf names a file's output folder: its base name without "pairs-" and
// ".jsonl".
func slugOf(name string) string {
	return strings.TrimPrefix(strings.TrimSuffix(name, ".jsonl"), "pairs-")
}

// title names a file in reports: its pairing.
func (f *fileSetup) title() string {
	return fmt.Sprintf("%s → %s", shortModel(f.Draft), shortModel(f.Verifier))
}

// shortModel drops a model id's organisation.
func shortModel(m string) string {
	if i := strings.LastIndex(m, "/"); i >= 0 {
		return m[i+1:]
	}
	return m
}

// usd prices the answer text of served model to row i's prompt.
func (f *fileSetup) usd(served string, i int, text string) float64 {
	return priceOf(f.Prices[served], evaldata.PromptTokens(f.Rows[i].Messages), evaldata.EstimateTokens(text))
}

// draftUSD and verifierUSD are the cost of row i's draft and verifier calls.
func (f *fileSetup) draftUSD(i int) float64 { return f.usd(draftModel, i, f.Rows[i].Draft.Text) }
func (f *fileSetup) verifierUSD(i int) float64 {
	return f.usd(verifierModel, i, f.Rows[i].Verifier.Text)
}
