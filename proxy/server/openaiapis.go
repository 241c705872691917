package server

import (
	"fmt"
	"log/slog"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// handleOpenAIRelay serves POST /v1/responses (the Responses API; kind
// provider.PathResponses) and POST /v1/embeddings (PathEmbeddings). They
// have no Anthropic counterpart and no cascade: the request is relayed byte
// for byte (the model name rewritten when the route names another) to the
// OpenAI-type provider serving the requested model — the verifier when a
// rule names it, as for count_tokens, else the default route — and the
// answer, streamed or not, comes back byte for byte, metered from its usage
// as a pass-through request.
func (s *Server) handleOpenAIRelay(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		codec := s.codec(llm.OpenAI)
		body, rt, snap, ok := s.readRouted(c, codec)
		if !ok {
			return
		}
		rec := route(c)
		var p *provider.Client
		model := ""
		if rule := snap.Index.Match(rt.Model); rule != nil {
			p, model = ruleVerifier(snap, rule)
			rec.Rule = rule.Name
		} else if dr := snap.Rules.DefaultRoute; dr != nil {
			p, model = snap.Provider(dr.Provider), dr.Model
		} else {
			writeError(c.Writer, codec, modelNotFound(rt.Model))
			return
		}
		if p.Dialect() != llm.OpenAI {
			writeError(c.Writer, codec, &llm.Error{Kind: llm.ErrInvalidRequest, Param: "model", Message: fmt.Sprintf(
				"model %q is served by provider %s, which speaks the Anthropic Messages API; %s needs an OpenAI-type provider",
				rt.Model, p.Name(), c.FullPath())})
			return
		}
		out := llm.BodyOf(body)
		if model != "" && model != rt.Model {
			// The model is spliced in: the client's bytes are sent, not a copy.
			out = jsonfield.SpliceString(body, body, rt.ModelSpan, "model", model)
		} else {
			model = rt.Model
		}
		rec.Outcome, rec.Served = "passthrough", model
		s.m.RouteRequests.WithLabelValues("", "passthrough").Inc()
		metered := s.meteredName(snap, model)
		if kind == provider.PathResponses { // embeddings have no tokens to wait for
			clock(c).serve("", metered)
		}
		s.relay(c, codec, p, kind, out, s.passthroughMeter(c, snap, model, metered), false)
	}
}

// passthroughMeter records a pass-through answer's usage: tokens and cost
// under the bounded name metered (rule ""), and for the access log.
func (s *Server) passthroughMeter(c *gin.Context, snap *snapshot.Snapshot, model, metered string) func(llm.Usage) {
	rec := route(c)
	return func(u llm.Usage) {
		s.cfg.Engine.Recorder.Passthrough(snap.Compiled.Prices, metered, u)
		rec.Usage = u
		if s.log.Enabled(c.Request.Context(), slog.LevelInfo) { // only the access log reads it
			rec.CostUSD, rec.CostKnown = snap.Compiled.Prices.Cost(model, u)
		}
	}
}
