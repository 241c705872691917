package rules

import (
	"strings"
	"testing"
	"time"
)

// providers[].idleTimeout is part of the contract: decoded strictly, checked,
// encoded (so it reaches the hash) and round-tripped.
func TestHardeningIdleTimeoutField(t *testing.T) {
	doc := "version: v1\nproviders:\n- name: a\n  type: anthropic\n  baseURL: https://x\n  passthroughAuth: true\n  idleTimeout: 90s\n"
	s, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Providers[0].IdleTimeout.Duration; got != 90*time.Second {
		t.Fatalf("idleTimeout = %s, want 90s", got)
	}
	js, err := EncodeJSON(s)
	if err != nil || !strings.Contains(string(js), `"idleTimeout":"1m30s"`) {
		t.Fatalf("encoding %s (%v) lacks idleTimeout", js, err)
	}
	without := *s
	without.Providers = []Provider{s.Providers[0]}
	without.Providers[0].IdleTimeout = Duration{}
	if without.Hash() == s.Hash() {
		t.Error("the hash does not change with idleTimeout")
	}
	if _, err := Decode([]byte(strings.Replace(doc, "90s", "soon", 1))); err == nil || !strings.Contains(err.Error(), "providers[0].idleTimeout") {
		t.Errorf("a bad idleTimeout gave %v, want an error naming the field", err)
	}
	s.Providers[0].IdleTimeout = Duration{-time.Second}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "providers[0].idleTimeout: must not be negative") {
		t.Errorf("a negative idleTimeout gave %v", err)
	}
}

// A key pasted into apiKey.env or apiKey.file is refused without being
// quoted: rules errors are logged and shown in the CascadeRoute's status.
func TestHardeningValidationNeverQuotesKey(t *testing.T) {
	const key = "sk-ant-api03-Zx9qLmN0pQrStUvWxYz0123456789abcdef"
	for _, src := range []string{"env: " + key, "file: " + key, "env: \"" + key + "!\""} {
		doc := "version: v1\nproviders:\n- name: a\n  type: anthropic\n  baseURL: https://x\n  apiKey: {" + src + "}\n"
		_, err := Decode([]byte(doc))
		if err == nil {
			t.Errorf("apiKey {%s} accepted", src)
			continue
		}
		if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), key[:20]) {
			t.Errorf("the error quotes the key: %v", err)
		}
		if !strings.Contains(err.Error(), "providers[0].apiKey.") {
			t.Errorf("the error does not name the field: %v", err)
		}
	}
	// Paths and variable names are still fine.
	for _, src := range []string{"file: /var/run/keys/anthropic", "file: key.txt", "env: ANTHROPIC_API_KEY"} {
		doc := "version: v1\nproviders:\n- name: a\n  type: anthropic\n  baseURL: https://x\n  apiKey: {" + src + "}\n"
		if _, err := Decode([]byte(doc)); err != nil {
			t.Errorf("apiKey {%s}: %v", src, err)
		}
	}
}
