package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"go.opentelemetry.io/otel/trace"

	"github.com/cascadeflow/cascadeflow-operator/proxy/app"
	"github.com/cascadeflow/cascadeflow-operator/proxy/cascade"
	"github.com/cascadeflow/cascadeflow-operator/proxy/clientauth"
	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
	"github.com/cascadeflow/cascadeflow-operator/proxy/metrics"
	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rulesource"
	"github.com/cascadeflow/cascadeflow-operator/proxy/server"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
)

// vendorKey is the key the proxy holds for the fake upstream; tests check it
// never reaches a client, a log line or an error.
const vendorKey = "sk-vendor-SECRET-0123456789"

// harness is a proxy in front of a fake upstream, both on loopback.
type harness struct {
	t       *testing.T
	fake    *fakeupstream.Server
	fakeURL string
	url     string
	loader  *rulesource.Loader
	metrics *metrics.Metrics
	engine  *cascade.Engine
	auditor *cascade.Auditor
	logs    *lockedWriter
	srv     *server.Server
	cancel  context.CancelFunc
	done    chan error
}

type harnessOptions struct {
	fake         fakeupstream.Options
	maxBody      int64
	cors         []string
	shutdownWait time.Duration
	clientKeys   *clientauth.Keys
	adminApart   bool
	bodyTimeout  time.Duration
	limiter      *teams.Limiter
	tracer       trace.TracerProvider
	clock        resilience.Clock // what retries wait on (default: the system clock)
}

// rulesTemplate is expanded with the fake's URL for {{URL}}.
func newHarness(t *testing.T, rulesYAML string, o harnessOptions) *harness {
	t.Helper()
	if o.fake.RequireKey == "" {
		o.fake.RequireKey = vendorKey
	}
	fake := fakeupstream.New(o.fake)
	fakeURL := fake.Start()
	t.Cleanup(fake.Close)

	logs := &lockedWriter{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	proxy, err := app.New(app.Options{
		Log: log,
		LookupEnv: func(k string) (string, bool) {
			if k == "VENDOR_KEY" {
				return vendorKey, true
			}
			return "", false
		},
		Server: server.Config{MaxBodyBytes: o.maxBody, CORSOrigins: o.cors, ClientKeys: o.clientKeys, AdminSeparate: o.adminApart,
			BodyReadTimeout: o.bodyTimeout, Limiter: o.limiter, Tracer: o.tracer},
		Clock: o.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := proxy.Load([]byte(strings.ReplaceAll(rulesYAML, "{{URL}}", fakeURL)), "test"); err != nil {
		t.Fatalf("rules: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, fake: fake, fakeURL: fakeURL, url: "http://" + ln.Addr().String(), loader: proxy.Loader, metrics: proxy.Metrics,
		engine: proxy.Engine, auditor: proxy.Auditor, logs: logs, srv: proxy.Server, cancel: cancel, done: make(chan error, 1)}
	wait := o.shutdownWait
	if wait == 0 {
		wait = 10 * time.Second
	}
	go func() { h.done <- proxy.Server.Run(ctx, ln, 0, wait) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
		if strings.Contains(logs.String(), vendorKey) {
			t.Errorf("the vendor key appeared in the proxy's logs")
		}
	})
	return h
}

// reload applies new rules (same template syntax).
func (h *harness) reload(rulesYAML string) {
	h.t.Helper()
	if _, err := h.loader.Apply([]byte(strings.ReplaceAll(rulesYAML, "{{URL}}", h.fakeURL)), "test"); err != nil {
		h.t.Fatalf("reload: %v", err)
	}
}

func (h *harness) anthropic(opts ...aoption.RequestOption) *anthropic.Client {
	base := []aoption.RequestOption{aoption.WithBaseURL(h.url), aoption.WithAPIKey("client-key"),
		aoption.WithMaxRetries(0), aoption.WithRequestTimeout(20 * time.Second)}
	c := anthropic.NewClient(append(base, opts...)...)
	return &c
}

func (h *harness) openai(opts ...ooption.RequestOption) *openai.Client {
	base := []ooption.RequestOption{ooption.WithBaseURL(h.url + "/v1"), ooption.WithAPIKey("client-key"),
		ooption.WithMaxRetries(0), ooption.WithRequestTimeout(20 * time.Second)}
	c := openai.NewClient(append(base, opts...)...)
	return &c
}

// post sends a raw request and returns status, headers and body.
func (h *harness) post(path, body string, header map[string]string) (int, http.Header, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (h *harness) get(path string, header map[string]string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
