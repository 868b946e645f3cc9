// Command spark is a gateway that serves OpenAI- and Anthropic-compatible
// APIs over consumer AI web apps (Genspark, the Gemini web app) driven by a
// pool of logged-in accounts.
//
// Usage:
//
//	spark [serve]            run the gateway (configuration from the environment)
//	spark simulate --addr A  run the upstream simulators
//	spark demo               simulator + gateway wired together, offline
//	spark accounts           list accounts and their state (never cookies)
//	spark version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sparkgw/spark/internal/version"
)

const usage = `spark — OpenAI- and Anthropic-compatible gateway over AI web apps

Usage:
  spark [serve] [flags]      run the gateway (reads the environment, see README)
  spark simulate [flags]     run faithful simulators of every upstream on one listener
  spark demo [flags]         start the simulator and a gateway wired to it, print a working curl line
  spark accounts             list upstream accounts with state, rest-until and recent errors
  spark version              print the version

Run 'spark <command> -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "spark:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage error")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stdout, stderr)
	case "simulate":
		return runSimulate(ctx, args, stdout, stderr)
	case "demo":
		return runDemo(ctx, args, stdout, stderr)
	case "accounts":
		return runAccounts(ctx, args, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "spark", version.String())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

// newFlagSet returns a flag set whose -h prints a usage line and the flags.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: spark %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}
