package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
)

// slowStream returns its events gap apart (on synctest's virtual clock).
type slowStream struct {
	events []llm.Event
	gap    time.Duration
}

func (s *slowStream) Next(context.Context) (llm.Event, error) {
	if len(s.events) == 0 {
		return llm.Event{}, io.EOF
	}
	time.Sleep(s.gap)
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *slowStream) Close() error { return nil }

func textStream(deltas int, outputTokens int) []llm.Event {
	evs := []llm.Event{
		{Type: llm.EventMessageStart, Message: &llm.Response{ID: "msg_1", Model: "m", Usage: llm.Usage{InputTokens: 3, OutputTokens: 1}}},
		{Type: llm.EventBlockStart, Block: &llm.Block{Type: llm.BlockText}},
	}
	for range deltas {
		evs = append(evs, llm.Event{Type: llm.EventBlockDelta, Delta: &llm.Delta{Type: llm.DeltaText, Text: "tok "}})
	}
	return append(evs,
		llm.Event{Type: llm.EventBlockStop},
		llm.Event{Type: llm.EventMessageDelta, StopReason: llm.StopEndTurn, Usage: &llm.Usage{OutputTokens: outputTokens}},
		llm.Event{Type: llm.EventMessageStop})
}

// clockTap stamps a delta once it has been written, on a virtual clock:
// exactly when the event after it is asked for.
func TestClockTapStampsWrittenDeltas(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const gap = 100 * time.Millisecond
		k := &answerClock{start: time.Now()}
		s := &slowStream{events: textStream(4, 9), gap: gap}
		rec := httptest.NewRecorder()
		err := WriteStream(context.Background(), rec, anthropic.Codec{}, &llm.Request{Model: "m", Stream: true}, &clockTap{Stream: s, clock: k}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(rec.Body.String(), "event: content_block_delta"); n != 4 {
			t.Fatalf("%d deltas written", n)
		}
		// Deltas are events 3 to 6: returned at 3 and 6 gaps.
		if got := k.first.Sub(k.start); got != 3*gap {
			t.Errorf("first token at %s, want %s", got, 3*gap)
		}
		if got := k.last.Sub(k.start); got != 6*gap {
			t.Errorf("last token at %s, want %s", got, 6*gap)
		}
		if !k.streamed || k.outputTokens != 9 {
			t.Errorf("streamed %v, output tokens %d (want the message_delta's 9)", k.streamed, k.outputTokens)
		}
	})
}

func histogram(t *testing.T, vec *prometheus.HistogramVec, labels ...string) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	if err := vec.WithLabelValues(labels...).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}

// clientLatency observes from the request's arrival: time to first token,
// and (last - first) / (output tokens - 1) per token, under the handler's
// labels and recorded outcome.
func TestClientLatencyObserves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{m: metrics.New()}
		gin.SetMode(gin.ReleaseMode)
		e := gin.New()
		e.Use(s.clientLatency())
		e.POST("/stream", func(c *gin.Context) {
			c.Set(ctxRoute, &RouteRecorder{Outcome: "escalated"})
			k := clock(c)
			k.serve("opus", "claude-opus-5-5")
			time.Sleep(2 * time.Second) // draft, gate, verifier's first token
			k.token(time.Now())
			time.Sleep(time.Second)
			k.token(time.Now())
			time.Sleep(3 * time.Second)
			k.token(time.Now())
			k.outputTokens = 5
		})
		e.POST("/body", func(c *gin.Context) {
			c.Set(ctxRoute, &RouteRecorder{Outcome: "passthrough"})
			clock(c).serve("", "gpt-5-mini")
			time.Sleep(1500 * time.Millisecond)
			clock(c).body(time.Now())
		})
		e.POST("/unlabelled", func(c *gin.Context) { clock(c).body(time.Now()) }) // e.g. count_tokens
		e.POST("/failed", func(c *gin.Context) { clock(c).serve("", "gpt-5-mini") })
		for _, path := range []string{"/stream", "/body", "/unlabelled", "/failed"} {
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, path, nil))
		}
		if h := histogram(t, s.m.TimeToFirstToken, "opus", "escalated", "claude-opus-5-5"); h.GetSampleCount() != 1 || h.GetSampleSum() != 2 {
			t.Errorf("stream time to first token: %v", h)
		}
		if h := histogram(t, s.m.TimePerOutputToken, "opus", "escalated", "claude-opus-5-5"); h.GetSampleCount() != 1 || h.GetSampleSum() != 1 {
			t.Errorf("stream time per token: want (4s)/(5-1) = 1s, got %v", h)
		}
		if h := histogram(t, s.m.TimeToFirstToken, "", "passthrough", "gpt-5-mini"); h.GetSampleCount() != 1 || h.GetSampleSum() != 1.5 {
			t.Errorf("body time to first token: %v", h)
		}
		if h := histogram(t, s.m.TimePerOutputToken, "", "passthrough", "gpt-5-mini"); h.GetSampleCount() != 0 {
			t.Errorf("a body has no time per token: %v", h)
		}
		if n := testutilCount(t, s.m); n != 2 {
			t.Errorf("%d time-to-first-token series, want 2 (unlabelled and failed answers are not observed)", n)
		}
	})
}

func testutilCount(t *testing.T, m *metrics.Metrics) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	m.TimeToFirstToken.Collect(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	return n
}

func TestHasContent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect llm.Dialect
		kind    string
		events  string
		want    bool
	}{
		{"anthropic delta", llm.Anthropic, provider.PathMessages, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n", true},
		{"anthropic start", llm.Anthropic, provider.PathMessages, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"content\":[]}}\n\nevent: content_block_start\ndata: {}\n\n", false},
		{"anthropic ping quoting a delta", llm.Anthropic, provider.PathMessages, "event: ping\ndata: {\"note\":\"event: content_block_delta\"}\n\n", false},
		{"chat role chunk", llm.OpenAI, provider.PathMessages, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n", false},
		{"chat content chunk", llm.OpenAI, provider.PathMessages, `data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}` + "\n\n", true},
		{"chat quoted key", llm.OpenAI, provider.PathMessages, `data: {"choices":[{"index":0,"delta":{"content":""},"note":"\"content\":\"x"}]}` + "\n\n", false},
		{"chat tool call", llm.OpenAI, provider.PathMessages, `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c"}]}}]}` + "\n\n", true},
		{"chat finish", llm.OpenAI, provider.PathMessages, `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n", false},
		{"responses text delta", llm.OpenAI, provider.PathResponses, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n", true},
		{"responses arguments delta", llm.OpenAI, provider.PathResponses, "data: {\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{\"}\n\n", true},
		{"responses created", llm.OpenAI, provider.PathResponses, "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"output\":[]}}\n\n", false},
		{"responses done", llm.OpenAI, provider.PathResponses, "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"text\":\"type response.x.delta\"}\n\n", false},
	} {
		if got := hasContent(tc.dialect, tc.kind, []byte(tc.events)); got != tc.want {
			t.Errorf("%s: hasContent = %v, want %v", tc.name, got, tc.want)
		}
	}
}
