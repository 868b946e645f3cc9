package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/simulator"
)

// TestAccountsCreatesNothing: pointed at a missing data directory or at a
// directory without a database, `spark accounts` says where it looked,
// fails, and leaves the disk as it was (it used to create ./data).
func TestAccountsCreatesNothing(t *testing.T) {
	t.Setenv("SPARK_SECRET_KEY", "")
	root := t.TempDir()
	missing := filepath.Join(root, "nowhere")
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env string
		args      []string
		want      []string
	}{
		{"missing via DATA_DIR", missing, nil, []string{"no data directory at " + missing + " (DATA_DIR)", "does not exist"}},
		{"missing via flag", "", []string{"--data-dir", missing}, []string{"no data directory at " + missing + " (--data-dir)"}},
		{"no database", empty, nil, []string{"no account database spark.db", empty + " (DATA_DIR)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DATA_DIR", tt.env)
			err := run(context.Background(), append([]string{"accounts"}, tt.args...), io.Discard, io.Discard)
			if err == nil || exitCode(err) != 1 {
				t.Fatalf("err %v (exit %d), want a failure", err, exitCode(err))
			}
			for _, w := range append(tt.want, "nothing was created") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the missing directory was created: %v", err)
			}
			if entries, _ := os.ReadDir(empty); len(entries) != 0 {
				t.Fatalf("files created in the empty directory: %v", entries)
			}
		})
	}
}

// TestAccountsDefaultDirectory: with DATA_DIR unset it names ./data made
// absolute and how to choose another, and does not create it.
func TestAccountsDefaultDirectory(t *testing.T) {
	t.Setenv("DATA_DIR", "")
	t.Chdir(t.TempDir())
	wd, _ := os.Getwd()
	err := run(context.Background(), []string{"accounts"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(wd, "data")) || !strings.Contains(err.Error(), "set DATA_DIR or --data-dir") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(wd, "data")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("./data was created: %v", err)
	}
}

// TestAccountsDoctor: `spark accounts test` tests every stored account
// against the upstream (here the simulator), prints a verdict per account
// and exits with status 1 when one fails (a logged-out account, a
// rate-limited one); with the
// id of a healthy account it passes; an unknown id is an error; no cookie
// is printed.
func TestAccountsDoctor(t *testing.T) {
	sim := httptest.NewServer(simulator.New(simulator.Options{}))
	t.Cleanup(sim.Close)
	dir := t.TempDir()
	for _, kv := range [][2]string{
		{"DATA_DIR", dir}, {"SPARK_SECRET_KEY", ""}, {"API_SECRET", "sk-test-doctor"},
		{"GS_COOKIE", "session_id=healthy-doctor,session_id=expired-doctor,session_id=limited-doctor"},
		{"GEMINI_COOKIE", "__Secure-1PSID=gemini-doctor; __Secure-1PSIDTS=ts"},
		{"GENSPARK_BASE_URL", sim.URL}, {"GEMINI_BASE_URL", sim.URL}, {"GEMINI_UPLOAD_URL", sim.URL},
		{"GOOGLE_ACCOUNTS_URL", sim.URL}, {"GOOGLE_AI_BASE_URL", sim.URL},
	} {
		t.Setenv(kv[0], kv[1])
	}
	// 'spark serve' imports the accounts into the data directory.
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var healthy string // the first Genspark account (by creation order)
	for _, s := range a.Pool().Snapshot() {
		if s.Provider == "genspark" && healthy == "" {
			healthy = s.ID
		}
	}
	a.Close()

	var out, errOut strings.Builder
	err = run(context.Background(), []string{"accounts", "test"}, &out, &errOut)
	if !errors.Is(err, errAccountsFailed) || exitCode(err) != 1 {
		t.Fatalf("err %v (exit %d), want a failure; stderr %s", err, exitCode(err), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var verdicts []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 4 && (f[0] == "genspark" || f[0] == "geminiweb") {
			verdicts = append(verdicts, f[0]+" "+strings.Join(f[3:], " "))
		}
	}
	if len(verdicts) != 4 {
		t.Fatalf("verdicts %q in\n%s", verdicts, out.String())
	}
	joined := strings.Join(verdicts, "\n")
	if strings.Count(joined, " ok ") != 2 || !strings.Contains(joined, "FAIL logged_out") || !strings.Contains(joined, "FAIL rate_limited") {
		t.Fatalf("verdicts:\n%s", out.String())
	}
	for _, secret := range []string{"healthy-doctor", "expired-doctor", "limited-doctor", "gemini-doctor"} {
		if strings.Contains(out.String()+errOut.String(), secret) {
			t.Fatalf("a cookie is printed:\n%s%s", out.String(), errOut.String())
		}
	}

	out.Reset()
	if err := run(context.Background(), []string{"accounts", "test", healthy}, &out, &errOut); err != nil || strings.Count(out.String(), healthy) != 1 || strings.Count(out.String(), "acct_") != 1 {
		t.Fatalf("one healthy account: %v\n%s", err, out.String())
	}
	if err := run(context.Background(), []string{"accounts", "test", "acct_nope"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "acct_nope") {
		t.Fatalf("unknown id: %v", err)
	}
}
