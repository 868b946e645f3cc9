// Command bench measures what spark itself costs on top of its upstream.
//
// In one run on 127.0.0.1 it builds ./cmd/spark, starts the upstream
// simulator with zero think time, spark in front of it and, as the
// baseline, a bare httputil.ReverseProxy in front of the same simulator
// (each its own process), drives all of them with the same Go load
// generator and prints one Markdown report: non-stream chat at concurrency
// 1/16/64, streaming with tools in the request (time to first token,
// deltas relayed per second), thousands of concurrently open slow streams
// (RSS and goroutines per stream), CPU seconds per 1,000 requests,
// start-up time to /healthz 200 and the growth curves (how the cost grows
// with conversation size, tool definitions, pool size, stream length and
// open streams), what the management plane costs (usage records, key
// policies and metrics on against off) and what the replica mode costs
// (PostgreSQL and Redis against the embedded store, when both are given),
// each with the target and whether it was met, and draws SVG
// charts of the headline comparison, of every curve and of both
// comparisons.
//
// Usage:
//
//	go run ./bench              # full run (≤ 10 min), writes BENCHMARKS.md and docs/bench/*.svg
//	go run ./bench -quick       # smaller run (≤ 1 min), prints to stdout
//	go run ./bench -phases growth   # the growth curves only (printed; charts in bench/out/charts)
//	go run ./bench -phases plane    # the management plane on vs off only
//	go run ./bench -phases replicas # PostgreSQL + Redis vs embedded (needs SPARK_TEST_DATABASE_URL and SPARK_TEST_REDIS_URL, or the flags)
//	go run ./bench -pprof       # also save CPU/heap/goroutine profiles of spark under bench/out/
//
// Every listener, including the profiling endpoints, is bound to 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Options configure one benchmark run.
type Options struct {
	Quick   bool   // smaller counts and shorter phases (≤ 30 s)
	Out     string // Markdown file to write ("" = stdout only)
	Pprof   bool   // save profiles under ProfileDir
	Streams int    // open streams to hold (0 = the mode's default, capped by the fd limit)
	Spark   string // prebuilt spark binary ("" = go build ./cmd/spark)
	// PlainUpstream serves the simulator over plain HTTP/1.1, where it
	// closes every connection after its answer (docs/genspark-upstream.md §2.5),
	// instead of HTTPS with HTTP/2 as the real upstreams are served.
	PlainUpstream bool
	// NoUsage runs spark with USAGE_RECORDS=0 (no usage accounting), to
	// compare with a run that keeps the records (the default).
	NoUsage bool
	// Phases limits the run to some of the phases (phaseNames; nil = all);
	// a partial run is written only to an -out given explicitly.
	Phases []string
	// DatabaseURL and RedisURL are the PostgreSQL (a role that may create
	// databases) and Redis servers of the replicas phase ("" =
	// SPARK_TEST_DATABASE_URL, SPARK_TEST_REDIS_URL). Without either the
	// phase is skipped and the report says why, unless RequireServices
	// (SPARK_REQUIRE_SERVICES=1) makes that an error.
	DatabaseURL, RedisURL string
	RequireServices       bool
	Command               string // the command line recorded in the report
	Root                  string // module root ("" = found with `go env GOMOD`)
	// ProfileDir receives the -pprof profiles ("" = Root/bench/out).
	ProfileDir string
	// ChartDir receives the SVG charts ("" = docs/bench next to Out, or
	// ProfileDir/charts when Out is empty).
	ChartDir string
	// Log receives progress lines (nil = discard).
	Log io.Writer
}

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "small counts and short phases (≤ 30 s); writes to stdout unless -out is given")
	out := fs.String("out", "", "Markdown file the report is written to (default BENCHMARKS.md at the module root; none with -quick)")
	prof := fs.Bool("pprof", false, "save spark's CPU profile under non-stream c=16 (and heap/goroutine profiles under open streams) to bench/out/ (loopback only)")
	streams := fs.Int("streams", 0, "concurrently open streams to hold (default 10000, -quick 1000; the default is capped by the file-descriptor limit)")
	spark := fs.String("spark", "", "use this prebuilt spark binary instead of building ./cmd/spark")
	phases := fs.String("phases", "", "run only these phases, comma-separated: "+strings.Join(phaseNames, ", ")+" (default all; a partial run is printed, not written, unless -out is given)")
	dbURL := fs.String("database-url", "", "PostgreSQL server of the replicas phase, a role that may create databases (default $"+databaseURLEnv+"; without it the phase is skipped)")
	redisURL := fs.String("redis-url", "", "Redis server of the replicas phase (default $"+redisURLEnv+"; without it the phase is skipped)")
	noUsage := fs.Bool("no-usage", false, "run spark with USAGE_RECORDS=0 (no usage records), to measure what usage accounting costs against a run without this flag")
	plain := fs.Bool("plain-upstream", false, "serve the simulator over plain HTTP/1.1 (it then closes every connection after its answer) instead of HTTPS with HTTP/2")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench [flags]\n\nBenchmarks spark against a bare httputil.ReverseProxy in front of the same\nupstream simulator, all on 127.0.0.1, and writes the report to BENCHMARKS.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	opts := Options{
		Quick: *quick, Pprof: *prof, Streams: *streams, Spark: *spark, PlainUpstream: *plain, NoUsage: *noUsage,
		Root: root, Log: stderr, Command: commandLine(args), DatabaseURL: *dbURL, RedisURL: *redisURL,
	}
	if *phases != "" {
		for p := range strings.SplitSeq(*phases, ",") {
			switch p = strings.TrimSpace(p); p {
			case phaseNonStream, phaseStream, phaseOpen, phaseGrowth, phasePlane, phaseReplicas:
				opts.Phases = append(opts.Phases, p)
			default:
				fmt.Fprintf(stderr, "bench: unknown phase %q (%s)\n", p, strings.Join(phaseNames, ", "))
				return 2
			}
		}
	}
	outSet := false
	fs.Visit(func(f *flag.Flag) { outSet = outSet || f.Name == "out" })
	switch {
	case outSet:
		opts.Out = *out
	case !*quick && opts.Phases == nil:
		opts.Out = filepath.Join(root, "BENCHMARKS.md")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, opts)
	if rep != nil {
		fmt.Fprint(stdout, rep.Markdown())
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if opts.Out != "" {
		fmt.Fprintf(stderr, "bench: report written to %s\n", opts.Out)
	}
	return 0
}

// commandLine is the command recorded in the report, without the
// services' URLs (they may hold passwords).
func commandLine(args []string) string {
	parts := []string{"go", "run", "./bench"}
	secret := false
	for _, a := range args {
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case secret:
			a, secret = "URL", false
		case strings.HasPrefix(a, "-") && (name == "database-url" || name == "redis-url"):
			if hasValue {
				a = a[:strings.IndexByte(a, '=')] + "=URL"
			} else {
				secret = true
			}
		}
		if strings.ContainsAny(a, " \t'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// Run performs one benchmark run and writes the report to opts.Out. The
// returned report is non-nil whenever some figures were measured, also
// together with an error.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Root == "" {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		opts.Root = root
	}
	if opts.ProfileDir == "" {
		opts.ProfileDir = filepath.Join(opts.Root, "bench", "out")
	}
	if opts.ChartDir == "" {
		opts.ChartDir = filepath.Join(opts.ProfileDir, "charts")
		if opts.Out != "" {
			opts.ChartDir = filepath.Join(filepath.Dir(opts.Out), "docs", "bench")
		}
	}
	if opts.DatabaseURL == "" {
		opts.DatabaseURL = os.Getenv(databaseURLEnv)
	}
	if opts.RedisURL == "" {
		opts.RedisURL = os.Getenv(redisURLEnv)
	}
	if os.Getenv(requireServicesEnv) == "1" {
		opts.RequireServices = true
	}
	if opts.Command == "" {
		opts.Command = "go run ./bench"
		if opts.Quick {
			opts.Command += " -quick"
		}
	}
	// A run is bounded whatever happens: a stuck phase ends the run. The
	// phases are sized for ≤ 10 min (full) and ≤ 1 min (quick); the limits
	// leave room for a cold build cache and a loaded machine.
	limit := 14 * time.Minute
	if opts.Quick {
		limit = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	r := &runner{opts: opts, p: paramsFor(opts.Quick)}
	rep, err := r.run(ctx)
	if err == nil && rep != nil {
		if opts.Out != "" {
			rep.ChartBase = filepath.Dir(opts.Out)
		}
		if cerr := writeCharts(opts.ChartDir, rep); cerr != nil {
			err = fmt.Errorf("charts: %w", cerr)
		}
	}
	// A failed run never overwrites an earlier report.
	if err == nil && rep != nil && opts.Out != "" {
		if werr := writeReport(opts.Out, rep); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return rep, err
}
