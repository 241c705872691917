package llm

import "strings"

// billingHeaderPrefix starts the per-request system block Claude Code sends.
// It changes on every request, so on a non-Anthropic backend it defeats
// prefix caching (Anthropic's API removes it itself).
const billingHeaderPrefix = "x-anthropic-billing-header:"

// StripBillingHeader removes Claude Code's billing-header system block.
func StripBillingHeader(req *Request) {
	out := req.System[:0:0]
	for _, b := range req.System {
		if b.Type == BlockText && strings.HasPrefix(strings.TrimSpace(b.Text), billingHeaderPrefix) {
			continue
		}
		out = append(out, b)
	}
	req.System = out
}
