package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// `make run` with only ANTHROPIC_API_KEY set: the proxy starts, says loudly
// that the openai provider and the rule it verifies are disabled, and
// answers that rule's model with a clear 503 (no upstream is called).
func TestHardeningMakeRunWithOneVendorKey(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-only-this-one")
	t.Setenv("OPENAI_API_KEY", "")
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	o := options{listen: freeAddr(t), rulesFile: "../../config/samples/rules-demo.yaml", demo: "auto",
		maxBody: 1 << 20, shutdownTimeout: time.Second, pollInterval: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	done := make(chan struct{})
	go func() { runErr = run(ctx, o, log, nil); close(done) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the proxy did not stop")
		}
	}()
	base := "http://" + o.listen
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("the proxy exited: %v\n%s", runErr, logs)
		default:
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 10s:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "provider openai has no API key") {
		t.Errorf("gpt-4.1: %d %s; want 503 naming the provider", resp.StatusCode, body)
	}
	l := logs.String()
	for _, want := range []string{"level=WARN", "provider=openai", "OPENAI_API_KEY", "unavailable_rules=[gpt]"} {
		if !strings.Contains(l, want) {
			t.Errorf("the log lacks %q:\n%s", want, l)
		}
	}
	if strings.Contains(l, "previous rules") || strings.Contains(l, "DEMO MODE") {
		t.Errorf("misleading log:\n%s", l)
	}
}
