package provider

import (
	"errors"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// minSecretLen is the shortest value a Redactor hides: real vendor keys are
// far longer, and replacing every occurrence of a short word would mangle
// messages without protecting anything.
const minSecretLen = 8

// redacted replaces a secret in a message.
const redacted = "[REDACTED]"

// Redactor hides known secrets (the providers' resolved API keys) in
// upstream error messages before they are relayed to a client or logged:
// some upstreams quote the key they were sent. It runs on error paths only.
// A nil *Redactor hides nothing.
type Redactor struct{ r *strings.Replacer }

// NewRedactor hides each of secrets (those shorter than 8 bytes are ignored).
func NewRedactor(secrets ...string) *Redactor {
	var pairs []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minSecretLen || seen[s] {
			continue
		}
		seen[s] = true
		pairs = append(pairs, s, redacted)
	}
	if len(pairs) == 0 {
		return nil
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Error redacts an upstream error in place: its message, and its cause's
// text (kept for logs) when that holds a secret. It returns e.
func (r *Redactor) Error(e *llm.Error) *llm.Error {
	if r == nil || e == nil {
		return e
	}
	e.Message = r.String(e.Message)
	e.UpstreamType = r.String(e.UpstreamType)
	if e.Err != nil {
		if msg := e.Err.Error(); r.String(msg) != msg {
			e.Err = errors.New(r.String(msg))
		}
	}
	return e
}

// SetRedactor makes the client redact r's secrets from upstream errors. It
// must be called before the client is shared (snapshot.Builder does).
func (c *Client) SetRedactor(r *Redactor) { c.redact = r }
