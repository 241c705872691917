package quality

import (
	"strings"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/mathtext"
)

// askView is what the gate reads of a request: its latest ask.
type askView struct {
	req   *llm.Request
	text  string // the latest user text
	words int
	// instr is where the instructions of a long ask usually are: its opening
	// and its end (pasted documents and examples sit in between), lower-case.
	instr string
	// question is the ask's last paragraph, lower-case, read at its head and
	// tail when long. Only such windows are lower-cased, never a whole
	// prompt, which may be megabytes of pasted material.
	question string
	turns    int // user turns with text
}

func readAsk(req *llm.Request) askView {
	v := askView{req: req}
	v.text, v.turns = latestUserText(req)
	v.words = wordCount(v.text)
	v.instr = strings.ToLower(instructionWindow(v.text))
	v.question = strings.ToLower(window(lastParagraph(v.text), questionHead, questionTail))
	return v
}

// analysis is everything the signals read of one draft and its request,
// computed once per Evaluate before any signal runs, so that no signal
// depends on another having run first. The parts only some signals read are
// computed only when one of them is on.
type analysis struct {
	ask      askView
	draft    *llm.Response
	text     string // the draft's text blocks, concatenated
	lower    string // text, lower-cased
	toolUses int
	// complexity is the request's complexity estimate (see estimateComplexity).
	complexity float64
	// lex is what one scan of the draft for refusal and hedging phrases found
	// (refusal or hedging on, text not empty).
	lex lexiconHits
	// math is the word problem the ask poses, if any, and the quantities of
	// the draft (coverage, answer or complexity on).
	math mathView
	// calc is the draft's arithmetic statements, recomputed (arithmetic on).
	calc mathtext.Tally
}

func analyse(req *llm.Request, draft *llm.Response, c *config) *analysis {
	a := &analysis{ask: readAsk(req), draft: draft}
	a.text = draft.Text()
	a.lower = strings.ToLower(a.text)
	for i := range draft.Content {
		if draft.Content[i].Type == llm.BlockToolUse {
			a.toolUses++
		}
	}
	a.complexity = estimateComplexity(&a.ask)
	w := &c.weights
	if a.text != "" && (w.Refusal > 0 || w.Hedging > 0) {
		a.lex = scanLexicon(a.lower)
	}
	if w.Coverage > 0 || w.Answer > 0 || w.Complexity > 0 {
		a.math = readWordProblem(&a.ask, a.text, a.toolUses)
	}
	if w.Arithmetic > 0 {
		a.calc = mathtext.CheckArithmetic(a.text, c.opt.ArithmeticTolerance)
	}
	return a
}

// mathView is the word problem an ask poses and the quantities a draft
// writes, read by the coverage, answer and complexity signals.
type mathView struct {
	problem bool                // the ask's question is a word problem with quantities
	given   []mathtext.Quantity // quantities in the question
	draft   []mathtext.Quantity // quantities in the draft
	qDec    int                 // most decimals among the question's numbers (fractions: 2)
}

// readWordProblem reads the ask's last paragraph as a word problem. A turn
// with tool calls answers no word problem.
func readWordProblem(ask *askView, text string, toolUses int) mathView {
	var m mathView
	if toolUses > 0 {
		return m
	}
	q := ask.question
	m.given = mathtext.ScanQuantities(make([]mathtext.Quantity, 0, 16), q, false)
	if !isWordProblem(q, m.given) {
		return m
	}
	m.problem = true
	m.draft = mathtext.ScanQuantities(make([]mathtext.Quantity, 0, 32), text, true)
	for _, g := range m.given {
		d := int(g.Decimals)
		if g.Fraction || g.Word && g.Value < 1 {
			d = 2
		}
		m.qDec = max(m.qDec, d)
	}
	return m
}

// askCues ask for a result without a question mark ("Calculate the total.").
var askCues = newPhraseSet("calculate", "compute", "find", "determine", "solve", "work out", "how many", "how much", "what is")

// isWordProblem reports a question that gives at least two quantities and
// asks for something computed from them.
func isWordProblem(q string, given []mathtext.Quantity) bool {
	return len(given) >= 2 && (mathCues.contains(q) || reasoningCues.contains(q)) &&
		(strings.ContainsAny(q, "?？") || askCues.contains(q))
}

// Window sizes: a long ask is read at its head and tail only, for its
// instructions in a few hundred bytes, for a question (a word problem) in a
// few kilobytes.
const (
	instrHead    = 300
	instrTail    = 500
	questionHead = 4 << 10
	questionTail = 4 << 10
)

// instructionWindow returns s when short, else its first instrHead and last
// instrTail bytes.
func instructionWindow(s string) string { return window(s, instrHead, instrTail) }

// window returns s when short, else its first head and last tail bytes
// (cut at rune boundaries) around an ellipsis line.
func window(s string, head, tail int) string {
	if len(s) <= head+tail+200 {
		return s
	}
	h := head
	for h > 0 && !utf8.RuneStart(s[h]) {
		h--
	}
	t := len(s) - tail
	for t < len(s) && !utf8.RuneStart(s[t]) {
		t++
	}
	return s[:h] + "\n…\n" + s[t:]
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

// lastParagraph returns the text after the last blank line of s.
func lastParagraph(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n\n"); i >= 0 {
		return s[i+2:]
	}
	return s
}

func wordCount(s string) int {
	n := 0
	in := false
	for i := 0; i < len(s); i++ {
		sp := s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'
		if !sp && !in {
			n++
		}
		in = !sp
	}
	return n
}

// countNumbers counts runs of digits.
func countNumbers(s string) int {
	n := 0
	in := false
	for i := 0; i < len(s); i++ {
		d := isDigit(s[i])
		if d && !in {
			n++
		}
		in = d
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
