package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Completer is what the judge needs of an upstream client.
type Completer interface {
	Complete(ctx context.Context, req *llm.Request, raw llm.Body, clientHeader http.Header) (*llm.Response, error)
}

// Judge is a pairwise judge model.
type Judge struct {
	Provider Completer
	Model    string
	// Timeout bounds each of the two calls (0: no bound beyond ctx).
	Timeout time.Duration
}

// judgeMaxTokens leaves room for the short explanation the prompt asks for
// before the verdict.
const judgeMaxTokens = 1024

// maxContext bounds how much of the conversation and of each answer the
// judge reads, so an audit's cost stays bounded.
const maxContext = 24 << 10

// ErrNoVerdict: a judge's answer held no verdict.
var ErrNoVerdict = errors.New("the judge's answer held no verdict")

// Compare asks the judge to compare a draft with the verifier's answer to a
// conversation, once in each order (in parallel), and combines the two
// verdicts with DraftGood. usage is what both calls reported (for pricing,
// even when the comparison failed). err is set when a call failed or an
// answer held no verdict; good is then meaningless.
func (j *Judge) Compare(ctx context.Context, conversation string, draft, verifier *llm.Response) (good bool, usage llm.Usage, err error) {
	d, v := clip(AnswerText(draft)), clip(AnswerText(verifier))
	conversation = clipTail(conversation)
	var (
		wg       sync.WaitGroup
		verdicts [2]Verdict
		usages   [2]llm.Usage
		errs     [2]error
	)
	for i, pair := range [2][2]string{{d, v}, {v, d}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			verdicts[i], usages[i], errs[i] = j.ask(ctx, conversation, pair[0], pair[1])
		}()
	}
	wg.Wait()
	usage = usages[0].Add(usages[1])
	if err := errors.Join(errs[0], errs[1]); err != nil {
		return false, usage, err
	}
	good, ok := DraftGood(verdicts[0], verdicts[1])
	if !ok {
		return false, usage, ErrNoVerdict
	}
	return good, usage, nil
}

// ask runs one order of the comparison.
func (j *Judge) ask(ctx context.Context, conversation, first, second string) (Verdict, llm.Usage, error) {
	if j.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.Timeout)
		defer cancel()
	}
	system, user := PairwisePrompt(conversation, first, second)
	zero := 0.0
	req := &llm.Request{
		Model:       j.Model,
		System:      []llm.Block{{Type: llm.BlockText, Text: system}},
		Messages:    []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: user}}}},
		MaxTokens:   judgeMaxTokens,
		Temperature: &zero,
	}
	resp, err := j.Provider.Complete(ctx, req, nil, nil)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = &llm.Error{Kind: llm.ErrTimeout, Message: fmt.Sprintf("audit judge did not answer within %s", j.Timeout), Err: err}
		}
		return NoVerdict, llm.Usage{}, fmt.Errorf("audit judge %s: %w", j.Model, err)
	}
	v := ParseVerdict(resp.Text())
	if v == NoVerdict {
		return v, resp.Usage, ErrNoVerdict
	}
	return v, resp.Usage, nil
}

// Conversation renders a request's conversation as text for the judge: each
// message's role and text, tool calls and tool results included (images and
// thinking are left out).
func Conversation(req *llm.Request) string {
	var b strings.Builder
	for _, m := range req.Messages {
		var turn strings.Builder
		writeBlocks(&turn, m.Content)
		if turn.Len() == 0 {
			continue
		}
		fmt.Fprintf(&b, "[%s]\n%s\n", m.Role, strings.TrimRight(turn.String(), "\n"))
	}
	return strings.TrimRight(b.String(), "\n")
}

// AnswerText renders an answer for the judge: its text, then its tool calls.
func AnswerText(r *llm.Response) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	writeBlocks(&b, r.Content)
	return strings.TrimRight(b.String(), "\n")
}

func writeBlocks(b *strings.Builder, blocks []llm.Block) {
	for _, c := range blocks {
		switch c.Type {
		case llm.BlockText:
			b.WriteString(c.Text)
			b.WriteString("\n")
		case llm.BlockToolUse:
			fmt.Fprintf(b, "[tool call] %s %s\n", c.Name, c.Input)
		case llm.BlockToolResult:
			b.WriteString("[tool result]\n")
			writeBlocks(b, c.Content)
		}
	}
}

// clip keeps the start of a long answer, cut on a character boundary.
func clip(s string) string {
	if len(s) <= maxContext {
		return s
	}
	n := maxContext
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// clipTail keeps the end of a long conversation: its last question.
func clipTail(s string) string {
	if len(s) <= maxContext {
		return s
	}
	n := len(s) - maxContext
	for n < len(s) && !utf8.RuneStart(s[n]) {
		n++
	}
	return "…" + s[n:]
}
