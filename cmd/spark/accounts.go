package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/postgres"
	"github.com/sparkgw/spark/internal/store/sqlite"
)

// runAccounts lists the accounts stored under the data directory, or with
// `test [ID...]` runs the account doctor on them. It reads only: when the
// directory, its database or its key is missing it says what it looked
// for and where, creates nothing, and fails (exit status 1), so a wrong
// DATA_DIR is noticed rather than shown as "no accounts".
func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "test" {
		return runAccountsTest(ctx, args[1:], stdout, stderr)
	}
	fset := newFlagSet("accounts", "List upstream accounts with provider, label, state, rest-until and recent\nerrors, as stored under DATA_DIR by 'spark serve'. Reads only: a missing data\ndirectory or database is reported, never created. Cookies are never printed.\n\n'spark accounts test [ID...]' tests the accounts instead (the account doctor).", stderr)
	dataDir := fset.String("data-dir", "", "data directory (DATA_DIR, default ./data)")
	recent := fset.Int("recent", 3, "recent errors shown per account")
	if err := fset.Parse(args); err != nil {
		return err
	}
	_, db, where, err := openAccountStore(ctx, *dataDir, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	statuses, err := pool.StatusFromStore(ctx, db, time.Now(), *recent)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n\n", where)
	return pool.Describe(stdout, statuses)
}

// errAccountsFailed is the error of a doctor run in which an account
// failed (exit status 1); the verdicts were printed.
var errAccountsFailed = errors.New("an account failed its test")

// runAccountsTest is `spark accounts test [ID...]`: the account doctor on
// the accounts with those ids, or on every account. It prints one verdict
// per account and fails when any account fails.
func runAccountsTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("accounts test", "Test upstream accounts (the account doctor): one round trip to each account's\nupstream with its cookie and proxy, as 'spark serve' would make it. With IDs,\nonly those accounts; without, every account. Prints a verdict per account and\nexits with status 1 when any account fails. Cookies are never printed.", stderr)
	dataDir := fset.String("data-dir", "", "data directory (DATA_DIR, default ./data)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	// With the credential rules: a check may rotate a cookie, which is
	// then stored as 'spark serve' stores it.
	cfg, db, where, err := openAccountStore(ctx, *dataDir, stderr, store.WithRules(app.CredentialRules()))
	if err != nil {
		return err
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	doc, err := app.NewAccountDoctor(cfg, db, log)
	if err != nil {
		return err
	}
	defer doc.Close()
	tests, err := doc.Test(ctx, fset.Args()...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n\n", where)
	if len(tests) == 0 {
		_, err := fmt.Fprintln(stdout, "No accounts configured (set GS_COOKIE or GEMINI_COOKIE).")
		return err
	}
	failed := false
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tLABEL\tID\tVERDICT\tLATENCY\tMESSAGE")
	for _, t := range tests {
		verdict := "ok"
		if !t.OK {
			failed = true
			verdict = "FAIL"
			if t.Problem != "" {
				verdict = "FAIL " + string(t.Problem)
			}
		}
		msg := t.Message
		if t.OK && len(t.Models) > 0 {
			msg += "; models: " + strings.Join(t.Models, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%dms\t%s\n", t.Provider, t.Label, t.ID, verdict, t.Latency.Milliseconds(), msg)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed {
		return errAccountsFailed
	}
	return nil
}

// openAccountStore opens the store of the data directory dataDir (DATA_DIR
// when empty) without creating anything, and says where it is.
func openAccountStore(ctx context.Context, dataDir string, stderr io.Writer, opts ...store.Option) (*config.Config, store.Store, string, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, "", err
	}
	if cfg.DatabaseURL != "" {
		return openPostgres(ctx, cfg, dataDir, stderr, opts...)
	}
	origin := "DATA_DIR"
	switch {
	case dataDir != "":
		cfg.DataDir, origin = dataDir, "--data-dir"
	case strings.TrimSpace(os.Getenv("DATA_DIR")) == "":
		origin = "the default; set DATA_DIR or --data-dir to the directory 'spark serve' uses"
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, nil, "", fmt.Errorf("data directory %q: %w", cfg.DataDir, err)
	}
	cfg.DataDir = dir
	where := fmt.Sprintf("%s (%s)", dir, origin)
	if err := existingDir(dir); err != nil {
		return nil, nil, "", fmt.Errorf("no data directory at %s: %w; nothing was created", where, err)
	}
	path := filepath.Join(dir, sqlite.FileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, "", fmt.Errorf("no account database %s in the data directory %s: 'spark serve' has not run with it yet; nothing was created", sqlite.FileName, where)
		}
		return nil, nil, "", fmt.Errorf("account database: %w", err)
	}
	if strings.TrimSpace(cfg.SecretKey) == "" {
		if _, err := os.Stat(filepath.Join(dir, secret.KeyFileName)); err != nil {
			return nil, nil, "", fmt.Errorf("the data directory %s has a database but no %s: set SPARK_SECRET_KEY as 'spark serve' has it; nothing was created", where, secret.KeyFileName)
		}
	}
	key, err := secret.LoadOrCreateKey(dir, cfg.SecretKey) // exists: only loads
	if err != nil {
		return nil, nil, "", fmt.Errorf("secret key: %w", err)
	}
	for _, w := range key.Warnings {
		fmt.Fprintln(stderr, "spark: warning:", w)
	}
	sealer, err := secret.NewSealer(key.Bytes)
	if err != nil {
		return nil, nil, "", err
	}
	db, err := sqlite.Open(ctx, path, sealer, opts...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("store %s: %w", path, err)
	}
	return cfg, db, "Data directory: " + where, nil
}

// openPostgres opens the PostgreSQL database DATABASE_URL names without
// changing it: it neither migrates the database nor creates a key file.
// The key is SPARK_SECRET_KEY, or the key file of the data directory.
func openPostgres(ctx context.Context, cfg *config.Config, dataDir string, stderr io.Writer, opts ...store.Option) (*config.Config, store.Store, string, error) {
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		return nil, nil, "", errors.New("DATABASE_URL is not a URL")
	}
	where := "PostgreSQL " + u.Host + u.Path // never the password
	if strings.TrimSpace(cfg.SecretKey) == "" {
		if dataDir != "" {
			cfg.DataDir = dataDir
		}
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, nil, "", fmt.Errorf("data directory %q: %w", cfg.DataDir, err)
		}
		if _, err := os.Stat(filepath.Join(dir, secret.KeyFileName)); err != nil {
			return nil, nil, "", fmt.Errorf("no SPARK_SECRET_KEY and no %s in the data directory %s to read %s with: set SPARK_SECRET_KEY as 'spark serve' has it; nothing was created",
				secret.KeyFileName, dir, where)
		}
		cfg.DataDir = dir
	}
	key, err := secret.LoadOrCreateKey(cfg.DataDir, cfg.SecretKey) // exists: only loads
	if err != nil {
		return nil, nil, "", fmt.Errorf("secret key: %w", err)
	}
	for _, w := range key.Warnings {
		fmt.Fprintln(stderr, "spark: warning:", w)
	}
	sealer, err := secret.NewSealer(key.Bytes)
	if err != nil {
		return nil, nil, "", err
	}
	db, err := postgres.Connect(ctx, cfg.DatabaseURL, sealer, opts...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("store %s: %w", where, err)
	}
	ok, err := db.HasSchema(ctx)
	if err != nil {
		db.Close()
		return nil, nil, "", fmt.Errorf("store %s: %w", where, err)
	}
	if !ok {
		db.Close()
		return nil, nil, "", fmt.Errorf("no spark tables in %s: 'spark serve' has not run with this DATABASE_URL yet; nothing was created", where)
	}
	return cfg, db, "Database: " + where, nil
}

// existingDir returns nil when dir is a directory.
func existingDir(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("it does not exist")
	case err != nil:
		return err
	case !info.IsDir():
		return errors.New("it is not a directory")
	}
	return nil
}
