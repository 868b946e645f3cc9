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
//	spark accounts test [ID] test accounts with the account doctor
//	spark version
//	spark help [command]     the commands, or one command's flags
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/version"
)

// command is one subcommand of spark.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists spark's subcommands in the order `spark --help` shows them.
// Every command but version has flags (`spark help <command>`).
var commands = []command{
	{"serve", "[flags]", "run the gateway (the default command; configured by the environment)", runServe},
	{"simulate", "[flags]", "run faithful simulators of every upstream on one listener", runSimulate},
	{"demo", "[flags]", "simulator and gateway wired together, offline, with ready curl lines", runDemo},
	{"accounts", "[test [ID...]] [flags]", "list upstream accounts: state, rest-until, recent errors (never cookies); 'test' runs the account doctor", runAccounts},
	{"version", "", "print the version", runVersion},
	{"help", "[command]", "show this help, or the flags of one command", nil},
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// writeUsage prints the command list, one line each.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, "spark — OpenAI-, Anthropic- and Gemini-compatible gateway over AI web apps\n\nUsage:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-24s %s\n", strings.TrimSpace("spark "+c.name+" "+c.args), c.summary)
	}
	fmt.Fprint(w, "\nRun 'spark help <command>' or 'spark <command> -h' for the flags of a command.\n")
}

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

// exitCode is the process status for run's error: 0 for none or a help
// request, 2 for a usage error, 1 otherwise.
func exitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage error")

// run dispatches args to a command: the first argument names it unless it
// is a flag, in which case the flags are serve's (`spark --port 8080`).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			args = []string{"help"}
		case "-version", "--version":
			args = []string{"version"}
		}
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		return runHelp(ctx, args, stdout, stderr)
	}
	c, ok := lookupCommand(name)
	if !ok {
		writeUsage(stderr)
		return fmt.Errorf("%w: unknown command %q", errUsage, name)
	}
	return c.run(ctx, args, stdout, stderr)
}

// runHelp prints the command list followed by serve's flags (the default
// command), or with an argument the flags of that command, to stdout.
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch len(args) {
	case 0:
		writeUsage(stdout)
		fmt.Fprintln(stdout)
		return commandHelp(ctx, "serve", stdout)
	case 1:
		return commandHelp(ctx, args[0], stdout)
	}
	return fmt.Errorf("%w: help takes at most one command, got %q", errUsage, args)
}

// commandHelp prints the usage and flags of command name to w: it runs the
// command with -h, which parses flags only and returns flag.ErrHelp before
// doing anything.
func commandHelp(ctx context.Context, name string, w io.Writer) error {
	c, ok := lookupCommand(name)
	if !ok || c.name == "help" {
		writeUsage(w)
		return fmt.Errorf("%w: no help for unknown command %q", errUsage, name)
	}
	if c.name == "version" {
		fmt.Fprint(w, "Usage: spark version\n\nPrint spark's version and the Go version it was built with. No flags.\n")
		return nil
	}
	err := c.run(ctx, []string{"-h"}, w, w)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	fmt.Fprintln(stdout, "spark", version.String())
	return nil
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

// boolFlag is a boolean flag that takes the spellings every spark boolean
// takes (config.ParseBool: 1/0, true/false, yes/no, on/off, any case);
// alone (--debug) it means true.
type boolFlag struct{ v *bool }

// newBoolFlag defines a boolean flag on fs with the spellings of boolFlag.
func newBoolFlag(fs *flag.FlagSet, name, usage string) *bool {
	v := new(bool)
	fs.Var(boolFlag{v}, name, usage+" (true/false, yes/no, on/off, 1/0)")
	return v
}

func (b boolFlag) String() string {
	if b.v == nil {
		return "false"
	}
	return strconv.FormatBool(*b.v)
}

func (b boolFlag) Set(s string) error {
	v, err := config.ParseBool(s)
	if err != nil {
		return err
	}
	*b.v = v
	return nil
}

// IsBoolFlag lets the flag stand alone (--debug).
func (b boolFlag) IsBoolFlag() bool { return true }
