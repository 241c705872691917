package quality

import (
	"math"
	"strconv"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/mathtext"
)

// Task cues. A small model's accuracy drops most on multi-step math, code and
// formal reasoning, and least on open writing; these lists recognise those
// kinds of task in general terms (English).
var (
	mathCues = newPhraseSet(
		"calculate", "compute", "how many", "how much", "probability", "percent", "solve",
		"equation", "integer", "average", "remainder", "divided", "multipl", "ratio", "area of",
		"volume", "prove", "proof", "express ", "formula", "derivative", "integral", "factor",
		"prime", "fraction", "sum of", "total", "per hour", "per day", "each", "twice", "half",
		"how far", "how long", "how fast", "how old", "what time", "what percentage", "speed",
		"distance", "rate of", "interest", "find the value", "solve for", "inequality",
	)
	// Exact-answer tasks: extraction and structured output leave no room for
	// approximate answers.
	exactnessCues = newPhraseSet(
		"extract", "identify the", "list all", "count the", "json", "csv", "yaml", "table", "sort the",
	)
	codeComplexityCues = newPhraseSet(
		"function", "implement", "algorithm", "code", "program", "python", "javascript", "java",
		"c++", "sql", "regex", "time complexity", "array", "linked list", "binary", "tree", "graph",
		"recursion", "recursive", "data structure", "compile", "debug", "bug", "unit test",
	)
	reasoningCues = newPhraseSet(
		"reason", "logic", "puzzle", "riddle", "deduce", "infer", "true or false", "true, false",
		"uncertain", "step by step", "suppose", "assume", "contradict", "which of the following",
		"determine", "clue", "if the", "is it possible",
	)
	openWritingCues = newPhraseSet(
		"poem", "story", "blog", "essay", "email", "letter", "slogan", "headline", "joke",
		"limerick", "rewrite", "rephrase", "summarize", "summarise", "translate", "persona",
		"pretend", "imagine", "role-play", "roleplay", "act as", "describe", "brainstorm",
	)
)

// estimateComplexity estimates in [0, 1] how hard a request is for a small
// model. It combines features of the latest ask:
//
//	0.10 base
//	+0.10 × length        (log of words; 8 words → 0, 400 → 1)
//	+0.10 × question      (log of words of the ask's last paragraph; 10 → 0, 120 → 1)
//	+0.45 × task          (max of math, code, reasoning and explanation cue strength)
//	+0.10 × multi-part    (several questions or numbered constraints)
//	+0.10 follow-up turn, +0.05 tools offered, +0.10 thinking budget ≥ 8k
//	−0.15 open writing    (poems, stories, rewrites: small models do well)
func estimateComplexity(v *askView) float64 {
	a := v.instr
	if a == "" && len(v.req.Tools) == 0 {
		return 0.1
	}
	fLen := ramp(math.Log2(1+float64(v.words)), math.Log2(9), math.Log2(401))
	// The question itself: the ask's last paragraph (after any pasted
	// material or examples). Longer questions hold more steps.
	fQuestion := ramp(math.Log2(1+float64(wordCount(lastParagraph(v.text)))), math.Log2(11), math.Log2(121))

	task := taskStrength(a)
	// A follow-up ("and if it were 5?") inherits the conversation's task.
	if v.turns > 1 {
		task = math.Max(task, 0.8*priorTask(v.req))
	}

	q := strings.Count(a, "?") + strings.Count(a, "？")
	fMulti := clamp01(0.2*float64(max(0, q-1)) + 0.1*float64(countEnumerations(a)))

	c := 0.1 + 0.1*fLen + 0.1*fQuestion + 0.45*task + 0.1*fMulti
	if v.turns > 1 {
		c += 0.1
	}
	if len(v.req.Tools) > 0 {
		c += 0.05
	}
	// A large explicit thinking budget is the client saying "this is hard";
	// adaptive thinking is a client default and says nothing.
	if t := v.req.Thinking; t != nil && t.Type == "enabled" && t.BudgetTokens >= 8000 {
		c += 0.1
	}
	if openWritingCues.contains(a) && task < 0.5 {
		c -= 0.15
	}
	return clamp01(c)
}

// countEnumerations counts list items at line starts ("1.", "2)", "- ", "* ").
func countEnumerations(s string) int {
	n := 0
	for line := range strings.SplitSeq(s, "\n") {
		t := strings.TrimSpace(line)
		if len(t) < 2 {
			continue
		}
		switch {
		case t[0] == '-' && t[1] == ' ', t[0] == '*' && t[1] == ' ':
			n++
		case isDigit(t[0]) && (t[1] == '.' || t[1] == ')'):
			n++
		}
	}
	return n
}

// taskStrength is the strongest of the math, code and reasoning cues in s.
func taskStrength(s string) float64 {
	fMath := clamp01(0.25*float64(mathCues.count(s)) + 0.04*float64(countNumbers(s)) + 0.1*float64(strings.Count(s, "=")))
	fCode := clamp01(0.3 * float64(codeComplexityCues.count(s)))
	if strings.Contains(s, "```") {
		fCode = clamp01(fCode + 0.3)
	}
	fReason := clamp01(0.3 * float64(reasoningCues.count(s)))
	// Explanations and exact extraction need care, but less than exact work.
	fExplain := math.Min(0.5, 0.25*float64(explainCues.count(s)))
	fExact := math.Min(0.5, 0.25*float64(exactnessCues.count(s)))
	return math.Max(math.Max(fMath, math.Max(fExplain, fExact)), math.Max(fCode, fReason))
}

// priorTask is the task strength of the user asks before the latest one.
func priorTask(req *llm.Request) float64 {
	best := 0.0
	seenLatest := false
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := &req.Messages[i]
		if m.Role != llm.RoleUser {
			continue
		}
		text := userText(m)
		if text == "" {
			continue
		}
		if !seenLatest {
			seenLatest = true
			continue
		}
		best = math.Max(best, taskStrength(strings.ToLower(instructionWindow(text))))
	}
	return best
}

// complexitySignal turns the request's complexity into a prior against the
// draft: score = 1 - complexity_penalty × complexity × (1 - discount × e),
// where e in [0, 1] is the checked work (see checkWork) and discount is
// complexity_verified_discount. A hard word problem is risky for a small
// model, but less so once its calculations recompute and its answer uses
// every given quantity: the checks have then removed part of the risk the
// prior stands for.
func complexitySignal(cx Complexity, work checkedWork, o *options) result {
	detail := cx.Level
	if work.evidence > 0 {
		detail += ", " + strconv.Itoa(work.calcs) + " calculations checked"
	}
	risk := cx.Score * (1 - o.ComplexityVerifiedDiscount*work.evidence)
	return result{score: 1 - o.ComplexityPenalty*risk, applies: true, detail: detail}
}

// checkedWork is how much of a word problem's work the draft's checks vouch for.
type checkedWork struct {
	calcs    int     // correct calculations
	evidence float64 // in [0, 1]
}

// checkWork turns what the arithmetic, coverage and answer signals found
// into evidence in [0, 1]; each result is as counted by Evaluate (not
// applicable when the signal is off). There is evidence when the draft
// answers a word problem, its calculations all recompute and no check found a
// fault. It grows with the share of the problem's steps that were checked:
// combining n given quantities takes at least n-1 operations, so a problem
// giving 6 quantities is not vouched for by 2 correct calculations the way a
// problem giving 3 is (complexity_verified_calcs is the fewest calculations
// that count as full evidence). With the arithmetic signal off nothing is
// checked and there is no evidence.
func checkWork(m *mathView, calc mathtext.Tally, arithmetic, coverage, answer result, o *options) checkedWork {
	w := checkedWork{}
	if arithmetic.applies {
		w.calcs = calc.Correct
	}
	if w.calcs == 0 || !m.problem {
		return w
	}
	for _, r := range [...]result{arithmetic, coverage, answer} {
		if r.applies && r.score < 1 {
			return w
		}
	}
	steps := math.Max(o.ComplexityVerifiedCalcs, float64(len(m.given)-1))
	w.evidence = math.Min(1, float64(w.calcs)/steps)
	return w
}
