package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/logistic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// auditRules is one cascade rule; quality is its quality block (empty: none).
// Draft and verifier cost the same, so the audit budget (a share of the
// rule's spend) allows an audit from the first request on.
func auditRules(quality string) string {
	return `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: "{{URL}}", apiKey: {env: VENDOR_KEY}}
rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
    threshold: 0.5
    prices:
      claude-haiku-5-5: {input: 1, output: 5}
      claude-opus-5-5: {input: 1, output: 5}
` + quality
}

const (
	auditedDraft    = "The capital of France is Paris, which is also its largest city.\n\nThe answer is Paris."
	auditedVerifier = "Paris has been the capital of France for centuries.\n\nThe answer is Paris."
)

// gatedVerifier makes the fake's verifier wait for release; started
// receives once per verifier call. The draft answers auditedDraft.
type gatedVerifier struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func gateVerifier(t *testing.T, fake *fakeupstream.Server) *gatedVerifier {
	g := &gatedVerifier{started: make(chan struct{}, 16), release: make(chan struct{})}
	t.Cleanup(g.open) // before the fake closes, which waits for its calls
	fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		if r.Model != "claude-opus-5-5" {
			return fakeupstream.Reply{Text: auditedDraft}
		}
		g.started <- struct{}{}
		<-g.release
		return fakeupstream.Reply{Text: auditedVerifier}
	})
	return g
}

func (g *gatedVerifier) open() { g.once.Do(func() { close(g.release) }) }

// tee keeps the raw response body the SDK reads.
func tee(buf *bytes.Buffer) aoption.RequestOption {
	return aoption.WithMiddleware(func(req *http.Request, next aoption.MiddlewareNext) (*http.Response, error) {
		resp, err := next(req)
		if err == nil {
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.TeeReader(resp.Body, buf), resp.Body}
		}
		return resp, err
	})
}

// ask sends one request through the Anthropic SDK and returns the text the
// SDK decoded, the raw body and the cascade headers.
func ask(t *testing.T, h *harness, stream bool) (text string, raw []byte, outcome string) {
	t.Helper()
	var buf bytes.Buffer
	var resp *http.Response
	c := h.anthropic(tee(&buf), aoption.WithResponseInto(&resp))
	p := capitalParams("claude-opus-5-5")
	if stream {
		msg, _, err := streamAnthropic(t, c, p)
		if err != nil {
			t.Fatal(err)
		}
		text = msg.Content[0].Text
	} else {
		msg, err := c.Messages.New(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		text = msg.Content[0].Text
	}
	return text, buf.Bytes(), resp.Header.Get("X-Cascade-Outcome")
}

func opusRoute(h *harness) *routequality.Route {
	return h.loader.Store.Load().Compiled.Rules[0].Quality
}

// An audit runs after the client has its answer: the answer is the same
// bytes with and without the audit, and it arrives while the audit's
// verifier call is still held.
func TestAuditAfterTheAnswerThroughTheSDK(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "complete"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			plain := newHarness(t, auditRules(""), harnessOptions{})
			plain.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: auditedDraft})
			wantText, wantRaw, outcome := ask(t, plain, stream)
			if outcome != "accepted" || wantText != auditedDraft || len(wantRaw) < 100 {
				t.Fatalf("without audits: outcome %q text %q", outcome, wantText)
			}

			h := newHarness(t, auditRules("    quality: {audit: {rate: 1, maxCostShare: 1}}\n"), harnessOptions{})
			g := gateVerifier(t, h.fake)
			// The verifier is held until released: if the client's answer
			// waited for the audit, ask would not return.
			text, raw, outcome := ask(t, h, stream)
			if outcome != "accepted" || text != wantText {
				t.Fatalf("with an audit: outcome %q text %q", outcome, text)
			}
			if !bytes.Equal(raw, wantRaw) {
				t.Fatalf("the audited answer's bytes differ:\n%s\nwithout the audit:\n%s", raw, wantRaw)
			}
			select {
			case <-g.started:
			case <-time.After(10 * time.Second):
				t.Fatal("the audit never asked the verifier")
			}
			if s := opusRoute(h).Samples(); len(s) != 0 {
				t.Fatalf("a sample before the audit's verifier answered: %+v", s)
			}
			g.open()
			waitFor(t, "the audit's sample", func() bool { return len(opusRoute(h).Samples()) == 1 })
			s := opusRoute(h).Samples()[0]
			if !s.Labelled || !s.Good || s.Comparer != "exact" || s.LabelProb != 1 || s.Outcome != "accepted" || s.AuditCost <= 0 {
				t.Errorf("sample %+v", s)
			}
			// The audit asked the verifier the client's own request.
			reqs := h.fake.Requests()
			if len(reqs) != 2 || reqs[1].Model != "claude-opus-5-5" || reqs[1].Stream != stream ||
				!strings.Contains(string(reqs[1].Body), "What is the capital of France?") {
				t.Errorf("upstream requests %+v", reqs)
			}
			if v := testutil.ToFloat64(h.metrics.Audits.WithLabelValues("opus", "accepted", "exact", "good")); v != 1 {
				t.Errorf("audits metric %v", v)
			}
		})
	}
}

// The samples export is served on the admin handler only, as JSON Lines.
func TestQualitySamplesExport(t *testing.T) {
	h := newHarness(t, auditRules("    quality: {audit: {rate: 1, maxCostShare: 1}}\n"), harnessOptions{adminApart: true})
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: auditedDraft})
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: auditedVerifier})
	for range 3 {
		ask(t, h, false)
	}
	waitFor(t, "three samples", func() bool { return len(opusRoute(h).Samples()) == 3 })
	h.auditor.Wait()

	if code, _ := h.get("/api/quality/samples?rule=opus", nil); code != http.StatusNotFound {
		t.Fatalf("the API port serves the samples export: %d", code)
	}
	admin := httptest.NewServer(h.srv.Admin())
	defer admin.Close()
	get := func(path string) (int, string, string) {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	code, ctype, body := get("/api/quality/samples?rule=opus")
	if code != 200 || ctype != "application/x-ndjson" {
		t.Fatalf("export: %d %s %s", code, ctype, body)
	}
	samples, err := routequality.ReadSamples(strings.NewReader(body))
	if err != nil || len(samples) != 3 {
		t.Fatalf("export held %d samples (%v):\n%s", len(samples), err, body)
	}
	for i, s := range samples {
		if s.Rule != "opus" || (i > 0 && s.Seq <= samples[i-1].Seq) || !s.Labelled || !s.Good || len(s.RequestHash) != 64 || s.Prompt != "" {
			t.Errorf("exported sample %d: %+v", i, s)
		}
	}
	if samples[0].RequestHash != samples[1].RequestHash {
		t.Error("the same question hashed differently")
	}
	if code, _, body := get("/api/quality/samples"); code != 200 || strings.Count(body, "\n") != 3 {
		t.Errorf("export of every rule: %d\n%s", code, body)
	}
	if code, _, body := get("/api/quality/samples?rule=nope"); code != 404 || !strings.Contains(body, "no rule named nope") {
		t.Errorf("unknown rule: %d %s", code, body)
	}
}

// The quality loop's figures show in the metrics, /api/stats and
// /debug/rules exactly as the calibration in effect has them.
func TestQualityFiguresVisible(t *testing.T) {
	h := newHarness(t, auditRules("    quality: {target: 0.9, audit: {rate: 1, maxCostShare: 1}}\n"), harnessOptions{})
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: auditedDraft})
	h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: auditedVerifier})
	ask(t, h, false)
	waitFor(t, "the audit", func() bool { return len(opusRoute(h).Samples()) == 1 })
	h.auditor.Wait()

	names := routequality.FeatureNames()
	weights := make([]float64, len(names))
	for i := range weights {
		weights[i] = float64(i) / 10
	}
	opusRoute(h).SetCalibration(routequality.Calibration{Threshold: 0.42, Reason: string(calibrate.Calibrated), Target: 0.9, Met: true,
		Estimate: calibrate.Estimate{Quality: 0.95, Lower: 0.91, Upper: 0.97}, Labels: 150, Samples: 900,
		Model: &routequality.Model{Features: names, Model: logistic.Model{Bias: -0.5, Weights: weights}}})

	_, body := h.get("/metrics", nil)
	for _, line := range []string{
		`cascadeflow_quality_estimate{rule="opus"} 0.95`,
		`cascadeflow_quality_lower_bound{rule="opus"} 0.91`,
		`cascadeflow_quality_upper_bound{rule="opus"} 0.97`,
		`cascadeflow_quality_target{rule="opus"} 0.9`,
		`cascadeflow_quality_target_met{rule="opus"} 1`,
		`cascadeflow_quality_threshold{rule="opus"} 0.42`,
		`cascadeflow_quality_calibration{reason="calibrated",rule="opus"} 1`,
		`cascadeflow_quality_calibration_labels{rule="opus"} 150`,
		`cascadeflow_quality_calibration_samples{rule="opus"} 900`,
		`cascadeflow_quality_samples_total{labelled="true",rule="opus"} 1`,
		`cascadeflow_audits_total{comparer="exact",rule="opus",source="accepted",verdict="good"} 1`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
	if strings.Contains(body, `reason="cold-start"`) {
		t.Error("the previous calibration reason is still exported")
	}
	auditCost := testutil.ToFloat64(h.metrics.AuditCostUSD.WithLabelValues("opus"))
	if auditCost <= 0 {
		t.Fatalf("audit cost %v", auditCost)
	}

	_, stats := h.get("/api/stats", nil)
	var st struct {
		Rules []struct {
			Rule       string  `json:"rule"`
			SavingsUSD float64 `json:"savingsUSD"`
		} `json:"rules"`
		Quality map[string]struct {
			Threshold     float64                     `json:"threshold"`
			Reason        string                      `json:"reason"`
			Target        float64                     `json:"target"`
			Met           bool                        `json:"met"`
			Estimate      float64                     `json:"estimate"`
			Lower         float64                     `json:"lower"`
			Upper         float64                     `json:"upper"`
			Labels        int                         `json:"labels"`
			Audits        map[string]map[string]int64 `json:"audits"`
			AuditCostUSD  float64                     `json:"auditCostUSD"`
			NetSavingsUSD float64                     `json:"netSavingsUSD"`
			AuditSpendUSD float64                     `json:"auditSpendUSD"`
			Learned       struct {
				Bias    float64            `json:"bias"`
				Weights map[string]float64 `json:"weights"`
			} `json:"learned"`
		} `json:"quality"`
	}
	if err := json.Unmarshal([]byte(stats), &st); err != nil {
		t.Fatal(err)
	}
	q, ok := st.Quality["opus"]
	if !ok || q.Threshold != 0.42 || q.Reason != "calibrated" || q.Target != 0.9 || !q.Met || q.Estimate != 0.95 || q.Lower != 0.91 || q.Upper != 0.97 || q.Labels != 150 {
		t.Fatalf("stats quality: %s", stats)
	}
	if q.Audits["accepted"]["exact/good"] != 1 || math.Abs(q.AuditCostUSD-auditCost) > 1e-12 || math.Abs(q.AuditSpendUSD-auditCost) > 1e-12 {
		t.Errorf("stats audits %+v cost %v spend %v; metric %v", q.Audits, q.AuditCostUSD, q.AuditSpendUSD, auditCost)
	}
	if len(st.Rules) != 1 || math.Abs(q.NetSavingsUSD-(st.Rules[0].SavingsUSD-auditCost)) > 1e-12 {
		t.Errorf("net savings %v, want savings %v minus audit cost %v", q.NetSavingsUSD, st.Rules, auditCost)
	}
	if v := testutil.ToFloat64(h.metrics.NetSavingsUSD.WithLabelValues("opus")); math.Abs(v-q.NetSavingsUSD) > 1e-12 {
		t.Errorf("net savings metric %v, stats %v", v, q.NetSavingsUSD)
	}
	if q.Learned.Bias != -0.5 || len(q.Learned.Weights) != len(names) || q.Learned.Weights[names[3]] != 0.3 {
		t.Errorf("learned weights %+v", q.Learned)
	}

	_, debug := h.get("/debug/rules", nil)
	var dr struct {
		Quality map[string]struct {
			Threshold float64 `json:"threshold"`
			Learned   struct {
				Weights map[string]float64 `json:"weights"`
			} `json:"learned"`
		} `json:"quality"`
	}
	if err := json.Unmarshal([]byte(debug), &dr); err != nil {
		t.Fatal(err)
	}
	if d := dr.Quality["opus"]; d.Threshold != 0.42 || d.Learned.Weights["prior"] != 0 || d.Learned.Weights[names[1]] != 0.1 {
		t.Errorf("debug rules quality: %s", debug)
	}

	// A rule without a quality loop leaves the gauges.
	h.reload(auditRules(""))
	_, body = h.get("/metrics", nil)
	if strings.Contains(body, `cascadeflow_quality_threshold{rule="opus"}`) {
		t.Error("the quality gauges outlive the rule's quality loop")
	}
}

// Audits still running when the server shuts down are canceled once the
// shutdown timeout has passed; the server stops anyway.
func TestAuditCanceledAtShutdown(t *testing.T) {
	h := newHarness(t, auditRules("    quality: {audit: {rate: 1, maxCostShare: 1}}\n"), harnessOptions{shutdownWait: 200 * time.Millisecond})
	g := gateVerifier(t, h.fake)
	ask(t, h, false)
	<-g.started
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop with an audit hanging")
	}
	if s := opusRoute(h).Samples(); len(s) != 1 || s[0].Labelled {
		t.Errorf("the canceled audit's sample: %+v", s)
	}
	h.done <- nil // for the harness's cleanup
}

// An escalated draft is compared with the verifier's answer exactly as the
// client received it, streamed or not, at no model cost.
func TestEscalatedDraftComparedWithTheAnswerRelayed(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "complete"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			rules := strings.Replace(auditRules("    quality: {audit: {rate: 1, maxCostShare: 1, keepText: true}}\n"),
				"threshold: 0.5", "threshold: 0.99", 1) // every draft escalated
			h := newHarness(t, rules, harnessOptions{})
			h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: auditedDraft})
			h.fake.SetReply("claude-opus-5-5", fakeupstream.Reply{Text: auditedVerifier})
			text, _, outcome := ask(t, h, stream)
			if outcome != "escalated" || text != auditedVerifier {
				t.Fatalf("outcome %q text %q", outcome, text)
			}
			waitFor(t, "the comparison's sample", func() bool { return len(opusRoute(h).Samples()) == 1 })
			s := opusRoute(h).Samples()[0]
			if s.Outcome != "escalated" || !s.Labelled || !s.Good || s.Comparer != "exact" || s.LabelProb != 1 {
				t.Errorf("sample %+v", s)
			}
			if s.VerifierText != auditedVerifier || s.DraftText != auditedDraft || !strings.Contains(s.Prompt, "What is the capital of France?") {
				t.Errorf("kept texts: verifier %q draft %q prompt %q", s.VerifierText, s.DraftText, s.Prompt)
			}
			if len(s.Features) != routequality.NumFeatures || s.Score <= 0 || s.VerifierCost <= 0 || s.DraftCost <= 0 || s.AuditCost != 0 {
				t.Errorf("sample facts %+v", s)
			}
			if n := len(h.fake.Requests()); n != 2 {
				t.Errorf("%d upstream calls, want the draft and the verifier only", n)
			}
			if v := testutil.ToFloat64(h.metrics.Audits.WithLabelValues("opus", "escalated", "exact", "good")); v != 1 {
				t.Errorf("audits{escalated,exact,good} = %v", v)
			}
		})
	}
}
