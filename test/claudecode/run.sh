#!/usr/bin/env bash
# Claude Code end to end: install the pinned CLI from npm (cached under
# bin/claude-code), build the proxy, run every scenario of
# test/claudecode against a real proxy process and the fake upstream, and
# print one PASS/FAIL line per scenario. Exits non-zero when any scenario
# fails, and with status 2 when the CLI cannot be installed.
#
#   CLAUDE_CODE_VERSION  CLI version (default: the one tested, below)
#   CLAUDE_CODE_DIR      npm prefix for the CLI (default: bin/claude-code)
#   SCENARIO             run only the named scenario
#   TEST                 the test to run (default TestClaudeCode; the session
#                        benchmark, make bench-sessions, runs TestSessionBench)
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION="${CLAUDE_CODE_VERSION:-2.1.332}"
PREFIX="${CLAUDE_CODE_DIR:-bin/claude-code}"
GO="${GO:-go}"
TEST="${TEST:-TestClaudeCode}"
LOG="$PREFIX/last-run.log"
[[ "$TEST" == TestClaudeCode ]] || LOG="$PREFIX/last-run-$TEST.log"

# claude_bin prints the CLI's path when that CLI reports $VERSION. The npm
# package links its native binary in a postinstall script; when npm skipped
# the script, the platform package's binary is used directly.
claude_bin() {
  local c
  for c in "$PREFIX/node_modules/.bin/claude" "$PREFIX"/node_modules/@anthropic-ai/claude-code-*/claude; do
    if [[ -x "$c" ]] && [[ "$("$c" --version 2>/dev/null || true)" == "$VERSION"* ]]; then
      echo "$(cd "$(dirname "$c")" && pwd)/$(basename "$c")"
      return 0
    fi
  done
  return 1
}

if ! CLAUDE_BIN="$(claude_bin)"; then
  echo "installing the Claude Code CLI @anthropic-ai/claude-code@$VERSION from npm into $PREFIX (first time, ~1 min) …"
  mkdir -p "$PREFIX"
  if ! npm install --no-audit --no-fund --loglevel=error --prefix "$PREFIX" "@anthropic-ai/claude-code@$VERSION" >"$PREFIX/npm-install.log" 2>&1; then
    echo "BLOCKED: npm install of @anthropic-ai/claude-code@$VERSION failed (see $PREFIX/npm-install.log):" >&2
    tail -20 "$PREFIX/npm-install.log" >&2
    exit 2
  fi
  if ! CLAUDE_BIN="$(claude_bin)"; then
    echo "BLOCKED: @anthropic-ai/claude-code@$VERSION installed, but no binary in $PREFIX reports that version" >&2
    exit 2
  fi
fi
export CLAUDE_BIN

mkdir -p bin
"$GO" build -o bin/proxy ./cmd/proxy
export PROXY_BIN="$PWD/bin/proxy"

start=$(date +%s)
set +e
"$GO" test ./test/claudecode/ -run "^$TEST\$" -count=1 -v -timeout 20m >"$LOG" 2>&1
status=$?
set -e
grep '^SCENARIO ' "$LOG" | sed -e 's/^SCENARIO INFO /# /' -e 's/^SCENARIO //' || true
passed=$(grep -c '^SCENARIO PASS ' "$LOG" || true)
failed=$(grep -c '^SCENARIO FAIL ' "$LOG" || true)
echo "# $passed passed, $failed failed in $(( $(date +%s) - start ))s (full output: $LOG)"
if [[ $status -ne 0 || $failed -ne 0 || $passed -eq 0 ]]; then
  echo "--- failure details ---"
  grep -v '^SCENARIO ' "$LOG" | tail -120
  exit 1
fi
