package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

type answer struct {
	Model string  `json:"model"`
	Text  string  `json:"text"`
	Score float64 `json:"score"`
}

type row struct {
	ID       string `json:"id"`
	Source   string `json:"source"`
	Group    string `json:"group"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Draft    answer   `json:"draft"`
	Verifier answer   `json:"verifier"`
	Others   []answer `json:"others"`
}

// price is USD per million tokens (the cascade-eval READMEs' tables).
type price struct{ in, out float64 }

var prices = map[string]price{
	"mistralai/Mixtral-8x7B-Instruct-v0.1": {0.60, 0.60},
	"gpt-4-1106-preview":                   {10, 30},
	"openai/gpt-3.5-turbo-0125":            {0.50, 1.50},
	"openai/gpt-4-turbo-2024-04-09":        {10, 30},
	"meta-llama/Meta-Llama-3-8B-Instruct":  {0.20, 0.20},
	"meta-llama/Meta-Llama-3-70B-Instruct": {0.90, 0.90},
	"Qwen/Qwen2-7B-Instruct":               {0.20, 0.20},
	"Qwen/Qwen2-72B-Instruct":              {0.90, 0.90},
	"google/gemini-1.5-flash":              {0.075, 0.30},
}

func tokens(s string) int { return (len(s) + 3) / 4 }

func cost(model string, in, out int) float64 {
	p, ok := prices[model]
	if !ok {
		// Mixtral rows carry the short id in some files; fail loudly otherwise.
		for k, v := range prices {
			if strings.EqualFold(k, model) || strings.HasSuffix(strings.ToLower(k), "/"+strings.ToLower(model)) {
				p, ok = v, true
				break
			}
		}
		if !ok {
			panic("no price for " + model)
		}
	}
	return (float64(in)*p.in + float64(out)*p.out) / 1e6
}

// signalNames are the gate signals kept as separate features.
var signalNames = []string{
	quality.SignalTruncation, quality.SignalEmpty, quality.SignalRefusal, quality.SignalHedging,
	quality.SignalRepetition, quality.SignalLength, quality.SignalArithmetic, quality.SignalCoverage,
	quality.SignalAnswer, quality.SignalComplexity,
}

// item is one row with everything the analyses need.
type item struct {
	route, source, id, group string
	d, v                     float64 // labels
	good                     bool    // d >= v
	better                   bool    // d > v
	cDraft, cVer, cJudge     float64
	cOther                   []float64
	prior                    float64
	sig                      []float64 // signal scores (1 when not applicable), order of signalNames
	hasFinal                 bool      // the task has a comparable final answer
	ansD, ansV               string
	okD, okV                 bool
	ansO                     []string
	okO                      []bool
	agreeO                   []bool // draft agrees with other i
	exactLabel               bool   // draft's final answer equals the verifier's
	draftChars               int
}

// agreeK returns how many of the first m others agree with the draft.
func (it *item) agreeK(m int) int {
	k := 0
	for i := 0; i < m && i < len(it.agreeO); i++ {
		if it.agreeO[i] {
			k++
		}
	}
	return k
}

// distinct returns the number of distinct final answers among the draft and the first m others (unextractable ones count as distinct).
func (it *item) distinct(m int) int {
	seen := map[string]bool{}
	n := 0
	add := func(a string, ok bool) {
		if !ok {
			n++
			return
		}
		if !seen[a] {
			seen[a] = true
			n++
		}
	}
	add(it.ansD, it.okD)
	for i := 0; i < m && i < len(it.ansO); i++ {
		add(it.ansO[i], it.okO[i])
	}
	return n
}

func loadFile(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("decode %s line %d: %w", path, len(rows)+1, err)
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

// routeName names a file's route: pairs-dev is split per source.
func routeName(path, source string) string {
	base := filepath.Base(path)
	switch {
	case strings.HasPrefix(base, "pairs-dev"):
		return "dev:" + source
	case strings.Contains(base, "Llama"):
		return "llama3-8b→70b"
	case strings.Contains(base, "Qwen2-7B"):
		return "qwen2-7b→72b"
	case strings.Contains(base, "gpt-3.5"):
		return "gpt35→gpt4t"
	}
	return base
}

func build(g *quality.Gate, path string, r row) item {
	req := &llm.Request{Model: "verifier", MaxTokens: 4096}
	in := 0
	var prompt strings.Builder
	for _, m := range r.Messages {
		role := llm.RoleUser
		if m.Role == "assistant" {
			role = llm.RoleAssistant
		}
		req.Messages = append(req.Messages, llm.Message{Role: role, Content: []llm.Block{{Type: llm.BlockText, Text: m.Content}}})
		in += tokens(m.Content)
		prompt.WriteString(m.Content)
	}
	draft := &llm.Response{
		Model:      r.Draft.Model,
		Content:    []llm.Block{{Type: llm.BlockText, Text: r.Draft.Text}},
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: in, OutputTokens: tokens(r.Draft.Text)},
	}
	dec := g.Evaluate(context.Background(), req, draft, nil)
	it := item{
		route: routeName(path, r.Source), source: r.Source, id: r.ID, group: r.Group,
		d: r.Draft.Score, v: r.Verifier.Score, good: r.Draft.Score >= r.Verifier.Score, better: r.Draft.Score > r.Verifier.Score,
		cDraft: cost(r.Draft.Model, in, tokens(r.Draft.Text)),
		cVer:   cost(r.Verifier.Model, in, tokens(r.Verifier.Text)),
		// A pairwise judge at the verifier's price: the conversation, both
		// answers and ~150 tokens of instructions in, a short verdict out.
		cJudge:     cost(r.Verifier.Model, in+tokens(r.Draft.Text)+tokens(r.Verifier.Text)+150, 60),
		prior:      dec.Score,
		draftChars: len(r.Draft.Text),
	}
	for _, n := range signalNames {
		s, ok := dec.Signal(n)
		if ok {
			it.sig = append(it.sig, s.Score)
		} else {
			it.sig = append(it.sig, 1)
		}
	}
	kind := answerKind(r.Source)
	it.hasFinal = kind != kindNone
	if it.hasFinal {
		it.ansD, it.okD = extract(r.Draft.Text, kind)
		it.ansV, it.okV = extract(r.Verifier.Text, kind)
		it.exactLabel = it.okD && it.okV && same(it.ansD, it.ansV, kind)
		for _, o := range r.Others {
			a, ok := extract(o.Text, kind)
			it.ansO = append(it.ansO, a)
			it.okO = append(it.okO, ok)
			it.agreeO = append(it.agreeO, it.okD && ok && same(it.ansD, a, kind))
			it.cOther = append(it.cOther, cost(o.Model, in, tokens(o.Text)))
		}
	}
	return it
}

func loadAll(paths []string) (map[string][]item, []string, error) {
	g, err := quality.New(&rules.Gate{}, rules.DefaultThreshold)
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]item{}
	var order []string
	for _, p := range paths {
		rows, err := loadFile(p)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			it := build(g, p, r)
			if _, ok := out[it.route]; !ok {
				order = append(order, it.route)
			}
			out[it.route] = append(out[it.route], it)
		}
	}
	return out, order, nil
}

func logit(p float64) float64 {
	p = math.Min(math.Max(p, 0.01), 0.99)
	return math.Log(p / (1 - p))
}
