package server

import (
	"bytes"
	"context"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
)

const ctxClock = "cascadeflow.clock"

// answerClock times one model answer as its client sees it: when the
// request arrived, and when the first and the last content token were
// written to the client. Handlers stamp it; clientLatency observes it once
// the handler has returned. Everything runs on the handler's goroutine.
type answerClock struct {
	start       time.Time
	first, last time.Time
	streamed    bool
	// outputTokens is what the answer's usage reported (0: unknown).
	outputTokens int
	// rule and model are the metric labels; a request that never sets model
	// (not a model answer, e.g. count_tokens or embeddings) is not observed.
	rule, model string
}

// token stamps a content token written to a streamed answer at now.
func (k *answerClock) token(now time.Time) {
	if k.first.IsZero() {
		k.first = now
	}
	k.last, k.streamed = now, true
}

// body stamps a non-streamed answer's body written at now.
func (k *answerClock) body(now time.Time) {
	if k.first.IsZero() {
		k.first, k.last = now, now
	}
}

// serve names the labels the answer is observed under.
func (k *answerClock) serve(rule, model string) { k.rule, k.model = rule, model }

// clock is the request's answerClock; a detached one outside clientLatency.
func clock(c *gin.Context) *answerClock {
	if k, ok := c.Get(ctxClock); ok {
		return k.(*answerClock)
	}
	return &answerClock{}
}

// clientLatency starts each API request's clock on arrival and, once the
// handler has answered, observes the time to the first token and (for a
// streamed answer whose usage gave at least two output tokens) the time per
// output token, labelled with the rule ("" without one), the outcome the
// handler recorded and the served model's bounded name. Failed answers that
// never wrote a token are not observed.
func (s *Server) clientLatency() gin.HandlerFunc {
	return func(c *gin.Context) {
		k := &answerClock{start: time.Now()}
		c.Set(ctxClock, k)
		c.Next()
		if k.model == "" || k.first.IsZero() {
			return
		}
		outcome := route(c).Outcome
		s.m.TimeToFirstToken.WithLabelValues(k.rule, outcome, k.model).Observe(k.first.Sub(k.start).Seconds())
		if k.streamed && k.outputTokens > 1 {
			per := k.last.Sub(k.first).Seconds() / float64(k.outputTokens-1)
			s.m.TimePerOutputToken.WithLabelValues(k.rule, outcome, k.model).Observe(per)
		}
	}
}

// clockTap passes a canonical stream on to WriteStream and stamps its
// content deltas. WriteStream writes each event before asking for the next,
// so a delta is stamped when the next event is asked for: once it has been
// written. It also keeps the output token count of the stream's usage.
type clockTap struct {
	llm.Stream
	clock   *answerClock
	pending bool
}

func (t *clockTap) Next(ctx context.Context) (llm.Event, error) {
	if t.pending {
		t.clock.token(time.Now())
		t.pending = false
	}
	ev, err := t.Stream.Next(ctx)
	if err != nil {
		return ev, err
	}
	switch ev.Type {
	case llm.EventBlockDelta:
		t.pending = true
	case llm.EventMessageStart:
		if ev.Message != nil && ev.Message.Usage.OutputTokens > t.clock.outputTokens {
			t.clock.outputTokens = ev.Message.Usage.OutputTokens
		}
	case llm.EventMessageDelta:
		if ev.Usage != nil && ev.Usage.OutputTokens > 0 {
			t.clock.outputTokens = ev.Usage.OutputTokens
		}
	}
	return ev, nil
}

// Wire markers of events that carry content tokens (see hasContent).
var (
	anthropicDeltaEvent = []byte("event: content_block_delta")
	deltaSuffix         = []byte(".delta")
	openAIContentKeys   = [][]byte{[]byte(`"content":"`), []byte(`"refusal":"`), []byte(`"reasoning_content":"`), []byte(`"reasoning":"`)}
	openAIToolCallsKey  = []byte(`"tool_calls":[`)
)

// hasContent reports whether complete SSE events b hold a content token:
// an Anthropic content_block_delta; a Responses API "response.*.delta"
// event (text, refusal, reasoning, function call arguments); a Chat
// Completions chunk with non-empty content, refusal or reasoning text, or a
// tool call. As in hasFinishReason, a key inside a JSON string has escaped
// quotes, so only real members match.
func hasContent(d llm.Dialect, kind string, b []byte) bool {
	switch {
	case d == llm.Anthropic:
		return hasLine(b, anthropicDeltaEvent) || bytes.Contains(b, []byte(`"type":"content_block_delta"`))
	case kind == provider.PathResponses:
		return hasResponsesDelta(b)
	}
	if bytes.Contains(b, openAIToolCallsKey) {
		return true
	}
	for _, key := range openAIContentKeys {
		for rest := b; ; {
			i := bytes.Index(rest, key)
			if i < 0 {
				break
			}
			rest = rest[i+len(key):]
			if len(rest) > 0 && rest[0] != '"' {
				return true
			}
		}
	}
	return false
}

var responsesTypeKey = []byte(`"type":"response.`)

// hasResponsesDelta reports whether b holds a Responses API event whose
// type ends in ".delta" (every event's data carries its type).
func hasResponsesDelta(b []byte) bool {
	for rest := b; ; {
		i := bytes.Index(rest, responsesTypeKey)
		if i < 0 {
			return false
		}
		rest = rest[i+len(responsesTypeKey):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return false
		}
		if bytes.HasSuffix(rest[:end], deltaSuffix) {
			return true
		}
		rest = rest[end:]
	}
}
