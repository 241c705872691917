package evaldata

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// devLine and zeroevalLines are rows in the two files' formats (see the data
// set's READMEs), shortened.
const devLine = `{"id": "gsm8k-1", "source": "gsm8k", "category": "math", "score_kind": "exact_match", "judge": "flag", "turn": 1,
 "group": "gsm8k:1", "messages": [{"role": "user", "content": "Question: 2+2?\nAnswer:"}], "question": "2+2?",
 "draft": {"model": "mistralai/Mixtral-8x7B-Instruct-v0.1", "text": " 4", "score": 1.0, "raw_score": true},
 "verifier": {"model": "gpt-4-1106-preview", "text": "4", "score": 1.0, "raw_score": 1, "history_assistant": []},
 "reference": "4", "reference_solution": "2+2=4 #### 4"}`

const zeroevalLines = `{"id": "crux-0011", "source": "crux", "category": null, "turn": 1, "group": "crux:crux-test-#11", "score_kind": "exact_match",
 "judge": "ZeroEval crux_eval", "messages": [{"role": "user", "content": "f({}) == ??"}], "question": "f({}) == ??",
 "draft": {"model": "openai/gpt-3.5-turbo-0125", "text": "{\"answer\": \"{}\"}", "score": 1.0, "answer": "{}"},
 "verifier": {"model": "openai/gpt-4-turbo-2024-04-09", "text": "{\"answer\": \"{}\"}", "score": 1.0, "answer": "{}"},
 "others": [{"model": "google/gemini-1.5-flash", "text": "loop...", "score": 0.0, "answer": null},
            {"model": "Qwen/Qwen2-7B-Instruct", "text": "{\"answer\": \"{}\"}", "score": 1.0, "answer": "{}"}],
 "reference": "{}"}

{"id": "math_l5-0002", "source": "math_l5", "category": null, "turn": 1, "group": "math_l5:2", "score_kind": "exact_match",
 "judge": "ZeroEval math_eval", "messages": [{"role": "user", "content": "1+1?"}], "question": "1+1?",
 "draft": {"model": "openai/gpt-3.5-turbo-0125", "text": "2", "score": 1.0, "answer": "2"},
 "verifier": {"model": "openai/gpt-4-turbo-2024-04-09", "text": "2", "score": 1.0, "answer": "2"},
 "others": [{"model": "google/gemini-1.5-flash", "text": "2", "score": 1.0, "answer": "2"},
            {"model": "Qwen/Qwen2-7B-Instruct", "text": "3", "score": 0.0, "answer": "3"}],
 "reference": "2"}`

// oneLine joins a row written over several lines for reading.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n ", " ") }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadDirReadsEveryFileIntoOneRowType(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pairs-dev.jsonl"), oneLine(devLine)+"\n")
	writeFile(t, filepath.Join(dir, "zeroeval", "pairs-zeroeval-gpt-dev.jsonl"), oneLine(zeroevalLines)+"\n")
	writeFile(t, filepath.Join(dir, "README.md"), "not data")
	writeFile(t, filepath.Join(dir, "holdout.tgz.enc"), "not data either")

	rows, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	dev, crux, math := rows[0], rows[1], rows[2]
	if dev.File != "pairs-dev.jsonl" || dev.Pair != PairOf(DevDraftModel, DevVerifierModel) || dev.Key() != "pairs-dev.jsonl/gsm8k-1" {
		t.Errorf("dev row identity: file %q pair %q key %q", dev.File, dev.Pair, dev.Key())
	}
	if dev.Source != "gsm8k" || dev.Group != "gsm8k:1" || dev.Question != "2+2?" || dev.Reference == nil || *dev.Reference != "4" ||
		dev.ReferenceSolution != "2+2=4 #### 4" || len(dev.Others) != 0 {
		t.Errorf("dev row %+v", dev)
	}
	if string(dev.Draft.RawScore) != "true" || string(dev.Verifier.RawScore) != "1" || dev.Draft.Final != nil {
		t.Errorf("dev answers: raw %s / %s, final %v", dev.Draft.RawScore, dev.Verifier.RawScore, dev.Draft.Final)
	}
	if crux.File != "pairs-zeroeval-gpt-dev.jsonl" || crux.Pair != "openai/gpt-3.5-turbo-0125 → openai/gpt-4-turbo-2024-04-09" ||
		crux.Source != "crux" || crux.Category != "" || crux.Group != "crux:crux-test-#11" {
		t.Errorf("zeroeval row identity %+v", crux)
	}
	if len(crux.Others) != 2 || crux.Others[0].Model != "google/gemini-1.5-flash" || crux.Others[0].Final != nil ||
		crux.Others[1].Final == nil || *crux.Others[1].Final != "{}" || crux.Others[1].Score != 1 {
		t.Errorf("others %+v", crux.Others)
	}
	if crux.Draft.Final == nil || *crux.Draft.Final != "{}" || crux.Verifier.Text != `{"answer": "{}"}` {
		t.Errorf("zeroeval answers %+v / %+v", crux.Draft, crux.Verifier)
	}
	if math.ID != "math_l5-0002" || math.Others[1].Score != 0 || math.Key() != "pairs-zeroeval-gpt-dev.jsonl/math_l5-0002" {
		t.Errorf("second zeroeval row %+v", math)
	}
}

func TestReadFileRefusesBadData(t *testing.T) {
	zeroeval := strings.Split(oneLine(zeroevalLines), "\n\n")
	otherPair := strings.ReplaceAll(zeroeval[1], "openai/gpt-4-turbo-2024-04-09", "gpt-4o")
	for name, tc := range map[string]struct{ content, want string }{
		"empty":             {"\n\n", "no rows"},
		"not JSON":          {"{\"id\": \n", "line 1"},
		"repeated id":       {zeroeval[0] + "\n" + zeroeval[0] + "\n", `line 2: row id "crux-0011" repeats`},
		"two pairs":         {zeroeval[0] + "\n" + otherPair + "\n", "line 2: row \"math_l5-0002\" pairs openai/gpt-3.5-turbo-0125 → gpt-4o"},
		"no source":         {strings.Replace(zeroeval[0], `"source": "crux"`, `"source": ""`, 1), `row "crux-0011" has no source`},
		"no messages":       {`{"id": "a", "source": "s", "draft": {"model": "d"}, "verifier": {"model": "v"}}`, `row "a" has no messages`},
		"no verifier model": {`{"id": "a", "source": "s", "messages": [{"role": "user", "content": "q"}], "draft": {"model": "d"}}`, "lacks the draft or the verifier model"},
		"other without model": {strings.Replace(zeroeval[0], `"model": "google/gemini-1.5-flash"`, `"model": ""`, 1),
			"others[0] has no model"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pairs.jsonl")
			writeFile(t, path, tc.content)
			_, err := ReadFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and saying %q", err, path, tc.want)
			}
		})
	}
}

func TestMissingDataIsNotExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	if _, err := ReadFile(filepath.Join(missing, DevFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile: %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadDir(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir: %v, want fs.ErrNotExist", err)
	}
}

func TestTokenEstimateAndPrices(t *testing.T) {
	for s, want := range map[string]int{"": 0, "a": 1, "abcd": 1, "abcde": 2, "é": 1, "日本語": 3} {
		if got := EstimateTokens(s); got != want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", s, got, want)
		}
	}
	if got := PromptTokens([]Message{{Content: "abcde"}, {Content: "abc"}}); got != 3 {
		t.Errorf("PromptTokens = %d, want 3", got)
	}
	if p := Prices[DevVerifierModel]; p.Input != 10 || p.Output != 30 {
		t.Errorf("verifier price %+v", p)
	}
}

// The real data set, when it is there: every file reads, with the row
// counts its READMEs give, and every zeroeval row has two other answers.
// CASCADE_EVAL_DIR overrides the folder.
func TestTheDataSet(t *testing.T) {
	dir := os.Getenv("CASCADE_EVAL_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", DefaultDir)
	}
	rows, err := ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("the cascade-eval data is not at %s (set CASCADE_EVAL_DIR)", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	perFile := map[string]int{}
	keys := map[string]bool{}
	for _, r := range rows {
		perFile[r.File]++
		if keys[r.Key()] {
			t.Errorf("key %s repeats", r.Key())
		}
		keys[r.Key()] = true
		if strings.HasPrefix(r.File, "pairs-zeroeval-") && len(r.Others) != 2 {
			t.Errorf("%s: %d other answers", r.Key(), len(r.Others))
		}
		for _, m := range append([]string{r.Draft.Model, r.Verifier.Model}, modelsOf(r.Others)...) {
			if _, ok := Prices[m]; !ok {
				t.Errorf("%s: no price for %s", r.Key(), m)
			}
		}
	}
	want := map[string]int{
		DevFile: 444,
		"pairs-zeroeval-Meta-Llama-3-8B-Instruct--Meta-Llama-3-70B-Instruct-dev.jsonl": 852,
		"pairs-zeroeval-Qwen2-7B-Instruct--Qwen2-72B-Instruct-dev.jsonl":               852,
		"pairs-zeroeval-gpt-3.5-turbo-0125--gpt-4-turbo-2024-04-09-dev.jsonl":          456,
	}
	for f, n := range want {
		if perFile[f] != n {
			t.Errorf("%s: %d rows, want %d", f, perFile[f], n)
		}
	}
}

func modelsOf(as []Answer) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.Model)
	}
	return out
}

func FuzzDecode(f *testing.F) {
	f.Add(oneLine(devLine))
	for _, l := range strings.Split(oneLine(zeroevalLines), "\n\n") {
		f.Add(l)
	}
	f.Add(`{"id": "a", "source": "s", "messages": [], "others": [null]}`)
	f.Add("\n{}\n")
	f.Fuzz(func(t *testing.T, data string) {
		rows, err := Decode(strings.NewReader(data), "fuzz.jsonl")
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.ID == "" || r.Source == "" || len(r.Messages) == 0 || r.Pair != rows[0].Pair || r.File != "fuzz.jsonl" {
				t.Fatalf("Decode admitted a row it must refuse: %+v", r)
			}
		}
	})
}

func TestTargetsAreCoherent(t *testing.T) {
	if !(RetainedFloor < QualityTarget && QualityTarget <= 1) {
		t.Errorf("retained floor %v must sit below the quality target %v", RetainedFloor, QualityTarget)
	}
	for src, c := range CostTargets {
		if c <= 0 || c >= 1 {
			t.Errorf("%s: cost target %v is not a share of always-verifier", src, c)
		}
		if SourceTitle(src) == src {
			t.Errorf("%s: a cost target for a source reports cannot name", src)
		}
	}
	if CostTargets["gsm8k"] != CostTargets["gsm8k_zeroeval"] {
		t.Error("GSM8K's cost target differs between its two samples")
	}
	if HindsightRatio < 1 || OracleMargin <= 0 || EstimateTolerance <= 0 || WarmUp <= 0 {
		t.Error("a target bound is not a bound")
	}
}
