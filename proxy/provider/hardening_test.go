package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/openai"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// newClient serves provider type typ from a fresh fake upstream.
func newClient(t *testing.T, typ rules.ProviderType, mod func(*rules.Provider)) (*provider.Client, *fakeupstream.Server) {
	t.Helper()
	fake := fakeupstream.New(fakeupstream.Options{})
	t.Cleanup(fake.Close)
	url := fake.Start()
	p := rules.Provider{Name: string(typ), Type: typ, BaseURL: url, APIKey: &rules.KeySource{Env: "K"}}
	if typ == rules.OpenAI {
		p.BaseURL = url + "/v1"
	}
	if mod != nil {
		mod(&p)
	}
	var c *provider.Client
	var err error
	if typ == rules.OpenAI {
		c, err = provider.New(p, openai.Codec{}, "sk-test-key", provider.NewTransport())
	} else {
		c, err = provider.New(p, anthropic.Codec{}, "sk-test-key", provider.NewTransport())
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, fake
}

func request(model string) *llm.Request {
	return &llm.Request{Model: model, MaxTokens: 50, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Block{{Type: llm.BlockText, Text: "hi"}}}}}
}

// An upstream that sends its headers and part of its answer and then stalls
// fails the call with a timeout once the idle timeout passes, instead of
// holding the caller until its own deadline.
func TestHardeningIdleTimeoutComplete(t *testing.T) {
	for _, typ := range []rules.ProviderType{rules.Anthropic, rules.OpenAI} {
		t.Run(string(typ), func(t *testing.T) {
			c, fake := newClient(t, typ, func(p *rules.Provider) { p.IdleTimeout = rules.Duration{Duration: 150 * time.Millisecond} })
			fake.Enqueue(fakeupstream.Reply{Text: "a long answer", StallAfterBytes: 30})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.Complete(ctx, request("m"), nil, http.Header{})
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.ErrTimeout || e.HTTPStatus() != http.StatusGatewayTimeout {
				t.Fatalf("Complete = %v; want a timeout error (504)", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("Complete returned only at the caller's deadline (%s)", time.Since(start))
			}
		})
	}
}

// A stream that stalls after its first event ends with a timeout error from
// Next, which the server turns into an in-band error event.
func TestHardeningIdleTimeoutStream(t *testing.T) {
	for _, typ := range []rules.ProviderType{rules.Anthropic, rules.OpenAI} {
		t.Run(string(typ), func(t *testing.T) {
			c, fake := newClient(t, typ, func(p *rules.Provider) { p.IdleTimeout = rules.Duration{Duration: 150 * time.Millisecond} })
			// Enough bytes for the first event (message_start / the role chunk) and a bit.
			fake.Enqueue(fakeupstream.Reply{Text: "a long answer with several tokens", StallAfterBytes: 400})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req := request("m")
			req.Stream = true
			s, err := c.Stream(ctx, req, nil, http.Header{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			events := 0
			for {
				_, err = s.Next(ctx)
				if err != nil {
					break
				}
				events++
			}
			if events == 0 {
				t.Fatal("no event before the stall; the test does not test a stall mid-stream")
			}
			var e *llm.Error
			if errors.Is(err, io.EOF) || !errors.As(err, &e) || e.Kind != llm.ErrTimeout {
				t.Fatalf("after %d events Next = %v; want a timeout error", events, err)
			}
			if ctx.Err() != nil {
				t.Fatal("the stream ended only at the caller's deadline")
			}
		})
	}
}

// A body read that is slow because the caller is slow (not the upstream) is
// not cut: the idle clock runs only while a read waits for the upstream.
func TestIdleTimeoutIgnoresSlowReader(t *testing.T) {
	c, _ := newClient(t, rules.Anthropic, func(p *rules.Provider) { p.IdleTimeout = rules.Duration{Duration: 100 * time.Millisecond} })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, stop, err := c.Send(ctx, http.MethodPost, c.URL(provider.PathMessages, ""),
		llm.BodyOf([]byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)), http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	defer resp.Body.Close()
	time.Sleep(300 * time.Millisecond) // the whole answer is already buffered or in flight
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("read after a pause of the caller: %v", err)
	}
}

// clientHeaders is what a hostile or careless client may send along with a
// normal SDK request.
func clientHeaders() http.Header {
	h := http.Header{}
	for k, v := range map[string]string{
		"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "sdk/1",
		"Anthropic-Version": "2023-06-01", "Anthropic-Beta": "b1", "X-Stainless-Os": "Linux",
		"X-App": "cli", "X-Claude-Code-Session-Id": "s-1",
		"OpenAI-Organization": "org-attacker", "OpenAI-Project": "proj-attacker",
		"Forwarded": "for=10.0.0.1", "X-Real-Ip": "10.0.0.1", "Via": "1.1 evil", "X-Http-Method-Override": "DELETE",
		"Cookie": "c=1", "X-Api-Key": "client-key", "X-Custom": "x",
	} {
		h.Set(k, v)
	}
	return h
}

// With the proxy's own key, only an allow-list of client headers reaches the
// upstream; with the client's own credentials, everything but hop-by-hop
// headers still does.
func TestHardeningUpstreamHeadersAllowList(t *testing.T) {
	own := provider.UpstreamHeaders(clientHeaders(), true)
	for _, k := range []string{"Content-Type", "Accept", "User-Agent", "Anthropic-Version", "Anthropic-Beta", "X-Stainless-Os", "X-App", "X-Claude-Code-Session-Id"} {
		if own.Get(k) == "" {
			t.Errorf("own credentials: %s dropped", k)
		}
	}
	for _, k := range []string{"Openai-Organization", "Openai-Project", "Forwarded", "X-Real-Ip", "Via", "X-Http-Method-Override", "Cookie", "X-Api-Key", "X-Custom"} {
		if v := own.Get(k); v != "" {
			t.Errorf("own credentials: %s forwarded (%q)", k, v)
		}
	}
	pass := provider.UpstreamHeaders(clientHeaders(), false)
	for _, k := range []string{"Openai-Organization", "Openai-Project", "X-Custom", "Via", "Anthropic-Beta"} {
		if pass.Get(k) == "" {
			t.Errorf("client credentials: %s no longer passed through", k)
		}
	}
	if pass.Get("Cookie") != "" || pass.Get("X-Api-Key") != "" {
		t.Error("client credentials: cookie or key copied (the caller re-adds the credential)")
	}
}

// On the wire: an OpenAI upstream called with the proxy's key sees neither
// the client's organization and project nor its query string.
func TestHardeningOwnKeyRequestCarriesNoClientSteering(t *testing.T) {
	c, fake := newClient(t, rules.OpenAI, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, stop, err := c.Send(ctx, http.MethodPost, c.ClientURL(provider.PathMessages, "api-version=evil&beta=true"),
		llm.BodyOf([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)), clientHeaders())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	stop()
	got := fake.Requests()[0]
	if got.Header.Get("Openai-Organization") != "" || got.Header.Get("Openai-Project") != "" || got.Header.Get("Via") != "" {
		t.Errorf("upstream saw client steering headers: %v", got.Header)
	}
	if len(got.Query) != 0 {
		t.Errorf("upstream saw the client's query %v", got.Query)
	}
	if got.Header.Get("Authorization") != "Bearer sk-test-key" {
		t.Errorf("upstream auth %q", got.Header.Get("Authorization"))
	}
}

// With passthroughAuth the request stays the client's: its headers and query
// string go through.
func TestPassthroughAuthKeepsClientHeadersAndQuery(t *testing.T) {
	c, fake := newClient(t, rules.OpenAI, func(p *rules.Provider) { p.APIKey, p.PassthroughAuth = nil, true })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := clientHeaders()
	h.Set("Authorization", "Bearer client-token")
	resp, stop, err := c.Send(ctx, http.MethodPost, c.ClientURL(provider.PathMessages, "beta=true"),
		llm.BodyOf([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)), h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	stop()
	got := fake.Requests()[0]
	if got.Header.Get("Openai-Organization") != "org-attacker" || got.Query.Get("beta") != "true" {
		t.Errorf("pass-through lost the client's organization or query: %v %v", got.Header, got.Query)
	}
}

// A body in parts reaches the upstream as one body, its length announced.
func TestSendWritesBodyParts(t *testing.T) {
	c, fake := newClient(t, rules.Anthropic, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	whole := `{"model":"claude-haiku-5-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	parts := llm.Body{[]byte(`{"model":`), []byte(`"claude-haiku-5-5"`), []byte(`,"max_tokens":10,`), nil,
		[]byte(`"messages":[{"role":"user","content":"hi"}]}`)}
	for range 2 { // the parts are not consumed by a send
		resp, stop, err := c.Send(ctx, http.MethodPost, c.URL(provider.PathMessages, ""), parts, http.Header{})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		stop()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	for _, got := range fake.Requests() {
		if string(got.Body) != whole {
			t.Errorf("upstream got %s, want %s", got.Body, whole)
		}
		if cl := got.Header.Get("Content-Length"); cl != strconv.Itoa(len(whole)) {
			t.Errorf("Content-Length %q, want %d", cl, len(whole))
		}
	}
	if n := len(fake.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
