package server_test

import (
	"log/slog"
	"testing"
)

// observedLogger is the access log as cmd/proxy sets it up by default.
func observedLogger(b *testing.B) *slog.Logger {
	return slog.New(slog.NewJSONHandler(devNull(b), &slog.HandlerOptions{Level: slog.LevelInfo}))
}
