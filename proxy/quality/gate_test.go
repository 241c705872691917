package quality

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// only returns gate settings where every signal but the named ones weighs 0
// and the complexity signal (if kept) never lowers the score.
func only(weights map[string]float64) *rules.Gate {
	w := map[string]float64{}
	for _, name := range gateconfig.SignalNames() {
		w[name] = 0
	}
	for k, v := range weights {
		w[k] = v
	}
	return &rules.Gate{Weights: w, Options: map[string]float64{"complexity_penalty": 0}}
}

func TestEvaluateWeightedProduct(t *testing.T) {
	// Arithmetic 1 of 2 correct (0.5) with weight 2, hedging one strong hedge
	// (1 - 0.12 = 0.88) with weight 1: 0.5^2 * 0.88.
	g, err := New(only(map[string]float64{SignalArithmetic: 2, SignalHedging: 1}), 0.2)
	if err != nil {
		t.Fatal(err)
	}
	d := g.Evaluate(context.Background(), ask("What is 3 * 4 + 2?"), answer("I'm not sure. 3 * 4 = 12 and 12 + 2 = 15."), nil)
	want := 0.25 * 0.88
	if math.Abs(d.Score-want) > 1e-9 || !d.Accept || d.Threshold != 0.2 {
		t.Fatalf("score %v accept %v threshold %v; want %v, accepted at 0.2", d.Score, d.Accept, d.Threshold, want)
	}
	if len(d.Signals) != 2 {
		t.Fatalf("signals = %+v, want only arithmetic and hedging (weight-0 signals are not computed)", d.Signals)
	}
	if s, ok := d.Signal(SignalArithmetic); !ok || s.Weight != 2 || s.Score != 0.5 {
		t.Fatalf("arithmetic signal = %+v", s)
	}
}

func TestEvaluateSignalsThatDoNotApplyAreLeftOut(t *testing.T) {
	g, _ := New(only(map[string]float64{SignalArithmetic: 3, SignalLogprob: 1, SignalFormat: 1}), 0.7)
	d := g.Evaluate(context.Background(), ask("Hi"), answer("Hello! How can I help today?"), nil)
	if d.Score != 1 || len(d.Signals) != 0 || !d.Accept {
		t.Fatalf("no applicable signal: score %v signals %+v, want 1 and none", d.Score, d.Signals)
	}
}

func TestEvaluateVetoCapsScore(t *testing.T) {
	resp := answer("A long and otherwise excellent answer about the topic at hand.")
	resp.StopReason = llm.StopMaxTokens
	g, _ := New(nil, 0)
	d := g.Evaluate(context.Background(), ask("Tell me about it."), resp, nil)
	if d.Score != 0 {
		t.Fatalf("truncated draft scored %v, want 0", d.Score)
	}
	if s, _ := d.Signal(SignalTruncation); !s.Veto {
		t.Fatalf("truncation signal %+v, want veto", s)
	}
	// With veto_cap 0.3 and a disabled truncation weight, nothing vetoes.
	g2, _ := New(&rules.Gate{Weights: map[string]float64{SignalTruncation: 0}, Options: map[string]float64{"veto_cap": 0.3}}, 0)
	if d := g2.Evaluate(context.Background(), ask("Tell me about it."), resp, nil); d.Score == 0 {
		t.Fatalf("truncation disabled but score is 0: %+v", d.Signals)
	}
}

func TestEvaluateComplexityThreshold(t *testing.T) {
	g, _ := New(&rules.Gate{ComplexityThresholds: map[string]float64{LevelSimple: 0.1}}, 0.99)
	d := g.Evaluate(context.Background(), ask("Write a short poem about rain."), answer("Rain taps the glass,\nsoft drums of grey,\nthe street remembers\nyesterday."), nil)
	if d.Complexity.Level != LevelSimple || d.Threshold != 0.1 || !d.Accept {
		t.Fatalf("level %s threshold %v accept %v; want simple, 0.1, accepted", d.Complexity.Level, d.Threshold, d.Accept)
	}
}

func TestEvaluateNilDraft(t *testing.T) {
	g, _ := New(nil, 0)
	if d := g.Evaluate(context.Background(), ask("q"), nil, nil); d.Accept || d.Score != 0 {
		t.Fatalf("nil draft accepted: %+v", d)
	}
}

type fakeJudge struct {
	score float64
	err   error
	delay time.Duration
	calls int
}

func (f *fakeJudge) Grade(ctx context.Context, _ *llm.Request, _ *llm.Response) (float64, llm.Usage, string, error) {
	f.calls++
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return 0, llm.Usage{InputTokens: 7}, "judge-m", ctx.Err()
		}
	}
	return f.score, llm.Usage{InputTokens: 100, OutputTokens: 3}, "judge-m", f.err
}

func TestEvaluateJudge(t *testing.T) {
	cfg := only(map[string]float64{})
	cfg.Judge = &rules.Judge{Weight: ptr(2.0), Timeout: rules.Duration{Duration: 50 * time.Millisecond}}
	g, err := New(cfg, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	j := &fakeJudge{score: 0.8}
	d := g.Evaluate(ctx, ask("q"), answer("an answer"), j)
	if math.Abs(d.Score-0.64) > 1e-9 || d.JudgeModel != "judge-m" || d.JudgeUsage.InputTokens != 100 || d.JudgeErr != nil {
		t.Fatalf("judge 0.8 weight 2: score %v model %q usage %+v err %v; want 0.64", d.Score, d.JudgeModel, d.JudgeUsage, d.JudgeErr)
	}

	j = &fakeJudge{err: errors.New("upstream 500")}
	d = g.Evaluate(ctx, ask("q"), answer("an answer"), j)
	if d.JudgeErr == nil || d.Score != 1 {
		t.Fatalf("judge error: score %v err %v; want the judge left out (score 1) and the error kept", d.Score, d.JudgeErr)
	}

	j = &fakeJudge{score: 1, delay: time.Second}
	start := time.Now()
	d = g.Evaluate(ctx, ask("q"), answer("an answer"), j)
	if time.Since(start) > 500*time.Millisecond || d.JudgeErr == nil || !strings.Contains(d.JudgeErr.Error(), "timed out") {
		t.Fatalf("slow judge: took %v, err %v; want a timeout after 50ms", time.Since(start), d.JudgeErr)
	}

	j = &fakeJudge{score: 2}
	if d = g.Evaluate(ctx, ask("q"), answer("an answer"), j); d.JudgeErr == nil {
		t.Fatal("judge score 2 accepted")
	}

	// No judge call when the other signals already reject the draft.
	j = &fakeJudge{score: 1}
	low, _ := New(only(map[string]float64{SignalArithmetic: 1}), 0.9)
	low.cfg.weights.Judge = 1
	if d = low.Evaluate(ctx, ask("q"), answer("So 2 + 2 = 5 and 3 + 3 = 6."), j); j.calls != 0 || d.Accept {
		t.Fatalf("judge called %d times for a draft scoring %v under threshold 0.9", j.calls, d.Score)
	}

	// No judge call once a veto has decided.
	j = &fakeJudge{score: 1}
	g2, _ := New(&rules.Gate{Judge: &rules.Judge{}}, 0.5)
	g2.Evaluate(ctx, ask("q"), answer(""), j)
	if j.calls != 0 {
		t.Fatalf("judge called %d times on a vetoed (empty) draft", j.calls)
	}
}

func TestEvaluateRealisticDrafts(t *testing.T) {
	g, _ := New(nil, 0.7)
	ctx := context.Background()
	good := g.Evaluate(ctx, ask("What is the capital of France?"), answer("The capital of France is Paris."), nil)
	if !good.Accept {
		t.Fatalf("plain correct answer rejected: %+v", good)
	}
	wrongMath := g.Evaluate(ctx, ask("A shop sells 12 boxes of 4 pens. How many pens?"), answer("12 * 4 = 46, so the shop sells 46 pens."), nil)
	if wrongMath.Accept {
		t.Fatalf("wrong arithmetic accepted: %+v", wrongMath)
	}
	refusal := g.Evaluate(ctx, ask("Summarize this article."), answer("I'm sorry, but I can't help with that."), nil)
	if refusal.Accept || refusal.Score != 0 {
		t.Fatalf("refusal accepted: %+v", refusal)
	}
	for _, s := range refusal.Signals {
		if strings.Contains(s.Detail, "sorry") {
			t.Fatalf("signal detail leaks answer text: %q", s.Detail)
		}
	}
}

// Agent-injected <system-reminder> sections are not part of what the user
// asked: a short question wrapped in a long reminder stays a short question.
func TestRemindersDoNotCountAsTheRequest(t *testing.T) {
	g, err := New(nil, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	reminder := "<system-reminder>\n" + strings.Repeat("As you answer the user's questions, you can use the following context: prove, derive, analyze step by step, compare trade-offs. ", 40) + "\n</system-reminder>"
	plain := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "What is the capital of France?"}}}}}
	wrapped := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{
		{Type: llm.BlockText, Text: reminder}, {Type: llm.BlockText, Text: "What is the capital of France?"}}}}}
	if a, b := g.Complexity(plain), g.Complexity(wrapped); a != b {
		t.Fatalf("complexity %+v with reminders, %+v without", b, a)
	}
	if got := withoutReminders("a<system-reminder>x</system-reminder>b<system-reminder>y"); got != "ab" {
		t.Fatalf("withoutReminders = %q", got)
	}
}

// Every signal reads the per-draft analysis and nothing else: run in any
// order, the signals give the same results and leave the analysis as it was.
func TestSignalsDependOnlyOnTheAnalysis(t *testing.T) {
	o := defaults(t)
	cx := Complexity{Score: 0.7, Level: LevelHard}
	drafts := []*llm.Response{
		answer("20% of 25 is 0.2 x 25 = 5 unripe.\nWith 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good.\nSo 25 - 8 = 17 oranges are good.\n#### 17"),
		answer("I'm not sure. Maybe 25 - 7 = 19, or 18 oranges are good?"),
		answer("I'm sorry, but I can't help with that."),
	}
	for _, draft := range drafts {
		a := view(ask(wordProblem), draft)
		before := *a
		before.math.given, before.math.draft = slices.Clone(a.math.given), slices.Clone(a.math.draft)
		signals := []func() result{
			func() result { return truncationSignal(a, o) },
			func() result { return emptySignal(a, 1) },
			func() result { return refusalSignal(a, o) },
			func() result { return hedgingSignal(a, o) },
			func() result { return repetitionSignal(a, o) },
			func() result { return lengthSignal(a, o) },
			func() result { return toolCallSignal(a, sharedSchemas) },
			func() result { return formatSignal(a, sharedSchemas) },
			func() result { return arithmeticSignal(a.calc) },
			func() result { return coverageSignal(&a.math, o) },
			func() result { return answerSignal(a, o) },
			func() result { return logprobSignal(a, o) },
		}
		forward := make([]result, len(signals))
		for i, fn := range signals {
			forward[i] = fn()
		}
		for i := len(signals) - 1; i >= 0; i-- {
			if r := signals[i](); r != forward[i] {
				t.Errorf("signal %d: %+v run last, %+v run first", i, forward[i], r)
			}
		}
		if !reflect.DeepEqual(before, *a) {
			t.Errorf("the signals changed the analysis")
		}
		// The complexity signal's discount is a function of the three checks' results.
		w1 := checkWork(&a.math, a.calc, forward[8], forward[9], forward[10], o)
		w2 := checkWork(&a.math, a.calc, forward[8], forward[9], forward[10], o)
		if w1 != w2 || complexitySignal(cx, w1, o) != complexitySignal(cx, w2, o) {
			t.Errorf("checkWork is not a function of its arguments: %+v %+v", w1, w2)
		}
	}
}

func TestCheckWorkReadsOnlyTheChecksItIsGiven(t *testing.T) {
	o := defaults(t)
	a := view(ask(wordProblem), answer("20% of 25 is 0.2 x 25 = 5 unripe.\nWith 1 bad and 2 sour, 5 + 1 + 2 = 8 are not good.\nSo 25 - 8 = 17 oranges are good."))
	if a.calc.Correct != 4 || !a.math.problem || len(a.math.given) != 4 {
		t.Fatalf("analysis: calc %+v, problem %v, given %d", a.calc, a.math.problem, len(a.math.given))
	}
	clean := pass("")
	// Four correct calculations ("20% of 25 is 0.2 x 25 = 5" is two) cover
	// the three steps four quantities need: full evidence.
	if w := checkWork(&a.math, a.calc, clean, clean, clean, o); w.evidence != 1 || w.calcs != 4 {
		t.Errorf("all checks pass: %+v, want evidence 1 from 4 calculations", w)
	}
	// A check that is off (not applicable) neither helps nor hurts.
	if w := checkWork(&a.math, a.calc, clean, result{}, result{}, o); w.evidence != 1 {
		t.Errorf("coverage and answer off: %+v, want evidence 1", w)
	}
	// With the arithmetic signal off nothing was checked, whatever the analysis holds.
	if w := checkWork(&a.math, a.calc, result{}, clean, clean, o); w.evidence != 0 || w.calcs != 0 {
		t.Errorf("arithmetic off: %+v, want no evidence", w)
	}
	// A check that found a fault removes the evidence.
	if w := checkWork(&a.math, a.calc, clean, result{score: 0.6, applies: true}, clean, o); w.evidence != 0 {
		t.Errorf("coverage fault: %+v, want no evidence", w)
	}
	// complexity_verified_calcs raises the steps needed.
	o2 := withOptions(t, map[string]float64{"complexity_verified_calcs": 8})
	if w := checkWork(&a.math, a.calc, clean, clean, clean, o2); w.evidence != 0.5 {
		t.Errorf("8 calculations needed: %+v, want evidence 0.5", w)
	}
}
