// Command fakevendor serves the fake Anthropic/OpenAI upstream inside a pod of
// the test cluster (on the pod's own network, not loopback), so proxy pods can
// reach it through a Service. It accepts only the vendor keys given with -keys
// (several, so a key rotation can be watched) and counts the requests each key
// made; GET /_keys returns the counts as JSON, keyed by a key's last 4 bytes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fakevendor:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fakevendor", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "host:port to listen on")
	keys := fs.String("keys", "", "comma-separated vendor keys to accept (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h, err := newKeyGate(strings.Split(*keys, ","), fakeupstream.New(fakeupstream.Options{}))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("fake vendor serving", "addr", ln.Addr().String(), "keys", len(h.allowed))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// keyGate answers 401 to requests without an accepted key, counts the rest
// per key and hands them to next.
type keyGate struct {
	allowed map[string]bool
	next    http.Handler

	mu     sync.Mutex
	counts map[string]int
}

func newKeyGate(keys []string, next http.Handler) (*keyGate, error) {
	g := &keyGate{allowed: map[string]bool{}, next: next, counts: map[string]int{}}
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			g.allowed[k] = true
		}
	}
	if len(g.allowed) == 0 {
		return nil, errors.New("-keys: no key given")
	}
	return g, nil
}

// suffix names a key without revealing it.
func suffix(key string) string {
	if len(key) <= 4 {
		return "…"
	}
	return "…" + key[len(key)-4:]
}

func (g *keyGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_keys" {
		g.mu.Lock()
		body, _ := json.Marshal(g.counts)
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
		return
	}
	key := r.Header.Get("x-api-key")
	if key == "" {
		key = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if !g.allowed[key] {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`))
		return
	}
	g.mu.Lock()
	g.counts[suffix(key)]++
	g.mu.Unlock()
	g.next.ServeHTTP(w, r)
}
