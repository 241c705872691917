package quality

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Judge grades a draft with a (cheap) model. The cascade supplies the
// implementation; its usage is counted in the request's cost.
type Judge interface {
	// Grade returns a score in [0, 1] for draft as an answer to req, the
	// judge call's token usage and the model that graded.
	Grade(ctx context.Context, req *llm.Request, draft *llm.Response) (score float64, usage llm.Usage, model string, err error)
}

// judge asks j for a grade; a failure leaves the judge out of the score.
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
