package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
)

// Which recorded answer came back to the client.
const (
	servedDraft    = "draft"
	servedVerifier = "verifier"
	servedOther    = "other" // neither recorded text: the proxy changed or mixed it
)

// observation is what the client saw for one row in one pass.
type observation struct {
	Outcome    string // x-cascade-outcome
	ScoreMilli int    // x-cascade-score in thousandths; -1 when absent
	// Score is the gate score at full precision (passes with ExactScores
	// only; noScore otherwise or when the request had none).
	Score   float64
	CostUSD float64 // x-cascade-cost-usd
	HasCost bool
	Served  string // servedDraft, servedVerifier or servedOther
	Err     error
}

// passOptions describe one pass of the data through the proxy.
type passOptions struct {
	ProxyURL    string
	Stream      bool
	Concurrency int
	// ExactScores reads each row's full-precision gate score from the
	// proxy's GET /api/stats (meanGateScore after a DELETE, one request at a
	// time): x-cascade-score has only 3 decimals. The pass runs serially.
	ExactScores bool
	// Progress counts the rows replayed (nil: silent).
	Progress *progress
}

// runPass sends every row's messages to the proxy with the official OpenAI
// SDK and records what came back, in row order.
func runPass(ctx context.Context, rows []evaldata.Row, o passOptions) []observation {
	n := max(o.Concurrency, 1)
	if o.ExactScores {
		n = 1 // the stats aggregate over every request in flight
	}
	// Enough idle connections for every worker (Go keeps 2 per host by default).
	transport := &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n}
	defer transport.CloseIdleConnections()
	client := openai.NewClient(option.WithBaseURL(o.ProxyURL+"/v1"), option.WithAPIKey("eval-client"),
		option.WithHTTPClient(&http.Client{Transport: transport}),
		option.WithMaxRetries(0), option.WithRequestTimeout(60*time.Second))
	obs := make([]observation, len(rows))
	work := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
			for i := range work {
				if !o.ExactScores {
					obs[i] = sendRow(ctx, &client, &rows[i], o.Stream)
					o.Progress.Row()
					continue
				}
				if err := resetStats(ctx, hc, o.ProxyURL); err != nil {
					obs[i] = observation{Err: fmt.Errorf("row %s: %w", rows[i].ID, err)}
					continue
				}
				obs[i] = sendRow(ctx, &client, &rows[i], o.Stream)
				if obs[i].Err == nil && obs[i].ScoreMilli >= 0 {
					score, err := statsScore(ctx, hc, o.ProxyURL)
					if err != nil {
						obs[i].Err = fmt.Errorf("row %s: %w", rows[i].ID, err)
					}
					obs[i].Score = score
				}
				o.Progress.Row()
			}
		}()
	}
	for i := range rows {
		select {
		case work <- i:
		case <-ctx.Done():
			obs[i].Err = ctx.Err()
		}
	}
	close(work)
	wg.Wait()
	return obs
}

// chatParams is the request for one row: its messages, for the rule's model.
func chatParams(r *evaldata.Row, stream bool) openai.ChatCompletionNewParams {
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(r.Messages))
	for _, m := range r.Messages {
		switch m.Role {
		case "assistant":
			msgs = append(msgs, openai.AssistantMessage(m.Content))
		case "system":
			msgs = append(msgs, openai.SystemMessage(m.Content))
		default:
			msgs = append(msgs, openai.UserMessage(m.Content))
		}
	}
	p := openai.ChatCompletionNewParams{Model: requestedModel, Messages: msgs, MaxCompletionTokens: openai.Int(1024)}
	if stream {
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	return p
}

func sendRow(ctx context.Context, c *openai.Client, r *evaldata.Row, stream bool) observation {
	var raw *http.Response
	var text string
	var o observation
	params := chatParams(r, stream)
	if stream {
		s := c.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&raw))
		var b strings.Builder
		for s.Next() {
			for _, ch := range s.Current().Choices {
				b.WriteString(ch.Delta.Content)
			}
		}
		if err := s.Err(); err != nil {
			return observation{Err: fmt.Errorf("row %s: stream: %w", r.ID, err)}
		}
		_ = s.Close()
		text = b.String()
	} else {
		resp, err := c.Chat.Completions.New(ctx, params, option.WithResponseInto(&raw))
		if err != nil {
			return observation{Err: fmt.Errorf("row %s: %w", r.ID, err)}
		}
		if len(resp.Choices) != 1 {
			return observation{Err: fmt.Errorf("row %s: %d choices", r.ID, len(resp.Choices))}
		}
		text = resp.Choices[0].Message.Content
	}
	if raw == nil {
		return observation{Err: fmt.Errorf("row %s: no HTTP response captured", r.ID)}
	}
	o.Outcome = raw.Header.Get("X-Cascade-Outcome")
	o.ScoreMilli, o.Score = -1, noScore
	if s := raw.Header.Get("X-Cascade-Score"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return observation{Err: fmt.Errorf("row %s: x-cascade-score %q: %w", r.ID, s, err)}
		}
		o.ScoreMilli = milli(f)
	}
	if s := raw.Header.Get("X-Cascade-Cost-Usd"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return observation{Err: fmt.Errorf("row %s: x-cascade-cost-usd %q: %w", r.ID, s, err)}
		}
		o.CostUSD, o.HasCost = f, true
	}
	o.Served = whichAnswer(r, text, o.Outcome)
	return o
}

// milli converts a score or threshold in [0, 1] to integer thousandths, the
// precision of x-cascade-score, so comparisons are exact.
func milli(f float64) int {
	if f < 0 {
		return -1
	}
	return int(f*1000 + 0.5)
}

// whichAnswer says which recorded answer text is; when both recorded texts
// are the same, the outcome decides.
func whichAnswer(r *evaldata.Row, text, outcome string) string {
	switch {
	case text == r.Draft.Text && text == r.Verifier.Text:
		if outcome == outcomeAccepted || outcome == outcomeDraftOnly {
			return servedDraft
		}
		return servedVerifier
	case text == r.Draft.Text:
		return servedDraft
	case text == r.Verifier.Text:
		return servedVerifier
	}
	return servedOther
}

// resetStats forgets the proxy's aggregates (DELETE /api/stats).
func resetStats(ctx context.Context, hc *http.Client, proxyURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, proxyURL+"/api/stats", nil)
	if err != nil {
		return fmt.Errorf("reset stats: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reset stats: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset stats: HTTP %d", resp.StatusCode)
	}
	return nil
}

// statsScore reads the gate score of the one request made since the last
// reset: the eval rule's meanGateScore, which JSON carries at full float64
// precision.
func statsScore(ctx context.Context, hc *http.Client, proxyURL string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, proxyURL+"/api/stats", nil)
	if err != nil {
		return noScore, fmt.Errorf("read stats: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return noScore, fmt.Errorf("read stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return noScore, fmt.Errorf("read stats: HTTP %d", resp.StatusCode)
	}
	var body struct {
		Rules []struct {
			Rule      string  `json:"rule"`
			Requests  int64   `json:"requests"`
			MeanScore float64 `json:"meanGateScore"`
		} `json:"rules"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return noScore, fmt.Errorf("read stats: %w", err)
	}
	for _, r := range body.Rules {
		if r.Rule != evalRuleName {
			continue
		}
		if r.Requests != 1 {
			return noScore, fmt.Errorf("read stats: rule %q has %d requests since the reset, want 1", r.Rule, r.Requests)
		}
		return r.MeanScore, nil
	}
	return noScore, fmt.Errorf("read stats: no stats for rule %q", evalRuleName)
}
