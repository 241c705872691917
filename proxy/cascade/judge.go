package cascade

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// DefaultJudgeTimeout bounds a judge call when the rule sets none.
const DefaultJudgeTimeout = 10 * time.Second

// maxJudgeContext bounds how much of the conversation and draft the judge reads.
const maxJudgeContext = 24 << 10

// modelJudge asks a (cheap) model to grade a draft from 1 to 10.
type modelJudge struct {
	cfg      *rules.Judge
	provider Provider
}

const judgeSystem = `You grade answers written by an AI assistant. Read the conversation and the candidate answer to its last user message. ` +
	`Judge correctness, completeness and helpfulness. Reply with only an integer from 1 (useless or wrong) to 10 (excellent).`

var firstInt = regexp.MustCompile(`\b(10|[1-9])\b`)

func (j *modelJudge) Grade(ctx context.Context, req *llm.Request, draft *llm.Response) (float64, llm.Usage, string, error) {
	timeout := j.cfg.Timeout.Duration
	if timeout == 0 {
		timeout = DefaultJudgeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var convo strings.Builder
	for _, m := range req.Messages {
		for _, b := range m.Content {
			if b.Type == llm.BlockText {
				fmt.Fprintf(&convo, "[%s]\n%s\n\n", m.Role, b.Text)
			}
		}
	}
	c := convo.String()
	if len(c) > maxJudgeContext {
		c = "…" + c[len(c)-maxJudgeContext:]
	}
	answer := draft.Text()
	if len(answer) > maxJudgeContext {
		answer = answer[:maxJudgeContext] + "…"
	}
	jr := &llm.Request{
		Model:     j.cfg.Model,
		System:    []llm.Block{{Type: llm.BlockText, Text: judgeSystem}},
		Messages:  []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "Conversation:\n" + c + "\nCandidate answer:\n" + answer + "\n\nGrade (1-10):"}}}},
		MaxTokens: 8,
	}
	zero := 0.0
	jr.Temperature = &zero
	resp, err := j.provider.Complete(ctx, jr, nil, nil)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = &llm.Error{Kind: llm.ErrTimeout, Message: "judge model did not answer in time", Err: err}
		}
		return 0, llm.Usage{}, j.cfg.Model, fmt.Errorf("judge: %w", err)
	}
	m := firstInt.FindString(resp.Text())
	if m == "" {
		return 0, resp.Usage, j.cfg.Model, errors.New("judge: answer held no grade")
	}
	g, _ := strconv.Atoi(m)
	return float64(g-1) / 9, resp.Usage, j.cfg.Model, nil
}

// recordedJudge is a rule's judge for one request: it records the judge
// call in the request's result.
type recordedJudge struct {
	*modelJudge
	res *Result
}

func (j *recordedJudge) Grade(ctx context.Context, req *llm.Request, draft *llm.Response) (float64, llm.Usage, string, error) {
	start := time.Now()
	ctx, span := startCall(ctx, tracing.SpanJudge, j.provider, j.cfg.Model)
	score, usage, model, err := j.modelJudge.Grade(ctx, req, draft)
	call := &Call{Provider: j.provider.Name(), Model: j.cfg.Model, Usage: usage, Took: time.Since(start)}
	// A reply that holds no grade is still an answer; only a failed call is a failure.
	var upstream *llm.Error
	if errors.As(err, &upstream) {
		call.ended(err)
	} else {
		call.ended(nil)
	}
	j.res.Judge = call
	endCall(span, call, model)
	return score, usage, model, err
}
