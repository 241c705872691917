package provider

import (
	"context"
	"net/http"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/resilience"
)

// Send issues a request to the upstream: method, url, body (written part
// by part, never joined), and the
// client's headers filtered and re-authenticated for this provider. The
// returned response's status is not checked. The provider's timeout bounds
// the wait for response headers; its idle timeout then bounds every wait for
// more of the body, and a body read that hits it fails with an *llm.Error of
// kind timeout. stop is called when the caller is done with the body and
// must always be called.
//
// With a guard (SetGuard), a call that failed before its answer began is
// retried under the provider's retry policy and its circuit breaker may
// fail the call at once (503); once Send has returned, nothing is retried.
func (c *Client) Send(ctx context.Context, method, url string, body llm.Body, clientHeader http.Header) (resp *http.Response, stop func(), err error) {
	if c.unusable != nil || c.guard == nil {
		return c.send(ctx, method, url, body, clientHeader)
	}
	return c.guard.Do(ctx, func(ctx context.Context) (*http.Response, func(), error) {
		return c.send(ctx, method, url, body, clientHeader)
	})
}

// SetGuard makes the client retry and break its calls under g (nil: each
// call is made once). It must be called before the client is shared
// (snapshot.Builder does).
func (c *Client) SetGuard(g *resilience.Guard) { c.guard = g }
