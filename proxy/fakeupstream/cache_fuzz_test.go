package fakeupstream

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzCacheBlocks: any body either fails to parse or yields blocks whose
// prefix tokens never decrease and never exceed the request's estimate, and
// using the cache never reports more cached tokens than that.
func FuzzCacheBlocks(f *testing.F) {
	f.Add([]byte(`{"model":"m","system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","tools":[{"name":"t","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"cache_control":{"type":"ephemeral"}}`))
	f.Add([]byte(`{"model":"m","system":"plain","messages":[{"role":"user","content":[{"type":"tool_result","content":"x","cache_control":null}]}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[1,"a",null,{"cache_control":{"type":"x"}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var a anthropicRequest
		if json.Unmarshal(body, &a) != nil || len(a.Messages) == 0 {
			return
		}
		blocks, tokens, err := cacheBlocks(&a, a.CacheControl)
		if err != nil {
			return
		}
		prev := 0
		for _, b := range blocks {
			if b.tokens < prev || b.tokens > tokens {
				t.Fatalf("prefix tokens %d after %d, request %d", b.tokens, prev, tokens)
			}
			prev = b.tokens
		}
		var c promptCache
		now := time.Unix(0, 0)
		for range 2 {
			u := c.use("m", blocks, 1, now)
			if u.read+u.write5m+u.write1h > tokens || u.read < 0 || u.write5m < 0 || u.write1h < 0 {
				t.Fatalf("use %+v of a %d-token request", u, tokens)
			}
		}
	})
}
