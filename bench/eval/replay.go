package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// The model names the replay upstream answers. One file has one pairing, so
// the names stand for the file's real models (fileSetup.Models), and each is
// priced at its real model's price.
const (
	draftModel    = "draft-model"
	verifierModel = "verifier-model"
	// judgeModel is a pairwise judge simulated from the recorded labels,
	// priced as the verifier.
	judgeModel = "judge-model"
)

// otherModel is the name of the row's others[i] (other-model-1, ...).
func otherModel(i int) string { return "other-model-" + strconv.Itoa(i+1) }

// Roles of an upstream call, as the accounting sees them.
const (
	roleDraft    = "draft"
	roleVerifier = "verifier"
	roleOther    = "other"
	roleJudge    = "judge"
)

// upstreamCall is one request the replay upstream answered.
type upstreamCall struct {
	Seq   int
	Start time.Time
	// Row is the index of the row the call is about.
	Row   int
	Model string
	Role  string
	// In and Out are the estimated tokens; USD their price at the model's
	// real price.
	In, Out int
	USD     float64
	// Verdict is the judge's: "A", "B" or "C" ("" for other roles).
	Verdict string
}

// replayUpstream is an OpenAI-compatible /v1/chat/completions server that
// answers each prompt of one file with its recorded answers: draft-model the
// draft's text, verifier-model the verifier's, other-model-N the row's
// others[N-1], and judge-model a pairwise verdict from the recorded labels.
// Usage is estimated with evaldata.EstimateTokens. It streams when asked, as
// OpenAI does (a role chunk, content chunks, a finish chunk, a usage chunk
// only with stream_options.include_usage, then [DONE]). It logs every call it
// answers, priced, so every upstream call of a pass (background audits too)
// is counted.
type replayUpstream struct {
	rows     []evaldata.Row
	byPrompt map[string]int
	// byText lists the rows each recorded answer text (trimEnd) appears in.
	byText map[string][]int
	prices map[string]rules.Price
	apiKey string

	mu      sync.Mutex
	calls   []upstreamCall
	seq     int
	misses  []string // requests not answered from the data (capped)
	nMisses int
	// judgeMisses counts judge prompts the replay could not read (part of
	// nMisses).
	judgeMisses int
	inflight    int
	last        time.Time
	// noise is the judge's error rate: that share of verdicts is drawn at
	// random from [[A]], [[B]] and [[C]] (from rng, under mu) instead of
	// following the labels.
	noise float64
	rng   *rand.Rand
}

// newReplayUpstream serves rows (one file) with prices by served model name.
func newReplayUpstream(rows []evaldata.Row, prices map[string]rules.Price, apiKey string) (*replayUpstream, error) {
	u := &replayUpstream{rows: rows, byPrompt: make(map[string]int, len(rows)), byText: map[string][]int{},
		prices: prices, apiKey: apiKey, last: time.Now()}
	for i := range rows {
		k := promptKey(rows[i].Messages)
		if prev, ok := u.byPrompt[k]; ok {
			return nil, fmt.Errorf("replay: rows %s and %s have the same messages", rows[prev].ID, rows[i].ID)
		}
		u.byPrompt[k] = i
		for _, a := range answersOf(&rows[i]) {
			k := trimEnd(a.Text)
			if l := u.byText[k]; len(l) == 0 || l[len(l)-1] != i {
				u.byText[k] = append(l, i)
			}
		}
	}
	return u, nil
}

// answersOf lists a row's recorded answers: draft, verifier, others.
func answersOf(r *evaldata.Row) []evaldata.Answer {
	return append([]evaldata.Answer{r.Draft, r.Verifier}, r.Others...)
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
	u.begin()
	defer u.end()
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
	call, text, err := u.answer(req.Model, msgs)
	if err != nil {
		u.miss(req.Model == judgeModel, err.Error())
		writeOpenAIError(w, http.StatusNotFound, "not_found_error", err.Error())
		return
	}
	u.log(call)
	usage := map[string]int{"prompt_tokens": call.In, "completion_tokens": call.Out, "total_tokens": call.In + call.Out}
	id := "chatcmpl-replay-" + u.rows[call.Row].ID
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

// answer finds the recorded answer of model to msgs, or the judge's verdict.
func (u *replayUpstream) answer(model string, msgs []evaldata.Message) (upstreamCall, string, error) {
	c := upstreamCall{Model: model, In: promptTokens(msgs)}
	var text string
	if model == judgeModel {
		row, v, reply, err := u.judge(msgs)
		if err != nil {
			return c, "", err
		}
		c.Row, c.Role, c.Verdict, text = row, roleJudge, v, reply
	} else {
		i, ok := u.byPrompt[promptKey(msgs)]
		if !ok {
			return c, "", fmt.Errorf("no recorded prompt matches this request to %s", model)
		}
		r := &u.rows[i]
		c.Row = i
		switch {
		case model == draftModel:
			c.Role, text = roleDraft, r.Draft.Text
		case model == verifierModel:
			c.Role, text = roleVerifier, r.Verifier.Text
		case strings.HasPrefix(model, "other-model-"):
			n, err := strconv.Atoi(strings.TrimPrefix(model, "other-model-"))
			if err != nil || n < 1 || n > len(r.Others) {
				return c, "", fmt.Errorf("row %s has no answer of %s", r.ID, model)
			}
			c.Role, text = roleOther, r.Others[n-1].Text
		default:
			return c, "", fmt.Errorf("model %q is not served by the replay", model)
		}
	}
	c.Out = evaldata.EstimateTokens(text)
	p, ok := u.prices[model]
	if !ok {
		return c, "", fmt.Errorf("model %q has no price", model)
	}
	c.USD = priceOf(p, c.In, c.Out)
	return c, text, nil
}

// promptTokens is evaldata.PromptTokens of a request's messages (the judge's
// system prompt included).
func promptTokens(msgs []evaldata.Message) int { return evaldata.PromptTokens(msgs) }

// priceOf is the USD price of a call.
func priceOf(p rules.Price, in, out int) float64 {
	return (float64(in)*p.Input + float64(out)*p.Output) / 1e6
}

// judge simulates a pairwise judge (audit.PairwisePrompt): it finds the two
// answers between their markers, the row and the recorded answers they are,
// and prefers the higher-scored one; equal scores tie. The verdict follows
// the order of the answers in the prompt: [[A]] when the first is better.
func (u *replayUpstream) judge(msgs []evaldata.Message) (row int, verdict, reply string, err error) {
	var user string
	for _, m := range msgs {
		if strings.Contains(m.Content, audit.MarkStartA) {
			user = m.Content
		}
	}
	convo, first, second, ok := parsePairwise(user)
	if !ok {
		return -1, "", "", fmt.Errorf("judge: the prompt holds no pair of answers between the pairwise markers")
	}
	row, sa, sb, ok := u.identify(convo, first, second)
	if !ok {
		return -1, "", "", fmt.Errorf("judge: the two answers are not the recorded answers of one row")
	}
	switch {
	case sa > sb:
		verdict = "A"
	case sa < sb:
		verdict = "B"
	default:
		verdict = "C"
	}
	if u.noisy() {
		verdict = u.randomVerdict()
		reply = fmt.Sprintf("Replay judge (a noisy verdict): [[%s]]", verdict)
		return row, verdict, reply, nil
	}
	reply = fmt.Sprintf("Replay judge: assistant A's answer is labelled %.3f, assistant B's %.3f. [[%s]]", sa, sb, verdict)
	return row, verdict, reply, nil
}

// noisy draws whether a verdict is one of the judge's errors.
func (u *replayUpstream) noisy() bool {
	if u.noise <= 0 || u.rng == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rng.Float64() < u.noise
}

// randomVerdict is a verdict drawn uniformly from the three.
func (u *replayUpstream) randomVerdict() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return [...]string{"A", "B", "C"}[u.rng.IntN(3)]
}

// parsePairwise splits a pairwise judge prompt into the conversation and the
// two answers, in the order shown.
func parsePairwise(user string) (convo, first, second string, ok bool) {
	sa := strings.Index(user, audit.MarkStartA)
	eb := strings.LastIndex(user, audit.MarkEndB)
	if sa < 0 || eb < 0 {
		return "", "", "", false
	}
	sb := strings.LastIndex(user[:eb], audit.MarkStartB)
	if sb < sa+len(audit.MarkStartA) {
		return "", "", "", false
	}
	ea := strings.LastIndex(user[:sb], audit.MarkEndA)
	if ea < sa+len(audit.MarkStartA) {
		return "", "", "", false
	}
	convo = user[:sa]
	if q := strings.Index(convo, audit.MarkQuestion); q >= 0 {
		convo = convo[q+len(audit.MarkQuestion):]
	}
	return convo, user[sa+len(audit.MarkStartA) : ea], user[sb+len(audit.MarkStartB) : eb], true
}

// identify finds the row whose recorded answers first and second are, and
// their labels: by text (trailing white space aside: the judge's prompt
// trims it) among the rows holding both, told apart by the conversation when
// several do; else, for answers the prompt shortened, by the conversation
// holding the row's last message and the answers as prefixes.
func (u *replayUpstream) identify(convo, first, second string) (row int, sa, sb float64, ok bool) {
	try := func(i int) bool {
		var okA, okB bool
		sa, okA = matchAnswer(&u.rows[i], first)
		sb, okB = matchAnswer(&u.rows[i], second)
		return okA && okB
	}
	var cands []int
	for _, i := range u.byText[trimEnd(first)] {
		for _, j := range u.byText[trimEnd(second)] {
			if i == j {
				cands = append(cands, i)
			}
		}
	}
	if len(cands) > 1 {
		var inConvo []int
		for _, i := range cands {
			if holdsLastMessage(convo, &u.rows[i]) {
				inConvo = append(inConvo, i)
			}
		}
		if len(inConvo) > 0 {
			cands = inConvo
		}
	}
	if len(cands) > 0 && try(cands[0]) {
		return cands[0], sa, sb, true
	}
	for i := range u.rows {
		if holdsLastMessage(convo, &u.rows[i]) && try(i) {
			return i, sa, sb, true
		}
	}
	return -1, 0, 0, false
}

// holdsLastMessage reports whether convo contains the row's last message.
func holdsLastMessage(convo string, r *evaldata.Row) bool {
	last := r.Messages[len(r.Messages)-1].Content
	return strings.Contains(convo, strings.TrimSpace(last))
}

// minPrefix is the shortest shortened answer matched by prefix.
const minPrefix = 64

// matchAnswer returns the label of the row's recorded answer text is: equal
// to it but for trailing white space, or (shortened, "…" or "..." cut) a
// prefix of it.
func matchAnswer(r *evaldata.Row, text string) (float64, bool) {
	for _, a := range answersOf(r) {
		if trimEnd(a.Text) == trimEnd(text) {
			return a.Score, true
		}
	}
	cut := trimEnd(strings.TrimSuffix(strings.TrimSuffix(text, "…"), "..."))
	if len(cut) < minPrefix {
		return 0, false
	}
	for _, a := range answersOf(r) {
		if strings.HasPrefix(a.Text, cut) {
			return a.Score, true
		}
	}
	return 0, false
}

// trimEnd drops trailing white space.
func trimEnd(s string) string { return strings.TrimRight(s, " \t\r\n") }

func (u *replayUpstream) begin() {
	u.mu.Lock()
	u.inflight++
	u.last = time.Now()
	u.mu.Unlock()
}

func (u *replayUpstream) end() {
	u.mu.Lock()
	u.inflight--
	u.last = time.Now()
	u.mu.Unlock()
}

func (u *replayUpstream) log(c upstreamCall) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seq++
	c.Seq, c.Start = u.seq, time.Now()
	u.calls = append(u.calls, c)
}

// maxMisses bounds the misses kept for the report.
const maxMisses = 20

func (u *replayUpstream) miss(judge bool, why string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.nMisses++
	if judge {
		u.judgeMisses++
	}
	if len(u.misses) < maxMisses {
		u.misses = append(u.misses, why)
	}
}

// take returns the calls answered and the misses since the last take, and
// forgets them.
func (u *replayUpstream) take() (calls []upstreamCall, misses int, why []string) {
	calls, misses, _, why = u.takeAll()
	return calls, misses, why
}

// takeAll is take with the judge's misses counted apart (they are part of
// misses).
func (u *replayUpstream) takeAll() (calls []upstreamCall, misses, judgeMisses int, why []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	calls, misses, judgeMisses, why = u.calls, u.nMisses, u.judgeMisses, u.misses
	u.calls, u.nMisses, u.judgeMisses, u.misses = nil, 0, 0, nil
	return calls, misses, judgeMisses, why
}

// counts returns the calls per role and the misses since the last take, and
// forgets them.
func (u *replayUpstream) counts() (map[string]int, int) {
	calls, misses, _ := u.take()
	c := map[string]int{}
	for _, x := range calls {
		c[x.Role]++
	}
	return c, misses
}

// drafts counts the draft calls answered since the last take.
func (u *replayUpstream) drafts() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.calls {
		if c.Role == roleDraft {
			n++
		}
	}
	return n
}

// quiet reports whether no request is in flight and none has come or ended
// for d.
func (u *replayUpstream) quiet(d time.Duration) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.inflight == 0 && time.Since(u.last) >= d
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
