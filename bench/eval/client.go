package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Which recorded answer came back to the client.
const (
	servedDraft    = "draft"
	servedVerifier = "verifier"
	servedOther    = "other" // neither recorded text: the proxy changed or mixed it
)

// observation is what the client saw for one row in one pass.
type observation struct {
	Outcome    string  // x-cascade-outcome
	ScoreMilli int     // x-cascade-score in thousandths; -1 when absent
	CostUSD    float64 // x-cascade-cost-usd
	HasCost    bool
	Served     string // servedDraft, servedVerifier or servedOther
	Err        error
}

// passOptions describe one pass of the data through the proxy.
type passOptions struct {
	ProxyURL    string
	Stream      bool
	Concurrency int
}

// runPass sends every row's messages to the proxy with the official OpenAI
// SDK and records what came back, in row order.
func runPass(ctx context.Context, rows []row, o passOptions) []observation {
	n := max(o.Concurrency, 1)
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
			for i := range work {
				obs[i] = sendRow(ctx, &client, &rows[i], o.Stream)
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
func chatParams(r *row, stream bool) openai.ChatCompletionNewParams {
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

func sendRow(ctx context.Context, c *openai.Client, r *row, stream bool) observation {
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
	o.ScoreMilli = -1
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
func whichAnswer(r *row, text, outcome string) string {
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
