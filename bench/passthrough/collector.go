package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// collector is a loopback OTLP/HTTP endpoint that accepts trace exports and
// drops them, so the traced proxy pays for building, encoding and sending
// its spans but the benchmark measures no collector of its own. It runs in
// this process, whose CPU time is not measured.
type collector struct {
	URL     string
	srv     *http.Server
	exports atomic.Int64
	bytes   atomic.Int64
}

func startCollector() (*collector, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	c := &collector{URL: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		c.exports.Add(1)
		c.bytes.Add(n)
		// An empty ExportTraceServiceResponse: everything accepted.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	c.srv = &http.Server{Handler: mux}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

func (c *collector) Close() { _ = c.srv.Close() }

// summary says what the traced proxy exported.
func (c *collector) summary() string {
	return fmt.Sprintf("\nOTLP collector (loopback, discards): %d exports received, %.1f MB of spans\n",
		c.exports.Load(), float64(c.bytes.Load())/1e6)
}
