// Command bareproxy is the benchmark's baseline: a plain
// httputil.ReverseProxy in front of one upstream, configured the way a
// careful operator would (flush every write, a pool of idle upstream
// connections, full duplex so the request body stays readable while a
// stream is answered). Whatever our proxy costs above this is its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "loopback address to serve on")
	upstream := flag.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:9000")
	apiKeyEnv := flag.String("api-key-env", "", "environment variable whose value replaces the client's x-api-key (as a key-holding proxy does)")
	// -1 flushes after every write. Event streams are flushed at once under
	// any setting (ReverseProxy special-cases text/event-stream), so this only
	// changes non-streaming answers: -1 sends their headers in a write of
	// their own, 0 lets them leave with the body.
	flushInterval := flag.Duration("flush-interval", -1, "httputil.ReverseProxy.FlushInterval")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *upstream, os.Getenv(*apiKeyEnv), *flushInterval); err != nil {
		log.Fatalf("bareproxy: %v", err)
	}
}

func run(ctx context.Context, listen, upstream, key string, flushInterval time.Duration) error {
	target, err := url.Parse(upstream)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return fmt.Errorf("parse --upstream %q: want an absolute URL", upstream)
	}
	handler := newHandler(target, key, flushInterval)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// newHandler is the reverse proxy to target; key, when set, replaces the
// client's credentials.
func newHandler(target *url.URL, key string, flushInterval time.Duration) http.Handler {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512, // Go's default of 2 would redial under any concurrency
		IdleConnTimeout:     90 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			if key != "" {
				r.Out.Header.Del("Authorization")
				r.Out.Header.Set("X-Api-Key", key)
			}
		},
		Transport:     transport,
		FlushInterval: flushInterval,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Without this the server may close the request body once the
		// response starts, which cuts some streams under load.
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}
