package provider

import (
	"bytes"
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

// RedactEvents hides the secrets in a run of whole events of an upstream's
// event stream that holds an error event: an in-band error may quote the key
// the upstream was sent, as an error answer may. A run without one is not
// read further than one scan for "error", and is returned as it is, as is a
// run with nothing to hide.
func (c *Client) RedactEvents(b []byte) []byte {
	if c.redact == nil || !mayHoldErrorEvent(b) {
		return b
	}
	if s := string(b); c.redact.String(s) != s {
		return []byte(c.redact.String(s))
	}
	return b
}

// mayHoldErrorEvent reports an "error" that is JSON's (a quoted member or
// value: Anthropic's "type":"error", OpenAI's {"error":...}) or an event
// name (event: error). The word in generated text does not count: a quote
// inside a JSON string is escaped.
func mayHoldErrorEvent(b []byte) bool {
	const word = "error"
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(word))
		if i < 0 {
			return false
		}
		i += off
		before, after := b[:i], b[i+len(word):]
		if bytes.HasSuffix(before, []byte(`"`)) && bytes.HasPrefix(after, []byte(`"`)) && !bytes.HasSuffix(before, []byte(`\"`)) ||
			bytes.HasSuffix(bytes.TrimRight(before, " "), []byte("event:")) {
			return true
		}
		off = i + len(word)
	}
}

// SetRedactor makes the client redact r's secrets from upstream errors. It
// must be called before the client is shared (snapshot.Builder does).
func (c *Client) SetRedactor(r *Redactor) { c.redact = r }
