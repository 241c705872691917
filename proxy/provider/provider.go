// Package provider calls upstream LLM APIs: it builds the HTTP request
// (auth, forwarded headers), bounds it in time, turns transport failures and
// upstream error answers into *llm.Error, and parses SSE streams into
// canonical events through the provider's dialect codec.
package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
	"github.com/cascadeflow/cascadeflow-operator/proxy/tracing"
)

// DefaultTimeout bounds the wait for an upstream's response headers.
const DefaultTimeout = 10 * time.Minute

// DefaultIdleTimeout bounds how long an upstream may send nothing once its
// response headers have arrived. Reasoning models can think silently for
// minutes in the middle of a stream, so it is generous; it only has to be
// finite, so that a stalled upstream cannot hold a client, a goroutine and a
// connection for ever.
const DefaultIdleTimeout = 5 * time.Minute

// maxErrorBody bounds how much of an upstream error answer is read.
const maxErrorBody = 1 << 20

// maxResponseBody bounds a non-streaming upstream answer.
const maxResponseBody = 64 << 20

// Client is one configured upstream.
type Client struct {
	name        string
	dialect     llm.Dialect
	codec       dialect.Codec
	baseURL     string
	key         string
	passthrough bool
	headers     map[string]string
	timeout     time.Duration
	idle        time.Duration
	hc          *http.Client
	redact      *Redactor
	guard       *resilience.Guard
	// unusable, when set, answers every call: the provider has no API key.
	unusable *llm.Error
}

// New builds a client for p. key is the resolved API key (empty for
// pass-through providers). transport is shared by all clients.
func New(p rules.Provider, codec dialect.Codec, key string, transport http.RoundTripper) (*Client, error) {
	if codec == nil {
		return nil, fmt.Errorf("provider %s: no codec", p.Name)
	}
	if !p.PassthroughAuth && key == "" {
		return nil, fmt.Errorf("provider %s: API key is empty", p.Name)
	}
	return newClient(p, codec, key, transport), nil
}

func newClient(p rules.Provider, codec dialect.Codec, key string, transport http.RoundTripper) *Client {
	t := p.Timeout.Duration
	if t == 0 {
		t = DefaultTimeout
	}
	idle := p.IdleTimeout.Duration
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	return &Client{
		name:        p.Name,
		dialect:     codec.Dialect(),
		codec:       codec,
		baseURL:     strings.TrimRight(p.BaseURL, "/"),
		key:         key,
		passthrough: p.PassthroughAuth,
		headers:     p.Headers,
		timeout:     t,
		idle:        idle,
		hc:          &http.Client{Transport: transport, CheckRedirect: noRedirect},
	}
}

// NewWithoutKey builds a client for a provider whose API key could not be
// resolved: every call fails at once with 503 "provider NAME has no API
// key", so what depends on it fails clearly while the rest is served.
func NewWithoutKey(p rules.Provider, codec dialect.Codec) (*Client, error) {
	if codec == nil {
		return nil, fmt.Errorf("provider %s: no codec", p.Name)
	}
	c := newClient(p, codec, "", nil)
	c.unusable = &llm.Error{Kind: llm.ErrAPI, Status: http.StatusServiceUnavailable,
		Message: fmt.Sprintf("provider %s has no API key", p.Name)}
	return c, nil
}

// HasKey reports whether the client can call its upstream (false for a
// provider built by NewWithoutKey).
func (c *Client) HasKey() bool { return c.unusable == nil }

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NewTransport returns the transport upstream calls share: many idle
// connections per host (Go's default keeps only 2) and HTTP/2 when offered.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Name is the provider's name from the rules.
func (c *Client) Name() string { return c.name }

// Dialect is the wire format the provider speaks.
func (c *Client) Dialect() llm.Dialect { return c.dialect }

// Path kinds of the upstream API.
const (
	PathMessages    = "messages"
	PathCountTokens = "count_tokens"
	PathModels      = "models"
	// PathResponses and PathEmbeddings are OpenAI-only: the Responses API
	// and the Embeddings API, relayed as they are.
	PathResponses  = "responses"
	PathEmbeddings = "embeddings"
)

// URL returns the upstream URL for an API path kind (and an optional suffix such as a model id).
func (c *Client) URL(kind, suffix string) string {
	var p string
	switch {
	case c.dialect == llm.Anthropic && kind == PathMessages:
		p = "/v1/messages"
	case c.dialect == llm.Anthropic && kind == PathCountTokens:
		p = "/v1/messages/count_tokens"
	case c.dialect == llm.Anthropic && kind == PathModels:
		p = "/v1/models"
	case kind == PathMessages:
		p = "/chat/completions"
	case kind == PathResponses:
		p = "/responses"
	case kind == PathEmbeddings:
		p = "/embeddings"
	default:
		p = "/models"
	}
	return c.baseURL + p + suffix
}

// hopHeaders are never forwarded (RFC 9110 §7.6.1), nor are headers that
// the transport or this client own.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Host": true, "Content-Length": true, "Accept-Encoding": true,
	"X-Api-Key": true, "Authorization": true, "Api-Key": true, "Cookie": true,
}

// send makes one attempt of Send (see guard.go).
func (c *Client) send(ctx context.Context, method, url string, body llm.Body, clientHeader http.Header) (resp *http.Response, stop func(), err error) {
	if c.unusable != nil {
		e := *c.unusable
		return nil, nil, &e
	}
	ctx, span := c.startAttempt(ctx, method, url)
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(c.timeout, func() { cancel(errTimeout) })
	idle := time.AfterFunc(c.idle, func() { cancel(errIdle) })
	idle.Stop() // armed only while a body read waits
	stop = func() { timer.Stop(); idle.Stop(); cancel(nil); span.End() }

	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		stop()
		return nil, nil, &llm.Error{Kind: llm.ErrAPI, Message: "cannot build upstream request", Err: err}
	}
	c.setHeaders(req.Header, clientHeader)
	tracing.Inject(ctx, req.Header)
	if body != nil {
		setBody(req, body)
	}
	resp, err = c.hc.Do(req)
	// Headers are here: from now on the body is bounded by the caller's
	// context only. A timer that fired just now has cancelled the body too.
	if !timer.Stop() && err == nil {
		resp.Body.Close()
		err = context.Cause(ctx)
	}
	if err != nil {
		e := c.transportError(ctx, err)
		tracing.Fail(span, string(e.Kind))
		stop()
		return nil, nil, e
	}
	record(ctx, resp.Header)
	attemptAnswered(span, resp)
	resp.Body = &idleBody{ReadCloser: resp.Body, c: c, timer: idle, ctx: ctx}
	return resp, stop, nil
}

// setBody makes body the request's, with its length announced; GetBody
// lets the transport send it again (a retried HTTP/2 request).
func setBody(req *http.Request, body llm.Body) {
	req.ContentLength = int64(body.Len())
	if req.ContentLength == 0 {
		req.Body, req.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		return
	}
	req.Body = newBodyReader(body)
	req.GetBody = func() (io.ReadCloser, error) { return newBodyReader(body), nil }
}

// newBodyReader reads body's parts in turn. net.Buffers consumes the slice
// it reads, so it gets a copy of the list (not of the bytes).
func newBodyReader(body llm.Body) io.ReadCloser {
	parts := make(net.Buffers, len(body))
	copy(parts, body)
	return io.NopCloser(&parts)
}

var (
	errTimeout = errors.New("upstream timeout")
	errIdle    = errors.New("upstream idle")
)

// idleBody arms the idle timer while a read waits for the upstream (not
// while the caller is busy elsewhere, e.g. writing to a slow client) and
// turns the read it aborts into a timeout error.
type idleBody struct {
	io.ReadCloser
	c     *Client
	timer *time.Timer
	ctx   context.Context
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.c.idle)
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
	if err != nil && errors.Is(context.Cause(b.ctx), errIdle) {
		err = b.c.idleError(err)
	}
	return n, err
}

func (c *Client) idleError(err error) *llm.Error {
	return &llm.Error{Kind: llm.ErrTimeout, Message: fmt.Sprintf("upstream %s sent nothing for %s", c.name, c.idle), Retryable: true, Err: err}
}

// BodyError classifies a failed read of an upstream answer's body: the idle
// timeout's own error, a cancellation, or an interrupted answer.
func (c *Client) BodyError(ctx context.Context, err error) *llm.Error {
	var e *llm.Error
	switch {
	case errors.As(err, &e):
		return e
	case ctx.Err() != nil:
		return &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled", Err: err}
	default:
		return &llm.Error{Kind: llm.ErrBadGateway, Message: fmt.Sprintf("upstream %s answer was interrupted", c.name), Err: err}
	}
}

func (c *Client) transportError(ctx context.Context, err error) *llm.Error {
	switch {
	case errors.Is(context.Cause(ctx), errTimeout):
		return &llm.Error{Kind: llm.ErrTimeout, Message: fmt.Sprintf("upstream %s did not answer within %s", c.name, c.timeout), Retryable: true, Err: err}
	case ctx.Err() != nil:
		return &llm.Error{Kind: llm.ErrCanceled, Message: "request canceled", Err: err}
	default:
		return &llm.Error{Kind: llm.ErrBadGateway, Message: fmt.Sprintf("upstream %s is unreachable", c.name), Retryable: true, Err: err}
	}
}

// ownCredentialHeaders are the client headers sent upstream with the
// proxy's own key: what the vendors' APIs need (content negotiation, API
// version and betas) and how the official SDKs and Claude Code identify
// themselves (User-Agent, x-stainless-*, x-app, the session id). Anything
// else could steer the operator's account (OpenAI-Organization,
// OpenAI-Project), speak for the client's network (Forwarded, X-Real-Ip,
// Via) or change the request's meaning (X-Http-Method-Override, Expect).
var ownCredentialHeaders = map[string]bool{
	"Accept": true, "Content-Type": true, "User-Agent": true,
	"Anthropic-Version": true, "Anthropic-Beta": true,
	"X-App": true, "X-Claude-Code-Session-Id": true,
	// W3C trace context: the upstream joins the client's trace (replaced by
	// the proxy's own span context when tracing is on).
	"Traceparent": true, "Tracestate": true,
}

// UpstreamHeaders returns the client's request headers that may go to an
// upstream. With the proxy's own credentials (ownCredentials) that is an
// allow-list; when the client's own credentials are forwarded it is every
// header but hop-by-hop ones, credentials (re-added by the caller) and the
// proxy's own x-cascade-* and x-forwarded-*.
func UpstreamHeaders(client http.Header, ownCredentials bool) http.Header {
	h := make(http.Header, len(client))
	copyUpstreamHeaders(h, client, ownCredentials)
	return h
}

func copyUpstreamHeaders(h, client http.Header, ownCredentials bool) {
	if ownCredentials {
		for k, vs := range client {
			if ownCredentialHeaders[k] || strings.HasPrefix(k, "X-Stainless-") {
				h[k] = vs
			}
		}
		return
	}
	for k, vs := range client {
		if hopHeaders[k] || strings.HasPrefix(k, "X-Cascade-") || strings.HasPrefix(k, "X-Forwarded-") {
			continue
		}
		h[k] = vs
	}
	if conn := client.Get("Connection"); conn != "" {
		for _, f := range strings.Split(conn, ",") {
			h.Del(strings.TrimSpace(f))
		}
	}
}

// ClientURL is URL(kind, "") for a request the client addressed with query
// rawQuery (e.g. Claude Code's ?beta=true). The query is forwarded only with
// the client's own credentials: with the proxy's key, the client does not
// get to add parameters to the operator's calls (betas travel in the
// anthropic-beta header anyway).
func (c *Client) ClientURL(kind, rawQuery string) string {
	u := c.URL(kind, "")
	if c.passthrough && rawQuery != "" {
		u += "?" + rawQuery
	}
	return u
}

func (c *Client) setHeaders(h, client http.Header) {
	copyUpstreamHeaders(h, client, !c.passthrough)
	for k, v := range c.headers {
		h.Set(k, v)
	}
	key, bearer := c.key, c.dialect != llm.Anthropic
	if c.passthrough {
		// Forward the client's own credential in the style it came in when
		// the upstream speaks the client's dialect (an Anthropic OAuth token
		// must stay a Bearer token); OpenAI-compatible servers take Bearer.
		key = ClientCredential(client)
		bearer = bearer || (client.Get("X-Api-Key") == "" && key != "")
	}
	switch c.dialect {
	case llm.Anthropic:
		if h.Get("Anthropic-Version") == "" {
			h.Set("Anthropic-Version", "2023-06-01")
		}
	default:
		// Anthropic-only headers mean nothing to an OpenAI-compatible server.
		h.Del("Anthropic-Version")
		h.Del("Anthropic-Beta")
	}
	switch {
	case key == "":
	case bearer:
		h.Set("Authorization", "Bearer "+key)
	default:
		h.Set("X-Api-Key", key)
	}
	h.Set("Content-Type", "application/json")
}

// ClientCredential returns the client's key from x-api-key or a Bearer token.
func ClientCredential(h http.Header) string {
	if k := h.Get("X-Api-Key"); k != "" {
		return k
	}
	a := h.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// UpstreamError reads an error answer (bounded) and maps it through the
// codec, with the snapshot's keys redacted from what the upstream said.
func (c *Client) UpstreamError(resp *http.Response) *llm.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := c.codec.DecodeError(resp.StatusCode, resp.Header, body)
	if e == nil {
		e = &llm.Error{Kind: llm.KindForStatus(resp.StatusCode), Status: resp.StatusCode, Message: "upstream error"}
	}
	e.Header = llm.RetryHeaders(resp.Header)
	return c.redact.Error(e)
}

// Complete sends a non-streaming request. raw, when non-nil, is the client's
// body already in this provider's dialect (with the model rewritten); it is
// sent as is so fields the proxy does not understand survive. Otherwise req
// is encoded with the provider's codec.
func (c *Client) Complete(ctx context.Context, req *llm.Request, raw llm.Body, clientHeader http.Header) (*llm.Response, error) {
	body, err := c.body(req, raw, false)
	if err != nil {
		return nil, err
	}
	resp, stop, err := c.Send(tracing.WithModel(ctx, req.Model), http.MethodPost, c.URL(PathMessages, ""), body, clientHeader)
	if err != nil {
		return nil, err
	}
	defer stop()
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, c.UpstreamError(resp)
	}
	return c.readResponse(ctx, resp)
}

// readResponse reads and decodes a non-streaming answer.
func (c *Client) readResponse(ctx context.Context, resp *http.Response) (*llm.Response, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, c.BodyError(ctx, err)
	}
	out, err := c.codec.DecodeResponse(data)
	if err != nil {
		return nil, &llm.Error{Kind: llm.ErrBadGateway, Message: fmt.Sprintf("upstream %s sent an invalid response", c.name), Err: err}
	}
	return out, nil
}

// Stream sends a streaming request and returns its canonical events. An
// upstream that answers a stream request with plain JSON is accepted too.
func (c *Client) Stream(ctx context.Context, req *llm.Request, raw llm.Body, clientHeader http.Header) (llm.Stream, error) {
	body, err := c.body(req, raw, true)
	if err != nil {
		return nil, err
	}
	resp, stop, err := c.Send(tracing.WithModel(ctx, req.Model), http.MethodPost, c.URL(PathMessages, ""), body, clientHeader)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer stop()
		defer resp.Body.Close()
		return nil, c.UpstreamError(resp)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		defer stop()
		defer resp.Body.Close()
		out, err := c.readResponse(ctx, resp)
		if err != nil {
			return nil, err
		}
		return &replay{events: out.Events()}, nil
	}
	return newEventStream(c, resp, stop), nil
}

func (c *Client) body(req *llm.Request, raw llm.Body, stream bool) (llm.Body, error) {
	if raw != nil {
		return raw, nil
	}
	r := *req
	r.Stream = stream
	b, err := c.codec.EncodeRequest(&r)
	if err != nil {
		return nil, &llm.Error{Kind: llm.ErrInvalidRequest, Message: fmt.Sprintf("cannot translate the request for provider %s: %v", c.name, err), Err: err}
	}
	return llm.BodyOf(b), nil
}
