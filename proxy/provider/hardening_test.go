package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
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
		[]byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`), http.Header{})
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
