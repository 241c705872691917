// Package evaldata reads the cascade-eval data set — real, published answers
// of a cheap draft model and a strong verifier model to the same prompts,
// each with a quality label — into one row type, and holds what the
// measurements built on it share: the models and prices of the pairs, the
// token estimate, and the quality and cost targets.
//
// The data set lives outside the repository (DefaultDir, relative to the
// repository root; never commit it). It holds pairs-dev.jsonl (RouteLLM's
// MT-Bench and GSM8K samples, Mixtral-8x7B → GPT-4-turbo) and, under
// zeroeval/, one file per model pair on GSM8K, MATH level 5 and CRUXEval
// whose rows also carry two further cheap models' answers (Row.Others).
// Each folder's README describes the fields.
package evaldata

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultDir is the data set's folder, relative to the repository root.
const DefaultDir = "../shared/data/cascade-eval"

// DevFile is the RouteLLM dev pairs file, in DefaultDir.
const DevFile = "pairs-dev.jsonl"

// DevPath is DevFile's path relative to the repository root.
var DevPath = filepath.Join(DefaultDir, DevFile)

// Message is one chat message of a prompt (OpenAI format, text only).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Answer is one model's recorded response with its quality label.
type Answer struct {
	Model string `json:"model"`
	// Text is the response verbatim.
	Text string `json:"text"`
	// Score is the label on the data set's common scale: 0..1, higher is
	// better, comparable between the answers of one row.
	Score float64 `json:"score"`
	// RawScore is the label as published (a judge's grade or a correctness
	// flag); absent in the zeroeval files.
	RawScore json.RawMessage `json:"raw_score,omitempty"`
	// Final is the final answer the label's scorer extracted from Text
	// (zeroeval files; nil when none could be extracted, or not recorded).
	Final *string `json:"answer,omitempty"`
	// HistoryAssistant holds the verifier's own earlier turns (MT-Bench
	// turn 2: its answer was generated after these, not after the draft's).
	HistoryAssistant []string `json:"history_assistant,omitempty"`
}

// Row is one prompt with its recorded answers.
type Row struct {
	// File is the base name of the file the row was read from, and Pair its
	// draft and verifier model ids ("draft → verifier"). A row's ID is
	// unique within its file; the zeroeval files share their questions, so
	// across files a row is identified by Key.
	File string `json:"-"`
	Pair string `json:"-"`

	ID string `json:"id"`
	// Source is the benchmark the prompt comes from (mt_bench, gsm8k,
	// gsm8k_zeroeval, math_l5, crux): report results per source.
	Source   string `json:"source"`
	Category string `json:"category"`
	Turn     int    `json:"turn"`
	// Group is the unit to split on: the turns of one MT-Bench question, or
	// one question across the zeroeval files.
	Group     string `json:"group"`
	ScoreKind string `json:"score_kind"`
	// Judge says in words how the labels were computed.
	Judge string `json:"judge"`
	// Messages is the prompt as the models received it.
	Messages []Message `json:"messages"`
	// Question is the bare question, without few-shot examples or template.
	Question string `json:"question"`
	Draft    Answer `json:"draft"`
	Verifier Answer `json:"verifier"`
	// Others are further cheap models' answers to the same prompt, the same
	// models in every row of a file (zeroeval files; served as
	// other-model-1, other-model-2).
	Others []Answer `json:"others"`
	// Reference is the gold answer, when there is one.
	Reference         *string `json:"reference"`
	ReferenceSolution string  `json:"reference_solution"`
}

// Key identifies a row across the data set: its file and its ID.
func (r *Row) Key() string { return r.File + "/" + r.ID }

// PairOf names a draft → verifier pairing.
func PairOf(draftModel, verifierModel string) string { return draftModel + " → " + verifierModel }

// ReadDir reads every JSON Lines file (*.jsonl) under dir, its subfolders
// included, in lexical order of their paths: pairs-dev.jsonl, then the
// zeroeval files. A missing dir is an error wrapping fs.ErrNotExist.
func ReadDir(dir string) ([]Row, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".jsonl") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the cascade-eval data: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("list the cascade-eval data: no .jsonl file under %s", dir)
	}
	var rows []Row
	for _, f := range files {
		rs, err := ReadFile(f)
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
	}
	return rows, nil
}

// ReadFile reads one JSON Lines file of the data set. A missing file is an
// error wrapping fs.ErrNotExist.
func ReadFile(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open cascade-eval data: %w", err)
	}
	defer f.Close()
	rows, err := Decode(f, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rows, nil
}

// maxLine bounds one row (the longest holds a few 20 kB answers).
const maxLine = 64 << 20

// Decode reads rows from JSON Lines named file. Every row needs an id, a
// source, messages and the two models; ids are unique and every row has
// the same draft → verifier pair (one pairing per file). Blank lines are
// skipped.
func Decode(r io.Reader, file string) ([]Row, error) {
	var rows []Row
	ids := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		row, err := decodeRow(b, file)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if ids[row.ID] {
			return nil, fmt.Errorf("line %d: row id %q repeats", line, row.ID)
		}
		ids[row.ID] = true
		if len(rows) > 0 && row.Pair != rows[0].Pair {
			return nil, fmt.Errorf("line %d: row %q pairs %s, the file's first row %s", line, row.ID, row.Pair, rows[0].Pair)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("no rows")
	}
	return rows, nil
}

// decodeRow decodes and checks one line.
func decodeRow(b []byte, file string) (Row, error) {
	var r Row
	if err := json.Unmarshal(b, &r); err != nil {
		return Row{}, err
	}
	switch {
	case r.ID == "":
		return Row{}, errors.New("row without an id")
	case r.Source == "":
		return Row{}, fmt.Errorf("row %q has no source", r.ID)
	case len(r.Messages) == 0:
		return Row{}, fmt.Errorf("row %q has no messages", r.ID)
	case r.Draft.Model == "" || r.Verifier.Model == "":
		return Row{}, fmt.Errorf("row %q lacks the draft or the verifier model", r.ID)
	}
	for i, o := range r.Others {
		if o.Model == "" {
			return Row{}, fmt.Errorf("row %q: others[%d] has no model", r.ID, i)
		}
	}
	r.File = file
	r.Pair = PairOf(r.Draft.Model, r.Verifier.Model)
	return r, nil
}
