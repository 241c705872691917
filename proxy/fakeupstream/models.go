package fakeupstream

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// anthropicModel is a ModelInfo object ("Models" API reference: type "model",
// id, display_name, created_at as RFC 3339).
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// anthropicModelPage is the paginated list: data, has_more, first_id, last_id
// (ids are null on an empty page).
type anthropicModelPage struct {
	Data    []anthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID *string          `json:"first_id"`
	LastID  *string          `json:"last_id"`
}

// openAIModel is OpenAI's model object (id, object "model", created,
// owned_by); the list wraps it as {"object":"list","data":[...]}.
type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type openAIModelList struct {
	Object string        `json:"object"`
	Data   []openAIModel `json:"data"`
}

// modelEpoch dates the catalogue: model i was "created" i days before it, so
// the list is newest first, as both vendors order it.
var modelEpoch = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func (s *Server) modelCreated(i int) time.Time {
	return modelEpoch.AddDate(0, 0, -i)
}

func (x *exchange) serveModelList() {
	models := x.srv.models
	if x.rec.Dialect == DialectOpenAI {
		list := openAIModelList{Object: "list", Data: make([]openAIModel, len(models))}
		for i, id := range models {
			list.Data[i] = x.srv.openAIModel(i, id)
		}
		x.writeModelJSON(list)
		return
	}
	// Anthropic pagination: limit 1..1000 (default 20), after_id / before_id
	// cursors; has_more says whether more lie in the direction of travel.
	q := x.rec.Query
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			x.fail(http.StatusBadRequest, "limit: Input should be greater than or equal to 1 and less than or equal to 1000")
			return
		}
		limit = n
	}
	var start, end int
	var hasMore bool
	if before := q.Get("before_id"); before != "" {
		end = max(slices.Index(models, before), 0)
		start = max(end-limit, 0)
		hasMore = start > 0
	} else {
		if after := q.Get("after_id"); after != "" {
			if i := slices.Index(models, after); i >= 0 {
				start = i + 1
			} else {
				start = len(models)
			}
		}
		end = min(start+limit, len(models))
		hasMore = end < len(models)
	}
	page := anthropicModelPage{Data: make([]anthropicModel, 0, end-start), HasMore: hasMore}
	for i := start; i < end; i++ {
		page.Data = append(page.Data, x.srv.anthropicModel(i, models[i]))
	}
	if n := len(page.Data); n > 0 {
		page.FirstID, page.LastID = &page.Data[0].ID, &page.Data[n-1].ID
	}
	x.writeModelJSON(page)
}

func (x *exchange) serveModel() {
	id := x.rec.Model
	i := slices.Index(x.srv.models, id)
	if i < 0 {
		if x.rec.Dialect == DialectOpenAI {
			x.writeJSON(http.StatusNotFound, openAIErrorBody(http.StatusNotFound,
				"The model `"+id+"` does not exist or you do not have access to it.", "model", "model_not_found"))
			return
		}
		x.fail(http.StatusNotFound, "model: "+id)
		return
	}
	if x.rec.Dialect == DialectOpenAI {
		x.writeModelJSON(x.srv.openAIModel(i, id))
		return
	}
	x.writeModelJSON(x.srv.anthropicModel(i, id))
}

func (x *exchange) writeModelJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		x.fail(http.StatusInternalServerError, "encode models: "+err.Error())
		return
	}
	x.writeJSON(http.StatusOK, b)
}

func (s *Server) anthropicModel(i int, id string) anthropicModel {
	return anthropicModel{Type: "model", ID: id, DisplayName: displayName(id), CreatedAt: s.modelCreated(i).Format(time.RFC3339)}
}

func (s *Server) openAIModel(i int, id string) openAIModel {
	owner := "openai"
	if strings.HasPrefix(id, "claude") {
		owner = "anthropic"
	}
	return openAIModel{ID: id, Object: "model", Created: s.modelCreated(i).Unix(), OwnedBy: owner}
}

// displayName makes a human name from an id: "claude-sonnet-4-5-20250929"
// becomes "Claude Sonnet 4.5" (date dropped, version parts joined by dots).
func displayName(id string) string {
	parts := strings.Split(ModelFamily(id), "-")
	var words []string
	for _, p := range parts {
		if p == "" {
			continue
		}
		if isNumber(p) && len(words) > 0 && isNumber(lastVersionPart(words[len(words)-1])) {
			words[len(words)-1] += "." + p
			continue
		}
		words = append(words, strings.ToUpper(p[:1])+p[1:])
	}
	return strings.Join(words, " ")
}

func lastVersionPart(w string) string {
	if i := strings.LastIndexByte(w, '.'); i >= 0 {
		return w[i+1:]
	}
	return w
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
