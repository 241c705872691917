package server_test

import (
	"log/slog"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/asynclog"
)

// observedLogger is the access log as cmd/proxy sets it up by default:
// JSON at info, through the asynchronous sink.
func observedLogger(b *testing.B) *slog.Logger {
	sink := asynclog.New(devNull(b), asynclog.DefaultMaxBuffered)
	b.Cleanup(func() { _ = sink.Close() })
	return slog.New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// syncLogger writes every line straight to the file, one system call each
// (how the access log was written before the asynchronous sink).
func syncLogger(b *testing.B) *slog.Logger {
	return slog.New(slog.NewJSONHandler(devNull(b), &slog.HandlerOptions{Level: slog.LevelInfo}))
}
