package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// errNoRules answers requests that arrive before the first rules load.
var errNoRules = &llm.Error{Kind: llm.ErrOverloaded, Status: http.StatusServiceUnavailable, Message: "the proxy has no rules loaded yet"}

// readRouted reads a model request: its body, what routing needs from it,
// and the rules snapshot to serve it with. On failure it has answered the
// client in codec's format and returns ok false.
func (s *Server) readRouted(c *gin.Context, codec dialect.Codec) (body []byte, rt jsonfield.Routing, snap *snapshot.Snapshot, ok bool) {
	body, err := s.readBody(c.Writer, c.Request)
	if err == nil {
		rt, err = routing(codec, body)
	}
	if err == nil {
		route(c).Model = rt.Model
		if snap = s.cfg.Store.Load(); snap == nil {
			err = errNoRules
		}
	}
	if err != nil {
		writeError(c.Writer, codec, err)
		return nil, rt, nil, false
	}
	return body, rt, snap, true
}

// handleChat serves POST /v1/messages (Anthropic) and /v1/chat/completions (OpenAI).
func (s *Server) handleChat(d llm.Dialect) gin.HandlerFunc {
	return func(c *gin.Context) {
		codec := s.codec(d)
		body, rt, snap, ok := s.readRouted(c, codec)
		if !ok {
			return
		}
		rule := snap.Rule(rt.Model)
		lease, ok := s.admit(c, d, body, rt.Model, snap, rule)
		if !ok {
			return
		}
		defer s.commit(c, lease) // after the answer, a stream's included
		if rule != nil {
			route(c).Rule = rule.Name()
			s.serveRule(c, codec, body, rt, rule)
			return
		}
		s.passThrough(c, codec, body, rt, snap)
	}
}

// passThrough serves a model no rule names through the default route: bytes
// in, bytes out when the provider speaks the client's dialect, translated
// through the canonical model otherwise. Either way the usage is metered.
// When the call fails before its answer began, the route's fallbacks are
// tried in order; X-Cascade-Model then names the model that answered.
func (s *Server) passThrough(c *gin.Context, codec dialect.Codec, body []byte, rt jsonfield.Routing, snap *snapshot.Snapshot) {
	dr := snap.Rules.DefaultRoute
	if dr == nil {
		writeError(c.Writer, codec, modelNotFound(rt.Model))
		return
	}
	route(c).Outcome = "passthrough"
	s.m.RouteRequests.WithLabelValues("", "passthrough").Inc()
	model := rt.Model
	if dr.Model != "" {
		model = dr.Model
	}
	targets := append([]rules.Fallback{{Provider: dr.Provider, Model: model}}, dr.Fallbacks...)
	for i, t := range targets {
		if i > 0 {
			s.log.Info("falling back", "target", "default", "provider", t.Provider, "model", t.Model)
			s.m.Fallbacks.WithLabelValues("", "default", t.Model).Inc()
		}
		if len(targets) > 1 {
			c.Writer.Header().Set(HeaderModel, t.Model)
		}
		err := s.passThroughTo(c, codec, body, rt, snap, t, model)
		if err == nil {
			return
		}
		if i == len(targets)-1 || c.Request.Context().Err() != nil || !resilience.FallBack(err) {
			c.Writer.Header().Del(HeaderModel)
			writeError(c.Writer, codec, err)
			return
		}
	}
}

// passThroughTo serves a default-route request with target t (the route's
// own model, owner, or a fallback). A call that fails before its answer
// began is returned, not written.
func (s *Server) passThroughTo(c *gin.Context, codec dialect.Codec, body []byte, rt jsonfield.Routing, snap *snapshot.Snapshot, t rules.Fallback, owner string) error {
	model := t.Model
	metered := s.meteredName(snap, model) // a bounded metric label
	rec := route(c)
	rec.Served = model
	clock(c).serve("", metered)
	meter := func(u llm.Usage) {
		s.cfg.Engine.Recorder.Passthrough(snap.Compiled.Prices, metered, u)
		rec.Usage = u
		if s.cfg.Limiter != nil || s.log.Enabled(c.Request.Context(), slog.LevelInfo) { // only the access log and the limits read it
			rec.CostUSD, rec.CostKnown = snap.Compiled.Prices.Cost(model, u)
		}
	}
	p := snap.Provider(t.Provider)
	if p.Dialect() == codec.Dialect() {
		edited, hideUsage := body, false
		switch {
		case p.Dialect() == llm.Anthropic:
			// A session that once went through a cascade may carry draft-signed thinking blocks.
			edited = cascade.ThinkingForTarget(body, model, owner)
		case rt.Stream && !openai.WantsStreamUsage(body):
			// Ask for the usage chunk to meter the stream; the client, which did not, never sees it.
			edited, hideUsage = openai.WithStreamUsage(body), true
		}
		out := llm.BodyOf(edited)
		if model != rt.Model {
			// The model is spliced in: the client's bytes are sent, not a copy.
			out = jsonfield.SpliceString(body, edited, rt.ModelSpan, "model", model)
		}
		return s.relayAnswer(c, codec, p, provider.PathMessages, out, meter, hideUsage)
	}
	req, err := codec.DecodeRequest(body)
	if err != nil {
		return err
	}
	req.Model = model
	return s.translateAnswer(c, codec, p, req, meter)
}

func modelNotFound(model string) *llm.Error {
	return &llm.Error{Kind: llm.ErrNotFound, Param: "model", Message: fmt.Sprintf("model %q is not served by this proxy (no rule names it and no default route is configured)", model)}
}

// routing reads model and stream without decoding the body; a body that is
// not valid JSON, or has no model, gets the codec's precise error.
func routing(codec dialect.Codec, body []byte) (jsonfield.Routing, error) {
	if !json.Valid(body) {
		if _, err := codec.DecodeRequest(body); err != nil {
			return jsonfield.Routing{}, err
		}
		return jsonfield.Routing{}, &llm.Error{Kind: llm.ErrInvalidRequest, Message: "request body is not valid JSON"}
	}
	rt, err := jsonfield.ReadRouting(body)
	if err != nil {
		return rt, &llm.Error{Kind: llm.ErrInvalidRequest, Message: err.Error(), Param: paramOf(err.Error())}
	}
	if !rt.HasModel || rt.Model == "" {
		return rt, &llm.Error{Kind: llm.ErrInvalidRequest, Param: "model", Message: "model: field required"}
	}
	return rt, nil
}

func paramOf(msg string) string {
	if i := strings.IndexByte(msg, ':'); i > 0 && !strings.Contains(msg[:i], " ") {
		return msg[:i]
	}
	return ""
}

// translateAnswer serves a client through a provider of the other
// dialect. A call that fails before its answer began is returned, not
// written: the caller may try a fallback.
func (s *Server) translateAnswer(c *gin.Context, codec dialect.Codec, p *provider.Client, req *llm.Request, onUsage func(llm.Usage)) error {
	w, r := c.Writer, c.Request
	if p.Dialect() != llm.Anthropic {
		llm.StripBillingHeader(req)
	}
	ctx := provider.WithRequestIDs(r.Context(), &route(c).UpstreamIDs)
	if !req.Stream {
		resp, err := p.Complete(ctx, req, nil, r.Header)
		if err != nil {
			s.upstreamFailed(p, err)
			return err
		}
		onUsage(resp.Usage)
		out, err := codec.EncodeResponse(resp)
		if err != nil {
			writeError(w, codec, &llm.Error{Kind: llm.ErrBadGateway, Message: "cannot translate the upstream response", Err: err})
			return nil
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(out); err == nil {
			clock(c).body(time.Now())
		}
		return nil
	}
	stream, err := p.Stream(ctx, req, nil, r.Header)
	if err != nil {
		s.upstreamFailed(p, err)
		return err
	}
	defer stream.Close()
	tap := &usageTap{Stream: stream}
	if err := WriteStream(r.Context(), w, codec, req, &clockTap{Stream: tap, clock: clock(c)}, nil); err != nil {
		s.upstreamFailed(p, err)
	}
	if tap.usage != (llm.Usage{}) {
		onUsage(tap.usage)
	}
	return nil
}

func (s *Server) upstreamFailed(p *provider.Client, err error) {
	e := llm.AsError(err)
	if e.Kind == llm.ErrCanceled {
		return
	}
	s.m.UpstreamErrors.WithLabelValues(p.Name(), string(e.Kind)).Inc()
}

// ruleVerifier returns the provider and model serving a rule's verifier.
func ruleVerifier(snap *snapshot.Snapshot, rule *rules.Rule) (*provider.Client, string) {
	return snap.Provider(rule.Verifier.Provider), rule.Verifier.Model
}
