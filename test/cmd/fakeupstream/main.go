// Command fakeupstream serves the fake Anthropic/OpenAI upstream on a loopback
// address, so benchmarks can run it as a separate process. It prints its base
// URL as the first line of stdout and serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
}

// serve parses args, listens, writes the base URL to out and serves until ctx
// ends.
func serve(ctx context.Context, args []string, out io.Writer) error {
	var opts fakeupstream.Options
	fs := flag.NewFlagSet("fakeupstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback host:port to listen on (port 0 picks a free one)")
	fs.StringVar(&opts.RequireKey, "require-key", "", "API key requests must carry (x-api-key or Authorization: Bearer); empty accepts any")
	fs.DurationVar(&opts.Latency, "latency", 0, "fixed delay before every answer")
	fs.DurationVar(&opts.ChunkDelay, "chunk-delay", 0, "pause between SSE events")
	fs.BoolVar(&opts.ValidateSignatures, "validate-signatures", false, "reject thinking blocks signed for another model family")
	fs.IntVar(&opts.FillerWords, "filler-words", 0, "words appended to the default answer")
	fs.IntVar(&opts.RecordLimit, "record", -1, "requests to keep in memory (negative: none, so a long benchmark does not grow)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("parse -addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s is not a loopback address", *addr)
	}

	srv := fakeupstream.New(opts)
	defer srv.Close()
	url, err := srv.Listen(*addr)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out, url); err != nil {
		return fmt.Errorf("print url: %w", err)
	}
	<-ctx.Done()
	return nil
}
