package status_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
)

// The page is checked against a known sequence of requests through a real
// proxy and the fake upstream, with prices and token counts fixed so every
// money figure can be worked out by hand:
//
//	draft    claude-haiku-5-5: 1000 in, 100 out at $1/$5 per M  = $0.0015
//	verifier claude-opus-5-5:  1000 in, 100 out at $2/$10 per M = $0.0030 (also the baseline)
//
// Two escalated requests cost draft + verifier ($0.0045 each, saving
// -$0.0015), then four accepted ones cost the draft ($0.0015, saving
// $0.0015). Every accepted draft is audited (one verifier call, $0.0030);
// three agree with the verifier, one does not.
const pageRules = `
version: v1
providers:
  - {name: anth, type: anthropic, baseURL: http://127.0.0.1:1, apiKey: {env: VENDOR_KEY}}
rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-opus-5-5}
    threshold: 0.5
    prices:
      claude-haiku-5-5: {input: 1, output: 5}
      claude-opus-5-5: {input: 2, output: 10}
    quality:
      target: 0.8
      minSamples: 100
      audit: {rate: 1, maxCostShare: 1, comparer: exact, keepText: true}
  - name: plain
    models: [claude-sonnet-5-5]
    draft: {provider: anth, model: claude-haiku-5-5}
    verifier: {provider: anth, model: claude-sonnet-5-5}
`

const (
	vendorKey = "sk-ant-vendor-SECRETKEY-5c1e0b7d"
	clientKey = "sk-ant-client-SECRETKEY-9a4f2e61"
	// marker is in one prompt; samples keep the prompt (keepText), so only
	// the page's own discipline keeps it off the page.
	marker = "PROMPTMARKER-3f9d21"

	draftAnswer    = "The capital of France is Paris, which is also its largest city.\n\nThe answer is Paris."
	wrongAnswer    = "The capital of France is Lyon, a large city on the Rhone.\n\nThe answer is Lyon."
	verifierAnswer = "Paris has been the capital of France for centuries.\n\nThe answer is Paris."
	hedge          = "I'm not sure. It might depend on several factors, and I may be wrong about this."
)

var fixedUsage = &fakeupstream.Usage{InputTokens: 1000, OutputTokens: 100}

// stack is a proxy over the fake upstream with its API and admin handlers
// served on loopback.
type stack struct {
	proxy *app.Proxy
	fake  *fakeupstream.Server
	api   *httptest.Server
	admin *httptest.Server
}

func newStack(t *testing.T) *stack {
	t.Helper()
	fake := fakeupstream.New(fakeupstream.Options{})
	fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		body := string(r.Body)
		switch {
		case r.Model != "claude-haiku-5-5":
			return fakeupstream.Reply{Text: verifierAnswer, Usage: fixedUsage}
		case strings.Contains(body, "escalate"):
			return fakeupstream.Reply{Text: hedge, Usage: fixedUsage}
		case strings.Contains(body, "Lyon"):
			return fakeupstream.Reply{Text: wrongAnswer, Usage: fixedUsage}
		}
		return fakeupstream.Reply{Text: draftAnswer, Usage: fixedUsage}
	})
	url := fake.Start()
	t.Cleanup(fake.Close)
	p, err := app.New(app.Options{
		Log:             slog.New(slog.DiscardHandler),
		LookupEnv:       func(string) (string, bool) { return vendorKey, true },
		BaseURLOverride: func(rules.Provider) string { return url },
		Server:          server.Config{AdminSeparate: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load([]byte(pageRules), "rules.yaml"); err != nil {
		t.Fatal(err)
	}
	s := &stack{proxy: p, fake: fake, api: httptest.NewServer(p.Server), admin: httptest.NewServer(p.Server.Admin())}
	t.Cleanup(s.api.Close)
	t.Cleanup(s.admin.Close)
	t.Cleanup(func() { _ = p.Auditor.Shutdown(context.Background()) })
	return s
}

// ask sends one Messages request for model and returns its cascade outcome.
func (s *stack) ask(t *testing.T, model, prompt string) string {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"max_tokens":200,"messages":[{"role":"user","content":%q}]}`, model, prompt)
	req, _ := http.NewRequest(http.MethodPost, s.api.URL+"/v1/messages", strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("x-api-key", clientKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/messages: %d %s", resp.StatusCode, b)
	}
	return resp.Header.Get(server.HeaderOutcome)
}

// sendKnownSequence sends the sequence the figures below are worked out
// from, sampling the chart history between requests, waits for the four
// audits and has the quality loop recalibrate over them.
func (s *stack) sendKnownSequence(t *testing.T) {
	t.Helper()
	start := time.Now().Add(-10 * time.Minute)
	steps := []struct{ model, prompt, want string }{
		{"claude-opus-5-5", "Please escalate: explain entropy", "escalated"},
		{"claude-opus-5-5", "Please escalate: explain enthalpy " + marker, "escalated"},
		{"claude-opus-5-5", "What is the capital of France?", "accepted"},
		{"claude-opus-5-5", "Name the capital of France.", "accepted"},
		{"claude-opus-5-5", "Is Lyon the capital of France?", "accepted"},
		{"claude-opus-5-5", "Which city is the capital of France?", "accepted"},
		{"claude-sonnet-5-5", "What is the capital of France?", "accepted"},
	}
	for i, st := range steps {
		if got := s.ask(t, st.model, st.prompt); got != st.want {
			t.Fatalf("request %d (%q): outcome %q, want %q", i, st.prompt, got, st.want)
		}
		s.waitAudits(t, max(0, min(i-1, 4)))
		s.proxy.Status.Sample(start.Add(time.Duration(i+1) * time.Minute))
	}
	s.recalibrate(t)
	s.proxy.Status.Sample(start.Add(9 * time.Minute))
}

// recalibrate makes the opus loop recalibrate over its samples now (a
// route otherwise does so every routequality.RefitEvery labels): a reload
// that changes its quality settings (minSamples 100 to 99, still a cold
// start) does.
func (s *stack) recalibrate(t *testing.T) {
	t.Helper()
	edited := strings.Replace(pageRules, "minSamples: 100", "minSamples: 99", 1)
	if err := s.proxy.Load([]byte(edited), "configmap ns/rules"); err != nil {
		t.Fatal(err)
	}
	if c := s.proxy.Loader.Store.Load().Compiled.Rules[0].Quality.Calibration(); c.Labels != 4 {
		t.Fatalf("calibration over %d labels after the reload, want 4", c.Labels)
	}
}

func (s *stack) waitAudits(t *testing.T, n int) {
	t.Helper()
	q := s.proxy.Loader.Store.Load().Compiled.Rules[0].Quality
	deadline := time.Now().Add(10 * time.Second)
	for q.Stats().AuditsDrawn < uint64(n) || q.Stats().Labels < n {
		if time.Now().After(deadline) {
			t.Fatalf("audits: %+v; want %d made and labelled", q.Stats(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *stack) page(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(s.admin.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// expectedFigures are the opus rule's figures of the known sequence,
// worked out by hand (see pageRules), as the page prints them.
var expectedFigures = map[string]string{
	"requests":          "6",
	"outcome-accepted":  "4",
	"outcome-escalated": "2",
	"acceptance":        "66.7%",
	"cost":              "$0.015000", // 2 × 0.0045 + 4 × 0.0015
	"baseline":          "$0.018000", // 6 × 0.0030
	"savings":           "$0.003000", // 4 × 0.0015 − 2 × 0.0015
	"audit-cost":        "$0.012000", // 4 audits × 0.0030
	"net-savings":       "−$0.009000",
	"target":            "80.0% not met",
	"reason":            "cold-start",
	"threshold":         "0.50",
	"labels":            "4",
}

// figure returns the text of the element with data-k=key inside the
// section of rule.
func figure(html, rule, key string) string {
	sec := html[strings.Index(html, `data-rule="`+rule+`"`):]
	if end := strings.Index(sec, "</section>"); end >= 0 {
		sec = sec[:end]
	}
	m := regexp.MustCompile(`data-k="` + regexp.QuoteMeta(key) + `"[^>]*>(.*?)</(?:b|td|span)>`).FindStringSubmatch(sec)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")), " ")
}

func TestPageShowsTheFiguresOfAKnownSequence(t *testing.T) {
	s := newStack(t)
	s.sendKnownSequence(t)
	resp, html := s.page(t, "/status")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /status: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for key, want := range expectedFigures {
		if got := figure(html, "opus", key); got != want {
			t.Errorf("opus %s = %q, want %q", key, got, want)
		}
	}
	// The quality shown is the one the served answers realised (one of the
	// four accepted drafts was worse), with its interval.
	st := s.proxy.Loader.Store.Load().Compiled.Rules[0].Quality.Stats()
	e := st.Calibration.Realised
	if math.IsNaN(e.Quality) || e.Quality >= 1 || st.Good != 3 || st.Bad != 1 {
		t.Fatalf("quality loop %+v; want 3 good and 1 worse audit", st)
	}
	wantQ := fmt.Sprintf("%.1f%% (%.1f%% – %.1f%% at 90.0%% confidence)", e.Quality*100, e.Lower*100, e.Upper*100)
	if got := figure(html, "opus", "quality"); got != wantQ {
		t.Errorf("opus quality = %q, want %q", got, wantQ)
	}
	audits := html[strings.Index(html, `data-k="audits"`):]
	audits = audits[:strings.Index(audits, "</table>")]
	if n := strings.Count(audits, "<td>accepted</td>"); n != 4 {
		t.Errorf("recent audits list %d accepted drafts, want 4", n)
	}
	if strings.Count(audits, `<span class="bad">worse</span>`) != 1 || strings.Count(audits, "<td>exact</td>") != 4 {
		t.Error("recent audits miss the worse verdict or the comparer")
	}
	// The rule without a quality loop has its own figures and no quality block.
	if got := figure(html, "plain", "requests"); got != "1" {
		t.Errorf("plain requests = %q, want 1", got)
	}
	if got := figure(html, "plain", "quality"); got != "" {
		t.Errorf("plain shows a quality %q without a quality loop", got)
	}
	// Charts from the sampled history, and the rules' hash and reload.
	if n := strings.Count(html, "<svg"); n != 3 {
		t.Errorf("%d charts, want 3 (savings and quality of opus, savings of plain)", n)
	}
	hash := s.proxy.Loader.Store.Load().Hash
	if !strings.Contains(html, `title="`+hash+`"`) || !strings.Contains(html, "<td>rules.yaml</td>") ||
		!strings.Contains(html, "<td>configmap ns/rules</td>") {
		t.Error("the page misses the rules hash or the reload history")
	}
	// Nothing external: no script, no remote URL.
	if strings.Contains(html, "<script") || regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(html) {
		t.Error("the page loads something from elsewhere")
	}
}

// Neither a key nor a prompt reaches the page, though the samples keep the
// prompts (keepText) and the upstream got the vendor key.
func TestPageHoldsNoKeyOrPrompt(t *testing.T) {
	s := newStack(t)
	s.sendKnownSequence(t)
	if got := s.fake.Requests()[0].Header.Get("X-Api-Key"); got != vendorKey {
		t.Fatalf("the upstream got key %q; the test needs the vendor key in play", got)
	}
	kept := false
	for _, smp := range s.proxy.Loader.Store.Load().Compiled.Rules[0].Quality.Samples() {
		kept = kept || strings.Contains(smp.Prompt, marker)
	}
	if !kept {
		t.Fatal("no sample kept the marked prompt; the test needs it within the page's reach")
	}
	_, html := s.page(t, "/status")
	for _, secret := range []string{vendorKey, clientKey, "SECRETKEY", marker, "capital of France?", draftAnswer[:30], verifierAnswer[:30]} {
		if strings.Contains(html, secret) {
			t.Errorf("the page holds %q", secret)
		}
	}
}

// The page is on the admin listener only; / there leads to it.
func TestPageOnlyOnTheAdminListener(t *testing.T) {
	s := newStack(t)
	resp, err := http.Get(s.api.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /status on the API port: %d, want 404", resp.StatusCode)
	}
	resp, html := s.page(t, "/")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/status" || !strings.Contains(html, "cascadeflow proxy") {
		t.Errorf("GET / on the admin port: %d at %s", resp.StatusCode, resp.Request.URL.Path)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	req, _ := http.NewRequest(http.MethodPost, s.admin.URL+"/status", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("POST /status answered 200; the page is read-only")
	}
}
