package claudecode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// The models Claude Code asks for, and the cascade's draft.
const (
	opus      = "claude-opus-5-5"   // the CLI's default; the "opus" rule cascades it
	haiku     = "claude-haiku-5-5"  // the rule's draft, and a model the CLI may ask for itself
	sonnet    = "claude-sonnet-5-5" // no rule: pass-through
	sonnet45  = "claude-sonnet-4-5-20250929"
	openaiDft = "gpt-5-mini"
)

// env is what every scenario shares.
type env struct {
	cli         cli
	main        *stack // rules: see rulesYAML
	bearer      *stack // client credentials forwarded upstream
	budget      *stack // clientKey has a hard budget smaller than any estimate: see budgetRulesYAML
	bearerToken string
}

type scenario struct {
	name string
	// run drives the CLI and checks the traffic; it returns a short note
	// for the PASS line.
	run func(t *testing.T, e *env) string
}

var scenarios = []scenario{
	{"plain-prompt", plainPrompt},
	{"bash-round-trip", bashRoundTrip},
	{"read-round-trip", readRoundTrip},
	{"auth-token-bearer", authTokenBearer},
	{"passthrough-fidelity", passthroughFidelity},
	{"small-model-passthrough", smallModelPassthrough},
	{"cascade-accept-then-escalate", acceptThenEscalate},
	{"cascade-escalate-then-accept", escalateThenAccept},
	{"openai-draft-billing-header", openAIDraftBillingHeader},
	{"count-tokens", countTokens},
	{"model-discovery", modelDiscovery},
	{"hard-budget-refusal", hardBudgetRefusal},
}

// TestClaudeCode runs every scenario with the real CLI and prints one
// "SCENARIO PASS|FAIL name" line each (run.sh reports them).
func TestClaudeCode(t *testing.T) {
	bin := os.Getenv("CLAUDE_BIN")
	if bin == "" {
		t.Skip("CLAUDE_BIN is not set: run test/claudecode/run.sh (make e2e-claude), which installs the CLI")
	}
	c := cli{bin: bin}
	fmt.Printf("SCENARIO INFO claude-code %s\n", c.version(t))
	proxyBin := buildProxy(t)
	e := &env{cli: c, bearerToken: "sk-ant-oat-client-token-for-e2e"}
	e.main = newStack(t, proxyBin, rulesYAML, fakeupstream.Options{RequireKey: vendorKey, ValidateSignatures: true},
		[]string{clientKey}, "CC_E2E_VENDOR_KEY="+vendorKey)
	e.bearer = newStack(t, proxyBin, clientAuthRulesYAML, fakeupstream.Options{RequireKey: e.bearerToken, ValidateSignatures: true}, nil)
	e.budget = newStack(t, proxyBin, budgetRulesYAML, fakeupstream.Options{RequireKey: vendorKey, ValidateSignatures: true},
		[]string{clientKey}, "CC_E2E_VENDOR_KEY="+vendorKey)
	only := os.Getenv("SCENARIO")
	total := time.Now()
	for _, sc := range scenarios {
		if only != "" && only != sc.name {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			for _, s := range []*stack{e.main, e.bearer, e.budget} {
				s.fake.ClearReplies()
				s.fake.Reset()
				s.front.take()
			}
			start := time.Now()
			note := ""
			logMark := len(e.main.proxy.Output())
			defer func() {
				took := time.Since(start).Round(10 * time.Millisecond)
				if t.Failed() {
					t.Logf("proxy log during the scenario:\n%s", trim(e.main.proxy.Output()[logMark:], 6000))
					fmt.Printf("SCENARIO FAIL %s (%s)\n", sc.name, took)
				} else {
					fmt.Printf("SCENARIO PASS %s (%s) %s\n", sc.name, took, note)
				}
			}()
			note = sc.run(t, e)
		})
	}
	if resp, err := http.Get(e.main.proxyURL + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "cascadeflow_requests_total") || strings.HasPrefix(l, "cascadeflow_cost_usd_total") ||
				strings.HasPrefix(l, "cascadeflow_savings_usd_total") || strings.HasPrefix(l, "cascadeflow_extra_cost_usd_total") ||
				strings.HasPrefix(l, "cascadeflow_baseline_cost_usd_total") {
				t.Logf("metric %s", l)
			}
		}
	}
	for name, s := range map[string]*stack{"main": e.main, "bearer": e.bearer, "budget": e.budget} {
		if out := s.proxy.Output(); strings.Contains(out, vendorKey) || strings.Contains(out, e.bearerToken) || strings.Contains(out, clientKey) {
			t.Errorf("a key appeared in the %s proxy's log", name)
		}
	}
	fmt.Printf("SCENARIO INFO total %s\n", time.Since(total).Round(10*time.Millisecond))
}

// --- traffic helpers ---

// record writes a request the CLI sent to testdata/ when CLAUDE_CODE_RECORD
// is set: NAME.body.json (the exact bytes) and NAME.headers.json (query and
// the headers the replay tests send).
func record(t *testing.T, name string, e exchange) {
	t.Helper()
	if os.Getenv("CLAUDE_CODE_RECORD") == "" {
		return
	}
	h := recordedHeaders{Query: e.RawQuery, Header: map[string]string{}}
	for _, k := range forwardedHeaders {
		if v := e.Header.Get(k); v != "" {
			h.Header[k] = v
		}
	}
	hb, _ := json.MarshalIndent(h, "", "  ")
	if err := os.WriteFile(filepath.Join("testdata", name+".body.json"), e.Body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", name+".headers.json"), append(hb, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordedHeaders is the NAME.headers.json of a recorded request.
type recordedHeaders struct {
	Query  string            `json:"query"`
	Header map[string]string `json:"header"`
}

// messages returns the POST /v1/messages exchanges.
func messages(ex []exchange) []exchange {
	var out []exchange
	for _, e := range ex {
		if e.Method == http.MethodPost && e.Path == "/v1/messages" {
			out = append(out, e)
		}
	}
	return out
}

// upstreamCalls returns the fake's requests to endpoint, optionally for one model.
func upstreamCalls(f *fakeupstream.Server, endpoint fakeupstream.Endpoint, model string) []fakeupstream.Received {
	var out []fakeupstream.Received
	for _, r := range f.Requests() {
		if r.Endpoint == endpoint && (model == "" || r.Model == model) {
			out = append(out, r)
		}
	}
	return out
}

func toolResults(body []byte) int { return bytes.Count(body, []byte(`"tool_result"`)) }

// outcomes lists X-Cascade-Outcome of each messages answer.
func outcomes(ex []exchange) []string {
	var out []string
	for _, e := range messages(ex) {
		out = append(out, e.RespHeader.Get("X-Cascade-Outcome"))
	}
	return out
}

// scores lists X-Cascade-Score of each messages answer ("-" when absent).
func scores(ex []exchange) string {
	var out []string
	for _, e := range messages(ex) {
		s := e.RespHeader.Get("X-Cascade-Score")
		if s == "" {
			s = "-"
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// allOK fails the test when the CLI got an error status (it would have
// retried, hiding the failure).
func allOK(t *testing.T, ex []exchange) {
	t.Helper()
	for _, e := range ex {
		if e.Status >= 400 {
			t.Errorf("%s %s answered %d", e.Method, e.Path, e.Status)
		}
	}
}

func wantResult(t *testing.T, r result, err error, text string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if r.IsError || r.Subtype != "success" || r.Result != text {
		t.Fatalf("CLI result: is_error=%v subtype=%q result=%q, want %q", r.IsError, r.Subtype, r.Result, text)
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// thinking returns a reply with a thinking block, as the adaptive-thinking
// models Claude Code uses answer.
func thinking(thought, text string, calls ...fakeupstream.ToolCall) fakeupstream.Reply {
	return fakeupstream.Reply{Thinking: thought, Text: text, ToolCalls: calls, TokensPerDelta: 3}
}

func unexpected(r *fakeupstream.Received) fakeupstream.Reply {
	return fakeupstream.Reply{Status: http.StatusTeapot, ErrorMessage: fmt.Sprintf("scenario did not expect a call to %s with %d tool results", r.Model, toolResults(r.Body))}
}

func bash(cmd string) fakeupstream.ToolCall {
	in, _ := json.Marshal(map[string]string{"command": cmd, "description": "Print a marker word"})
	return fakeupstream.ToolCall{Name: "Bash", Input: in}
}

// --- scenarios ---

func plainPrompt(t *testing.T, e *env) string {
	const answer = "Hello! I am ready to help with your code."
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		if r.Model == haiku {
			return thinking("A greeting; answer briefly.", answer)
		}
		return unexpected(r)
	})
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, prompt: "[cc:plain] say hi"})
	wantResult(t, r, err, answer)
	ex := e.main.front.take()
	allOK(t, ex)
	msgs := messages(ex)
	if len(msgs) != 1 || msgs[0].RawQuery != "beta=true" {
		t.Fatalf("CLI sent %d messages requests (%v), want exactly 1 with ?beta=true", len(msgs), ex)
	}
	record(t, "plain", msgs[0])
	h := msgs[0].RespHeader
	if h.Get("X-Cascade-Outcome") != "accepted" || h.Get("X-Cascade-Model") != haiku {
		t.Errorf("cascade headers: outcome %q model %q score %q", h.Get("X-Cascade-Outcome"), h.Get("X-Cascade-Model"), h.Get("X-Cascade-Score"))
	}
	if len(upstreamCalls(e.main.fake, fakeupstream.EndpointMessages, opus)) != 0 {
		t.Error("the verifier was called for an accepted draft")
	}
	return fmt.Sprintf("outcome=accepted score=%s cost=%s savings=%s", h.Get("X-Cascade-Score"), h.Get("X-Cascade-Cost-Usd"), h.Get("X-Cascade-Savings-Usd"))
}

func bashRoundTrip(t *testing.T, e *env) string {
	const answer = "The command printed cascade-bash-ok."
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		switch {
		case r.Model == haiku && toolResults(r.Body) == 0:
			return thinking("I should run the echo command.", "I'll run it.", bash("echo cascade-bash-ok"))
		case r.Model == haiku && toolResults(r.Body) == 1:
			return thinking("The tool printed the marker.", answer)
		}
		return unexpected(r)
	})
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, prompt: "[cc:bash] Run `echo cascade-bash-ok` and tell me what it printed.", tools: "Bash(echo:*)"})
	wantResult(t, r, err, answer)
	ex := e.main.front.take()
	allOK(t, ex)
	msgs := messages(ex)
	if len(msgs) != 2 {
		t.Fatalf("%d messages requests, want 2 (one per tool round trip)", len(msgs))
	}
	if !bytes.Contains(msgs[1].Body, []byte("cascade-bash-ok")) || toolResults(msgs[1].Body) != 1 {
		t.Fatal("the second request does not carry the Bash output as a tool_result")
	}
	record(t, "cascade-turn2", msgs[1])
	if got := outcomes(ex); !equalStrings(got, []string{"accepted", "accepted"}) {
		t.Errorf("outcomes %v", got)
	}
	checkDraftBlockRestored(t, msgs[1].Body, upstreamCalls(e.main.fake, fakeupstream.EndpointMessages, haiku), "I should run the echo command.")
	return "tool=Bash outcomes=accepted,accepted scores=" + scores(ex)
}

// checkDraftBlockRestored: the CLI sent back the accepted draft's thinking
// block with the marked signature, and the draft model got the genuine one.
func checkDraftBlockRestored(t *testing.T, cliBody []byte, draftCalls []fakeupstream.Received, thought string) {
	t.Helper()
	genuine := fakeupstream.Signature(haiku, thought)
	if !bytes.Contains(cliBody, []byte(`cfdraft1.`)) || !bytes.Contains(cliBody, []byte(genuine)) {
		t.Errorf("the CLI did not send back the marked draft signature")
	}
	if len(draftCalls) == 0 {
		t.Fatal("no draft call")
	}
	last := draftCalls[len(draftCalls)-1].Body
	if bytes.Contains(last, []byte("cfdraft1.")) || !bytes.Contains(last, []byte(`"signature":"`+genuine+`"`)) {
		t.Errorf("the draft did not get its genuine signature back")
	}
}

func readRoundTrip(t *testing.T, e *env) string {
	dir := t.TempDir()
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("The secret word is cascade-read-ok.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const answer = "The secret word is cascade-read-ok."
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		switch {
		case r.Model == haiku && toolResults(r.Body) == 0:
			in, _ := json.Marshal(map[string]string{"file_path": file})
			return thinking("Read the file first.", "Let me read it.", fakeupstream.ToolCall{Name: "Read", Input: in})
		case r.Model == haiku && toolResults(r.Body) == 1:
			return thinking("Found it.", answer)
		}
		return unexpected(r)
	})
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, prompt: "[cc:read] Read notes.txt and tell me the secret word.", tools: "Read", dir: dir})
	wantResult(t, r, err, answer)
	ex := e.main.front.take()
	allOK(t, ex)
	msgs := messages(ex)
	if len(msgs) != 2 || !bytes.Contains(msgs[1].Body, []byte("cascade-read-ok")) {
		t.Fatalf("%d messages requests; the file content must come back as a tool_result", len(msgs))
	}
	if got := outcomes(ex); !equalStrings(got, []string{"accepted", "accepted"}) {
		t.Errorf("outcomes %v", got)
	}
	return "tool=Read outcomes=accepted,accepted scores=" + scores(ex)
}

// authTokenBearer: ANTHROPIC_AUTH_TOKEN makes the CLI send
// "Authorization: Bearer". Against the main proxy the token is a key the
// proxy issued (--client-keys-dir) and the proxy's own vendor key goes
// upstream (as x-api-key); against a passthroughAuth provider the token
// itself does, still as a Bearer token (an OAuth token must stay one).
func authTokenBearer(t *testing.T, e *env) string {
	const answer = "Authenticated with a Bearer token."
	reply := func(r *fakeupstream.Received) fakeupstream.Reply { return thinking("Greet.", answer) }
	e.main.fake.SetResponder(reply)
	e.bearer.fake.SetResponder(reply)
	for _, c := range []struct {
		s                  *stack
		token              string
		upstreamHeader, up string
	}{{e.main, clientKey, "X-Api-Key", vendorKey}, {e.bearer, e.bearerToken, "Authorization", "Bearer " + e.bearerToken}} {
		r, err := e.cli.run(t, runOpts{baseURL: c.s.frontURL, prompt: "[cc:bearer] say hi", authToken: c.token, model: sonnet})
		wantResult(t, r, err, answer)
		ex := c.s.front.take()
		allOK(t, ex)
		msgs := messages(ex)
		if len(msgs) != 1 {
			t.Fatalf("%d messages requests", len(msgs))
		}
		if got := msgs[0].Header.Get("Authorization"); got != "Bearer "+c.token || msgs[0].Header.Get("X-Api-Key") != "" {
			t.Fatalf("the CLI did not authenticate with a Bearer token only (Authorization %q, x-api-key %q)", got, msgs[0].Header.Get("X-Api-Key"))
		}
		up := upstreamCalls(c.s.fake, fakeupstream.EndpointMessages, "")
		other := map[string]string{"X-Api-Key": "Authorization", "Authorization": "X-Api-Key"}[c.upstreamHeader]
		if len(up) != 1 || up[0].Header.Get(c.upstreamHeader) != c.up || up[0].Header.Get(other) != "" {
			t.Fatalf("the upstream was not called with the expected credential in %s", c.upstreamHeader)
		}
	}
	// A key the proxy did not issue is refused with Anthropic's 401 envelope.
	req, _ := http.NewRequest(http.MethodPost, e.main.frontURL+"/v1/messages?beta=true", strings.NewReader(`{"model":"claude-opus-5-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer sk-not-issued")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), `"authentication_error"`) {
		t.Errorf("an unknown key: %d %s", resp.StatusCode, b)
	}
	return "issued key as Bearer (vendor key upstream); own token forwarded (passthroughAuth); unknown key 401"
}

// forwardedHeaders must reach the upstream exactly as the CLI sent them.
// forwardedHeaders are the CLI's headers that reach the upstream when the
// proxy supplies the vendor key (an allow-list); droppedHeaders and the
// query string (?beta=true; betas travel in anthropic-beta) do not.
var forwardedHeaders = []string{"Anthropic-Version", "Anthropic-Beta", "User-Agent", "X-App", "X-Claude-Code-Session-Id",
	"X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-Os",
	"X-Stainless-Arch", "X-Stainless-Runtime", "X-Stainless-Runtime-Version", "X-Stainless-Retry-Count", "X-Stainless-Timeout", "Content-Type"}

var droppedHeaders = []string{"Anthropic-Dangerous-Direct-Browser-Access"}

// checkFidelity compares each messages request the CLI sent with the one
// the upstream received: same body bytes and allow-listed headers, no query.
func checkFidelity(t *testing.T, ex []exchange, up []fakeupstream.Received) int {
	t.Helper()
	msgs := messages(ex)
	if len(msgs) != len(up) {
		t.Fatalf("CLI sent %d messages requests, upstream got %d", len(msgs), len(up))
	}
	for i := range msgs {
		if !bytes.Equal(msgs[i].Body, up[i].Body) {
			t.Errorf("request %d: upstream body differs from the CLI's (%d vs %d bytes)", i, len(up[i].Body), len(msgs[i].Body))
		}
		if q := up[i].Query.Encode(); q != "" {
			t.Errorf("request %d: query %q upstream (the CLI sent %q); with the proxy's key none is forwarded", i, q, msgs[i].RawQuery)
		}
		for _, h := range droppedHeaders {
			if got := up[i].Header.Values(h); len(got) > 0 {
				t.Errorf("request %d: header %s reached the upstream with the proxy's key: %q", i, h, got)
			}
		}
		for _, h := range forwardedHeaders {
			if got, want := up[i].Header.Values(h), msgs[i].Header.Values(h); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("request %d: header %s upstream %q, CLI sent %q", i, h, got, want)
			}
		}
		if msgs[i].Header.Get("Anthropic-Beta") == "" {
			t.Errorf("request %d: the CLI sent no anthropic-beta (nothing compared)", i)
		}
	}
	return len(msgs)
}

func passthroughFidelity(t *testing.T, e *env) string {
	const answer = "It printed cascade-pass-ok."
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		switch {
		case r.Model == sonnet && toolResults(r.Body) == 0:
			return thinking("Run it.", "Running.", bash("echo cascade-pass-ok"))
		case r.Model == sonnet && toolResults(r.Body) == 1:
			return thinking("Done.", answer)
		}
		return unexpected(r)
	})
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, model: sonnet, prompt: "[cc:fidelity] Run `echo cascade-pass-ok`.", tools: "Bash(echo:*)"})
	wantResult(t, r, err, answer)
	ex := e.main.front.take()
	allOK(t, ex)
	n := checkFidelity(t, ex, upstreamCalls(e.main.fake, fakeupstream.EndpointMessages, ""))
	for _, m := range messages(ex) {
		if m.RespHeader.Get("X-Cascade-Outcome") != "" {
			t.Error("a pass-through answer carries cascade headers")
		}
	}
	record(t, "passthrough-turn2", messages(ex)[n-1])
	last := messages(ex)[n-1].Body
	if !bytes.Contains(last, []byte(fakeupstream.Signature(sonnet, "Run it."))) || !bytes.Contains(last, []byte("x-anthropic-billing-header")) {
		t.Error("the second request lacks the model's own thinking signature or the billing header (an Anthropic upstream strips it itself)")
	}
	return fmt.Sprintf("%d requests byte-identical upstream, %d headers compared", n, len(forwardedHeaders))
}

func smallModelPassthrough(t *testing.T, e *env) string {
	const answer = "Small and fast."
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		if r.Model == haiku {
			return thinking("Short.", answer)
		}
		return unexpected(r)
	})
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, model: haiku, prompt: "[cc:haiku] say something short"})
	wantResult(t, r, err, answer)
	ex := e.main.front.take()
	allOK(t, ex)
	n := checkFidelity(t, ex, upstreamCalls(e.main.fake, fakeupstream.EndpointMessages, ""))
	if o := outcomes(ex); len(o) != 1 || o[0] != "" {
		t.Errorf("a haiku request no rule names went through a rule: %v", o)
	}
	return fmt.Sprintf("%d request untouched (no rule names %s)", n, haiku)
}

func acceptThenEscalate(t *testing.T, e *env) string {
	const answer = "The verifier confirms: it printed cascade-esc-ok."
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		switch {
		case r.Model == haiku && toolResults(r.Body) == 0:
			return thinking("Run echo.", "Running it.", bash("echo cascade-esc-ok"))
		case r.Model == haiku && toolResults(r.Body) == 1:
			// Arguments that break Bash's input_schema: the gate escalates.
			return thinking("Again.", "", fakeupstream.ToolCall{Name: "Bash", Input: json.RawMessage(`{"cmd":"echo again"}`)})
		case r.Model == opus && toolResults(r.Body) == 1:
			return thinking("The output is in the tool result.", answer)
		}
		return unexpected(r)
	})
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, prompt: "[cc:accept-escalate] Run `echo cascade-esc-ok` and tell me what it printed.", tools: "Bash(echo:*)"})
	wantResult(t, r, err, answer)
	ex := e.main.front.take()
	allOK(t, ex)
	if got := outcomes(ex); !equalStrings(got, []string{"accepted", "escalated"}) {
		t.Fatalf("outcomes %v (scores %s), want accepted,escalated", got, scores(ex))
	}
	drafts := upstreamCalls(e.main.fake, fakeupstream.EndpointMessages, haiku)
	checkDraftBlockRestored(t, messages(ex)[1].Body, drafts, "Run echo.")
	ver := upstreamCalls(e.main.fake, fakeupstream.EndpointMessages, opus)
	if len(ver) != 1 {
		t.Fatalf("%d verifier calls", len(ver))
	}
	if bytes.Contains(ver[0].Body, []byte(fakeupstream.Signature(haiku, "Run echo."))) || bytes.Contains(ver[0].Body, []byte("cfdraft1.")) {
		t.Error("the verifier got the draft's thinking block")
	}
	if !bytes.Contains(ver[0].Body, []byte("cascade-esc-ok")) {
		t.Error("the verifier did not get the tool result")
	}
	return "outcomes=accepted,escalated scores=" + scores(ex) + " (draft tool_use failed Bash's input_schema); verifier history without the draft's thinking"
}

func escalateThenAccept(t *testing.T, e *env) string {
	const answer = "Done: it printed cascade-acc-ok."
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		switch {
		case r.Model == haiku && toolResults(r.Body) == 0:
			return thinking("Unsure.", "I'm sorry, but I can't help with that.")
		case r.Model == opus && toolResults(r.Body) == 0:
			return thinking("Run the command.", "I'll run it.", bash("echo cascade-acc-ok"))
		case r.Model == haiku && toolResults(r.Body) == 1:
			return thinking("Report it.", answer)
		}
		return unexpected(r)
	})
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, prompt: "[cc:escalate-accept] Run `echo cascade-acc-ok` and tell me what it printed.", tools: "Bash(echo:*)"})
	ex := e.main.front.take()
	wantResult(t, r, err, answer)
	allOK(t, ex)
	if got := outcomes(ex); !equalStrings(got, []string{"escalated", "accepted"}) {
		t.Fatalf("outcomes %v (scores %s), want escalated,accepted", got, scores(ex))
	}
	opusSig := fakeupstream.Signature(opus, "Run the command.")
	if !bytes.Contains(messages(ex)[1].Body, []byte(`"signature":"`+opusSig+`"`)) {
		t.Error("the CLI did not send back the verifier's genuine signature")
	}
	drafts := upstreamCalls(e.main.fake, fakeupstream.EndpointMessages, haiku)
	if len(drafts) != 2 || bytes.Contains(drafts[1].Body, []byte(opusSig)) {
		t.Error("the draft got the verifier's thinking block")
	}
	return "outcomes=escalated,accepted scores=" + scores(ex) + "; draft history without the verifier's thinking"
}

func openAIDraftBillingHeader(t *testing.T, e *env) string {
	const answer = "Hello from the OpenAI-compatible draft."
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
		if r.Model == openaiDft {
			return fakeupstream.Reply{Text: answer}
		}
		return unexpected(r)
	})
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, model: sonnet45, prompt: "[cc:openai-draft] say hello"})
	wantResult(t, r, err, answer)
	ex := e.main.front.take()
	allOK(t, ex)
	msgs := messages(ex)
	if len(msgs) != 1 || !bytes.Contains(msgs[0].Body, []byte("x-anthropic-billing-header")) {
		t.Fatal("the CLI's request carries no billing header block (nothing to check)")
	}
	if o := outcomes(ex); !equalStrings(o, []string{"accepted"}) {
		t.Errorf("outcomes %v", o)
	}
	up := upstreamCalls(e.main.fake, fakeupstream.EndpointChatCompletions, openaiDft)
	if len(up) != 1 {
		t.Fatalf("%d calls to the OpenAI-compatible draft", len(up))
	}
	if bytes.Contains(up[0].Body, []byte("x-anthropic-billing-header")) {
		t.Error("the billing header block reached a non-Anthropic upstream")
	}
	if !bytes.Contains(up[0].Body, []byte("You are a Claude agent")) {
		t.Error("the rest of the system prompt did not reach the OpenAI-compatible draft")
	}
	return "billing block stripped for the OpenAI-compatible draft, rest of the system prompt kept"
}

// countTokens replays the CLI's own request body to count_tokens (the CLI
// calls it to decide when to compact, which a short session never reaches).
func countTokens(t *testing.T, e *env) string {
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply { return thinking("x", "Counted.") })
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, prompt: "[cc:count] say hi"})
	wantResult(t, r, err, "Counted.")
	msgs := messages(e.main.front.take())
	if len(msgs) != 1 {
		t.Fatalf("%d messages requests", len(msgs))
	}
	var full map[string]json.RawMessage
	if err := json.Unmarshal(msgs[0].Body, &full); err != nil {
		t.Fatal(err)
	}
	count := map[string]json.RawMessage{}
	for _, k := range []string{"model", "messages", "system", "tools", "thinking"} {
		count[k] = full[k]
	}
	var notes []string
	for _, model := range []string{opus, sonnet45, sonnet} {
		count["model"], _ = json.Marshal(model)
		body, _ := json.Marshal(count)
		req, _ := http.NewRequest(http.MethodPost, e.main.frontURL+"/v1/messages/count_tokens?beta=true", bytes.NewReader(body))
		for _, h := range []string{"Anthropic-Version", "Anthropic-Beta", "X-Api-Key", "User-Agent", "Content-Type"} {
			req.Header.Set(h, msgs[0].Header.Get(h))
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			InputTokens int `json:"input_tokens"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.InputTokens < 1000 {
			t.Fatalf("count_tokens for %s: %d %s", model, resp.StatusCode, b)
		}
		// Every route here ends at an Anthropic provider: the count is forwarded, for the model that serves the request.
		up := upstreamCalls(e.main.fake, fakeupstream.EndpointCountTokens, "")
		if len(up) == 0 || up[len(up)-1].Model != model {
			t.Fatalf("count_tokens for %s was not forwarded for that model", model)
		}
		notes = append(notes, fmt.Sprintf("%s=%d(%s)", model, out.InputTokens, time.Since(start).Round(time.Millisecond)))
	}
	return "forwarded: " + strings.Join(notes, " ")
}

func modelDiscovery(t *testing.T, e *env) string {
	e.main.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply { return thinking("x", "Discovered.") })
	r, err := e.cli.run(t, runOpts{baseURL: e.main.frontURL, prompt: "[cc:discovery] say hi", nonessential: true,
		env: []string{"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1"}})
	wantResult(t, r, err, "Discovered.")
	ex := e.main.front.take()
	var models *exchange
	for i := range ex {
		if ex[i].Method == http.MethodGet && ex[i].Path == "/v1/models" {
			models = &ex[i]
		}
	}
	if models == nil {
		t.Fatalf("the CLI did not ask for /v1/models with discovery on (%d requests)", len(ex))
	}
	if models.RawQuery != "limit=1000" || models.Status != http.StatusOK || models.Took > 3*time.Second {
		t.Fatalf("GET /v1/models?%s answered %d in %s", models.RawQuery, models.Status, models.Took)
	}
	// Ask again as the CLI did and read the list it got.
	req, _ := http.NewRequest(http.MethodGet, e.main.frontURL+"/v1/models?limit=1000", nil)
	for k, v := range models.Header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range list.Data {
		ids[m.ID] = true
	}
	for _, want := range []string{opus, "opus", sonnet45, sonnet, haiku} {
		if !ids[want] {
			t.Errorf("model list lacks %s", want)
		}
	}
	allOK(t, messages(ex))
	return fmt.Sprintf("GET /v1/models?limit=1000 -> %d models in %s", len(list.Data), models.Took.Round(time.Millisecond))
}

// hardBudgetRefusal: the key's hard budget ($0.01 a day) is smaller than the
// estimate of any Claude Code turn on the opus cascade (its prompt alone is
// thousands of tokens, priced at the verifier too), so the first request is
// refused before it reaches an upstream. The CLI must stop at once (402 with
// x-should-retry: false) and show the proxy's message.
func hardBudgetRefusal(t *testing.T, e *env) string {
	e.budget.fake.SetResponder(unexpected)
	// The CLI's default retry count, not the rig's 1: x-should-retry must be what stops it.
	r, err := e.cli.run(t, runOpts{baseURL: e.budget.frontURL, prompt: "[cc:budget] say hi", env: []string{"CLAUDE_CODE_MAX_RETRIES=10"}})
	ex := e.budget.front.take()
	msgs := messages(ex)
	if len(msgs) == 0 {
		t.Fatalf("the CLI sent no messages request (exit %v): %s", err, trim(r.Output, 2000))
	}
	for i, m := range msgs {
		if m.Status != http.StatusPaymentRequired || m.RespHeader.Get("X-Should-Retry") != "false" {
			t.Errorf("request %d answered %d (x-should-retry %q), want 402 with x-should-retry: false", i, m.Status, m.RespHeader.Get("X-Should-Retry"))
		}
	}
	if len(msgs) != 1 {
		t.Errorf("the CLI sent %d messages requests after a budget refusal, want 1 (no retries)", len(msgs))
	}
	if n := len(e.budget.fake.Requests()); n != 0 {
		t.Errorf("a refused request reached the upstream (%d calls)", n)
	}
	if err == nil {
		t.Errorf("the CLI exited 0 after a budget refusal: %s", trim(r.Output, 1000))
	}
	const want = `the key "cc-tiny" has spent its day budget of $0.01`
	if !r.IsError || !strings.Contains(r.Result, want) {
		t.Fatalf("CLI result: is_error=%v subtype=%q result=%q, want the proxy's message %q", r.IsError, r.Subtype, r.Result, want)
	}
	if r.Took > 30*time.Second {
		t.Errorf("the CLI took %s to give up", r.Took)
	}
	resp, err := http.Get(e.budget.proxyURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const metric = `cascadeflow_client_refusals_total{key="cc-tiny",reason="budget",team="e2e"} `
	if !strings.Contains(string(b), metric+fmt.Sprint(len(msgs))+"\n") {
		t.Errorf("metrics lack %s%d", metric, len(msgs))
	}
	refused := 0
	for _, l := range strings.Split(e.budget.proxy.Output(), "\n") {
		if strings.Contains(l, `"msg":"request"`) && strings.Contains(l, `"status":402`) && strings.Contains(l, `"key_name":"cc-tiny","team":"e2e"`) {
			refused++
		}
	}
	if refused != len(msgs) {
		t.Errorf("the proxy logged %d requests of cc-tiny answered 402, want %d:\n%s", refused, len(msgs), trim(e.budget.proxy.Output(), 3000))
	}
	return fmt.Sprintf("402 billing_error, %d request, CLI exited in %s with %q", len(msgs), r.Took.Round(10*time.Millisecond), trim(r.Result, 160))
}
