package pricing

import (
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// A cascade's baseline is the requested model answering every request of
// the session itself. With prompt caching that model's cache would have
// been warm where the session kept it warm: a request the draft answered,
// or an escalation whose verifier found its cache cold, would have read
// the conversation's prefix at the cache-read rate in that session, not
// paid a cold write. WarmCache follows what the requested model would have
// cached in one conversation, request after request.
//
// The model is Anthropic's prefix cache as a client like Claude Code uses
// it: the conversation only grows, each request marks its prefix up to the
// last cache_control breakpoint, and a read returns the longest cached
// prefix, refreshing its TTL. The prefix a request asks to cache is read
// from the usage of the call that answered it (cache writes plus cache
// reads): tokenizers and minimum cacheable lengths differ a little between
// models, which the baseline ignores, as it ignores their output lengths.

// Cache TTLs of Anthropic's prompt cache.
const (
	CacheTTL   = 5 * time.Minute
	CacheTTL1h = time.Hour
)

// WarmCache is what the requested model would hold in its prompt cache for
// one conversation: a prefix of Tokens prompt tokens, last used at Used,
// kept for TTL. The zero value is a cold cache.
type WarmCache struct {
	Tokens int
	Used   time.Time
	TTL    time.Duration
}

// warm reports whether the cache still holds its prefix at now.
func (w WarmCache) warm(now time.Time) bool {
	ttl := w.TTL
	if ttl == 0 {
		ttl = CacheTTL
	}
	return w.Tokens > 0 && now.Sub(w.Used) < ttl
}

// SessionUsage is the usage the requested model would have reported for a
// request whose answering call reported ref, with w its cache before the
// request (known false: no earlier request of the conversation was seen,
// so ref's own split between cache reads and writes is kept). It returns
// the cache after the request.
//
// The prefix the request caches is ref's cache writes plus reads, or, when
// the answering model cached less (a draft of another vendor, which never
// saw the breakpoints), as much of the prompt as the warm cache holds: the
// conversation only grows, so the requested model would have read it.
func SessionUsage(ref llm.Usage, w WarmCache, known bool, now time.Time) (llm.Usage, WarmCache) {
	prompt := ref.InputTokens + ref.CacheCreationInputTokens + ref.CacheReadInputTokens
	prefix := ref.CacheCreationInputTokens + ref.CacheReadInputTokens
	warm := known && w.warm(now)
	if warm {
		prefix = max(prefix, min(w.Tokens, prompt))
	}
	if prefix <= 0 {
		return ref, w // nothing cached or read: the cache is left as it was
	}
	ttl := w.TTL
	if ref.CacheCreation1hInputTokens > 0 {
		ttl = CacheTTL1h
	}
	if ttl == 0 {
		ttl = CacheTTL
	}
	after := WarmCache{Tokens: prefix, Used: now, TTL: ttl}
	if !known {
		return ref, after
	}
	u := ref
	u.InputTokens = prompt - prefix
	u.CacheReadInputTokens = 0
	if warm {
		u.CacheReadInputTokens = min(w.Tokens, prefix)
	}
	u.CacheCreationInputTokens = prefix - u.CacheReadInputTokens
	u.CacheCreation1hInputTokens = 0
	if ttl == CacheTTL1h {
		u.CacheCreation1hInputTokens = u.CacheCreationInputTokens
	}
	return u, after
}
