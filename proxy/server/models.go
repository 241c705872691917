package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/snapshot"
)

// modelEntry is one model the proxy can serve.
type modelEntry struct {
	ID      string
	Display string
}

// listModels merges the rules' requested model names with the default
// route's upstream list (fetched under a short deadline; skipped on failure).
func (s *Server) listModels(ctx context.Context, snap *snapshot.Snapshot, h http.Header) []modelEntry {
	seen := map[string]bool{}
	var out []modelEntry
	for _, r := range snap.Rules.Rules {
		for _, m := range r.Models {
			if !seen[m] {
				seen[m] = true
				out = append(out, modelEntry{ID: m, Display: m + " (cascade: " + r.Name + ")"})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if dr := snap.Rules.DefaultRoute; dr != nil {
		if p := snap.Provider(dr.Provider); p != nil {
			ctx, cancel := context.WithTimeout(ctx, s.cfg.ModelsTimeout)
			defer cancel()
			for _, id := range upstreamModels(ctx, p, h) {
				if !seen[id] {
					seen[id] = true
					out = append(out, modelEntry{ID: id, Display: id})
				}
			}
		}
	}
	return out
}

func upstreamModels(ctx context.Context, p *provider.Client, h http.Header) []string {
	url := p.URL(provider.PathModels, "")
	if p.Dialect() == llm.Anthropic {
		url += "?limit=1000"
	}
	resp, stop, err := p.Send(ctx, http.MethodGet, url, nil, h)
	if err != nil {
		return nil
	}
	defer stop()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&list); err != nil {
		return nil
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// handleModels serves GET /v1/models in the caller's dialect (Anthropic when
// it sends anthropic-version or x-api-key), honouring ?limit=.
func (s *Server) handleModels(c *gin.Context) {
	d := clientDialect(c.Request.Header)
	snap := s.cfg.Store.Load()
	if snap == nil {
		writeError(c.Writer, s.codec(d), errNoRules)
		return
	}
	models := s.listModels(c.Request.Context(), snap, c.Request.Header)
	if after := c.Query("after_id"); after != "" {
		for i, m := range models {
			if m.ID == after {
				models = models[i+1:]
				break
			}
		}
	}
	hasMore := false
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(c.Writer, s.codec(d), &llm.Error{Kind: llm.ErrInvalidRequest, Param: "limit", Message: "limit: must be a positive integer"})
			return
		}
		if n < len(models) {
			models, hasMore = models[:n], true
		}
	}
	if d == llm.Anthropic {
		data := make([]gin.H, 0, len(models))
		for _, m := range models {
			data = append(data, anthropicModel(m))
		}
		var first, last any
		if len(models) > 0 {
			first, last = models[0].ID, models[len(models)-1].ID
		}
		c.JSON(http.StatusOK, gin.H{"data": data, "has_more": hasMore, "first_id": first, "last_id": last})
		return
	}
	data := make([]gin.H, 0, len(models))
	for _, m := range models {
		data = append(data, openAIModel(m))
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": data})
}

// handleModel serves GET /v1/models/{id}.
func (s *Server) handleModel(c *gin.Context) {
	d := clientDialect(c.Request.Header)
	id := c.Param("id")
	snap := s.cfg.Store.Load()
	if snap == nil {
		writeError(c.Writer, s.codec(d), errNoRules)
		return
	}
	for _, m := range s.listModels(c.Request.Context(), snap, c.Request.Header) {
		if strings.EqualFold(m.ID, id) {
			if d == llm.Anthropic {
				c.JSON(http.StatusOK, anthropicModel(m))
			} else {
				c.JSON(http.StatusOK, openAIModel(m))
			}
			return
		}
	}
	writeError(c.Writer, s.codec(d), modelNotFound(id))
}

// epoch is the creation time reported for models: the API requires one.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func anthropicModel(m modelEntry) gin.H {
	return gin.H{"type": "model", "id": m.ID, "display_name": m.Display, "created_at": epoch.Format(time.RFC3339)}
}

func openAIModel(m modelEntry) gin.H {
	return gin.H{"id": m.ID, "object": "model", "created": epoch.Unix(), "owned_by": "cascadeflow"}
}
