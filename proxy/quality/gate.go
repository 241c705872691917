package quality

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Signal is one signal's contribution to a Decision.
type Signal struct {
	Name   string
	Score  float64 // in [0, 1]; 1 = no sign of a problem
	Weight float64 // exponent in the weighted product
	Veto   bool
	// Detail is a short reason for logs and headers; never prompt or answer text.
	Detail string
}

// Complexity is an estimate of how hard a request is for a small model.
type Complexity struct {
	Score float64 // in [0, 1]
	Level string  // simple, moderate or hard
}

// Decision is the gate's verdict on one draft.
type Decision struct {
	Score      float64
	Threshold  float64
	Accept     bool
	Signals    []Signal
	Complexity Complexity
	// JudgeUsage and JudgeModel describe the judge call, when one was made.
	JudgeUsage llm.Usage
	JudgeModel string
	// JudgeErr is the judge's failure; the judge is then left out of the score.
	JudgeErr error
}

// Signal returns the named signal of the decision, if it was evaluated.
func (d *Decision) Signal(name string) (Signal, bool) {
	for _, s := range d.Signals {
		if s.Name == name {
			return s, true
		}
	}
	return Signal{}, false
}

// Gate scores drafts. It is safe for concurrent use; build one per rule.
type Gate struct {
	cfg       *config
	threshold float64
	schemas   *schemaCache
}

// New builds a gate from a rule's gate settings (nil: defaults) and its
// acceptance threshold. Every setting Validate refuses is an error, and so is
// a threshold outside [0, 1]; each problem names its field.
func New(cfg *rules.Gate, threshold float64) (*Gate, error) {
	c, err := resolve(cfg)
	if !(threshold >= 0 && threshold <= 1) {
		err = errors.Join(fmt.Errorf("threshold: must be in [0, 1], got %v", threshold), err)
	}
	if err != nil {
		return nil, err
	}
	return &Gate{cfg: c, threshold: threshold, schemas: sharedSchemas}, nil
}

// Threshold returns the acceptance threshold for a complexity level.
func (g *Gate) Threshold(level string) float64 {
	if t, ok := g.cfg.complexityThresholds[level]; ok {
		return t
	}
	return g.threshold
}

// Complexity estimates how hard req is (see complexity.go).
func (g *Gate) Complexity(req *llm.Request) Complexity {
	v := readAsk(req)
	s := estimateComplexity(&v)
	return Complexity{Score: s, Level: g.level(s)}
}

func (g *Gate) level(s float64) string {
	switch {
	case s >= g.cfg.opt.ComplexityHard:
		return LevelHard
	case s >= g.cfg.opt.ComplexityModerate:
		return LevelModerate
	default:
		return LevelSimple
	}
}

// SkipDraft reports whether req is complex enough to go straight to the
// verifier (rules.Gate.SkipDraftAbove; never when unset).
func (g *Gate) SkipDraft(req *llm.Request) bool {
	if g.cfg.skipDraftAbove > 1 {
		return false
	}
	v := readAsk(req)
	return estimateComplexity(&v) >= g.cfg.skipDraftAbove
}

// result is what each signal function returns.
type result struct {
	score   float64
	applies bool
	veto    bool
	detail  string
}

func pass(detail string) result { return result{score: 1, applies: true, detail: detail} }

// tally combines signal results into a Decision's weighted product.
type tally struct {
	d        *Decision
	logScore float64
	veto     bool
}

// add computes a signal of weight w and counts it; a signal of weight 0 is
// not computed. It returns the result as counted: clamped to [0, 1], and not
// applicable when the signal was off.
func (t *tally) add(name string, w float64, fn func() result) result {
	if w == 0 {
		return result{}
	}
	r := fn()
	if !r.applies {
		return result{}
	}
	r.score = clamp01(r.score)
	t.d.Signals = append(t.d.Signals, Signal{Name: name, Score: r.score, Weight: w, Veto: r.veto, Detail: r.detail})
	if r.veto {
		t.veto = true
	}
	if r.score <= 0 {
		t.logScore = math.Inf(-1)
	} else {
		t.logScore += w * math.Log(r.score)
	}
	return r
}

// Evaluate scores draft as an answer to req and decides. j may be nil; it is
// called only when the judge weight is positive, no veto has fired and the
// other signals alone would accept the draft.
func (g *Gate) Evaluate(ctx context.Context, req *llm.Request, draft *llm.Response, j Judge) Decision {
	d := Decision{Signals: make([]Signal, 0, 12)}
	if req == nil || draft == nil {
		d.Signals = append(d.Signals, Signal{Name: SignalEmpty, Score: 0, Weight: 1, Veto: true, Detail: "no draft"})
		d.Threshold = g.threshold
		return d
	}
	c := g.cfg
	w, o := &c.weights, &c.opt
	a := analyse(req, draft, c)
	d.Complexity = Complexity{Score: a.complexity, Level: g.level(a.complexity)}
	d.Threshold = g.Threshold(d.Complexity.Level)

	t := tally{d: &d}
	t.add(SignalTruncation, w.Truncation, func() result { return truncationSignal(a, o) })
	t.add(SignalEmpty, w.Empty, func() result { return emptySignal(a, c.minAnswerChars) })
	t.add(SignalRefusal, w.Refusal, func() result { return refusalSignal(a, o) })
	t.add(SignalHedging, w.Hedging, func() result { return hedgingSignal(a, o) })
	t.add(SignalRepetition, w.Repetition, func() result { return repetitionSignal(a, o) })
	t.add(SignalLength, w.Length, func() result { return lengthSignal(a, o) })
	t.add(SignalToolCalls, w.ToolCalls, func() result { return toolCallSignal(a, g.schemas) })
	t.add(SignalFormat, w.Format, func() result { return formatSignal(a, g.schemas) })
	arith := t.add(SignalArithmetic, w.Arithmetic, func() result { return arithmeticSignal(a.calc) })
	cov := t.add(SignalCoverage, w.Coverage, func() result { return coverageSignal(&a.math, o) })
	ans := t.add(SignalAnswer, w.Answer, func() result { return answerSignal(a, o) })
	// The complexity prior is discounted by the work the three checks above vouch for.
	work := checkWork(&a.math, a.calc, arith, cov, ans, o)
	t.add(SignalComplexity, w.Complexity, func() result { return complexitySignal(d.Complexity, work, o) })
	t.add(SignalLogprob, w.Logprob, func() result { return logprobSignal(a, o) })
	// The judge can only lower the score, so it is not paid for when a veto
	// or the other signals have already decided against the draft.
	if j != nil && w.Judge > 0 && !t.veto && math.Exp(t.logScore) >= d.Threshold {
		t.add(SignalJudge, w.Judge, func() result { return g.judge(ctx, req, draft, j, &d) })
	}

	score := math.Exp(t.logScore)
	if t.veto {
		score = math.Min(score, o.VetoCap)
	}
	d.Score = clamp01(score)
	d.Accept = d.Score >= d.Threshold
	return d
}

func clamp01(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case x < 0:
		return 0
	case x > 1:
		return 1
	}
	return x
}

// ramp maps x linearly from [lo, hi] onto [0, 1], clamped.
func ramp(x, lo, hi float64) float64 {
	if hi <= lo {
		if x >= hi {
			return 1
		}
		return 0
	}
	return clamp01((x - lo) / (hi - lo))
}
