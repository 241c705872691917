package fakeupstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Prompt caching, as Anthropic's "Prompt caching" guide documents it
// (Options.PromptCache turns it on):
//
//   - A request is a sequence of blocks in the order tools, system, messages:
//     each tool definition, each system text block, each message content
//     block (a string content is one block). A block marked with
//     cache_control ({"type":"ephemeral"}, optional "ttl": "5m" or "1h") is a
//     breakpoint: the prefix up to and including it is cached, per model. A
//     string content is the text block it stands for, so a message sent as
//     a string in one request and as a marked text block in another is the
//     same prefix (Claude Code does this with its "system" message). A
//     top-level cache_control (automatic caching) marks the last block.
//   - At most 4 breakpoints; a fifth is a 400 invalid_request_error "A
//     maximum of 4 blocks with cache_control may be provided. Found 5.". A
//     "1h" breakpoint after a "5m" one is a 400 too (longer TTLs first).
//   - A prefix shorter than the model's minimum cacheable length is not
//     cached (no error): see MinCacheableTokens.
//   - A read is the longest prefix found in the cache at a breakpoint or at
//     any of the 20 block boundaries before it (the lookback window). Reading
//     an entry refreshes its TTL (5 minutes, or 1 hour, from last use).
//   - usage: cache_read_input_tokens is the prefix read; cache_creation_input_tokens
//     the tokens from there to the last cacheable breakpoint, written at every
//     breakpoint past the read (split by TTL in usage.cache_creation);
//     input_tokens the rest, after the last breakpoint.
//   - The block's cache_control marker is not part of the cached content: a
//     breakpoint moved to a later block still hits the earlier prefix.
//   - Claude Code's per-request x-anthropic-billing-header system block is left
//     out of the prefix, as Anthropic's API removes it itself.
//
// Token counts use the fake's estimate (bytes/4) on the blocks: a block's
// bytes are its compact JSON without the marker (a message block prefixed with
// its role), a prefix's tokens the floor of its cumulative bytes / 4, and the
// request's input (usage and count_tokens alike) the ceiling of all of them / 4.

// cacheLookback is how many block boundaries before a breakpoint are checked
// for a hit (besides the breakpoint's own).
const cacheLookback = 20

// maxBreakpoints is the number of cache_control blocks a request may carry.
const maxBreakpoints = 4

// The two TTLs Anthropic offers.
const (
	TTL5m = 5 * time.Minute
	TTL1h = time.Hour
)

// MinCacheableTokens is the minimum cacheable prompt length of model, from
// the guide's table (by model id prefix, longest match first); ids it does
// not list use their family's most recent documented value (opus and haiku
// 4096, sonnet 1024), anything else 1024. Options.CacheMinTokens overrides it.
func MinCacheableTokens(model string) int {
	for _, m := range minCacheable {
		if strings.HasPrefix(model, m.prefix) {
			return m.tokens
		}
	}
	switch {
	case strings.Contains(model, "opus"), strings.Contains(model, "haiku"):
		return 4096
	}
	return 1024
}

var minCacheable = []struct {
	prefix string
	tokens int
}{
	{"claude-opus-4-8", 1024},
	{"claude-opus-4-7", 4096},
	{"claude-opus-4-6", 4096},
	{"claude-opus-4-5", 4096},
	{"claude-opus-4-1", 1024},
	{"claude-opus-4", 1024},
	{"claude-sonnet-4", 1024},
	{"claude-3-7-sonnet", 1024},
	{"claude-haiku-4-5", 4096},
	{"claude-3-5-haiku", 2048},
	{"claude-3-haiku", 2048},
	{"claude-3-opus", 1024},
}

// cacheBlock is one block of the flattened request.
type cacheBlock struct {
	hash   [32]byte // of every block up to and including this one, markers left out
	tokens int      // prefix tokens up to and including this block
	mark   bool     // carries cache_control
	ttl    time.Duration
}

// cacheEntry is one cached prefix of one model.
type cacheEntry struct {
	expires time.Time
	ttl     time.Duration
}

type cacheKey struct {
	model string
	hash  [32]byte
}

// promptCache holds the cached prefixes of every model.
type promptCache struct {
	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

// cacheUse is what caching did for one request.
type cacheUse struct {
	read, write5m, write1h int
}

// cacheError is a request the API rejects for its cache_control markers.
type cacheError string

func (e cacheError) Error() string { return string(e) }

// cacheBlocks flattens a Messages request into blocks (tools, system,
// messages), validating its markers; tokens is the whole request's estimate.
func cacheBlocks(a *anthropicRequest, top json.RawMessage) (blocks []cacheBlock, tokens int, err error) {
	var raw []json.RawMessage
	if err := appendArray(&raw, a.Tools); err != nil {
		return nil, 0, fmt.Errorf("tools: %w", err)
	}
	if len(a.System) > 0 && a.System[0] == '[' {
		var sys []json.RawMessage
		if err := json.Unmarshal(a.System, &sys); err != nil {
			return nil, 0, fmt.Errorf("system: %w", err)
		}
		for _, b := range sys {
			if !isBillingHeader(b) {
				raw = append(raw, b)
			}
		}
	} else if len(a.System) > 0 && !bytes.Equal(a.System, []byte("null")) {
		raw = append(raw, textBlock(a.System))
	}
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(a.Messages, &msgs); err != nil {
		return nil, 0, fmt.Errorf("messages: %w", err)
	}
	for _, m := range msgs {
		role, _ := json.Marshal(m.Role)
		if len(m.Content) > 0 && m.Content[0] == '[' {
			var content []json.RawMessage
			if err := json.Unmarshal(m.Content, &content); err != nil {
				return nil, 0, fmt.Errorf("messages: %w", err)
			}
			for _, c := range content {
				raw = append(raw, withRole(role, c))
			}
		} else {
			raw = append(raw, withRole(role, textBlock(m.Content)))
		}
	}

	blocks = make([]cacheBlock, len(raw))
	h := sha256.New()
	total := 0
	marks := 0
	for i, b := range raw {
		content, mark, ttl, err := stripMarker(b)
		if err != nil {
			return nil, 0, err
		}
		if mark {
			marks++
		}
		h.Write(content)
		h.Write([]byte{0})
		total += len(content)
		blocks[i] = cacheBlock{tokens: total / 4, mark: mark, ttl: ttl}
		copy(blocks[i].hash[:], h.Sum(nil))
	}
	if len(top) > 0 && !bytes.Equal(top, []byte("null")) && len(blocks) > 0 {
		ttl, err := parseCacheControl(top)
		if err != nil {
			return nil, 0, err
		}
		if last := &blocks[len(blocks)-1]; !last.mark {
			last.mark, last.ttl = true, ttl
			marks++
		}
	}
	if marks > maxBreakpoints {
		return nil, 0, cacheError(fmt.Sprintf("A maximum of %d blocks with cache_control may be provided. Found %d.", maxBreakpoints, marks))
	}
	seen5m := false
	for _, b := range blocks {
		if !b.mark {
			continue
		}
		if b.ttl == TTL1h && seen5m {
			return nil, 0, cacheError(`cache_control: a ttl="1h" cache_control block must not come after a ttl="5m" one`)
		}
		seen5m = seen5m || b.ttl == TTL5m
	}
	return blocks, approxTokens(total), nil
}

func appendArray(out *[]json.RawMessage, b json.RawMessage) error {
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil {
		return err
	}
	*out = append(*out, arr...)
	return nil
}

// textBlock is the text block a string content is shorthand for (the API
// reads "content": "x" as [{"type": "text", "text": "x"}]); anything else is
// returned as it is.
func textBlock(b json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(b, &s) != nil {
		return b
	}
	out, _ := json.Marshal(map[string]string{"type": "text", "text": s})
	return out
}

// withRole prefixes a message block with its role, so the same block said by
// another role is another prefix.
func withRole(role []byte, block json.RawMessage) json.RawMessage {
	out := make([]byte, 0, len(role)+len(block)+1)
	out = append(out, role...)
	out = append(out, ':')
	return append(out, block...)
}

func isBillingHeader(b json.RawMessage) bool {
	var t struct {
		Text string `json:"text"`
	}
	return json.Unmarshal(b, &t) == nil && strings.HasPrefix(t.Text, "x-anthropic-billing-header:")
}

// stripMarker returns the block's compact JSON without cache_control, and the
// marker's TTL.
func stripMarker(b json.RawMessage) (content []byte, mark bool, ttl time.Duration, err error) {
	prefix := []byte{}
	if i := bytes.IndexByte(b, ':'); i > 0 && b[0] == '"' { // a role prefix (withRole)
		prefix, b = b[:i+1], b[i+1:]
	}
	if len(b) == 0 || b[0] != '{' {
		return append(prefix, compactJSON(b)...), false, 0, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, false, 0, fmt.Errorf("content block: %w", err)
	}
	cc, ok := obj["cache_control"]
	if ok && !bytes.Equal(cc, []byte("null")) {
		if ttl, err = parseCacheControl(cc); err != nil {
			return nil, false, 0, err
		}
		mark = true
	}
	delete(obj, "cache_control")
	enc, _ := json.Marshal(obj) // map keys sorted: deterministic
	return append(prefix, enc...), mark, ttl, nil
}

func parseCacheControl(b json.RawMessage) (time.Duration, error) {
	var cc struct {
		Type string `json:"type"`
		TTL  string `json:"ttl"`
	}
	if err := json.Unmarshal(b, &cc); err != nil {
		return 0, cacheError("cache_control: " + err.Error())
	}
	if cc.Type != "ephemeral" {
		return 0, cacheError(fmt.Sprintf("cache_control.type: Input should be 'ephemeral' (got %q)", cc.Type))
	}
	switch cc.TTL {
	case "", "5m":
		return TTL5m, nil
	case "1h":
		return TTL1h, nil
	}
	return 0, cacheError(fmt.Sprintf("cache_control.ttl: Input should be '5m' or '1h' (got %q)", cc.TTL))
}

// use looks the request's prefixes up for model at now, writes and refreshes
// entries, and reports the cached token counts.
func (c *promptCache) use(model string, blocks []cacheBlock, minTokens int, now time.Time) cacheUse {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[cacheKey]cacheEntry{}
	}
	alive := func(i int) (cacheEntry, bool) {
		e, ok := c.entries[cacheKey{model, blocks[i].hash}]
		return e, ok && now.Before(e.expires)
	}
	// Read: the longest cached prefix within the lookback of a breakpoint.
	readAt := -1
	for i, b := range blocks {
		if !b.mark {
			continue
		}
		for j := i; j >= 0 && j >= i-cacheLookback && j > readAt; j-- {
			if _, ok := alive(j); ok {
				readAt = j
				break
			}
		}
	}
	var u cacheUse
	if readAt >= 0 {
		u.read = blocks[readAt].tokens
		e, _ := alive(readAt)
		e.expires = now.Add(e.ttl)
		c.entries[cacheKey{model, blocks[readAt].hash}] = e
	}
	// Write: every cacheable breakpoint past the read; each segment is billed
	// at its breakpoint's TTL.
	done := u.read
	for i, b := range blocks {
		if !b.mark || b.tokens < minTokens {
			continue
		}
		if i <= readAt {
			if e, ok := alive(i); ok { // an earlier breakpoint used again: refresh
				e.expires = now.Add(e.ttl)
				c.entries[cacheKey{model, b.hash}] = e
			}
			continue
		}
		c.entries[cacheKey{model, b.hash}] = cacheEntry{expires: now.Add(b.ttl), ttl: b.ttl}
		if seg := b.tokens - done; seg > 0 {
			if b.ttl == TTL1h {
				u.write1h += seg
			} else {
				u.write5m += seg
			}
			done = b.tokens
		}
	}
	return u
}

// forget drops every entry.
func (c *promptCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
}
