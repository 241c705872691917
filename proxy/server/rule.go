package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// Response headers that show what the cascade did (optional per rule).
const (
	HeaderOutcome = "X-Cascade-Outcome"
	HeaderModel   = "X-Cascade-Model"
	HeaderScore   = "X-Cascade-Score"
	HeaderCost    = "X-Cascade-Cost-Usd"
	HeaderSavings = "X-Cascade-Savings-Usd"
	// HeaderAgreement is "agreeing/compared" second opinions of the draft.
	HeaderAgreement = "X-Cascade-Agreement"
	// HeaderBaseline is what the requested model would have cost.
	HeaderBaseline = "X-Cascade-Baseline-Usd"
	// HeaderCacheHit is the answering call's share of prompt tokens read from
	// its prompt cache.
	HeaderCacheHit = "X-Cascade-Cache-Hit-Ratio"
	// HeaderTurn says whether an Anthropic Messages request starts a user
	// turn or continues one (start, continue, unknown).
	HeaderTurn = "X-Cascade-Turn"
)

// serveRule runs a rule's cascade and writes its answer in the client's
// dialect; Recorder.Finish is told what happened and settles the accounting.
func (s *Server) serveRule(c *gin.Context, codec dialect.Codec, body []byte, rt jsonfield.Routing, rule *cascade.CompiledRule) {
	w, r := c.Writer, c.Request
	req, err := codec.DecodeRequest(body)
	if err != nil {
		writeError(w, codec, err)
		return
	}
	rec := route(c)
	eng := s.cfg.Engine
	ctx := provider.WithRequestIDs(r.Context(), &rec.UpstreamIDs)
	creq := cascade.Request{Req: req, Raw: body, RawDialect: codec.Dialect(), ModelSpan: rt.ModelSpan, Header: r.Header}
	res, err := eng.Run(ctx, rule, creq)
	if err != nil {
		// Record what was spent (the draft, a judge) even when the answer failed.
		acct := eng.Recorder.Finish(rule, rt.Model, res, nil)
		rec.Cascaded(res, acct)
		writeError(w, codec, err)
		s.answered(rule, creq, res, acct, nil)
		return
	}
	clk := clock(c)
	clk.serve(rule.Name(), res.Served)
	answerModel := rt.Model
	if rule.Rule.ResponseModel == rules.ResponseModelServed {
		answerModel = res.Served
	}
	headers := rule.Rule.WantsCascadeHeaders()
	if headers {
		h := w.Header()
		h.Set(HeaderOutcome, string(res.Outcome))
		h.Set(HeaderModel, res.Served)
		if res.Decision != nil {
			h.Set(HeaderScore, strconv.FormatFloat(res.Decision.Score, 'f', 3, 64))
		}
		if a := res.Agreement; a.Asked > 0 {
			h.Set(HeaderAgreement, strconv.Itoa(a.Agree)+"/"+strconv.Itoa(a.Compared))
		}
		if !res.Turn.Conversation.IsZero() {
			h.Set(HeaderTurn, res.Turn.Kind.String())
		}
	}
	if res.Response != nil {
		resp := res.Response
		acct := eng.Recorder.Finish(rule, rt.Model, res, nil)
		rec.Cascaded(res, acct)
		if headers {
			setCostHeaders(w.Header(), acct)
			if u, ok := res.AnswerUsage(); ok && u.CacheCreationInputTokens+u.CacheReadInputTokens > 0 {
				w.Header().Set(HeaderCacheHit, strconv.FormatFloat(u.CacheHitRatio(), 'f', 3, 64))
			}
		}
		resp.Model = answerModel
		if req.Stream {
			_ = WriteStream(r.Context(), w, codec, req, &clockTap{Stream: provider.Replay(resp.Events()), clock: clk}, nil)
			s.answered(rule, creq, res, acct, nil)
			return
		}
		out, err := codec.EncodeResponse(resp)
		if err != nil {
			writeError(w, codec, &llm.Error{Kind: llm.ErrBadGateway, Message: "cannot encode the response", Err: err})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(out); err == nil {
			clk.body(time.Now())
		}
		s.answered(rule, creq, res, acct, nil)
		return
	}
	// A live verifier stream: cost is known only at its end, so no cost headers.
	defer res.Stream.Close()
	// An escalated draft is compared with the answer the client received:
	// keep it as it passes.
	var relayed *llm.Accumulator
	if s.comparesEscalated(rule, res) {
		relayed = &llm.Accumulator{}
	}
	err = WriteStream(r.Context(), w, codec, req, &clockTap{Stream: res.Stream, clock: clk}, func(ev *llm.Event) {
		if ev.Type == llm.EventMessageStart && ev.Message != nil {
			m := *ev.Message
			m.Model = answerModel
			ev.Message = &m
		}
		if relayed != nil && relayed.Add(*ev) != nil {
			relayed = nil // not a well-formed answer: nothing to compare
		}
	})
	acct := eng.Recorder.Finish(rule, rt.Model, res, err)
	rec.Cascaded(res, acct)
	var verifier *llm.Response
	if err == nil && relayed != nil && relayed.Complete() {
		verifier = relayed.Response()
	}
	s.answered(rule, creq, res, acct, verifier)
}

// setCostHeaders reports the request's money when every price involved is known.
func setCostHeaders(h http.Header, a cascade.Accounting) {
	if a.Known {
		h.Set(HeaderCost, strconv.FormatFloat(a.ActualUSD, 'f', 8, 64))
		h.Set(HeaderSavings, strconv.FormatFloat(a.SavingsUSD, 'f', 8, 64))
		h.Set(HeaderBaseline, strconv.FormatFloat(a.BaselineUSD, 'f', 8, 64))
	}
}
