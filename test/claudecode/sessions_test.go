package claudecode

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
)

// The session benchmark (make bench-sessions): the real CLI runs scripted
// multi-turn sessions, one CLI run per user prompt (--continue after the
// first), each turn a tool loop Read → Bash → Edit → answer in a temporary
// working directory, against the proxy in three configurations on the same
// sessions. The fake upstream caches prompts as Anthropic documents and
// bills every model; the configurations are compared on what it billed, and
// the proxy's reported savings on the difference against the pass-through.

// benchConfig is one way of serving the sessions' model.
type benchConfig struct {
	name  string
	rules string // {{FAKE}} template; the rule, if any, is named "opus"
}

const benchProviders = `version: v1
providers:
  - name: fake
    type: anthropic
    baseURL: {{FAKE}}
    apiKey: {env: CC_E2E_VENDOR_KEY}
defaultRoute:
  provider: fake
`

var benchConfigs = []benchConfig{
	{"pass-through", benchProviders},
	{"per-request", benchProviders + `rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: fake, model: claude-haiku-5-5}
    verifier: {provider: fake, model: claude-opus-5-5}
`},
	{"per-turn", benchProviders + `rules:
  - name: opus
    models: [claude-opus-5-5]
    granularity: turn
    draft: {provider: fake, model: claude-haiku-5-5}
    verifier: {provider: fake, model: claude-opus-5-5}
`},
}

// benchScenario says which turns' drafts are good, and which steps of a good
// turn the draft still gets wrong.
type benchScenario struct {
	name      string
	draftGood func(turn int) bool // turn counts from 0 within a session
	badSteps  []int
}

var benchScenarios = []benchScenario{
	{"half-good", func(turn int) bool { return turn%2 == 0 }, nil},
	{"all-bad", func(int) bool { return false }, nil},
	// Every turn good but for its Bash step (step 1), whose draft is vetoed.
	{"one-vetoed-step", func(int) bool { return true }, []int{1}},
}

const (
	benchSessions = 2
	benchTurns    = 4
	benchTools    = "Read,Edit,Bash(wc:*)"
)

// sessionScript is the script of session s: each turn reads notes.md, counts
// its lines, marks its own TODO line done and says so.
func sessionScript(dir string, s int, sc benchScenario) (*fakeupstream.SessionScript, []string) {
	script := &fakeupstream.SessionScript{Draft: haiku, Turns: map[string]fakeupstream.Turn{}}
	file := filepath.Join(dir, "notes.md")
	var answers []string
	for k := range benchTurns {
		id := fmt.Sprintf("s%d-t%d", s, k+1)
		read, _ := json.Marshal(map[string]string{"file_path": file})
		wc, _ := json.Marshal(map[string]string{"command": "wc -l notes.md", "description": "Count the lines of notes.md"})
		edit, _ := json.Marshal(map[string]string{"file_path": file, "old_string": "TODO " + id, "new_string": "DONE " + id})
		answer := fmt.Sprintf("Marked %s as done in notes.md.", id)
		answers = append(answers, answer)
		script.Turns[id] = fakeupstream.Turn{DraftGood: sc.draftGood(k), BadDraftSteps: sc.badSteps, Steps: []fakeupstream.Step{
			{Thinking: "Read the notes before changing them.", Text: "Let me read the notes.", Tool: &fakeupstream.ToolCall{Name: "Read", Input: read}},
			{Thinking: "Check how long the file is.", Text: "Counting the lines.", Tool: &fakeupstream.ToolCall{Name: "Bash", Input: wc}},
			{Thinking: "Now mark the item done.", Text: "Updating the item.", Tool: &fakeupstream.ToolCall{Name: "Edit", Input: edit}},
			{Thinking: "The edit succeeded.", Text: answer},
		}}
	}
	return script, answers
}

func notesFile(s int) string {
	var b strings.Builder
	b.WriteString("# Notes\n\nItems for this session, one per user turn:\n\n")
	for k := range benchTurns {
		fmt.Fprintf(&b, "- TODO s%d-t%d: review the handler and its tests\n", s, k+1)
	}
	return b.String()
}

// benchRun is what one configuration cost on one scenario.
type benchRun struct {
	config, scenario string
	billing          map[string]fakeupstream.Charge
	measuredUSD      float64
	reported         ruleStats // the proxy's /api/stats for the rule (zero for pass-through)
	outcomes         map[string]int
	requests         int
	broken           []string
	took             time.Duration
}

type ruleStats struct {
	Rule        string           `json:"rule"`
	Requests    int64            `json:"requests"`
	Outcomes    map[string]int64 `json:"outcomes"`
	CostUSD     float64          `json:"costUSD"`
	BaselineUSD float64          `json:"baselineUSD"`
	SavingsUSD  float64          `json:"savingsUSD"`
}

// benchRates are the prices the measured cost uses: the proxy's price table
// for input, output, 5-minute writes and reads; 1-hour writes at twice the
// input price, as Anthropic documents.
func benchRates(t *testing.T, model string) fakeupstream.Rates {
	p, ok := pricing.Default().Lookup(model)
	if !ok {
		t.Fatalf("no price for %s", model)
	}
	return fakeupstream.Rates{Input: p.Input, Output: p.Output, CacheWrite5m: p.CacheWrite, CacheWrite1h: 2 * p.Input, CacheRead: p.CacheRead}
}

// recordedRequest is one line of the recorded session (testdata for the
// turn classifier): the body the CLI sent and where it stood, known from the
// driving side: run is the CLI run (one user prompt each), index the request
// within it (0 starts the turn; later ones carry tool results).
type recordedRequest struct {
	Turn  int             `json:"turn"`
	Index int             `json:"index"`
	Body  json.RawMessage `json:"body"`
}

func TestSessionBench(t *testing.T) {
	bin := os.Getenv("CLAUDE_BIN")
	if bin == "" || os.Getenv("SESSION_BENCH") == "" {
		t.Skip("CLAUDE_BIN and SESSION_BENCH are not set: run make bench-sessions")
	}
	c := cli{bin: bin}
	fmt.Printf("SCENARIO INFO claude-code %s; %d sessions x %d turns (Read, Bash, Edit, answer) per run\n", c.version(t), benchSessions, benchTurns)
	proxyBin := buildProxy(t)
	var runs []*benchRun
	for _, sc := range benchScenarios {
		for _, cfg := range benchConfigs {
			name := sc.name + "/" + cfg.name
			t.Run(name, func(t *testing.T) {
				record := os.Getenv("SESSION_RECORD")
				if cfg.name != "per-turn" || sc.name != "half-good" {
					record = ""
				}
				r := runBench(t, c, proxyBin, cfg, sc, record)
				runs = append(runs, r)
				if len(r.broken) > 0 {
					fmt.Printf("SCENARIO FAIL %s: %s\n", name, strings.Join(r.broken, "; "))
					t.Errorf("%s: %s", name, strings.Join(r.broken, "; "))
				} else {
					fmt.Printf("SCENARIO PASS %s (%s) %d requests, measured $%.4f, outcomes %v\n", name, r.took.Round(100*time.Millisecond), r.requests, r.measuredUSD, r.outcomes)
				}
			})
		}
	}
	table := benchTable(runs)
	for _, l := range strings.Split(strings.TrimSpace(table), "\n") {
		fmt.Printf("SCENARIO INFO %s\n", l)
	}
	if out := os.Getenv("SESSION_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func runBench(t *testing.T, c cli, proxyBin string, cfg benchConfig, sc benchScenario, record string) *benchRun {
	start := time.Now()
	st := newStack(t, proxyBin, cfg.rules, fakeupstream.Options{RequireKey: vendorKey, ValidateSignatures: true, PromptCache: true},
		nil, "CC_E2E_VENDOR_KEY="+vendorKey)
	r := &benchRun{config: cfg.name, scenario: sc.name, outcomes: map[string]int{}}
	var recorded []recordedRequest
	for s := 1; s <= benchSessions; s++ {
		dir, home := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "notes.md"), []byte(notesFile(s)), 0o644); err != nil {
			t.Fatal(err)
		}
		script, answers := sessionScript(dir, s, sc)
		st.fake.SetResponder(script.Reply)
		for k := range benchTurns {
			id := fmt.Sprintf("s%d-t%d", s, k+1)
			o := runOpts{baseURL: st.frontURL, dir: dir, home: home, tools: benchTools,
				prompt: fmt.Sprintf("[turn:%s] Please mark item %s in notes.md as done: read the file, check its length, then edit the line.", id, id)}
			if k > 0 {
				o.args = []string{"--continue"}
			}
			res, err := c.run(t, o)
			ex := st.front.take()
			if os.Getenv("SESSION_BENCH_VERBOSE") != "" {
				var took []string
				for _, e := range ex {
					took = append(took, fmt.Sprintf("%s %s %d %s", e.Method, e.Path, e.Status, e.Took.Round(time.Millisecond)))
				}
				t.Logf("%s: CLI run %s: %s", id, res.Took.Round(time.Millisecond), strings.Join(took, ", "))
			}
			msgs := messages(ex)
			r.requests += len(msgs)
			for _, m := range msgs {
				if m.Status >= 400 {
					r.broken = append(r.broken, fmt.Sprintf("%s: %s answered %d", id, m.Path, m.Status))
				}
				if o := m.RespHeader.Get("X-Cascade-Outcome"); o != "" {
					r.outcomes[o]++
				} else {
					r.outcomes["passthrough"]++
				}
			}
			switch {
			case err != nil:
				r.broken = append(r.broken, fmt.Sprintf("%s: %v", id, err))
			case res.IsError || res.Result != answers[k]:
				r.broken = append(r.broken, fmt.Sprintf("%s: result %q (is_error %v), want %q", id, trim(res.Result, 200), res.IsError, answers[k]))
			case len(msgs) != 4:
				r.broken = append(r.broken, fmt.Sprintf("%s: %d requests, want 4 (Read, Bash, Edit, answer)", id, len(msgs)))
			}
			if record != "" && s == 1 {
				for i, m := range msgs {
					recorded = append(recorded, recordedRequest{Turn: k, Index: i, Body: m.Body})
				}
			}
		}
		notes, _ := os.ReadFile(filepath.Join(dir, "notes.md"))
		for k := range benchTurns {
			if !bytes.Contains(notes, []byte(fmt.Sprintf("DONE s%d-t%d", s, k+1))) {
				r.broken = append(r.broken, fmt.Sprintf("session %d: the Edit of turn %d did not reach notes.md", s, k+1))
			}
		}
	}
	r.billing = st.fake.Billing()
	for m, ch := range r.billing {
		r.measuredUSD += ch.USD(benchRates(t, m))
	}
	r.reported = proxyRuleStats(t, st.proxyURL)
	if os.Getenv("SESSION_BENCH_VERBOSE") != "" {
		for m, ch := range r.billing {
			t.Logf("billed %s: %+v = $%.4f", m, ch, ch.USD(benchRates(t, m)))
		}
		for _, l := range strings.Split(st.proxy.Output(), "\n") {
			if strings.Contains(l, `"msg":"request"`) {
				t.Logf("proxy: %s", l)
			}
		}
	}
	if out := st.proxy.Output(); strings.Contains(out, vendorKey) || strings.Contains(out, clientKey) {
		r.broken = append(r.broken, "a key appeared in the proxy's log")
	}
	if record != "" {
		writeRecording(t, record, recorded)
	}
	r.took = time.Since(start)
	return r
}

func proxyRuleStats(t *testing.T, proxyURL string) ruleStats {
	resp, err := http.Get(proxyURL + "/api/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Rules []ruleStats `json:"rules"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Rules {
		if r.Rule == "opus" {
			return r
		}
	}
	return ruleStats{}
}

// writeRecording writes the session's requests as gzipped JSON lines; the
// bodies carry no key (credentials travel in headers, which are left out).
func writeRecording(t *testing.T, path string, recs []recordedRequest) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	for _, r := range recs {
		if bytes.Contains(r.Body, []byte(vendorKey)) || bytes.Contains(r.Body, []byte(clientKey)) {
			t.Fatal("a recorded body holds a key")
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("SCENARIO INFO recorded %d requests of one session into %s\n", len(recs), path)
}

// benchTable renders the runs and the targets as Markdown.
func benchTable(runs []*benchRun) string {
	byKey := map[string]*benchRun{}
	for _, r := range runs {
		byKey[r.scenario+"/"+r.config] = r
	}
	var b strings.Builder
	b.WriteString("| scenario | configuration | requests | outcomes | measured cost | vs pass-through | reported cost | reported baseline | reported savings | measured savings | savings error | cache hit ratio by model |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range benchScenarios {
		pt := byKey[sc.name+"/pass-through"]
		for _, cfg := range benchConfigs {
			r := byKey[sc.name+"/"+cfg.name]
			if r == nil {
				continue
			}
			vs, rep, meas, errPct, repCost, repBase := "—", "—", "—", "—", "—", "—"
			if cfg.name != "pass-through" {
				repCost, repBase = fmt.Sprintf("$%.4f", r.reported.CostUSD), fmt.Sprintf("$%.4f", r.reported.BaselineUSD)
			}
			if pt != nil && cfg.name != "pass-through" {
				vs = fmt.Sprintf("%+.1f %%", 100*(r.measuredUSD/pt.measuredUSD-1))
				m := pt.measuredUSD - r.measuredUSD
				rep, meas = fmt.Sprintf("$%.4f", r.reported.SavingsUSD), fmt.Sprintf("$%.4f", m)
				errPct = fmt.Sprintf("%+.1f %%", 100*(r.reported.SavingsUSD-m)/math.Abs(m))
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | $%.4f | %s | %s | %s | %s | %s | %s | %s |\n", sc.name, cfg.name, r.requests,
				outcomeList(r.outcomes), r.measuredUSD, vs, repCost, repBase, rep, meas, errPct, hitRatios(r.billing))
		}
	}
	b.WriteString("\nTargets:\n\n")
	target := func(ok bool, text string) {
		mark := "not met"
		if ok {
			mark = "met"
		}
		fmt.Fprintf(&b, "- %s: **%s**\n", text, mark)
	}
	get := func(sc, cfg string) float64 {
		if r := byKey[sc+"/"+cfg]; r != nil {
			return r.measuredUSD
		}
		return math.NaN()
	}
	target(get("half-good", "per-turn") < get("half-good", "per-request"), "half-good: per-turn cheaper than per-request")
	target(get("half-good", "per-turn") < get("half-good", "pass-through"), "half-good: per-turn cheaper than pass-through")
	target(get("all-bad", "per-turn") <= 1.05*get("all-bad", "pass-through"), "all-bad: per-turn at most 5 % above pass-through")
	for _, sc := range benchScenarios {
		for _, cfg := range []string{"per-request", "per-turn"} {
			r, pt := byKey[sc.name+"/"+cfg], byKey[sc.name+"/pass-through"]
			if r == nil || pt == nil {
				continue
			}
			m := pt.measuredUSD - r.measuredUSD
			target(math.Abs(r.reported.SavingsUSD-m) <= 0.05*math.Abs(m), fmt.Sprintf("%s, %s: reported savings within ±5 %% of the measured difference (off by $%.4f, %.1f %% of the pass-through cost; reported baseline %+.1f %% from the pass-through's cost)",
				sc.name, cfg, r.reported.SavingsUSD-m, 100*math.Abs(r.reported.SavingsUSD-m)/pt.measuredUSD, 100*(r.reported.BaselineUSD/pt.measuredUSD-1)))
		}
	}
	broken := 0
	for _, r := range runs {
		broken += len(r.broken)
	}
	target(broken == 0, "no session breaks (every turn answered, every Edit on disk, no error status)")
	return b.String()
}

func outcomeList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func hitRatios(billing map[string]fakeupstream.Charge) string {
	keys := make([]string, 0, len(billing))
	for k := range billing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		c := billing[k]
		parts = append(parts, fmt.Sprintf("%s %.0f %% (%d calls)", strings.TrimPrefix(k, "claude-"), 100*c.CacheHitRatio(), c.Requests))
	}
	return strings.Join(parts, ", ")
}
