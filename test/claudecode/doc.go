// Package claudecode tests the proxy with the real Claude Code CLI.
//
// TestClaudeCode runs the CLI (installed from npm at a pinned version by
// run.sh, see `make e2e-claude`) against a real proxy process on loopback,
// which forwards to the fake upstream scripted to answer as Claude Code's
// backend would: streamed text, thinking blocks with signatures, tool_use
// for Bash and Read. A capturing reverse proxy between the CLI and the proxy
// records what the CLI sent and what it got back, so scenarios can compare
// it with what reached the upstream. Without CLAUDE_BIN it is skipped.
//
// TestReplay* run in every `go test`: they replay request bodies recorded
// from the same CLI (testdata/, refreshed with CLAUDE_CODE_RECORD=1) through
// an in-process proxy, so the Claude Code request shape stays covered where
// the CLI cannot be installed.
package claudecode
