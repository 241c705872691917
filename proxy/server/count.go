package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tokencount"
)

// handleCountTokens serves POST /v1/messages/count_tokens: forwarded to the
// Anthropic provider that serves the requested model (a rule's verifier, or
// the default route); estimated locally, never low, when that provider is
// not Anthropic.
func (s *Server) handleCountTokens(c *gin.Context) {
	codec := s.codec(llm.Anthropic)
	w := c.Writer
	body, rt, snap, ok := s.readRouted(c, codec)
	if !ok {
		return
	}
	var p *provider.Client
	model := ""
	if rule := snap.Index.Match(rt.Model); rule != nil {
		p, model = ruleVerifier(snap, rule)
		route(c).Rule = rule.Name
	} else if dr := snap.Rules.DefaultRoute; dr != nil {
		p, model = snap.Provider(dr.Provider), dr.Model
	} else {
		writeError(w, codec, modelNotFound(rt.Model))
		return
	}
	if p.Dialect() == llm.Anthropic {
		rename := model != "" && model != rt.Model
		if !rename {
			model = rt.Model
		}
		// Thinking blocks a cascade marked go out as the vendor issued them, or not at all.
		edited := cascade.ThinkingForModel(body, model)
		out := llm.BodyOf(edited)
		if rename {
			out = jsonfield.SpliceString(body, edited, rt.ModelSpan, "model", model)
		}
		s.relay(c, codec, p, provider.PathCountTokens, out, nil, false)
		return
	}
	req, err := codec.DecodeRequest(withMaxTokens(body))
	if err != nil {
		writeError(w, codec, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"input_tokens": tokencount.Estimate(req)})
}

// withMaxTokens adds max_tokens, which count_tokens requests do not carry
// but the Messages request decoder requires.
func withMaxTokens(body []byte) []byte {
	has := false
	_ = jsonfield.Members(body, func(k []byte, _ jsonfield.Span) bool {
		has = string(k) == "max_tokens"
		return !has
	})
	if has {
		return body
	}
	// body is a valid object (routing checked it): insert after the opening brace.
	i := 0
	for i < len(body) && body[i] != '{' {
		i++
	}
	out := make([]byte, 0, len(body)+20)
	out = append(out, body[:i+1]...)
	out = append(out, `"max_tokens":1,`...)
	return append(out, body[i+1:]...)
}
