package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/internal/version"
)

// proxy --version prints the version and ends with 0, before anything else
// (no rules file is needed).
func TestHardeningVersionFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	_, code, done := parseArgs([]string{"--version"}, &out, &errOut)
	if !done || code != 0 {
		t.Fatalf("--version: done=%v code=%d stderr=%q", done, code, errOut.String())
	}
	if got, want := out.String(), "proxy "+version.String()+"\n"; got != want || version.String() == "" {
		t.Errorf("printed %q, want %q", got, want)
	}
	if _, code, done := parseArgs([]string{"--no-such-flag"}, &out, &errOut); !done || code != 2 {
		t.Errorf("a bad flag: done=%v code=%d", done, code)
	}
}

// The version stamped with -ldflags -X (make build) is the one printed.
func TestHardeningVersionStampedAtBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "proxy")
	build := exec.CommandContext(ctx, "go", "build", "-ldflags",
		"-X github.com/cascadeflow/cascadeflow-operator/internal/version.Version=v7.7.7-test", "-o", bin, ".")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "proxy v7.7.7-test" {
		t.Fatalf("proxy --version = %q, %v", out, err)
	}
}
