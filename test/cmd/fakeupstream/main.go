// Command fakeupstream serves the fake Anthropic/OpenAI upstream on a loopback
// address, so benchmarks can run it as a separate process. It prints its base
// URL as the first line of stdout and serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cascadeflow/cascadeflow-operator/test/fakeupstream"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
}

func run() error {
	var opts fakeupstream.Options
	addr := flag.String("addr", "127.0.0.1:0", "loopback host:port to listen on (port 0 picks a free one)")
	flag.StringVar(&opts.RequireKey, "require-key", "", "API key requests must carry (x-api-key or Authorization: Bearer); empty accepts any")
	flag.DurationVar(&opts.Latency, "latency", 0, "fixed delay before every answer")
	flag.DurationVar(&opts.ChunkDelay, "chunk-delay", 0, "pause between SSE events")
	flag.BoolVar(&opts.ValidateSignatures, "validate-signatures", false, "reject thinking blocks signed for another model family")
	flag.IntVar(&opts.FillerWords, "filler-words", 0, "words appended to the default answer")
	flag.IntVar(&opts.RecordLimit, "record", -1, "requests to keep in memory (negative: none; a long benchmark would otherwise grow)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("parse -addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s is not a loopback address", *addr)
	}

	srv := fakeupstream.New(opts)
	url, err := srv.Listen(*addr)
	if err != nil {
		return err
	}
	fmt.Println(url)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Close()
	return nil
}
