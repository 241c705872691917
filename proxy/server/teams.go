package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

// ctxKeySource holds the file of the client-keys directory the request's
// key came from (see clientauth.Keys.Lookup).
const ctxKeySource = "cascadeflow.key_source"

// anonymous attributes requests of keys no clientKeys entry names.
var anonymous = &teams.Identity{}

// identities caches the identities of one rules set (rebuilt on reload).
type identities struct {
	set *rules.Set
	ids map[string]*teams.Identity
}

// identityOf is who the request's key belongs to: nil when no limiter is
// configured, anonymous for a key no entry names.
func (s *Server) identityOf(c *gin.Context, snap *snapshot.Snapshot) *teams.Identity {
	if s.cfg.Limiter == nil {
		return nil
	}
	source, ok := c.Get(ctxKeySource)
	if !ok {
		return anonymous
	}
	if id := s.identityMap(snap)[source.(string)]; id != nil {
		return id
	}
	return anonymous
}

func (s *Server) identityMap(snap *snapshot.Snapshot) map[string]*teams.Identity {
	if cur := s.ids.Load(); cur != nil && cur.set == snap.Rules {
		return cur.ids
	}
	next := &identities{set: snap.Rules, ids: teams.Identities(snap.Rules)}
	s.ids.Store(next)
	return next.ids
}

// admit reserves the request's estimate against its key's limits. When a
// limit refuses, it has answered the client in codec's dialect and returns
// ok false.
func (s *Server) admit(c *gin.Context, d llm.Dialect, body []byte, model string, snap *snapshot.Snapshot, rule *cascade.CompiledRule) (*teams.Lease, bool) {
	id := s.identityOf(c, snap)
	if id == nil {
		return nil, true
	}
	rec := route(c)
	rec.KeyName, rec.Team = id.Name, id.Team
	ruleName := ""
	if rule != nil {
		ruleName = rule.Name()
	}
	lease, err := s.cfg.Limiter.Admit(c.Request.Context(), id, model, ruleName, estimate(snap, rule, model, body))
	if err == nil {
		return lease, true
	}
	var r *teams.Refusal
	if !errors.As(err, &r) {
		s.log.Error("limits check failed", "request_id", c.GetString(ctxRequestID), "error", err.Error())
		err = llm.Errorf(llm.ErrOverloaded, "the proxy cannot check this key's limits right now; retry shortly")
	} else {
		err = refusalError(d, r)
	}
	writeError(c.Writer, s.codec(d), err)
	return nil, false
}

// refusalError is a limit's refusal as the client's vendor would say it.
// Rate limits are 429 with Retry-After; a spent budget is not worth
// retrying soon: Anthropic's billing_error (402) and OpenAI's
// insufficient_quota (429), with x-should-retry: false so the SDKs show it
// at once instead of retrying.
func refusalError(d llm.Dialect, r *teams.Refusal) *llm.Error {
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(r.RetryAfterSeconds(), 10))
	e := &llm.Error{Message: r.Message, Header: &h}
	switch r.Reason {
	case teams.ReasonRequests, teams.ReasonTokens:
		e.Kind, e.Retryable = llm.ErrRateLimit, true
	case teams.ReasonBudget, teams.ReasonTeamBudget:
		h.Set("X-Should-Retry", "false")
		if d == llm.Anthropic {
			e.Kind, e.Status, e.UpstreamType = llm.ErrPermission, http.StatusPaymentRequired, "billing_error"
		} else {
			e.Kind, e.UpstreamType = llm.ErrRateLimit, "insufficient_quota"
		}
	case teams.ReasonModel:
		e.Kind, e.Param, e.Header = llm.ErrPermission, "model", nil
	default: // the limits store is unreachable and the policy is fail closed
		e.Kind, e.Status, e.Retryable = llm.ErrOverloaded, http.StatusServiceUnavailable, true
	}
	return e
}

// commit records what the request used against its key, once the answer
// (a stream included) is over.
func (s *Server) commit(c *gin.Context, lease *teams.Lease) {
	if lease == nil {
		return
	}
	rec := route(c)
	lease.Commit(context.WithoutCancel(c.Request.Context()), teams.Usage{
		USD: rec.CostUSD, SavingsUSD: rec.SavingsUSD,
		InputTokens:  int64(rec.Usage.InputTokens + rec.Usage.CacheReadInputTokens + rec.Usage.CacheCreationInputTokens),
		OutputTokens: int64(rec.Usage.OutputTokens),
	})
}

// defaultOutputEstimate stands in for max_tokens when a request sets none.
const defaultOutputEstimate = 4096

// estimate bounds what a request may cost before it runs: the prompt at
// about 3 bytes a token (tokenizers average nearer 4) and max_tokens of
// output, priced at every model the request may call (a cascade's draft,
// verifier and second opinions). An unpriced model adds nothing.
func estimate(snap *snapshot.Snapshot, rule *cascade.CompiledRule, model string, body []byte) teams.Estimate {
	out := maxTokens(body)
	if out <= 0 {
		out = defaultOutputEstimate
	}
	u := llm.Usage{InputTokens: len(body)/3 + 1, OutputTokens: out}
	est := teams.Estimate{Tokens: int64(u.InputTokens + u.OutputTokens)}
	price := func(prices *pricing.Table, m string) {
		if usd, ok := prices.Cost(m, u); ok {
			est.USD += usd
		}
	}
	if rule == nil {
		m := model
		if dr := snap.Rules.DefaultRoute; dr != nil && dr.Model != "" {
			m = dr.Model
		}
		price(snap.Compiled.Prices, m)
		return est
	}
	r := rule.Rule
	if r.EffectiveMode() != rules.ModeVerifierOnly {
		price(rule.Prices, r.Draft.Model)
	}
	if r.EffectiveMode() != rules.ModeDraftOnly {
		price(rule.Prices, r.Verifier.Model)
	}
	if so := r.SecondOpinion; so != nil {
		for _, t := range so.Targets {
			price(rule.Prices, t.Model)
		}
	}
	return est
}

// maxTokens reads the top-level max_tokens (or OpenAI's
// max_completion_tokens) without decoding the body: the first such member
// name followed by a number. Inside a JSON string a quote is escaped, so an
// unescaped "max_tokens" is a member name; a nested one (a tool schema's)
// may be read instead, which only makes the estimate looser.
func maxTokens(body []byte) int {
	best := 0
	for _, name := range []string{`"max_tokens"`, `"max_completion_tokens"`} {
		i := bytes.Index(body, []byte(name))
		if i < 0 {
			continue
		}
		rest := bytes.TrimLeft(body[i+len(name):], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		n := 0
		for _, b := range rest {
			if b < '0' || b > '9' {
				break
			}
			n = n*10 + int(b-'0')
			if n > 1<<24 {
				break
			}
		}
		best = max(best, n)
	}
	return best
}

// clientStats is the attribution section of /api/stats: this process's
// totals per key and the shared budget state of every named key and team.
func (s *Server) clientStats(ctx context.Context) (totals []teams.Totals, budgets []teams.BudgetState) {
	l := s.cfg.Limiter
	if l == nil {
		return nil, nil
	}
	totals = l.Totals()
	snap := s.cfg.Store.Load()
	if snap == nil {
		return totals, nil
	}
	ids := s.identityMap(snap)
	list := make([]*teams.Identity, 0, len(ids))
	for i := range snap.Rules.ClientKeys { // in the rules' order
		list = append(list, ids[snap.Rules.ClientKeys[i].SecretKey])
	}
	budgets, err := l.Budgets(ctx, list)
	if err != nil {
		s.log.Warn("budget state unavailable", "error", err.Error())
	}
	return totals, budgets
}
