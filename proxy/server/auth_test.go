package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"

	"github.com/cascadeflow/cascadeflow-operator/proxy/clientauth"
)

// Only issued client keys get through, in both auth styles; others get their
// SDK's 401; a rotated key file is picked up without a restart.
func TestClientAuthentication(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "team"), []byte("team-key-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := &clientauth.Keys{}
	if err := keys.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go keys.WatchDir(ctx, dir, time.Hour, nil)
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{clientKeys: keys})

	ok := func(opts ...aoption.RequestOption) error {
		c := anthropic.NewClient(append([]aoption.RequestOption{aoption.WithBaseURL(h.url), aoption.WithMaxRetries(0)}, opts...)...)
		_, err := c.Messages.New(context.Background(), userParams("claude-haiku-5-5", "hi"))
		return err
	}
	if err := ok(aoption.WithAPIKey("team-key-1")); err != nil {
		t.Fatalf("x-api-key: %v", err)
	}
	if err := ok(aoption.WithAuthToken("team-key-1")); err != nil {
		t.Fatalf("bearer: %v", err)
	}
	var ae *anthropic.Error
	for _, opt := range []aoption.RequestOption{aoption.WithAPIKey("wrong"), aoption.WithAuthToken("team-key-")} {
		if err := ok(opt); !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(ae.RawJSON(), "authentication_error") {
			t.Fatalf("want an Anthropic 401, got %v", err)
		}
	}
	oc := openai.NewClient(ooption.WithBaseURL(h.url+"/v1"), ooption.WithAPIKey("nope"), ooption.WithMaxRetries(0))
	_, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 401 {
		t.Fatalf("want an OpenAI 401, got %v", err)
	}
	if n := len(h.fake.Requests()); n != 2 {
		t.Fatalf("rejected requests reached the upstream: %d calls", n)
	}
	// The client's key is never forwarded upstream: the proxy's vendor key is.
	for _, r := range h.fake.Requests() {
		if r.Header.Get("X-Api-Key") != vendorKey || r.Header.Get("Authorization") != "" {
			t.Fatalf("upstream headers %v", r.Header)
		}
	}
	// Rotation: the old key stops working, the new one starts.
	tmp := filepath.Join(dir, ".rotate")
	os.WriteFile(tmp, []byte("team-key-2\n"), 0o600)
	os.Rename(tmp, filepath.Join(dir, "team"))
	deadline := time.Now().Add(3 * time.Second)
	for ok(aoption.WithAPIKey("team-key-2")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("rotated key not accepted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := ok(aoption.WithAPIKey("team-key-1")); !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Fatalf("old key still accepted: %v", err)
	}
	// Health and metrics stay open for probes and scrapers.
	if code, _ := h.get("/healthz", nil); code != 200 {
		t.Fatalf("healthz %d", code)
	}
}
