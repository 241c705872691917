package llm

import "strings"

// billingHeaderPrefix starts the per-request system block Claude Code sends.
// It changes on every request, so on a non-Anthropic backend it defeats
// prefix caching (Anthropic's API removes it itself).
const billingHeaderPrefix = "x-anthropic-billing-header:"

// IsBillingHeader reports whether b is Claude Code's billing-header system
// block: a text block whose text, leading white space aside, starts with
// "x-anthropic-billing-header:". A block that only mentions it later is not.
func IsBillingHeader(b Block) bool {
	return b.Type == BlockText && strings.HasPrefix(strings.TrimLeft(b.Text, " \t\r\n"), billingHeaderPrefix)
}

// StripBillingHeader removes Claude Code's billing-header system block.
func StripBillingHeader(req *Request) {
	out := req.System[:0:0]
	for _, b := range req.System {
		if !IsBillingHeader(b) {
			out = append(out, b)
		}
	}
	req.System = out
}
