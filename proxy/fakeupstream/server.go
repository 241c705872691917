// Package fakeupstream is a fake vendor server that speaks the Anthropic Messages API
// and the OpenAI Chat Completions, Responses and Embeddings APIs as the vendors
// document them, streaming included, with scriptable replies and faults. The proxy's tests, its
// benchmarks and its offline demo mode use it in place of the real vendors.
//
// The wire JSON is built here from the vendors' API references (cited next to
// each type), independently of the proxy's own encoders, so that a bug in
// those encoders cannot hide behind a matching bug in the fake.
package fakeupstream

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dialect names the wire format a request was answered in.
type Dialect string

const (
	DialectAnthropic Dialect = "anthropic"
	DialectOpenAI    Dialect = "openai"
)

// Endpoint names which API operation a request addressed.
type Endpoint string

const (
	EndpointMessages        Endpoint = "messages"         // POST /v1/messages
	EndpointCountTokens     Endpoint = "count_tokens"     // POST /v1/messages/count_tokens
	EndpointChatCompletions Endpoint = "chat_completions" // POST /v1/chat/completions
	EndpointResponses       Endpoint = "responses"        // POST /v1/responses
	EndpointEmbeddings      Endpoint = "embeddings"       // POST /v1/embeddings
	EndpointModels          Endpoint = "models"           // GET /v1/models
	EndpointModel           Endpoint = "model"            // GET /v1/models/{id}
	EndpointUnknown         Endpoint = "unknown"
)

// DefaultModels is the model catalogue /v1/models lists when Options.Models is
// empty. Completions accept any model id, listed or not.
var DefaultModels = []string{
	"claude-opus-5-5",
	"claude-sonnet-5-5",
	"claude-haiku-5-5",
	"claude-sonnet-4-5-20250929",
	"claude-haiku-4-5-20251001",
	"gpt-5",
	"gpt-5-mini",
	"gpt-4o-mini",
}

// maxBodyBytes bounds how much of a request body the fake reads.
const maxBodyBytes = 64 << 20

// Options configure a Server. The zero value is a permissive server.
type Options struct {
	// RequireKey, when set, must arrive as x-api-key or Authorization: Bearer;
	// otherwise the answer is 401 in the request's dialect.
	RequireKey string
	// Latency is a fixed delay before answering any request.
	Latency time.Duration
	// ChunkDelay is the pause between SSE events for replies that do not set
	// their own.
	ChunkDelay time.Duration
	// ValidateSignatures makes POST /v1/messages reject (400
	// invalid_request_error) assistant thinking blocks whose signature does not
	// verify for the requested model; see Signature.
	ValidateSignatures bool
	// Models is the catalogue /v1/models lists (default DefaultModels).
	Models []string
	// FillerWords appends that many words to the default answer, for
	// benchmarks that want answers of realistic length.
	FillerWords int
	// RecordLimit is how many of the most recent requests Requests returns
	// (default 1000); negative records nothing.
	RecordLimit int
	// PromptCache makes POST /v1/messages cache prompt prefixes at their
	// cache_control breakpoints and report cache reads and writes in usage,
	// as Anthropic documents (see cache.go); requests with more than 4
	// breakpoints are rejected. Off, usage reports every input token as
	// input_tokens and markers are ignored.
	PromptCache bool
	// CacheMinTokens overrides MinCacheableTokens per model id.
	CacheMinTokens map[string]int
	// Now is the clock cache TTLs are measured with (default time.Now).
	Now func() time.Time
}

// Received is one request as the fake saw it.
type Received struct {
	Method   string
	Path     string
	Query    url.Values
	Header   http.Header
	Body     []byte
	Dialect  Dialect
	Endpoint Endpoint
	// Model is the body's model, or the id of GET /v1/models/{id}.
	Model  string
	Stream bool
}

// Server is the fake upstream. It is an http.Handler and can also listen on
// its own loopback address (Start, Listen). Safe for concurrent use.
type Server struct {
	opts   Options
	models []string

	seq   atomic.Uint64
	total atomic.Int64

	mu        sync.Mutex
	queue     []Reply
	failures  map[string][]Reply // model ("" any) -> one-shot replies, before the queue
	perModel  map[string]Reply
	responder func(*Received) Reply
	received  []Received
	billing   map[string]*Charge

	cache promptCache

	// defaults caches the default answer per model.
	defaults sync.Map // model -> defaultAnswer

	lifeMu   sync.Mutex
	inflight int
	idle     *sync.Cond
	closed   bool
	closing  chan struct{}
	listener net.Listener
	httpSrv  *http.Server
	url      string
}

// New returns a Server configured by opts. It serves nothing until Start or
// Listen is called, or it is mounted as a handler.
func New(opts Options) *Server {
	if opts.RecordLimit == 0 {
		opts.RecordLimit = 1000
	}
	s := &Server{
		opts:     opts,
		models:   opts.Models,
		perModel: map[string]Reply{},
		closing:  make(chan struct{}),
	}
	if len(s.models) == 0 {
		s.models = DefaultModels
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	s.idle = sync.NewCond(&s.lifeMu)
	return s
}

// Start listens on 127.0.0.1 with a free port and returns the base URL (no
// trailing slash). It panics if it cannot listen, like httptest.NewServer.
func (s *Server) Start() string {
	u, err := s.Listen("127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("fakeupstream: %v", err))
	}
	return u
}

// Listen serves on addr and returns the base URL. Calling it again returns the
// URL already served; after Close it fails.
func (s *Server) Listen(addr string) (string, error) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return "", fmt.Errorf("listen %s: server closed", addr)
	}
	if s.url != "" {
		return s.url, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", addr, err)
	}
	s.listener = ln
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go func() { _ = s.httpSrv.Serve(ln) }()
	return s.url, nil
}

// URL is the base URL Start or Listen returned, or "".
func (s *Server) URL() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.url
}

// Close stops listening, ends stalls and delays early, closes open
// connections and waits for running handlers to return. Later requests get 503.
func (s *Server) Close() {
	s.lifeMu.Lock()
	if s.closed {
		s.lifeMu.Unlock()
		return
	}
	s.closed = true
	close(s.closing)
	srv := s.httpSrv
	s.lifeMu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	s.lifeMu.Lock()
	for s.inflight > 0 {
		s.idle.Wait()
	}
	s.lifeMu.Unlock()
}

// SetReply scripts the answer for every request for model (until changed).
func (s *Server) SetReply(model string, r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perModel[model] = r
}

// Enqueue adds a one-shot reply. Queued replies answer completion requests in
// FIFO order and take precedence over the responder and per-model replies.
func (s *Server) Enqueue(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, r)
}

// Fail answers the next n completion requests for model ("" for any model)
// with r, before the queue and every other script: e.g. an upstream that
// is overloaded n times (Reply{Status: 529}), with a Retry-After (Header).
func (s *Server) Fail(model string, n int, r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures == nil {
		s.failures = map[string][]Reply{}
	}
	for range n {
		s.failures[model] = append(s.failures[model], r)
	}
}

// SetResponder installs f to choose the reply of every completion request the
// queue does not answer (nil removes it). f runs concurrently, without the
// Server's lock held, so it may call the Server's methods; it must not modify
// the Received (its Header and Body are shared with the record).
func (s *Server) SetResponder(f func(*Received) Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responder = f
}

// Pending is the number of queued replies not yet used.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// ClearReplies removes the queue, the responder and all per-model replies.
func (s *Server) ClearReplies() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = nil
	s.failures = nil
	s.responder = nil
	s.perModel = map[string]Reply{}
}

// Requests returns a copy of the recorded requests, oldest first.
func (s *Server) Requests() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.received)
	if limit := s.opts.RecordLimit; limit > 0 && n > limit {
		return append([]Received(nil), s.received[n-limit:]...)
	}
	return append([]Received(nil), s.received...)
}

// Reset forgets the recorded requests (not the scripted replies).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = nil
}

// RequestCount is the number of requests served since New, recorded or not.
func (s *Server) RequestCount() int64 {
	return s.total.Load()
}

func (s *Server) record(rec *Received) {
	limit := s.opts.RecordLimit
	if limit < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Trim in batches so recording stays O(1) amortized.
	if len(s.received) >= 2*limit {
		s.received = append(s.received[:0], s.received[len(s.received)-limit:]...)
	}
	s.received = append(s.received, *rec)
}

// chooseReply picks the reply for a completion request: queue, responder,
// per-model reply, then the default. scripted is false for the default.
func (s *Server) chooseReply(rec *Received) (r Reply, scripted bool) {
	s.mu.Lock()
	for _, m := range []string{rec.Model, ""} {
		if f := s.failures[m]; len(f) > 0 {
			r, s.failures[m] = f[0], f[1:]
			s.mu.Unlock()
			return r, true
		}
	}
	if len(s.queue) > 0 {
		r = s.queue[0]
		s.queue[0] = Reply{}
		s.queue = s.queue[1:]
		s.mu.Unlock()
		return r, true
	}
	responder := s.responder
	r, ok := s.perModel[rec.Model]
	s.mu.Unlock()
	if responder != nil {
		return responder(rec), true
	}
	if ok {
		return r, true
	}
	return Reply{}, false
}

type defaultAnswer struct {
	text   string
	tokens []string
}

// prepareReply turns the chosen reply into a prepared one; the default answer's
// tokens are computed once per model.
func (s *Server) prepareReply(rec *Received, inputTokens int) *prepared {
	r, scripted := s.chooseReply(rec)
	if scripted {
		return prepare(r, rec.Model, inputTokens)
	}
	var d defaultAnswer
	if v, ok := s.defaults.Load(rec.Model); ok {
		d = v.(defaultAnswer)
	} else {
		d.text = defaultText(rec.Model, s.opts.FillerWords)
		d.tokens = tokenize(d.text)
		s.defaults.Store(rec.Model, d)
	}
	return &prepared{
		Reply:      Reply{Text: d.text},
		model:      rec.Model,
		textTokens: d.tokens,
		usage:      Usage{InputTokens: inputTokens, OutputTokens: max(len(d.tokens), 1)},
	}
}

func (s *Server) nextID() string {
	return strconv.FormatUint(s.seq.Add(1), 10)
}

// enter registers a running handler; false once the server is closed.
func (s *Server) enter() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return false
	}
	s.inflight++
	return true
}

func (s *Server) leave() {
	s.lifeMu.Lock()
	s.inflight--
	if s.inflight == 0 {
		s.idle.Broadcast()
	}
	s.lifeMu.Unlock()
}

// ServeHTTP routes a request to the Anthropic or OpenAI handlers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "fakeupstream: closed", http.StatusServiceUnavailable)
		return
	}
	defer s.leave()
	s.total.Add(1)

	id := s.nextID()
	x := &exchange{srv: s, w: w, r: r, id: id, requestID: "req_fake_" + id}
	x.rec.Method = r.Method
	x.rec.Path = r.URL.Path
	x.rec.Query = r.URL.Query()
	x.rec.Header = r.Header.Clone()
	x.route()

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		s.record(&x.rec)
		x.fail(http.StatusBadRequest, "read request body: "+err.Error())
		return
	}
	x.rec.Body = body
	x.parse()
	s.record(&x.rec)

	if key := s.opts.RequireKey; key != "" && !hasKey(r.Header, key) {
		x.fail(http.StatusUnauthorized, "")
		return
	}
	if !sleep(r.Context(), s.closing, s.opts.Latency) {
		return
	}
	x.serve()
}

func hasKey(h http.Header, key string) bool {
	if h.Get("x-api-key") == key {
		return true
	}
	auth := h.Get("Authorization")
	return len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") && auth[7:] == key
}
