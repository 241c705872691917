package quality

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Judge grades a draft with a (cheap) model. The cascade supplies the
// implementation; its usage is counted in the request's cost.
type Judge interface {
	// Grade returns a score in [0, 1] for draft as an answer to req, the
	// judge call's token usage and the model that graded.
	Grade(ctx context.Context, req *llm.Request, draft *llm.Response) (score float64, usage llm.Usage, model string, err error)
}

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
// acceptance threshold. Unknown weight, option or level names are an error.
func New(cfg *rules.Gate, threshold float64) (*Gate, error) {
	if !(threshold >= 0 && threshold <= 1) {
		return nil, fmt.Errorf("quality gate config: threshold must be in [0, 1], got %v", threshold)
	}
	c, err := resolve(cfg)
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
	s := estimateComplexity(req)
	return Complexity{Score: s, Level: g.level(s)}
}

func (g *Gate) level(s float64) string {
	switch {
	case s >= g.cfg.o("complexity_hard"):
		return LevelHard
	case s >= g.cfg.o("complexity_moderate"):
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
	return estimateComplexity(req) >= g.cfg.skipDraftAbove
}

// result is what each signal function returns.
type result struct {
	score   float64
	applies bool
	veto    bool
	detail  string
}

func pass(detail string) result { return result{score: 1, applies: true, detail: detail} }

// draftView holds what several signals read, computed once per Evaluate.
type draftView struct {
	req      *llm.Request
	draft    *llm.Response
	text     string // the draft's text blocks, concatenated
	lower    string // text, lower-cased
	toolUses int
	ask      string // the latest user text
	askLower string
	askWords int
	// instr is where the instructions of a long ask usually are: its opening
	// and its end (pasted documents and examples sit in between), lower-case.
	instr     string
	turnCount int          // user turns
	lex       *lexiconHits // see lexicon()
	mv        *mathView    // see math()
	calcOK    int          // arithmetic statements found correct (set by arithmeticSignal)
}

func newDraftView(req *llm.Request, draft *llm.Response) *draftView {
	v := &draftView{req: req, draft: draft}
	v.text = draft.Text()
	v.lower = strings.ToLower(v.text)
	for i := range draft.Content {
		if draft.Content[i].Type == llm.BlockToolUse {
			v.toolUses++
		}
	}
	v.ask, v.turnCount = latestUserText(req)
	v.askLower = strings.ToLower(v.ask)
	v.askWords = wordCount(v.ask)
	v.instr = instructionWindow(v.askLower)
	return v
}

// Instruction window sizes: a long ask is read at its head and tail only.
const (
	instrHead = 300
	instrTail = 500
)

// instructionWindow returns s when short, else its first instrHead and last
// instrTail bytes (cut at rune boundaries).
func instructionWindow(s string) string {
	if len(s) <= instrHead+instrTail+200 {
		return s
	}
	h := instrHead
	for h > 0 && !utf8.RuneStart(s[h]) {
		h--
	}
	t := len(s) - instrTail
	for t < len(s) && !utf8.RuneStart(s[t]) {
		t++
	}
	return s[:h] + "\n…\n" + s[t:]
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
	v := newDraftView(req, draft)
	cx := estimateComplexityView(v)
	d.Complexity = Complexity{Score: cx, Level: g.level(cx)}
	d.Threshold = g.Threshold(d.Complexity.Level)

	logScore := 0.0
	veto := false
	add := func(name string, fn func() result) {
		w := c.w(name)
		if w == 0 {
			return
		}
		r := fn()
		if !r.applies {
			return
		}
		r.score = clamp01(r.score)
		d.Signals = append(d.Signals, Signal{Name: name, Score: r.score, Weight: w, Veto: r.veto, Detail: r.detail})
		if r.veto {
			veto = true
		}
		if r.score <= 0 {
			logScore = math.Inf(-1)
		} else {
			logScore += w * math.Log(r.score)
		}
	}

	add(SignalTruncation, func() result { return truncationSignal(v, c) })
	add(SignalEmpty, func() result { return emptySignal(v, c) })
	add(SignalRefusal, func() result { return refusalSignal(v, c) })
	add(SignalHedging, func() result { return hedgingSignal(v, c) })
	add(SignalRepetition, func() result { return repetitionSignal(v, c) })
	add(SignalLength, func() result { return lengthSignal(v, c) })
	add(SignalToolCalls, func() result { return toolCallSignal(v, g.schemas) })
	add(SignalFormat, func() result { return formatSignal(v, g.schemas) })
	add(SignalArithmetic, func() result { return arithmeticSignal(v, c) })
	add(SignalCoverage, func() result { return coverageSignal(v, c) })
	add(SignalAnswer, func() result { return answerSignal(v, c) })
	add(SignalComplexity, func() result { return complexitySignal(v, &d, c) })
	add(SignalLogprob, func() result { return logprobSignal(v, c) })
	// The judge can only lower the score, so it is not paid for when a veto
	// or the other signals have already decided against the draft.
	if j != nil && c.judgeWeight > 0 && !veto && math.Exp(logScore) >= d.Threshold {
		add(SignalJudge, func() result { return g.judge(ctx, req, draft, j, &d) })
	}

	score := math.Exp(logScore)
	if veto {
		score = math.Min(score, c.o("veto_cap"))
	}
	d.Score = clamp01(score)
	d.Accept = d.Score >= d.Threshold
	return d
}

func (g *Gate) judge(ctx context.Context, req *llm.Request, draft *llm.Response, j Judge, d *Decision) result {
	jctx, cancel := context.WithTimeout(ctx, g.cfg.judgeTimeout)
	defer cancel()
	s, u, model, err := j.Grade(jctx, req, draft)
	d.JudgeUsage, d.JudgeModel = u, model
	if err == nil && (math.IsNaN(s) || s < 0 || s > 1) {
		err = fmt.Errorf("judge score %v outside [0, 1]", s)
	}
	if err != nil {
		if errors.Is(jctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("judge timed out after %s: %w", g.cfg.judgeTimeout, err)
		}
		d.JudgeErr = err
		return result{}
	}
	return result{score: s, applies: true, detail: "graded"}
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

// withoutReminders removes <system-reminder>…</system-reminder> sections:
// agents such as Claude Code put their own context (tool lists, file state,
// instructions) into user turns that way, and it says nothing about what
// the user asked.
func withoutReminders(s string) string {
	const open, closing = "<system-reminder>", "</system-reminder>"
	if !strings.Contains(s, open) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, open)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := strings.Index(s[i:], closing)
		if j < 0 {
			return b.String() // unterminated: drop the rest
		}
		s = s[i+j+len(closing):]
	}
}

// latestUserText returns the text of the latest user turn that has any,
// and how many user turns with text the conversation holds. Turns that only
// carry tool results (an agent's loop) and agent reminders are not asks.
func latestUserText(req *llm.Request) (string, int) {
	turns := 0
	ask := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := &req.Messages[i]
		if m.Role != llm.RoleUser || !hasUserText(m) {
			continue
		}
		if turns == 0 {
			ask = userText(m)
		}
		turns++
	}
	return ask, turns
}

// hasUserText reports whether userText(m) is not empty, without building it.
func hasUserText(m *llm.Message) bool {
	for _, bl := range m.Content {
		if bl.Type == llm.BlockText && strings.TrimSpace(withoutReminders(bl.Text)) != "" {
			return true
		}
	}
	return false
}

// userText joins a user message's text blocks, reminders removed. A single
// text block is returned as it is (a long prompt is not copied).
func userText(m *llm.Message) string {
	var first string
	var b strings.Builder
	n := 0
	for _, bl := range m.Content {
		if bl.Type != llm.BlockText {
			continue
		}
		text := withoutReminders(bl.Text)
		if strings.TrimSpace(text) == "" {
			continue
		}
		switch n {
		case 0:
			first = text
		case 1:
			b.WriteString(first)
			fallthrough
		default:
			b.WriteByte('\n')
			b.WriteString(text)
		}
		n++
	}
	if n <= 1 {
		return first
	}
	return b.String()
}
