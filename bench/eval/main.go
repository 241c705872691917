// Command eval measures the cascade on real answers: it replays the
// cascade-eval dev pairs (../shared/data/cascade-eval/pairs-dev.jsonl, never
// copied into the repository) through the real proxy, assembled in-process
// as cmd/proxy assembles it, with a rule that maps gpt-4-1106-preview to the
// draft Mixtral-8x7B-Instruct and the verifier gpt-4-1106-preview, both on a
// replay upstream that answers each prompt with its recorded answers.
//
//	make eval                                   # from the repository root
//	go run ./bench/eval -data PATH -out DIR     # CASCADE_EVAL_DATA also sets the data path
//
// It prints per source the quality, cost share and escalation rate of the
// cascade at the proxy's default threshold and at the source's own operating
// point (its cheapest threshold keeping 95 % of always-verifier quality,
// found at every distinct full-precision gate score and re-run through the
// proxy) beside always-draft, always-verifier, the oracle and random
// routing, and writes DIR/results.md, DIR/sweep.csv and DIR/sweep.svg.
// Without the data it says so and exits 0. It exits 1 when the proxy's
// behaviour contradicts itself (an outcome that changes with the threshold
// other than as "accept iff score >= threshold", a mixed or altered answer,
// a cost header that disagrees with the prices, a score header that is not
// the full score from /api/stats rounded), never because a quality
// target is missed.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/bench/evaldata"
)

func main() { os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr)) }

// realMain is the command with its arguments and outputs; it returns the exit code.
func realMain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("eval", flag.ContinueOnError)
	fl.SetOutput(stderr)
	data := fl.String("data", envOr("CASCADE_EVAL_DATA", evaldata.DevPath), "cascade-eval pairs file (JSON Lines); env CASCADE_EVAL_DATA")
	out := fl.String("out", "docs/eval", "directory for results.md, sweep.csv and sweep.svg")
	concurrency := fl.Int("concurrency", 4, "requests in flight at once")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if _, err := os.Stat(*data); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "eval: skipped: the cascade-eval data is not at %s (set -data or CASCADE_EVAL_DATA)\n", *data)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *data, *out, *concurrency, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, dataPath, outDir string, concurrency int, stdout, stderr io.Writer) error {
	start := time.Now()
	rows, err := evaldata.ReadFile(dataPath)
	if err != nil {
		return err
	}
	rep, err := measure(ctx, rows, concurrency, stderr)
	if err != nil {
		return err
	}
	rep.DataFile = filepath.Base(dataPath)
	rep.GateHash = gateFingerprint("proxy/quality")
	rep.Elapsed = time.Since(start)
	fmt.Fprint(stdout, rep.text())
	if err := rep.write(outDir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s, %s, %s (%.1fs)\n", filepath.Join(outDir, "results.md"), filepath.Join(outDir, "sweep.csv"),
		filepath.Join(outDir, "sweep.svg"), rep.Elapsed.Seconds())
	if len(rep.Problems) > 0 {
		return fmt.Errorf("%d consistency problem(s), listed above", len(rep.Problems))
	}
	return nil
}

// gateFingerprint hashes the gate's non-test Go files under dir (relative
// to the working directory, the repository root under make), so a report
// names the gate it measured; "" when they are not there.
func gateFingerprint(dir string) string {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		return ""
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
