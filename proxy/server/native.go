package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
	"github.com/cascadeflow/cascadeflow-operator/proxy/sse"
)

// The native API of the original CascadeFlow FastAPI example
// (examples/fastapi_integration.py): POST /api/query, GET /api/query/stream,
// GET and DELETE /api/stats. It is served by the same engine as the vendor
// APIs. A query runs the rule named by its optional "model" field (any of
// the rule's model names), else the first rule of the rules file.

// nativeQuery is the request body of POST /api/query.
type nativeQuery struct {
	Query       string   `json:"query"`
	MaxTokens   *int     `json:"max_tokens"`
	Temperature *float64 `json:"temperature"`
	ForceDirect bool     `json:"force_direct"`
	Model       string   `json:"model"`
}

// nativeAnswer is the response body of POST /api/query.
type nativeAnswer struct {
	Content       string  `json:"content"`
	ModelUsed     string  `json:"model_used"`
	Cost          float64 `json:"cost"`
	LatencyMS     float64 `json:"latency_ms"`
	Cascaded      bool    `json:"cascaded"`
	DraftAccepted *bool   `json:"draft_accepted"`
	Complexity    *string `json:"complexity"`
}

// nativeError answers like FastAPI: {"detail": "..."}.
func nativeError(c *gin.Context, status int, msg string) {
	c.JSON(status, gin.H{"detail": msg})
}

// validate applies the example's bounds and defaults.
func (q *nativeQuery) validate() error {
	if q.Query == "" || len(q.Query) > 2000 {
		return errors.New("query: must be 1 to 2000 characters")
	}
	if q.MaxTokens == nil {
		q.MaxTokens = ptr(100)
	} else if *q.MaxTokens < 1 || *q.MaxTokens > 4000 {
		return errors.New("max_tokens: must be between 1 and 4000")
	}
	if q.Temperature == nil {
		q.Temperature = ptr(0.7)
	} else if t := *q.Temperature; t < 0 || t > 2 || math.IsNaN(t) {
		return errors.New("temperature: must be between 0 and 2")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func (s *Server) handleNativeQuery(c *gin.Context) {
	body, err := s.readBody(c.Writer, c.Request)
	if err != nil {
		nativeError(c, llm.AsError(err).HTTPStatus(), llm.AsError(err).Message)
		return
	}
	var q nativeQuery
	if err := json.Unmarshal(body, &q); err != nil {
		nativeError(c, http.StatusUnprocessableEntity, "body must be a JSON object with a string field query")
		return
	}
	if err := q.validate(); err != nil {
		nativeError(c, http.StatusUnprocessableEntity, err.Error())
		return
	}
	s.runNative(c, q, false)
}

func (s *Server) handleNativeStream(c *gin.Context) {
	q := nativeQuery{Query: c.Query("query"), Model: c.Query("model"), ForceDirect: c.Query("force_direct") == "true"}
	if v := c.Query("max_tokens"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			nativeError(c, http.StatusUnprocessableEntity, "max_tokens: must be an integer")
			return
		}
		q.MaxTokens = &n
	}
	if v := c.Query("temperature"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			nativeError(c, http.StatusUnprocessableEntity, "temperature: must be a number")
			return
		}
		q.Temperature = &f
	}
	if err := q.validate(); err != nil {
		nativeError(c, http.StatusUnprocessableEntity, err.Error())
		return
	}
	s.runNative(c, q, true)
}

// nativeRule picks the rule a native query runs.
func nativeRule(snap *snapshot.Snapshot, model string) *cascade.CompiledRule {
	if model != "" {
		return snap.Rule(model)
	}
	if len(snap.Compiled.Rules) > 0 {
		return snap.Compiled.Rules[0]
	}
	return nil
}

func (s *Server) runNative(c *gin.Context, q nativeQuery, stream bool) {
	snap := s.cfg.Store.Load()
	if snap == nil {
		nativeError(c, http.StatusServiceUnavailable, "no rules loaded")
		return
	}
	rule := nativeRule(snap, q.Model)
	if rule == nil {
		nativeError(c, http.StatusNotFound, "no rule serves this query: the rules file has no rules, or none names the given model")
		return
	}
	rec := route(c)
	rec.Rule = rule.Name()
	requested := rule.Rule.Models[0]
	req := &llm.Request{
		Model: requested, MaxTokens: *q.MaxTokens, Temperature: q.Temperature, Stream: stream,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: q.Query}}}},
	}
	ctx := provider.WithRequestIDs(c.Request.Context(), &rec.UpstreamIDs)
	recorder := s.cfg.Engine.Recorder
	creq := cascade.Request{Req: req, Header: http.Header{}, VerifierOnly: q.ForceDirect}
	res, err := s.cfg.Engine.Run(ctx, rule, creq)
	if err != nil {
		acct := recorder.Finish(rule, requested, res, nil)
		rec.Outcome = string(res.Outcome)
		e := llm.AsError(err)
		nativeError(c, e.HTTPStatus(), e.Message)
		s.answered(rule, creq, res, acct, nil)
		return
	}
	if !stream {
		acct := recorder.Finish(rule, requested, res, nil)
		rec.Outcome = string(res.Outcome)
		c.JSON(http.StatusOK, answer(res, res.Response.Text(), acct))
		s.answered(rule, creq, res, acct, nil)
		return
	}
	out := sse.NewWriter(c.Writer)
	send := func(v any) error {
		b, _ := json.Marshal(v)
		_, err := out.Write(append(append([]byte("data: "), b...), '\n', '\n'))
		if err != nil {
			return &llm.Error{Kind: llm.ErrCanceled, Message: "client went away", Err: err}
		}
		return nil
	}
	var text string
	var acct cascade.Accounting
	var streamed *llm.Response
	defer func() { s.answered(rule, creq, res, acct, streamed) }()
	if res.Response != nil {
		text = res.Response.Text()
		acct = recorder.Finish(rule, requested, res, nil)
		rec.Outcome = string(res.Outcome)
		if err := send(gin.H{"type": "chunk", "content": text, "data": gin.H{"model": res.Served}}); err != nil {
			return
		}
	} else {
		defer res.Stream.Close()
		var err error
		text, err = relayNativeText(ctx, res.Stream, func(chunk string) error {
			return send(gin.H{"type": "chunk", "content": chunk, "data": gin.H{"model": res.Served}})
		})
		acct = recorder.Finish(rule, requested, res, err)
		rec.Outcome = string(res.Outcome)
		if err == nil {
			streamed = &llm.Response{Content: []llm.Block{{Type: llm.BlockText, Text: text}}}
		}
		if err != nil {
			if llm.AsError(err).Kind != llm.ErrCanceled {
				_ = send(gin.H{"type": "error", "content": llm.AsError(err).Message})
			}
			return
		}
	}
	a := answer(res, text, acct)
	_ = send(gin.H{"type": "complete", "content": "", "data": gin.H{"result": gin.H{
		"content": a.Content, "model_used": a.ModelUsed, "total_cost": a.Cost, "latency_ms": a.LatencyMS,
		"cascaded": a.Cascaded, "draft_accepted": a.DraftAccepted, "complexity": a.Complexity}}})
}

// relayNativeText sends each text delta of a stream and returns the whole
// text, and the error that stopped it (nil: the stream was read to its end).
func relayNativeText(ctx context.Context, st llm.Stream, chunk func(string) error) (string, error) {
	var all []byte
	for {
		ev, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return string(all), nil
		}
		if err != nil {
			return string(all), err
		}
		if ev.Type == llm.EventBlockDelta && ev.Delta != nil && ev.Delta.Type == llm.DeltaText && ev.Delta.Text != "" {
			all = append(all, ev.Delta.Text...)
			if err := chunk(ev.Delta.Text); err != nil {
				return string(all), err
			}
		}
	}
}

func answer(res *cascade.Result, text string, acct cascade.Accounting) nativeAnswer {
	a := nativeAnswer{Content: text, ModelUsed: res.Served, Cost: acct.ActualUSD,
		LatencyMS: float64(time.Since(res.Started).Microseconds()) / 1000}
	switch res.Outcome {
	case cascade.Accepted:
		a.Cascaded, a.DraftAccepted = true, ptr(true)
	case cascade.Escalated:
		a.Cascaded, a.DraftAccepted = true, ptr(false)
	}
	if res.Decision != nil {
		a.Complexity = ptr(res.Decision.Complexity.Level)
	}
	return a
}

var startTime = time.Now()

// statsSessions is how many sessions /api/stats lists, newest first.
const statsSessions = 100

// handleStats serves GET /api/stats: the example's totals plus per-rule
// aggregates. They cover this process only; with several replicas, sum the
// Prometheus metrics instead.
func (s *Server) handleStats(c *gin.Context) {
	per := s.cfg.Engine.Recorder.Stats()
	var total, cascaded int64
	var cost, latency float64
	models := map[string]int64{}
	for _, r := range per {
		total += r.Requests
		cascaded += r.Outcomes[cascade.Accepted] + r.Outcomes[cascade.Escalated]
		cost += r.CostUSD
		for o, l := range r.Latency {
			latency += l * float64(r.Outcomes[o])
		}
		for m, n := range r.Served {
			models[m] += n
		}
	}
	avg := 0.0
	if total > 0 {
		avg = latency / float64(total) * 1000
	}
	out := gin.H{
		"total_queries": total, "total_cost": cost, "avg_latency_ms": avg, "cascade_used_count": cascaded,
		"models_used": models, "uptime_seconds": time.Since(startTime).Seconds(), "rules": per,
		"quality": s.qualityStats(),
		// The most recently active conversations (Anthropic Messages requests of a rule).
		"sessions": s.cfg.Engine.Recorder.Sessions(statsSessions),
	}
	if s.cfg.Limiter != nil {
		out["clients"], out["budgets"] = s.clientStats(c.Request.Context())
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) handleStatsReset(c *gin.Context) {
	s.cfg.Engine.Recorder.Reset()
	if s.cfg.Auditor != nil {
		s.cfg.Auditor.Reset()
	}
	c.JSON(http.StatusOK, gin.H{"message": "Stats reset successfully"})
}
