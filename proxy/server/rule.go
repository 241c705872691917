package server

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// Response headers that show what the cascade did (optional per rule).
const (
	HeaderOutcome = "X-Cascade-Outcome"
	HeaderModel   = "X-Cascade-Model"
	HeaderScore   = "X-Cascade-Score"
	HeaderCost    = "X-Cascade-Cost-Usd"
	HeaderSavings = "X-Cascade-Savings-Usd"
)

// providers adapts a snapshot to the cascade's provider lookup.
func providers(snap *snapshot.Snapshot) cascade.Lookup {
	return func(name string) cascade.Provider {
		if p := snap.Provider(name); p != nil {
			return p
		}
		return nil
	}
}

// serveRule runs a rule's cascade and writes its answer in the client's dialect.
func (s *Server) serveRule(c *gin.Context, codec dialect.Codec, body []byte, rt jsonfield.Routing, rule *rules.Rule, snap *snapshot.Snapshot) {
	w, r := c.Writer, c.Request
	req, err := codec.DecodeRequest(body)
	if err != nil {
		writeError(w, codec, err)
		return
	}
	rec := route(c)
	eng := s.cfg.Engine
	res, err := eng.Run(r.Context(), snap.Rules, rule, providers(snap), cascade.Request{
		Req: req, Raw: body, RawDialect: codec.Dialect(), ModelSpan: rt.ModelSpan, Header: r.Header,
	})
	if err != nil {
		rec.Outcome = string(cascade.Failed)
		if res != nil {
			// Record what was spent (the draft, a judge) even when the answer failed.
			res.Outcome = cascade.Failed
			rec.Cascaded(res, llm.Usage{}, eng.Recorder.Finish(snap.Rules, rule, rt.Model, res, llm.Usage{}))
			if kind := llm.AsError(err).Kind; kind != llm.ErrCanceled {
				s.m.UpstreamErrors.WithLabelValues(res.Served, string(kind)).Inc()
			}
		}
		writeError(w, codec, err)
		return
	}
	rec.Outcome = string(res.Outcome)
	answerModel := rt.Model
	if rule.ResponseModel == rules.ResponseModelServed {
		answerModel = res.Served
	}
	headers := rule.WantsCascadeHeaders()
	if headers {
		h := w.Header()
		h.Set(HeaderOutcome, string(res.Outcome))
		h.Set(HeaderModel, res.Served)
		if res.Decision != nil {
			h.Set(HeaderScore, strconv.FormatFloat(res.Decision.Score, 'f', 3, 64))
		}
	}
	if res.Response != nil {
		resp := res.Response
		verifierUsage := llm.Usage{}
		if res.Outcome != cascade.Accepted && res.Outcome != cascade.DraftOnly {
			verifierUsage = resp.Usage
		}
		acct := eng.Recorder.Finish(snap.Rules, rule, rt.Model, res, verifierUsage)
		rec.Cascaded(res, verifierUsage, acct)
		if headers {
			setCostHeaders(w.Header(), acct)
		}
		resp.Model = answerModel
		if req.Stream {
			_ = WriteStream(r.Context(), w, codec, req, provider.Replay(resp.Events()), nil)
			return
		}
		out, err := codec.EncodeResponse(resp)
		if err != nil {
			writeError(w, codec, &llm.Error{Kind: llm.ErrBadGateway, Message: "cannot encode the response", Err: err})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return
	}
	// A live verifier stream: cost is known only at its end, so no cost headers.
	tap := &usageTap{Stream: res.Stream}
	defer res.Stream.Close()
	_ = WriteStream(r.Context(), w, codec, req, tap, func(ev *llm.Event) {
		if ev.Type == llm.EventMessageStart && ev.Message != nil {
			m := *ev.Message
			m.Model = answerModel
			ev.Message = &m
		}
	})
	rec.Cascaded(res, tap.usage, eng.Recorder.Finish(snap.Rules, rule, rt.Model, res, tap.usage))
}

// setCostHeaders reports the request's money when every price involved is known.
func setCostHeaders(h http.Header, a cascade.Accounting) {
	if a.Known {
		h.Set(HeaderCost, strconv.FormatFloat(a.ActualUSD, 'f', 8, 64))
		h.Set(HeaderSavings, strconv.FormatFloat(a.SavingsUSD, 'f', 8, 64))
	}
}
