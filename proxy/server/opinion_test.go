package server_test

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/prometheus/client_golang/prometheus/testutil"

	anthropicdialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tokencount"
)

// Second opinions and the bypass, end to end: SDK client, proxy, fake
// upstream on loopback. The opinions' timing is tested exactly on a virtual
// clock in proxy/cascade; here the point is the wire: which requests go out,
// what the client gets, what is counted.
const opinionRules = `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}}
  - {name: oai, type: openai, baseURL: "{{URL}}/v1", apiKey: {env: VENDOR_KEY}}
prices:
  claude-haiku-5-5: {input: 1, output: 5}
  claude-opus-5-5: {input: 10, output: 50}
  claude-sonnet-5-5: {input: 3, output: 15}
  gpt-4.1-nano: {input: 0.5, output: 2}
rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
    threshold: 0.5
    secondOpinion:
      targets: [{provider: oai, model: gpt-4.1-nano}, {provider: anth, model: claude-sonnet-5-5}]
      timeout: 3s
  - name: cold
    models: [claude-cold]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
    quality: {target: 0.9, coldStart: verifier, explore: 0}
`

const opinionDraft = "Paris is the capital of France. It has been the seat of the French government for centuries.\n\nThe answer is Paris."

// requestsFor returns what the fake received for model.
func requestsFor(h *harness, model string) []fakeupstream.Received {
	var out []fakeupstream.Received
	for _, r := range h.fake.Requests() {
		if r.Model == model {
			out = append(out, r)
		}
	}
	return out
}

func TestSecondOpinionsThroughTheProxy(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "complete", true: "stream"}[stream]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, opinionRules, harnessOptions{})
			c := h.anthropic()
			h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: opinionDraft, Usage: &fakeupstream.Usage{InputTokens: 1000, OutputTokens: 200}})
			h.fake.SetReply("gpt-4.1-nano", fakeupstream.Reply{Text: "The answer is Paris.", Usage: &fakeupstream.Usage{InputTokens: 400, OutputTokens: 30}})
			// The other opinion never answers in time: it is dropped after the 3s wait.
			h.fake.SetReply("claude-sonnet-5-5", fakeupstream.Reply{Text: "The answer is Paris.", StallBeforeHeaders: time.Minute})

			var raw *http.Response
			var text string
			start := time.Now()
			params := capitalParams("claude-opus-5-5")
			if stream {
				s := c.Messages.NewStreaming(context.Background(), params, aoption.WithResponseInto(&raw))
				var msg anthropic.Message
				for s.Next() {
					if err := msg.Accumulate(s.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				if len(msg.Content) != 1 || msg.StopReason != anthropic.StopReasonEndTurn || string(msg.Model) != "claude-opus-5-5" {
					t.Fatalf("streamed message %+v", msg)
				}
				text = msg.Content[0].Text
			} else {
				msg, err := c.Messages.New(context.Background(), params, aoption.WithResponseInto(&raw))
				if err != nil {
					t.Fatal(err)
				}
				text = msg.Content[0].Text
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Fatalf("answer after %s: the stalled opinion held it", took)
			}
			if text != opinionDraft {
				t.Fatalf("answer %q, want the draft", text)
			}
			if raw.Header.Get("X-Cascade-Outcome") != "accepted" || raw.Header.Get("X-Cascade-Agreement") != "1/1" {
				t.Fatalf("headers: outcome %q agreement %q", raw.Header.Get("X-Cascade-Outcome"), raw.Header.Get("X-Cascade-Agreement"))
			}

			draft, nano, sonnet := requestsFor(h, "claude-haiku-5-5"), requestsFor(h, "gpt-4.1-nano"), requestsFor(h, "claude-sonnet-5-5")
			if len(draft) != 1 || draft[0].Stream != stream || len(nano) != 1 || len(sonnet) != 1 || len(requestsFor(h, "claude-opus-5-5")) != 0 {
				t.Fatalf("upstream calls %v", modelsCalled(h))
			}
			if nano[0].Stream || sonnet[0].Stream || nano[0].Dialect != fakeupstream.DialectOpenAI {
				t.Fatalf("opinions: nano stream %v (%s), sonnet stream %v; want both unstreamed, each in its provider's dialect", nano[0].Stream, nano[0].Dialect, sonnet[0].Stream)
			}
			sent, err := anthropicdialect.Codec{}.DecodeRequest(sonnet[0].Body)
			if err != nil {
				t.Fatal(err)
			}
			if sent.MaxTokens != 256 {
				t.Errorf("opinion max_tokens %d, want the client's", sent.MaxTokens)
			}
			dropped := float64(tokencount.Estimate(sent)) * 3 / 1e6
			want := (1000*1+200*5)/1e6 + (400*0.5+30*2)/1e6 + dropped
			if !stream {
				cost, err := strconv.ParseFloat(raw.Header.Get("X-Cascade-Cost-Usd"), 64)
				if err != nil || math.Abs(cost-want) > 1e-8 {
					t.Errorf("x-cascade-cost-usd %q, want %.8f (draft, answered opinion, dropped opinion's input)", raw.Header.Get("X-Cascade-Cost-Usd"), want)
				}
			}
			settled(t, h, "opus", 1)
			m := h.metrics
			for end, n := range map[string]float64{"answered": 1, "dropped": 1} {
				if got := testutil.ToFloat64(m.SecondOpinions.WithLabelValues("opus", end)); got != n {
					t.Errorf("second opinions{%s} = %v, want %v", end, got, n)
				}
			}
			var total float64
			for _, model := range []string{"claude-haiku-5-5", "gpt-4.1-nano", "claude-sonnet-5-5"} {
				total += testutil.ToFloat64(m.CostUSD.WithLabelValues("opus", model))
			}
			if math.Abs(total-want) > 1e-12 {
				t.Errorf("cascadeflow_cost_usd_total %v, want %v", total, want)
			}
			if st := h.engine.Recorder.Stats(); len(st) != 1 || math.Abs(st[0].CostUSD-want) > 1e-12 {
				t.Errorf("stats %+v, want cost %v", st, want)
			}
		})
	}
}

// A rule that escalates everything until calibrated answers with the
// verifier alone.
func TestBypassThroughTheProxy(t *testing.T) {
	h := newHarness(t, opinionRules, harnessOptions{})
	var raw *http.Response
	msg, err := h.anthropic().Messages.New(context.Background(), capitalParams("claude-cold"), aoption.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "Hello from claude-opus-5-5." || raw.Header.Get("X-Cascade-Outcome") != "bypassed" || raw.Header.Get("X-Cascade-Agreement") != "" {
		t.Fatalf("answer %q, headers %v", msg.Content[0].Text, raw.Header)
	}
	if got := modelsCalled(h); len(got) != 1 || got[0] != "claude-opus-5-5" {
		t.Fatalf("upstream calls %v", got)
	}
	if got := settled(t, h, "cold", 1); got["bypassed"] != 1 {
		t.Fatalf("recorded %v", got)
	}
}
