package fakeupstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// exchange is one request being answered.
type exchange struct {
	srv       *Server
	w         http.ResponseWriter
	r         *http.Request
	id        string // sequence number, used in every generated id
	requestID string
	rec       Received

	parseErr    string // set when the body is not a valid request
	inputTokens int
	anthropic   anthropicRequest
	// cacheBlocks and cacheErr: the request as the prompt cache sees it
	// (Options.PromptCache).
	cacheBlocks []cacheBlock
	cacheErr    error
	openAI      openAIRequest
	responses   responsesRequest
	embeddings  embeddingsRequest
}

// route sets the dialect and endpoint from the path. /v1/models serves
// Anthropic's format when the request carries anthropic-version (every
// Anthropic client sends it), else OpenAI's.
func (x *exchange) route() {
	p := x.rec.Path
	byHeader := DialectOpenAI
	if x.r.Header.Get("anthropic-version") != "" {
		byHeader = DialectAnthropic
	}
	switch {
	case p == "/v1/messages":
		x.rec.Dialect, x.rec.Endpoint = DialectAnthropic, EndpointMessages
	case p == "/v1/messages/count_tokens":
		x.rec.Dialect, x.rec.Endpoint = DialectAnthropic, EndpointCountTokens
	case p == "/v1/chat/completions" || p == "/chat/completions":
		x.rec.Dialect, x.rec.Endpoint = DialectOpenAI, EndpointChatCompletions
	case p == "/v1/responses" || p == "/responses":
		x.rec.Dialect, x.rec.Endpoint = DialectOpenAI, EndpointResponses
	case p == "/v1/embeddings" || p == "/embeddings":
		x.rec.Dialect, x.rec.Endpoint = DialectOpenAI, EndpointEmbeddings
	case p == "/v1/models" || p == "/models":
		x.rec.Dialect, x.rec.Endpoint = byHeader, EndpointModels
	case strings.HasPrefix(p, "/v1/models/") || strings.HasPrefix(p, "/models/"):
		x.rec.Dialect, x.rec.Endpoint = byHeader, EndpointModel
		id := p[strings.Index(p, "/models/")+len("/models/"):]
		if u, err := url.PathUnescape(id); err == nil {
			id = u
		}
		x.rec.Model = id
	default:
		x.rec.Dialect, x.rec.Endpoint = byHeader, EndpointUnknown
	}
}

// parse decodes what the fake needs from the body of a completion or
// count_tokens request.
func (x *exchange) parse() {
	body := x.rec.Body
	switch x.rec.Endpoint {
	case EndpointMessages, EndpointCountTokens:
		if err := json.Unmarshal(body, &x.anthropic); err != nil {
			x.parseErr = "invalid JSON body: " + err.Error()
			return
		}
		x.rec.Model, x.rec.Stream = x.anthropic.Model, x.anthropic.Stream
		x.inputTokens = approxTokens(len(x.anthropic.System) + len(x.anthropic.Messages) + len(x.anthropic.Tools))
		if x.srv.opts.PromptCache && len(x.anthropic.Messages) > 0 {
			var tokens int
			x.cacheBlocks, tokens, x.cacheErr = cacheBlocks(&x.anthropic, x.anthropic.CacheControl)
			if x.cacheErr == nil {
				x.inputTokens = tokens
			}
		}
	case EndpointChatCompletions:
		if err := json.Unmarshal(body, &x.openAI); err != nil {
			x.parseErr = "We could not parse the JSON body of your request. " + err.Error()
			return
		}
		x.rec.Model, x.rec.Stream = x.openAI.Model, x.openAI.Stream
		x.inputTokens = approxTokens(len(x.openAI.Messages) + len(x.openAI.Tools))
	case EndpointResponses:
		if err := json.Unmarshal(body, &x.responses); err != nil {
			x.parseErr = "We could not parse the JSON body of your request. " + err.Error()
			return
		}
		x.rec.Model, x.rec.Stream = x.responses.Model, x.responses.Stream
		x.inputTokens = approxTokens(len(x.responses.Input) + len(x.responses.Instructions) + len(x.responses.Tools))
	case EndpointEmbeddings:
		if err := json.Unmarshal(body, &x.embeddings); err != nil {
			x.parseErr = "We could not parse the JSON body of your request. " + err.Error()
			return
		}
		x.rec.Model = x.embeddings.Model
		x.inputTokens = approxTokens(len(x.embeddings.Input))
	}
}

func (x *exchange) serve() {
	if x.rec.Dialect == DialectAnthropic {
		x.w.Header().Set("request-id", x.requestID)
	} else {
		x.w.Header().Set("x-request-id", x.requestID)
	}
	want := http.MethodPost
	if x.rec.Endpoint == EndpointModels || x.rec.Endpoint == EndpointModel {
		want = http.MethodGet
	}
	if x.rec.Endpoint == EndpointUnknown {
		x.fail(http.StatusNotFound, "Not Found")
		return
	}
	if x.r.Method != want {
		x.fail(http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	switch x.rec.Endpoint {
	case EndpointModels:
		x.serveModelList()
	case EndpointModel:
		x.serveModel()
	case EndpointCountTokens:
		if msg := x.anthropic.invalid(x.parseErr, false); msg != "" {
			x.fail(http.StatusBadRequest, msg)
			return
		}
		x.writeJSON(http.StatusOK, []byte(`{"input_tokens":`+strconv.Itoa(x.inputTokens)+`}`))
	case EndpointMessages:
		x.serveMessages()
	case EndpointChatCompletions:
		x.serveChatCompletions()
	case EndpointResponses:
		x.serveResponses()
	case EndpointEmbeddings:
		x.serveEmbeddings()
	}
}

// scripted applies the reply's stall, extra headers and status fault. It
// reports whether the normal answer should still be written.
func (x *exchange) scripted(p *prepared) bool {
	if p.StallBeforeHeaders > 0 && !sleep(x.r.Context(), x.srv.closing, p.StallBeforeHeaders) {
		return false
	}
	for k, v := range p.Header {
		x.w.Header()[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	if p.StallAfterBytes > 0 {
		x.w = &stallWriter{ResponseWriter: x.w, left: p.StallAfterBytes, ctx: x.r.Context(), done: x.srv.closing}
	}
	if (p.Status == 0 || p.Status == http.StatusOK) && len(p.RawBody) == 0 {
		return true
	}
	status := p.Status
	if status == 0 {
		status = http.StatusOK
	}
	if len(p.RawBody) == 0 {
		x.fail(status, p.ErrorMessage)
		return false
	}
	ct := p.ContentType
	if ct == "" {
		ct = "application/json"
	}
	x.w.Header().Set("Content-Type", ct)
	x.w.WriteHeader(status)
	_, _ = x.w.Write(p.RawBody)
	return false
}

// fail writes the dialect's error envelope with status.
func (x *exchange) fail(status int, message string) {
	if x.rec.Dialect == DialectAnthropic {
		x.w.Header().Set("request-id", x.requestID)
	} else {
		x.w.Header().Set("x-request-id", x.requestID)
	}
	x.writeJSON(status, errorBody(x.rec.Dialect, status, message, x.requestID))
}

func (x *exchange) writeJSON(status int, body []byte) {
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body)
}

// writeAnswer writes a non-streaming completion, cut after
// p.ResetAfterBytes bytes when that fault is scripted.
func (x *exchange) writeAnswer(p *prepared, body []byte) {
	n := p.ResetAfterBytes
	if n <= 0 || n >= len(body) {
		x.writeJSON(http.StatusOK, body)
		return
	}
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(body[:n])
	rc := http.NewResponseController(x.w)
	_ = rc.Flush()
	resetConn(rc)
}

// stream starts an SSE response and returns its writer.
func (x *exchange) stream(p *prepared, errName string, errData []byte) *eventStream {
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	x.w.WriteHeader(http.StatusOK)
	delay := p.ChunkDelay
	if delay == 0 {
		delay = x.srv.opts.ChunkDelay
	}
	return &eventStream{
		ctx:        x.r.Context(),
		done:       x.srv.closing,
		w:          x.w,
		rc:         http.NewResponseController(x.w),
		delay:      delay,
		resetAfter: p.ResetAfterEvents,
		errorAfter: p.StreamErrorAfterEvents,
		errorName:  errName,
		errorData:  errData,
	}
}

func (p *prepared) streamErrorStatus() int {
	if p.StreamErrorStatus != 0 {
		return p.StreamErrorStatus
	}
	return 529
}

// stallWriter passes the first left bytes of a body through and then hangs
// (Reply.StallAfterBytes).
type stallWriter struct {
	http.ResponseWriter
	left int
	ctx  context.Context
	done <-chan struct{}
}

func (w *stallWriter) Write(b []byte) (int, error) {
	if w.left <= 0 {
		return 0, errStalled
	}
	n := min(len(b), w.left)
	n, err := w.ResponseWriter.Write(b[:n])
	w.left -= n
	if err != nil || w.left > 0 {
		return n, err
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
	select {
	case <-w.ctx.Done():
	case <-w.done:
	}
	return n, errStalled
}

// Unwrap lets http.ResponseController reach the real writer (Flush, Hijack).
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var errStalled = errors.New("fakeupstream: stalled on purpose")
