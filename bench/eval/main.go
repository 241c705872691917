// Command eval measures the cascade on real answers: it replays the
// cascade-eval data (../shared/data/cascade-eval: pairs-dev.jsonl and the
// zeroeval files, never copied into the repository) through the real proxy,
// assembled in-process as cmd/proxy assembles it, with one rule whose
// draft, verifier, second opinions and audit judge are all on a replay
// upstream that answers each prompt with the file's recorded answers
// (draft-model, verifier-model, other-model-N) and simulates a pairwise
// judge (judge-model) from the recorded labels. Every model is priced at its
// real model's price (evaldata.Prices).
//
//	make eval                                   # from the repository root
//	go run ./bench/eval -data DIR|FILE -out DIR # CASCADE_EVAL_DATA also sets the data path
//
// A rule's quality samples export (GET /api/quality/samples?rule=NAME on the
// proxy's admin listener, recorded with quality.audit.keepText) is replayed
// the same way when given as -data: evaldata.DecodeSamples turns its
// labelled samples with texts into rows of source "samples", priced at the
// samples' own costs, and the command says how many it skipped and why.
//
// Per file it runs two modes, with one configuration for every file:
//
//   - offline: the static gate. Per source, the quality, cost share and
//     escalation rate at the proxy's default threshold and at the source's
//     own operating point (its cheapest threshold keeping 95 % of
//     always-verifier quality, found at every distinct full-precision gate
//     score and re-run through the proxy) beside always-draft,
//     always-verifier, the oracle and random routing.
//   - online: the rule's quality loop (quality.target 0.95, audits, comparer
//     auto with judge-model), rows in a seeded random order, each sent once,
//     from a cold start at the default threshold; without and with one
//     second opinion, learned in the pass itself or in an earlier pass.
//     Every upstream call is priced, background audits included (the pass
//     waits for them to end).
//
// It writes DIR/<file>/ (results.md, sweep.csv, sweep.svg, online.csv,
// online-summary.csv, online.svg) and DIR/README.md (every file's targets
// and where the gate still fails). Without the data it says so and exits 0.
// It exits 1 when the proxy's behaviour contradicts itself (an outcome that
// changes with the threshold other than as "accept iff score >= threshold",
// a mixed or altered answer, a cost header that disagrees with the prices
// of the calls it made, a score header that is not the full score from
// /api/stats rounded, a route that counts other spend than it caused, a
// request the replay cannot answer from the data), never because a quality
// or cost target is missed.
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

// options are the command's flags.
type options struct {
	data, out   string
	concurrency int
	seed        uint64
	repeats     int
	online      bool
}

// realMain is the command with its arguments and outputs; it returns the exit code.
func realMain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("eval", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o options
	fl.StringVar(&o.data, "data", envOr("CASCADE_EVAL_DATA", evaldata.DefaultDir), "cascade-eval folder (every *.jsonl under it) or one file; env CASCADE_EVAL_DATA")
	fl.StringVar(&o.out, "out", "docs/eval", "output folder: README.md and one folder per data file")
	fl.IntVar(&o.concurrency, "concurrency", 4, "requests in flight at once in the offline passes (online passes send one at a time)")
	fl.Uint64Var(&o.seed, "seed", 1, "seed of the online passes' row orders")
	fl.IntVar(&o.repeats, "repeats", 3, "times each online variant runs (the proxy draws audits at random); tables show the first, the spread covers all")
	fl.BoolVar(&o.online, "online", true, "run the online passes (the quality loop)")
	fl.Float64Var(&judgeNoise, "judge-noise", 0, "share of the simulated judge's verdicts drawn at random from [[A]], [[B]], [[C]] instead of following the labels (a judge that errs)")
	fl.StringVar(&samplesOut, "samples", "", "write each online pass's quality samples, with the recorded labels of their rows, as JSON Lines into this folder (for studying the loop; the rule keeps texts to match rows, the files do not)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if !(judgeNoise >= 0 && judgeNoise <= 1) {
		fmt.Fprintf(stderr, "eval: -judge-noise %v: must be in [0, 1]\n", judgeNoise)
		return 2
	}
	if _, err := os.Stat(o.data); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "eval: skipped: the cascade-eval data is not at %s (set -data or CASCADE_EVAL_DATA)\n", o.data)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	start := time.Now()
	files, err := dataFiles(o.data)
	if err != nil {
		return err
	}
	prog := newProgress(stderr)
	defer prog.Done()
	var reps []*report
	problems := 0
	for _, path := range files {
		f, err := loadFile(path, stderr)
		if err != nil {
			return err
		}
		t := time.Now()
		rep, err := measure(ctx, f, o.concurrency, stderr, prog)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if o.online {
			if rep.Online, err = measureOnline(ctx, f, o.seed, o.repeats, stderr, prog, rep.problem); err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		rep.GateHash = gateFingerprint(fingerprintDirs...)
		rep.Elapsed = time.Since(t)
		prog.Done()
		fmt.Fprint(stdout, rep.text())
		dir := filepath.Join(o.out, f.Slug)
		if err := rep.write(dir); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote %s (%.1fs)\n\n", dir, rep.Elapsed.Seconds())
		problems += rep.nProblems
		reps = append(reps, rep)
	}
	idx := index{Reports: reps, Elapsed: time.Since(start), Seed: o.seed, Online: o.online}
	if err := idx.write(o.out); err != nil {
		return err
	}
	fmt.Fprint(stdout, idx.text())
	fmt.Fprintf(stdout, "wrote %s (%.1fs)\n", filepath.Join(o.out, "README.md"), time.Since(start).Seconds())
	if problems > 0 {
		return fmt.Errorf("%d consistency problem(s), listed above", problems)
	}
	return nil
}

// fingerprintDirs hold the code the figures depend on: the gate, the
// quality loop, its calibration and comparers, and the engine running them.
var fingerprintDirs = []string{"proxy/quality", "proxy/routequality", "proxy/calibrate", "proxy/audit", "proxy/cascade"}

func fingerprintDirsText() string {
	q := make([]string, len(fingerprintDirs))
	for i, d := range fingerprintDirs {
		q[i] = "`" + d + "`"
	}
	return strings.Join(q, ", ")
}

// gateFingerprint hashes the non-test Go files of dirs (relative to the
// working directory, the repository root under make), so a report names
// the code it measured; "" when they are not there.
func gateFingerprint(dirs ...string) string {
	var files []string
	for _, dir := range dirs {
		fs, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return ""
		}
		files = append(files, fs...)
	}
	if len(files) == 0 {
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
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(f), len(b))
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
