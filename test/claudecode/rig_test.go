package claudecode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/test/testrig"
)

// vendorKey is the key the proxy holds for the fake upstream; clientKey is
// the key the main proxy issues to its users (--client-keys-dir).
const (
	vendorKey = "sk-cc-e2e-VENDOR-do-not-leak-7"
	clientKey = "sk-cc-e2e-client-issued-key-3"
)

// rulesYAML serves Claude Code's main model through a cascade (haiku drafts,
// opus verifies), an older Sonnet id through a cascade that drafts on an
// OpenAI-compatible model, and everything else (haiku, sonnet 5.5) through
// the default route, untouched.
// Both cascades use the default threshold (0.7): a flawless draft scores
// about 0.92 (the gate leaves Claude Code's <system-reminder> sections and
// tool-result turns out of the ask).
const rulesYAML = `version: v1
providers:
  - name: fake
    type: anthropic
    baseURL: {{FAKE}}
    apiKey: {env: CC_E2E_VENDOR_KEY}
  - name: fake-openai
    type: openai
    baseURL: {{FAKE}}/v1
    apiKey: {env: CC_E2E_VENDOR_KEY}
rules:
  - name: opus
    models: [claude-opus-5-5, opus]
    draft: {provider: fake, model: claude-haiku-5-5}
    verifier: {provider: fake, model: claude-opus-5-5}
  - name: sonnet-openai-draft
    models: [claude-sonnet-4-5-20250929]
    draft: {provider: fake-openai, model: gpt-5-mini}
    verifier: {provider: fake, model: claude-sonnet-4-5-20250929}
defaultRoute:
  provider: fake
`

// budgetRulesYAML names the proxy's only client key "cc-tiny" (the
// client-keys file is "keys", see newStack) and gives it a hard daily budget
// of one cent, less than the reservation estimate of any Claude Code turn on
// the opus cascade.
const budgetRulesYAML = `version: v1
providers:
  - name: fake
    type: anthropic
    baseURL: {{FAKE}}
    apiKey: {env: CC_E2E_VENDOR_KEY}
rules:
  - name: opus
    models: [claude-opus-5-5, opus]
    draft: {provider: fake, model: claude-haiku-5-5}
    verifier: {provider: fake, model: claude-opus-5-5}
defaultRoute:
  provider: fake
clientKeys:
  - {name: cc-tiny, team: e2e, secretKey: keys, budget: {usd: 0.01, period: day}}
`

// clientAuthRulesYAML forwards the client's own credential (here Claude
// Code's ANTHROPIC_AUTH_TOKEN) to the upstream.
const clientAuthRulesYAML = `version: v1
providers:
  - name: fake
    type: anthropic
    baseURL: {{FAKE}}
    passthroughAuth: true
defaultRoute:
  provider: fake
`

// exchange is one request the CLI sent through the capturing proxy.
type exchange struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
	Status                 int
	RespHeader             http.Header
	Took                   time.Duration
}

// capture is a reverse proxy that records each request and the status and
// headers of its answer.
type capture struct {
	rp *httputil.ReverseProxy
	mu sync.Mutex
	ex []*exchange
}

type exchangeKey struct{}

func newCapture(target string) *capture {
	u, _ := url.Parse(target)
	c := &capture{}
	c.rp = &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = pr.In.Host },
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if e, ok := resp.Request.Context().Value(exchangeKey{}).(*exchange); ok {
				c.mu.Lock()
				e.Status, e.RespHeader = resp.StatusCode, resp.Header.Clone()
				c.mu.Unlock()
			}
			return nil
		},
	}
	return c
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e := &exchange{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	c.mu.Lock()
	c.ex = append(c.ex, e)
	c.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	start := time.Now()
	c.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, e)))
	c.mu.Lock()
	e.Took = time.Since(start)
	c.mu.Unlock()
}

// take returns the recorded exchanges and forgets them.
func (c *capture) take() []exchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]exchange, len(c.ex))
	for i, e := range c.ex {
		out[i] = *e
	}
	c.ex = nil
	return out
}

// stack is fake upstream → real proxy process → capturing proxy, on loopback.
type stack struct {
	fake     *fakeupstream.Server
	proxy    *testrig.Process
	proxyURL string
	front    *capture
	frontURL string
}

// newStack starts the three servers; rules is a template with {{FAKE}}.
// clientKeys, when set, are the only keys the proxy accepts from clients.
func newStack(t *testing.T, proxyBin, rules string, fakeOpts fakeupstream.Options, clientKeys []string, env ...string) *stack {
	t.Helper()
	fake := fakeupstream.New(fakeOpts)
	fakeURL := fake.Start()
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(strings.ReplaceAll(rules, "{{FAKE}}", fakeURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testrig.FreeAddr(t)
	args := []string{"--listen", addr, "--rules", rulesPath, "--demo", "off", "--log-level", "info"}
	if len(clientKeys) > 0 {
		keysDir := filepath.Join(dir, "client-keys")
		if err := os.Mkdir(keysDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(keysDir, "keys"), []byte(strings.Join(clientKeys, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--client-keys-dir", keysDir)
	}
	p := testrig.Start(t, env, proxyBin, args...)
	proxyURL := "http://" + addr
	waitReady(t, proxyURL+"/readyz", p)
	front := newCapture(proxyURL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return &stack{fake: fake, proxy: p, proxyURL: proxyURL, front: front, frontURL: "http://" + ln.Addr().String()}
}

func waitReady(t *testing.T, url string, p *testrig.Process) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("proxy not ready at %s; its output:\n%s", url, p.Output())
}

// buildProxy returns PROXY_BIN, or builds cmd/proxy into a temporary dir.
func buildProxy(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("PROXY_BIN"); b != "" {
		return b
	}
	return testrig.Build(t, t.TempDir(), "cmd/proxy")
}

// cliTimeout bounds one CLI run (it retries failed calls for minutes).
const cliTimeout = 90 * time.Second

// cli runs Claude Code headless.
type cli struct {
	bin string
}

type runOpts struct {
	baseURL string
	prompt  string
	model   string
	tools   string // --allowedTools
	// authToken, when set, is sent as ANTHROPIC_AUTH_TOKEN instead of an API key.
	authToken string
	dir       string   // working directory (default: a fresh temporary one)
	home      string   // HOME (default: a fresh temporary one); a session's runs share it
	args      []string // extra CLI arguments (e.g. --continue)
	env       []string // extra environment
	// nonessential lets the CLI make its optional calls (model discovery).
	nonessential bool
}

// result is the CLI's --output-format json answer.
type result struct {
	Type     string `json:"type"`
	Subtype  string `json:"subtype"`
	IsError  bool   `json:"is_error"`
	Result   string `json:"result"`
	NumTurns int    `json:"num_turns"`
	Home     string `json:"-"`
	Output   string `json:"-"`
	Took     time.Duration
}

func (c cli) run(t *testing.T, o runOpts) (result, error) {
	home := o.home
	if home == "" {
		home = t.TempDir()
	}
	dir := o.dir
	if dir == "" {
		dir = home
	}
	args := []string{"-p", o.prompt, "--output-format", "json"}
	if o.model != "" {
		args = append(args, "--model", o.model)
	}
	if o.tools != "" {
		args = append(args, "--allowedTools", o.tools)
	}
	args = append(args, o.args...)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "ANTHROPIC_BASE_URL=" + o.baseURL,
		"DISABLE_TELEMETRY=1", "DISABLE_ERROR_REPORTING=1", "DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_MAX_RETRIES=1"}
	if !o.nonessential {
		env = append(env, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
	}
	if o.authToken != "" {
		env = append(env, "ANTHROPIC_AUTH_TOKEN="+o.authToken)
	} else {
		env = append(env, "ANTHROPIC_API_KEY="+clientKey)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(env, o.env...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{Home: home, Took: time.Since(start), Output: stdout.String() + stderr.String()}
	if jerr := json.Unmarshal(lastJSONLine(stdout.Bytes()), &r); jerr != nil {
		return r, fmt.Errorf("claude exited with %v and no JSON result: %s", err, trim(r.Output, 2000))
	}
	if err != nil {
		return r, fmt.Errorf("claude exited with %v: %s", err, trim(r.Output, 2000))
	}
	return r, nil
}

func lastJSONLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if l := bytes.TrimSpace(lines[i]); len(l) > 0 && l[0] == '{' {
			return l
		}
	}
	return nil
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (c cli) version(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(c.bin, "--version").Output()
	if err != nil {
		t.Fatalf("claude --version: %v", err)
	}
	return strings.TrimSpace(string(out))
}
