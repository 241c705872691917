#!/usr/bin/env bash
# Data-plane benchmark: direct to the fake upstream vs a bare
# httputil.ReverseProxy vs cascadeflow in pass-through with the access log
# on (as deployed), off, and on with tracing (every request, to a loopback
# OTLP/HTTP collector), on loopback, in one run (about 8 minutes; -variants=false
# for the first three alone, about 4.5). Prints a table and writes bench/results/.
#
#   bench/passthrough/run.sh                    # the full run
#   ROUNDS=1 DURATION=2s bench/passthrough/run.sh   # a quick look
#   GO_BENCH=0 bench/passthrough/run.sh         # skip the in-process go test -bench
#
# Extra arguments go to the orchestrator (go run ./bench/passthrough -h).
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
BIN=bin
mkdir -p "$BIN" bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/passthrough-$stamp.txt

echo "building into $BIN/ ..." >&2
$GO build -o "$BIN/proxy" ./cmd/proxy
$GO build -o "$BIN/fakeupstream" ./test/cmd/fakeupstream
$GO build -o "$BIN/bareproxy" ./bench/bareproxy
$GO build -o "$BIN/load" ./bench/load
$GO build -o "$BIN/bench-passthrough" ./bench/passthrough

"$BIN/bench-passthrough" -bin "$BIN" -out "$out" \
  -rounds "${ROUNDS:-5}" -warmup "${WARMUP:-750ms}" -duration "${DURATION:-3s}" \
  -clk-tck "$(getconf CLK_TCK)" "$@"

if [[ "${GO_BENCH:-1}" != 0 ]]; then
  # Allocations per request, in process (no network noise in these counts).
  echo >&2
  echo "go test -bench (allocations per request, in process) ..." >&2
  {
    echo
    echo "go test -run '^\$' -bench BenchmarkPassthrough -benchmem -benchtime 2000x ./proxy/server/"
    $GO test -run '^$' -bench BenchmarkPassthrough -benchmem -benchtime 2000x ./proxy/server/ | grep -E '^(Benchmark|goos|cpu)'
  } | tee -a "$out"
fi
echo >&2
echo "wrote $out" >&2
