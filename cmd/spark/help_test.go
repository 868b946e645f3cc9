package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestHelpListsCommands: `spark --help`, `-h` and `spark help` list every
// command with one line each, then serve's flags, on stdout, exit 0.
func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, &stdout, &stderr)
			if exitCode(err) != 0 {
				t.Fatalf("exit %d: %v", exitCode(err), err)
			}
			out := stdout.String()
			for _, c := range []string{"serve", "simulate", "demo", "accounts", "version", "help"} {
				if !regexp.MustCompile(`(?m)^  spark ` + c + `\b.*\S{3,}`).MatchString(out) {
					t.Errorf("no line for %s:\n%s", c, out)
				}
			}
			for _, flag := range []string{"-port", "-host", "-data-dir", "-route-prefix"} {
				if !strings.Contains(out, "  "+flag+" ") {
					t.Errorf("serve's flag %s missing:\n%s", flag, out)
				}
			}
			if strings.Contains(out, "-recent") {
				t.Errorf("accounts' flags shown in the general help:\n%s", out)
			}
			if stderr.Len() != 0 {
				t.Errorf("help wrote to stderr: %s", stderr.String())
			}
		})
	}
}

// TestCommandHelp: `spark help <cmd>` (stdout) and `spark <cmd> -h`
// (stderr, as Go's flag package does) show that command's flags only.
func TestCommandHelp(t *testing.T) {
	tests := []struct {
		cmd        string
		want, not  []string
		noFlagsCmd bool
	}{
		{cmd: "serve", want: []string{"Usage: spark serve", "-port", "-pprof"}, not: []string{"-recent"}},
		{cmd: "accounts", want: []string{"Usage: spark accounts", "-data-dir", "-recent"}, not: []string{"-port"}},
		{cmd: "simulate", want: []string{"Usage: spark simulate", "-addr", "-tls"}, not: []string{"-recent"}},
		{cmd: "demo", want: []string{"Usage: spark demo", "-port"}, not: []string{"-recent"}},
		{cmd: "version", want: []string{"Usage: spark version"}, noFlagsCmd: true},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), []string{"help", tt.cmd}, &stdout, &stderr); exitCode(err) != 0 {
				t.Fatalf("help %s: %v", tt.cmd, err)
			}
			check := func(how, out string) {
				for _, w := range tt.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s lacks %q:\n%s", how, w, out)
					}
				}
				for _, n := range tt.not {
					if strings.Contains(out, n) {
						t.Errorf("%s shows another command's flag %q:\n%s", how, n, out)
					}
				}
			}
			check("spark help "+tt.cmd, stdout.String())
			if tt.noFlagsCmd {
				return
			}
			stdout.Reset()
			err := run(context.Background(), []string{tt.cmd, "-h"}, &stdout, &stderr)
			if exitCode(err) != 0 {
				t.Fatalf("%s -h: %v", tt.cmd, err)
			}
			check("spark "+tt.cmd+" -h", stderr.String())
		})
	}
}

func TestHelpErrors(t *testing.T) {
	for _, args := range [][]string{{"help", "frobnicate"}, {"help", "serve", "demo"}, {"frobnicate"}, {"version", "extra"}} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, exitCode(err), err)
		}
	}
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		var stdout bytes.Buffer
		if err := run(context.Background(), args, &stdout, &bytes.Buffer{}); err != nil || !strings.HasPrefix(stdout.String(), "spark ") {
			t.Errorf("%v: %v %q", args, err, stdout.String())
		}
	}
}
