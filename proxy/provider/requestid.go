package provider

import (
	"context"
	"net/http"
	"sync"
)

// RequestID is the vendor's id of a request, from its answer's headers
// (Anthropic: request-id, OpenAI: x-request-id); empty when there is none.
func RequestID(h http.Header) string {
	if id := h.Get("Request-Id"); id != "" {
		return id
	}
	return h.Get("X-Request-Id")
}

// RequestIDs collects the vendor's ids of the upstream calls made with a
// context (see WithRequestIDs), in the order their answers arrived, so a
// request's log line can name every call it made: a cascade's draft, judge
// and verifier. Safe for concurrent use; the zero value is empty.
type RequestIDs struct {
	mu  sync.Mutex
	ids []string
}

type requestIDsKey struct{}

// WithRequestIDs returns ctx with ids collecting the ids of the calls Send
// makes with it or a context derived from it.
func WithRequestIDs(ctx context.Context, ids *RequestIDs) context.Context {
	return context.WithValue(ctx, requestIDsKey{}, ids)
}

// List returns the ids collected so far.
func (r *RequestIDs) List() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// record adds the id in h, if any, to the ids collecting for ctx.
func record(ctx context.Context, h http.Header) {
	r, _ := ctx.Value(requestIDsKey{}).(*RequestIDs)
	if r == nil {
		return
	}
	if id := RequestID(h); id != "" {
		r.mu.Lock()
		r.ids = append(r.ids, id)
		r.mu.Unlock()
	}
}
