package answer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The cascade-eval data lives outside the repository, in shared/data next to
// the checkout; CASCADE_EVAL_DIR overrides where it is looked for.
func evalDataDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("CASCADE_EVAL_DIR"); d != "" {
		return d
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		d := filepath.Join(dir, "shared", "data", "cascade-eval")
		if _, err := os.Stat(filepath.Join(d, "pairs-dev.jsonl")); err == nil {
			return d
		}
		dir = filepath.Dir(dir)
	}
	t.Skip("cascade-eval data not found (set CASCADE_EVAL_DIR)")
	return ""
}

type evalAnswer struct {
	Model  string  `json:"model"`
	Text   string  `json:"text"`
	Score  float64 `json:"score"`
	Answer *string `json:"answer"` // ZeroEval's own extraction
}

type evalRow struct {
	ID        string       `json:"id"`
	Source    string       `json:"source"`
	Draft     evalAnswer   `json:"draft"`
	Verifier  evalAnswer   `json:"verifier"`
	Others    []evalAnswer `json:"others"`
	Reference *string      `json:"reference"`
}

// tally counts, for one file and source, how often "Extract(text) equals
// the gold reference" agrees with the correctness label, and how often our
// extraction equals the benchmark's own extracted answer.
type tally struct {
	n, agree         int
	falseEq, falseNe int // we say equal but the label says wrong; and the reverse
	sameValue        int // of falseEq: the benchmark's own extraction is the gold value written differently
	found            int
	zeN, zeAgree     int
	markers          map[Marker]int
	// the reasoning alone (the JSON answer field removed) of correct answers:
	// how often its extracted answer still equals the gold
	reasonN, reasonFound, reasonEq int
	// second opinions: rows, and correct drafts, by how many others agree
	agreeRows, agreeGood [3]int
	examples             []string
}

func TestMeasureRealAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the cascade-eval data")
	}
	dir := evalDataDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "zeroeval", "*.jsonl"))
	files = append([]string{filepath.Join(dir, "pairs-dev.jsonl")}, files...)
	verbose := os.Getenv("ANSWER_MEASURE_VERBOSE") != ""

	// Floors a little under the measured agreement: a change that makes
	// the extractor worse on real answers fails here.
	floors := map[string]float64{"gsm8k": 0.98, "gsm8k_zeroeval": 0.99, "math_l5": 0.99, "crux": 0.96}
	// The same for the prose path: the reasoning alone of correct answers.
	reasonFloors := map[string]float64{"gsm8k_zeroeval": 0.94, "math_l5": 0.84}

	for _, path := range files {
		rows := readRows(t, path)
		tallies := map[string]*tally{}
		for _, r := range rows {
			tl := tallies[r.Source]
			if tl == nil {
				tl = &tally{markers: map[Marker]int{}}
				tallies[r.Source] = tl
			}
			if len(r.Others) == 2 {
				d := Extract(r.Draft.Text)
				k := 0
				for _, o := range r.Others {
					if eq, _ := Equal(d, Extract(o.Text)); eq {
						k++
					}
				}
				tl.agreeRows[k]++
				if r.Draft.Score == 1 {
					tl.agreeGood[k]++
				}
			}
			for _, a := range append([]evalAnswer{r.Draft, r.Verifier}, r.Others...) {
				got := Extract(a.Text)
				tl.markers[got.Marker]++
				if got.Kind != None {
					tl.found++
				}
				if r.Reference == nil || r.Source == "mt_bench" {
					tl.n++
					continue
				}
				gold := Parse(*r.Reference)
				eq, cmp := Equal(got, gold)
				same := eq && cmp
				tl.n++
				switch correct := a.Score == 1; {
				case same == correct:
					tl.agree++
				case same:
					tl.falseEq++
					if a.Answer != nil {
						if eq, _ := Equal(jsonStringAnswer(*a.Answer), gold); eq {
							tl.sameValue++ // e.g. {"a": 1} against {'a': 1}
						}
					}
				default:
					tl.falseNe++
				}
				if same != (a.Score == 1) && verbose && len(tl.examples) < 40 {
					tail := a.Text[max(0, len(a.Text)-160):]
					tl.examples = append(tl.examples, fmt.Sprintf("%s score=%v gold=%q got=%v ze=%v\n      …%q",
						r.ID, a.Score, *r.Reference, got, deref(a.Answer), tail))
				}
				if reasoning, ok := reasoningOf(a.Text); ok && a.Score == 1 {
					tl.reasonN++
					ra := Extract(reasoning)
					if ra.Kind != None {
						tl.reasonFound++
					}
					if eq, _ := Equal(ra, gold); eq {
						tl.reasonEq++
					}
				}
				if strings.Contains(path, "zeroeval") {
					tl.zeN++
					if a.Answer == nil {
						if got.Kind == None {
							tl.zeAgree++
						}
					} else if eq, _ := Equal(got, jsonStringAnswer(*a.Answer)); eq {
						tl.zeAgree++
					}
				}
			}
		}
		sources := make([]string, 0, len(tallies))
		for s := range tallies {
			sources = append(sources, s)
		}
		slices.Sort(sources)
		for _, s := range sources {
			tl := tallies[s]
			if s == "mt_bench" {
				t.Logf("%s %-15s answers=%4d  found an answer in %.1f%%  markers=%v",
					filepath.Base(path), s, tl.n, pct(tl.found, tl.n), tl.markers)
				continue
			}
			line := fmt.Sprintf("%s %-15s answers=%4d  label agreement %.1f%% (%d equal against the label, %d of them the gold value written differently; %d unequal against the label)  found %.1f%%",
				filepath.Base(path), s, tl.n, pct(tl.agree, tl.n), tl.falseEq, tl.sameValue, tl.falseNe, pct(tl.found, tl.n))
			if tl.zeN > 0 {
				line += fmt.Sprintf("  same as ZeroEval's extraction %.1f%%", pct(tl.zeAgree, tl.zeN))
			}
			t.Log(line)
			if tl.reasonN > 0 {
				t.Logf("    reasoning alone of %d correct answers: an answer found in %.1f%%, the gold in %.1f%%",
					tl.reasonN, pct(tl.reasonFound, tl.reasonN), pct(tl.reasonEq, tl.reasonN))
				if f, ok := reasonFloors[s]; ok && float64(tl.reasonEq) < f*float64(tl.reasonN) {
					t.Errorf("%s %s: gold found in the reasoning alone %.1f%% under the floor %.0f%%", filepath.Base(path), s, pct(tl.reasonEq, tl.reasonN), 100*f)
				}
			}
			if tl.agreeRows != [3]int{} {
				t.Logf("    draft quality when 2 / 1 / 0 others agree: %.3f (%d) / %.3f (%d) / %.3f (%d)",
					ratio(tl.agreeGood[2], tl.agreeRows[2]), tl.agreeRows[2], ratio(tl.agreeGood[1], tl.agreeRows[1]), tl.agreeRows[1],
					ratio(tl.agreeGood[0], tl.agreeRows[0]), tl.agreeRows[0])
			}
			if verbose {
				t.Logf("  markers %v", tl.markers)
				for _, e := range tl.examples {
					t.Log("    " + e)
				}
			}
			if f, ok := floors[s]; ok && float64(tl.agree) < f*float64(tl.n) {
				t.Errorf("%s %s: label agreement %.1f%% under the floor %.0f%%", filepath.Base(path), s, pct(tl.agree, tl.n), 100*f)
			}
		}
	}
}

// reasoningOf returns the decoded "reasoning" field of a ZeroEval reply.
func reasoningOf(text string) (string, bool) {
	k := strings.Index(text, `"reasoning"`)
	if k < 0 {
		return "", false
	}
	i := skipSpace(text, k+len(`"reasoning"`))
	if i >= len(text) || text[i] != ':' {
		return "", false
	}
	i = skipSpace(text, i+1)
	if i >= len(text) || text[i] != '"' {
		return "", false
	}
	r, _, ok := jsonString(text, i)
	return r, ok
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func ratio(a, b int) float64 { return pct(a, b) / 100 }

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func readRows(t *testing.T, path string) []evalRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []evalRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var r evalRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}
