package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// observed reads one histogram child: its sample count and sum.
func observed(t *testing.T, vec *prometheus.HistogramVec, labels ...string) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	if err := vec.WithLabelValues(labels...).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// waitObserved waits for a histogram child to hold n samples (the proxy
// observes once its handler has returned, just after the client has the
// answer) and returns their sum.
func waitObserved(t *testing.T, vec *prometheus.HistogramVec, n uint64, labels ...string) float64 {
	t.Helper()
	waitFor(t, "latency observed", func() bool { c, _ := observed(t, vec, labels...); return c >= n })
	c, sum := observed(t, vec, labels...)
	if c != n {
		t.Fatalf("%v: %d samples, want %d", labels, c, n)
	}
	return sum
}

// The latency bounds below hold whatever the machine's load: the fake's
// delays are lower bounds of what the client sees; the upper bounds only
// catch a clock that counts something else entirely.
const latencySlack = 10 * time.Second

func within(t *testing.T, what string, got float64, low, high time.Duration) {
	t.Helper()
	if got < low.Seconds() || got > high.Seconds() {
		t.Fatalf("%s = %.4fs, want within [%s, %s]", what, got, low, high)
	}
}

// Pass-through answers: a non-streamed one is timed to its body (and has no
// time per token); a streamed one to its first content token, and its time
// per token is the gap between content chunks.
func TestLatencyPassthrough(t *testing.T) {
	const upstreamWait, gap = 150 * time.Millisecond, 40 * time.Millisecond
	h := newHarness(t, passthroughRules("oai", ""), harnessOptions{fake: fakeupstream.Options{Latency: upstreamWait}})
	c := h.openai()
	p := openai.ChatCompletionNewParams{Model: "gpt-5-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	if _, err := c.Chat.Completions.New(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	ttft := waitObserved(t, h.metrics.TimeToFirstToken, 1, "", "passthrough", "gpt-5-mini")
	within(t, "non-streamed time to first token", ttft, upstreamWait, upstreamWait+latencySlack)
	if n, _ := observed(t, h.metrics.TimePerOutputToken, "", "passthrough", "gpt-5-mini"); n != 0 {
		t.Fatalf("a non-streamed answer has no time per token, got %d samples", n)
	}

	// Five content chunks, gap apart, after the role chunk (itself gap after the headers).
	h.fake.SetReply("gpt-5-mini", fakeupstream.Reply{Text: "one two three four five", ChunkDelay: gap,
		Usage: &fakeupstream.Usage{InputTokens: 10, OutputTokens: 5}})
	if _, err := streamOpenAI(t, c, p); err != nil {
		t.Fatal(err)
	}
	sum := waitObserved(t, h.metrics.TimeToFirstToken, 2, "", "passthrough", "gpt-5-mini")
	within(t, "streamed time to first token", sum-ttft, upstreamWait+gap, upstreamWait+gap+latencySlack)
	// The first chunk's stamp may be late by the proxy's own scheduling, so
	// the gap between content chunks is only bounded from below by half.
	tpot := waitObserved(t, h.metrics.TimePerOutputToken, 1, "", "passthrough", "gpt-5-mini")
	within(t, "time per output token", tpot, gap/2, gap+latencySlack/4)
}

// A model with a client-invented name is observed under "other", as its tokens are.
func TestLatencyModelLabelIsBounded(t *testing.T) {
	h := newHarness(t, passthroughRules("oai", ""), harnessOptions{})
	_, err := h.openai().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "my-own-finetune-42",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	waitObserved(t, h.metrics.TimeToFirstToken, 1, "", "passthrough", "other")
	if n, _ := observed(t, h.metrics.TimeToFirstToken, "", "passthrough", "my-own-finetune-42"); n != 0 {
		t.Fatal("a client-chosen model name became a label")
	}
}

// A cascade's time to first token includes the draft and the gate: an
// accepted draft is timed to its body, an escalation to the verifier's first
// streamed token, under the model that answered.
func TestLatencyCascade(t *testing.T) {
	const draftWait, gap = 200 * time.Millisecond, 30 * time.Millisecond
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	c := h.anthropic()
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer, StallBeforeHeaders: draftWait})
	if _, err := c.Messages.New(context.Background(), capitalParams("claude-opus-5-5")); err != nil {
		t.Fatal(err)
	}
	ttft := waitObserved(t, h.metrics.TimeToFirstToken, 1, "opus", "accepted", "claude-haiku-5-5")
	within(t, "accepted draft's time to first token", ttft, draftWait, draftWait+latencySlack)

	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal, StallBeforeHeaders: draftWait})
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: "Paris is the capital of France.", ChunkDelay: gap,
		Usage: &fakeupstream.Usage{InputTokens: 20, OutputTokens: 7}})
	msg, _, err := streamAnthropic(t, c, capitalParams("claude-opus-5-5"))
	if err != nil || msg.Content[0].Text != "Paris is the capital of France." {
		t.Fatalf("escalated stream: %v %+v", err, msg)
	}
	// message_start and content_block_start come before the first delta, gap apart.
	ttft = waitObserved(t, h.metrics.TimeToFirstToken, 1, "opus", "escalated", "claude-opus-5-5")
	within(t, "escalation's time to first token", ttft, draftWait+2*gap, draftWait+2*gap+latencySlack)
	tpot := waitObserved(t, h.metrics.TimePerOutputToken, 1, "opus", "escalated", "claude-opus-5-5")
	if tpot <= 0 || tpot > (gap+latencySlack/4).Seconds() {
		t.Fatalf("escalation's time per output token %.4fs", tpot)
	}
	if n, _ := observed(t, h.metrics.TimeToFirstToken, "opus", "escalated", "claude-haiku-5-5"); n != 0 {
		t.Fatal("an escalation was observed under the draft model")
	}
}

// An answer that failed before its first token is not observed.
func TestLatencyNotObservedForErrors(t *testing.T) {
	h := newHarness(t, passthroughRules("oai", ""), harnessOptions{})
	h.fake.SetReply("gpt-5-mini", fakeupstream.Reply{Status: 429, ErrorMessage: "slow down"})
	_, err := h.openai().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err == nil {
		t.Fatal("want the upstream's 429")
	}
	// The request is over once the next one has been answered (one connection, in order).
	h.fake.SetReply("gpt-5-mini", fakeupstream.Reply{Text: "ok"})
	if _, err := h.openai().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	waitObserved(t, h.metrics.TimeToFirstToken, 1, "", "passthrough", "gpt-5-mini")
}
