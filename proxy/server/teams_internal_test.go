package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	anthropicdialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	openaidialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

func TestMaxTokens(t *testing.T) {
	cases := map[string]int{
		`{"model":"m","max_tokens":256}`:              256,
		`{"max_tokens" : 32000, "messages":[]}`:       32000,
		`{"max_completion_tokens":900,"model":"gpt"}`: 900,
		`{"model":"m"}`: 0,
		`{"messages":[{"content":"\"max_tokens\": 99999"}]}`: 0, // inside a string: escaped quotes
		`{"max_tokens":"12"}`:                                0,
	}
	for body, want := range cases {
		if got := maxTokens([]byte(body)); got != want {
			t.Errorf("maxTokens(%s) = %d, want %d", body, got, want)
		}
	}
	// A huge value stops being read past 1<<24, still far above any model's limit, without overflowing.
	if got := maxTokens([]byte(`{"max_tokens":99999999999999999999999999}`)); got <= 1<<24 || got > 10<<24 {
		t.Errorf("huge max_tokens read as %d", got)
	}
}

func FuzzMaxTokens(f *testing.F) {
	for _, s := range []string{`{"max_tokens":256}`, `{"max_tokens":`, `"max_tokens"`, `{"max_completion_tokens": 7}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if n := maxTokens(body); n < 0 || n > 1<<28 {
			t.Fatalf("maxTokens = %d", n)
		}
	})
}

// Each refusal maps to its documented status and type per dialect.
func TestRefusalErrors(t *testing.T) {
	cases := []struct {
		d      llm.Dialect
		reason teams.Reason
		status int
		typ    string
	}{
		{llm.Anthropic, teams.ReasonBudget, 402, `"billing_error"`},
		{llm.OpenAI, teams.ReasonTeamBudget, 429, `"insufficient_quota"`},
		{llm.Anthropic, teams.ReasonRequests, 429, `"rate_limit_error"`},
		{llm.OpenAI, teams.ReasonTokens, 429, `"rate_limit_exceeded"`},
		{llm.Anthropic, teams.ReasonModel, 403, `"permission_error"`},
		{llm.OpenAI, teams.ReasonModel, 403, `"permission_error"`},
		{llm.Anthropic, teams.ReasonStore, 503, `"overloaded_error"`},
		{llm.OpenAI, teams.ReasonStore, 503, `"service_unavailable_error"`},
	}
	s := &Server{cfg: Config{Codecs: map[llm.Dialect]dialect.Codec{llm.Anthropic: anthropicdialect.Codec{}, llm.OpenAI: openaidialect.Codec{}}}}
	for _, c := range cases {
		w := &recorder{h: http.Header{}}
		r := &teams.Refusal{Reason: c.reason, RetryAfter: 1500 * time.Millisecond, Message: "limit says no"}
		writeError(w, s.codec(c.d), refusalError(c.d, r))
		if w.status != c.status || !contains(w.body, c.typ) || !contains(w.body, "limit says no") {
			t.Errorf("%s %s: %d %s", c.d, c.reason, w.status, w.body)
		}
		if c.reason != teams.ReasonModel && w.h.Get("Retry-After") != "2" {
			t.Errorf("%s %s: Retry-After %q", c.d, c.reason, w.h.Get("Retry-After"))
		}
		budget := c.reason == teams.ReasonBudget || c.reason == teams.ReasonTeamBudget
		if budget != (w.h.Get("X-Should-Retry") == "false") {
			t.Errorf("%s %s: x-should-retry %q", c.d, c.reason, w.h.Get("X-Should-Retry"))
		}
	}
}

type recorder struct {
	h      http.Header
	status int
	body   string
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) Write(b []byte) (int, error) { r.body += string(b); return len(b), nil }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
