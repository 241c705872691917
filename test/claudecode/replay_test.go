package claudecode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	anthropicdialect "github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tokencount"
)

// replayRules are rulesYAML plus a rule whose verifier is OpenAI-compatible,
// so count_tokens has to be estimated locally.
var replayRules = strings.Replace(rulesYAML, "defaultRoute:", `  - name: local
    models: [claude-on-vllm]
    draft: {provider: fake-openai, model: small}
    verifier: {provider: fake-openai, model: big}
defaultRoute:`, 1)

// inProc is the proxy assembled in-process (as cmd/proxy does) in front of
// the fake upstream.
type inProc struct {
	url  string
	fake *fakeupstream.Server
}

func newInProc(t *testing.T) *inProc {
	t.Helper()
	fake := fakeupstream.New(fakeupstream.Options{RequireKey: vendorKey, ValidateSignatures: true})
	fakeURL := fake.Start()
	t.Cleanup(fake.Close)
	proxy, err := app.New(app.Options{
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		LookupEnv: func(k string) (string, bool) { return vendorKey, k == "CC_E2E_VENDOR_KEY" },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := proxy.Load([]byte(strings.ReplaceAll(replayRules, "{{FAKE}}", fakeURL)), "test"); err != nil {
		t.Fatalf("rules: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	url, wait, err := proxy.Serve(ctx, "127.0.0.1:0", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- wait() }()
	t.Cleanup(func() { cancel(); <-done })
	return &inProc{url: url, fake: fake}
}

// recorded is a request the real CLI sent (see record in scenarios_test.go).
type recorded struct {
	body   []byte
	header recordedHeaders
}

func loadRecorded(t *testing.T, name string) recorded {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name+".body.json"))
	if err != nil {
		t.Fatal(err)
	}
	hb, err := os.ReadFile(filepath.Join("testdata", name+".headers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h recordedHeaders
	if err := json.Unmarshal(hb, &h); err != nil {
		t.Fatal(err)
	}
	return recorded{body: body, header: h}
}

// withModel returns the body with its model replaced, as the CLI's --model would.
func withModel(t *testing.T, body []byte, model string) []byte {
	t.Helper()
	rt, err := jsonfield.ReadRouting(body)
	if err != nil {
		t.Fatal(err)
	}
	return jsonfield.Replace(body, rt.ModelSpan, jsonfield.QuoteString(model))
}

// send posts body to path as the CLI did and returns status, headers and the
// whole answer.
func (p *inProc) send(t *testing.T, path string, rec recorded, body []byte) (int, http.Header, []byte) {
	t.Helper()
	url := p.url + path
	if rec.header.Query != "" {
		url += "?" + rec.header.Query
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range rec.header.Header {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Api-Key", "sk-client-anything")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// sseTypes lists the event names of an SSE body.
func sseTypes(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			out = append(out, name)
		}
	}
	return out
}

func TestReplayPassthroughKeepsClaudeCodeBytes(t *testing.T) {
	p := newInProc(t)
	p.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply { return thinking("ok", "Fine.") })
	for _, name := range []string{"plain", "passthrough-turn2"} {
		rec := loadRecorded(t, name)
		body := rec.body
		if name == "plain" {
			body = withModel(t, body, sonnet) // a model no rule names
		}
		p.fake.Reset()
		status, h, out := p.send(t, "/v1/messages", rec, body)
		if status != http.StatusOK || h.Get("X-Cascade-Outcome") != "" {
			t.Fatalf("%s: %d %s", name, status, trim(string(out), 500))
		}
		up := upstreamCalls(p.fake, fakeupstream.EndpointMessages, "")
		if len(up) != 1 {
			t.Fatalf("%s: %d upstream calls", name, len(up))
		}
		if !bytes.Equal(up[0].Body, body) {
			t.Errorf("%s: upstream body differs from the CLI's (%d vs %d bytes)", name, len(up[0].Body), len(body))
		}
		// The vendor key is the proxy's: the CLI's headers go through an
		// allow-list (the browser-access flag means nothing server to server)
		// and its query string stays behind.
		for k, v := range rec.header.Header {
			want := v
			if k == "Anthropic-Dangerous-Direct-Browser-Access" {
				want = ""
			}
			if got := up[0].Header.Get(k); got != want {
				t.Errorf("%s: header %s upstream %q, want %q", name, k, got, want)
			}
		}
		if len(up[0].Query) != 0 {
			t.Errorf("%s: query %q forwarded with the proxy's key", name, up[0].Query.Encode())
		}
		if types := sseTypes(out); len(types) < 5 || types[0] != "message_start" || types[len(types)-1] != "message_stop" {
			t.Errorf("%s: stream events %v", name, types)
		}
	}
}

// TestReplayCascadeTurnAfterAcceptedDraft replays the CLI's second request
// of a Bash round trip whose first turn the draft answered: its history
// holds the draft's thinking block (marked). The draft must get it back
// signed as it issued it, and an escalation must reach the verifier without it.
func TestReplayCascadeTurnAfterAcceptedDraft(t *testing.T) {
	rec := loadRecorded(t, "cascade-turn2")
	genuine := fakeupstream.Signature(haiku, "I should run the echo command.")
	if !bytes.Contains(rec.body, []byte("cfdraft1.")) || !bytes.Contains(rec.body, []byte(genuine)) {
		t.Fatal("the recording does not hold the marked draft block (re-record with CLAUDE_CODE_RECORD=1)")
	}
	for _, tc := range []struct {
		name    string
		draft   fakeupstream.Reply
		outcome string
	}{
		{"accepted", thinking("Done.", "The command printed cascade-bash-ok."), "accepted"},
		{"escalated", thinking("Again.", "", fakeupstream.ToolCall{Name: "Bash", Input: json.RawMessage(`{"cmd":"x"}`)}), "escalated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newInProc(t)
			p.fake.SetResponder(func(r *fakeupstream.Received) fakeupstream.Reply {
				if r.Model == haiku {
					return tc.draft
				}
				return thinking("Verified.", "The verifier says it printed cascade-bash-ok.")
			})
			status, h, out := p.send(t, "/v1/messages", rec, rec.body)
			if status != http.StatusOK || h.Get("X-Cascade-Outcome") != tc.outcome {
				t.Fatalf("%d outcome %q: %s", status, h.Get("X-Cascade-Outcome"), trim(string(out), 500))
			}
			if types := sseTypes(out); len(types) == 0 || types[len(types)-1] != "message_stop" {
				t.Fatalf("stream %v", types)
			}
			d := upstreamCalls(p.fake, fakeupstream.EndpointMessages, haiku)
			if len(d) != 1 || !bytes.Contains(d[0].Body, []byte(`"signature":"`+genuine+`"`)) || bytes.Contains(d[0].Body, []byte("cfdraft1.")) {
				t.Error("the draft did not get its own block back as issued")
			}
			v := upstreamCalls(p.fake, fakeupstream.EndpointMessages, opus)
			if tc.outcome == "escalated" {
				if len(v) != 1 || bytes.Contains(v[0].Body, []byte(genuine)) {
					t.Error("the verifier got the draft's block")
				}
			} else if len(v) != 0 {
				t.Error("the verifier was called for an accepted draft")
			}
		})
	}
}

// TestReplayCountTokens: count_tokens with the CLI's own body, forwarded to
// the Anthropic provider of the model that serves the request, or estimated
// when that model is behind an OpenAI-compatible upstream.
func TestReplayCountTokens(t *testing.T) {
	p := newInProc(t)
	for _, name := range []string{"plain", "cascade-turn2"} {
		rec := loadRecorded(t, name)
		count := countBody(t, rec.body)
		status, _, out := p.send(t, "/v1/messages/count_tokens", rec, count)
		var got struct {
			InputTokens int `json:"input_tokens"`
		}
		if status != http.StatusOK || json.Unmarshal(out, &got) != nil {
			t.Fatalf("%s: %d %s", name, status, out)
		}
		up := upstreamCalls(p.fake, fakeupstream.EndpointCountTokens, "")
		if len(up) == 0 || up[len(up)-1].Model != opus || got.InputTokens < 1000 {
			t.Fatalf("%s: count_tokens was not forwarded to the opus verifier (answer %d)", name, got.InputTokens)
		}
		// Forwarded as sent, except a draft's marked thinking block, which the
		// verifier's count must not carry (the verifier call does not either).
		sent := up[len(up)-1].Body
		if marked := bytes.Contains(count, []byte("cfdraft1.")); bytes.Contains(sent, []byte("cfdraft1.")) ||
			(!marked && !bytes.Equal(sent, count)) || (marked && bytes.Equal(sent, count)) {
			t.Errorf("%s: forwarded count_tokens body (marked draft block in the CLI's: %v) is not the CLI's minus that block", name, marked)
		}

		// The same body for a model served by an OpenAI-compatible upstream.
		n := len(p.fake.Requests())
		status, _, out = p.send(t, "/v1/messages/count_tokens", rec, withModel(t, count, "claude-on-vllm"))
		if status != http.StatusOK || json.Unmarshal(out, &got) != nil {
			t.Fatalf("%s local: %d %s", name, status, out)
		}
		if len(p.fake.Requests()) != n {
			t.Errorf("%s: the local estimate called the upstream", name)
		}
		// No Claude tokenizer is available offline; the floor is one token per
		// three bytes of request JSON, more than Claude's newer tokenizer
		// yields on English prose (about 3.1 characters per token) and far
		// more than on JSON schemas, which tokenize at 4+ bytes a token.
		if floor := len(count) / 3; got.InputTokens < floor {
			t.Errorf("%s: local estimate %d for %d bytes, under the floor %d", name, got.InputTokens, len(count), floor)
		}
		req, err := anthropicdialect.Codec{}.DecodeRequest(bytes.Replace(count, []byte("{"), []byte(`{"max_tokens":1,`), 1))
		if err != nil {
			t.Fatal(err)
		}
		if want := tokencount.Estimate(req); got.InputTokens != want {
			t.Errorf("%s: count_tokens answered %d, tokencount.Estimate says %d", name, got.InputTokens, want)
		}
		t.Logf("%s: %d bytes of count_tokens JSON, local estimate %d tokens (%.2f bytes/token)", name, len(count), got.InputTokens, float64(len(count))/float64(got.InputTokens))
	}
}

// countBody is a count_tokens request for the conversation in a messages
// body: the members count_tokens takes.
func countBody(t *testing.T, body []byte) []byte {
	t.Helper()
	var full map[string]json.RawMessage
	if err := json.Unmarshal(body, &full); err != nil {
		t.Fatal(err)
	}
	out := map[string]json.RawMessage{}
	for _, k := range []string{"model", "messages", "system", "tools", "thinking"} {
		if v, ok := full[k]; ok {
			out[k] = v
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
