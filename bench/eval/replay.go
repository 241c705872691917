package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
)

// replayUpstream is an OpenAI-compatible /v1/chat/completions server that
// answers each prompt of the data with its recorded answer: the draft's text
// for the draft model, the verifier's for the verifier model. Usage is
// estimated with evaldata.EstimateTokens. It streams when asked, as OpenAI does
// (a role chunk, content chunks, a finish chunk, a usage chunk only with
// stream_options.include_usage, then [DONE]).
type replayUpstream struct {
	byPrompt map[string]*evaldata.Row
	apiKey   string

	mu     sync.Mutex
	calls  map[string]int // by model
	misses int            // requests whose prompt or model is not in the data
}

func newReplayUpstream(rows []evaldata.Row, apiKey string) (*replayUpstream, error) {
	u := &replayUpstream{byPrompt: make(map[string]*evaldata.Row, len(rows)), apiKey: apiKey, calls: map[string]int{}}
	for i := range rows {
		k := promptKey(rows[i].Messages)
		if prev, ok := u.byPrompt[k]; ok {
			return nil, fmt.Errorf("replay: rows %s and %s have the same messages", prev.ID, rows[i].ID)
		}
		u.byPrompt[k] = &rows[i]
	}
	return u, nil
}

// promptKey identifies a prompt by its roles and texts.
func promptKey(msgs []evaldata.Message) string {
	h := sha256.New()
	for _, m := range msgs {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x1e", m.Role, len(m.Content), m.Content)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// chatRequest is the part of an OpenAI chat completions request the replay reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// messages returns the request's messages as text (string content, or the
// text parts of an array content joined).
func (r *chatRequest) messages() ([]evaldata.Message, error) {
	out := make([]evaldata.Message, 0, len(r.Messages))
	for i, m := range r.Messages {
		var s string
		if err := json.Unmarshal(m.Content, &s); err != nil {
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				return nil, fmt.Errorf("message %d: content is neither a string nor text parts", i)
			}
			var b strings.Builder
			for _, p := range parts {
				if p.Type == "text" {
					b.WriteString(p.Text)
				}
			}
			s = b.String()
		}
		out = append(out, evaldata.Message{Role: m.Role, Content: s})
	}
	return out, nil
}

func (u *replayUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		writeOpenAIError(w, http.StatusNotFound, "not_found_error", "only POST /v1/chat/completions is served")
		return
	}
	if u.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+u.apiKey {
		writeOpenAIError(w, http.StatusUnauthorized, "invalid_request_error", "missing or wrong API key")
		return
	}
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "invalid JSON body")
		return
	}
	msgs, err := req.messages()
	if err != nil {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	rw, text, ok := u.lookup(req.Model, msgs)
	if !ok {
		writeOpenAIError(w, http.StatusNotFound, "not_found_error", "no recorded answer for this model and prompt")
		return
	}
	usage := map[string]int{"prompt_tokens": evaldata.PromptTokens(msgs), "completion_tokens": evaldata.EstimateTokens(text)}
	usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
	id := "chatcmpl-replay-" + rw.ID
	created := time.Now().Unix()
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{
				"index": 0, "message": map[string]any{"role": "assistant", "content": text, "refusal": nil},
				"logprobs": nil, "finish_reason": "stop",
			}},
			"usage": usage,
		})
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	chunk := func(choices []any, usage any) {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model, "choices": choices}
		if includeUsage {
			c["usage"] = usage // null on every chunk but the last, as OpenAI sends
		}
		b, _ := json.Marshal(c)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	delta := func(d map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": d, "logprobs": nil, "finish_reason": finish}}
	}
	chunk(delta(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil), nil)
	for _, piece := range splitText(text, 48) {
		chunk(delta(map[string]any{"content": piece}, nil), nil)
	}
	chunk(delta(map[string]any{}, "stop"), nil)
	if includeUsage {
		chunk([]any{}, usage)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

// lookup finds the recorded answer of model to msgs and counts the call.
func (u *replayUpstream) lookup(model string, msgs []evaldata.Message) (*evaldata.Row, string, bool) {
	rw := u.byPrompt[promptKey(msgs)]
	u.mu.Lock()
	defer u.mu.Unlock()
	if rw != nil {
		switch {
		case strings.EqualFold(model, rw.Draft.Model):
			u.calls[evaldata.DevDraftModel]++
			return rw, rw.Draft.Text, true
		case strings.EqualFold(model, rw.Verifier.Model):
			u.calls[evaldata.DevVerifierModel]++
			return rw, rw.Verifier.Text, true
		}
	}
	u.misses++
	return nil, "", false
}

// counts returns the calls per model and the misses so far, and resets them.
func (u *replayUpstream) counts() (map[string]int, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, m := u.calls, u.misses
	u.calls, u.misses = map[string]int{}, 0
	return c, m
}

// splitText cuts s into pieces of at most n bytes at rune boundaries.
func splitText(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 { // a rune longer than n: keep it whole
			cut = 1
			for cut < len(s) && !utf8.RuneStart(s[cut]) {
				cut++
			}
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

func writeOpenAIError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}
