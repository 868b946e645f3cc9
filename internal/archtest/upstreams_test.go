// Package archtest checks rules about the shape of the code base that no
// compiler enforces.
package archtest

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// upstreamMarks are strings that name an upstream: provider names, their
// identifying cookies, their hosts. Matched case-insensitively.
var upstreamMarks = []string{
	"genspark", "geminiweb", "__secure-1psid", "session_id",
	"gemini.google.com", "googleusercontent.com", "usercontent.google.com",
	"accounts.google.com", "content-push.googleapis.com", "generativelanguage.googleapis.com",
}

// mayNameUpstreams are the directories whose code may name an upstream:
// the providers themselves, their simulators, the app's one list of
// plugins, the configuration that reads their variables, and the commands
// (cmd, and bench, a command that drives the simulators).
var mayNameUpstreams = []string{
	"internal/provider", "internal/simulator", "internal/app", "internal/config", "cmd", "bench",
}

// upstreamMark returns the first upstream mark in line, or "".
func upstreamMark(line string) string {
	lower := strings.ToLower(line)
	for _, m := range upstreamMarks {
		if strings.Contains(lower, m) {
			return m
		}
	}
	return ""
}

func TestUpstreamMark(t *testing.T) {
	for line, want := range map[string]string{
		`if p == "genspark" {`:                       "genspark",
		`// Genspark's list`:                         "genspark",
		`name := "__Secure-1PSID"`:                   "__secure-1psid",
		`u := "https://lh3.googleusercontent.com/x"`: "googleusercontent.com",
		`acct.Provider == p.Name`:                    "",
		`// the Gemini models of a plugin`:           "",
	} {
		if got := upstreamMark(line); got != want {
			t.Errorf("upstreamMark(%q) = %q, want %q", line, got, want)
		}
	}
}

// TestNoUpstreamOutsideProviders: outside the directories that may, no
// non-test Go file names an upstream, in code or in comments. A provider
// is a plug-in: store, pool, image proxy, front-ends and gateway learn
// about upstreams only through provider.Plugin.
func TestNoUpstreamOutsideProviders(t *testing.T) {
	root := moduleRoot(t)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			for _, dir := range mayNameUpstreams {
				if rel == dir {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		checked++
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			if m := upstreamMark(sc.Text()); m != "" {
				t.Errorf("%s:%d names an upstream (%q): %s", rel, n, m, strings.TrimSpace(sc.Text()))
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d files checked: is %s the repository root?", checked, root)
	}
}

// moduleRoot is the directory holding go.mod, above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}
