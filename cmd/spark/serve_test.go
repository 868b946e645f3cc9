package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/store"
)

func TestListensOnAllInterfaces(t *testing.T) {
	for host, want := range map[string]bool{
		"": true, " ": true, "0.0.0.0": true, "::": true, "[::]": true, "0:0:0:0:0:0:0:0": true,
		"127.0.0.1": false, "::1": false, "[::1]": false, "localhost": false, "192.168.1.20": false, "example.com": false,
	} {
		if got := listensOnAllInterfaces(host); got != want {
			t.Errorf("listensOnAllInterfaces(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestStartupWarnings(t *testing.T) {
	active := pool.AccountStatus{Provider: "genspark", State: store.StateActive}
	resting := pool.AccountStatus{Provider: "genspark", State: store.StateResting}
	disabled := pool.AccountStatus{Provider: "genspark", State: store.StateDisabled}
	tests := []struct {
		name     string
		host     string
		minted   bool
		accounts []pool.AccountStatus
		want     []string // one substring per expected warning, in order
	}{
		{"all fine", "", false, []pool.AccountStatus{active}, nil},
		{"no accounts", "127.0.0.1", false, nil, []string{"no upstream accounts configured"}},
		{"all logged out", "127.0.0.1", false, []pool.AccountStatus{disabled, disabled}, []string{"all 2 upstream accounts are logged out"}},
		{"some usable", "127.0.0.1", false, []pool.AccountStatus{disabled, resting}, nil},
		{"minted key on all interfaces", "0.0.0.0", true, []pool.AccountStatus{active}, []string{"listening on all interfaces"}},
		{"minted key on empty host", "", true, []pool.AccountStatus{active}, []string{"HOST=127.0.0.1"}},
		{"minted key on loopback", "127.0.0.1", true, []pool.AccountStatus{active}, nil},
		{"configured key on all interfaces", "::", false, []pool.AccountStatus{active}, nil},
		{"both", "::", true, nil, []string{"no upstream accounts", "listening on all interfaces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := startupWarnings(tt.host, tt.minted, tt.accounts)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d warnings %q, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d %q lacks %q", i, got[i], w)
				}
			}
			for _, g := range got {
				if strings.Contains(g, "no_accounts_configured") && !(strings.Contains(g, "GS_COOKIE") && strings.Contains(g, "GEMINI_COOKIE")) {
					t.Errorf("warning does not name the variables: %q", g)
				}
			}
		})
	}
}

// stopOnLine is a log sink that records everything and cancels the
// serve command once a line containing marker is written.
type stopOnLine struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (s *stopOnLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if strings.Contains(s.buf.String(), s.marker) {
		s.cancel()
	}
	return len(p), nil
}

func (s *stopOnLine) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestServeWarnsWithoutAccounts: started with no cookie, serve logs a WARN
// naming GS_COOKIE and GEMINI_COOKIE before it listens.
func TestServeWarnsWithoutAccounts(t *testing.T) {
	t.Setenv("DATA_DIR", t.TempDir())
	t.Setenv("GS_COOKIE", "")
	t.Setenv("GEMINI_COOKIE", "")
	t.Setenv("API_SECRET", "sk-serve-warn-test")
	t.Setenv("SPARK_SECRET_KEY", "")
	t.Setenv("PORT", "0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &stopOnLine{marker: "spark listening", cancel: cancel}
	if err := run(ctx, []string{"serve", "--host", "127.0.0.1"}, io.Discard, logs); err != nil {
		t.Fatalf("serve: %v", err)
	}
	out := logs.String()
	var warn string
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, "no upstream accounts configured") {
			warn = line
		}
	}
	if !strings.Contains(warn, "WARN") || !strings.Contains(warn, "GS_COOKIE") || !strings.Contains(warn, "GEMINI_COOKIE") {
		t.Fatalf("no WARN naming GS_COOKIE and GEMINI_COOKIE in:\n%s", out)
	}
	if strings.Contains(out, "listening on all interfaces") {
		t.Fatalf("all-interfaces warning on loopback with a configured key:\n%s", out)
	}
}

// TestBoolFlagSpellings: boolean flags take the spellings the environment
// takes, and stand alone.
func TestBoolFlagSpellings(t *testing.T) {
	for args, want := range map[string]bool{"": false, "--debug": true, "--debug=yes": true, "-debug=On": true, "--debug=0": false, "--debug=no": false} {
		fs := newFlagSet("serve", "", io.Discard)
		debug := newBoolFlag(fs, "debug", "debug logging")
		if err := fs.Parse(strings.Fields(args)); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if *debug != want {
			t.Errorf("%q: debug = %v, want %v", args, *debug, want)
		}
	}
	fs := newFlagSet("serve", "", io.Discard)
	newBoolFlag(fs, "debug", "debug logging")
	if err := fs.Parse([]string{"--debug=maybe"}); err == nil || !strings.Contains(err.Error(), "yes, no") {
		t.Fatalf("--debug=maybe: %v", err)
	}
}

func TestSetupBase(t *testing.T) {
	for _, tt := range []struct {
		public, addr, want string
	}{
		{"https://spark.example.com", "0.0.0.0:7055", "https://spark.example.com"},
		{"", "0.0.0.0:7055", "http://localhost:7055"},
		{"", "[::]:7055", "http://localhost:7055"},
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := setupBase(tt.public, addr); got != tt.want {
			t.Errorf("setupBase(%q, %s) = %q, want %q", tt.public, tt.addr, got, tt.want)
		}
	}
}
