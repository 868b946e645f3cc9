package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store/postgres"
	"github.com/sparkgw/spark/internal/store/sqlite"
)

// runAccounts lists the accounts stored under the data directory. It reads
// only: when the directory, its database or its key is missing it says
// what it looked for and where, creates nothing, and fails (exit status
// 1), so a wrong DATA_DIR is noticed rather than shown as "no accounts".
func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("accounts", "List upstream accounts with provider, label, state, rest-until and recent\nerrors, as stored under DATA_DIR by 'spark serve'. Reads only: a missing data\ndirectory or database is reported, never created. Cookies are never printed.", stderr)
	dataDir := fset.String("data-dir", "", "data directory (DATA_DIR, default ./data)")
	recent := fset.Int("recent", 3, "recent errors shown per account")
	if err := fset.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		return accountsFromPostgres(ctx, cfg, *dataDir, *recent, stdout, stderr)
	}
	origin := "DATA_DIR"
	switch {
	case *dataDir != "":
		cfg.DataDir, origin = *dataDir, "--data-dir"
	case strings.TrimSpace(os.Getenv("DATA_DIR")) == "":
		origin = "the default; set DATA_DIR or --data-dir to the directory 'spark serve' uses"
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data directory %q: %w", cfg.DataDir, err)
	}
	where := fmt.Sprintf("%s (%s)", dir, origin)
	if err := existingDir(dir); err != nil {
		return fmt.Errorf("no data directory at %s: %w; nothing was created", where, err)
	}
	path := filepath.Join(dir, sqlite.FileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no account database %s in the data directory %s: 'spark serve' has not run with it yet; nothing was created", sqlite.FileName, where)
		}
		return fmt.Errorf("account database: %w", err)
	}
	if strings.TrimSpace(cfg.SecretKey) == "" {
		if _, err := os.Stat(filepath.Join(dir, secret.KeyFileName)); err != nil {
			return fmt.Errorf("the data directory %s has a database but no %s: set SPARK_SECRET_KEY as 'spark serve' has it; nothing was created", where, secret.KeyFileName)
		}
	}
	key, err := secret.LoadOrCreateKey(dir, cfg.SecretKey) // exists: only loads
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	for _, w := range key.Warnings {
		fmt.Fprintln(stderr, "spark: warning:", w)
	}
	sealer, err := secret.NewSealer(key.Bytes)
	if err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, path, sealer)
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	defer db.Close()
	statuses, err := pool.StatusFromStore(ctx, db, time.Now(), *recent)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Data directory: %s\n\n", where)
	return pool.Describe(stdout, statuses)
}

// accountsFromPostgres lists the accounts of the PostgreSQL database
// DATABASE_URL names, read only: it neither migrates the database nor
// creates a key file. The key is SPARK_SECRET_KEY, or the key file of the
// data directory.
func accountsFromPostgres(ctx context.Context, cfg *config.Config, dataDir string, recent int, stdout, stderr io.Writer) error {
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		return errors.New("DATABASE_URL is not a URL")
	}
	where := "PostgreSQL " + u.Host + u.Path // never the password
	if strings.TrimSpace(cfg.SecretKey) == "" {
		if dataDir != "" {
			cfg.DataDir = dataDir
		}
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("data directory %q: %w", cfg.DataDir, err)
		}
		if _, err := os.Stat(filepath.Join(dir, secret.KeyFileName)); err != nil {
			return fmt.Errorf("no SPARK_SECRET_KEY and no %s in the data directory %s to read %s with: set SPARK_SECRET_KEY as 'spark serve' has it; nothing was created",
				secret.KeyFileName, dir, where)
		}
		cfg.DataDir = dir
	}
	key, err := secret.LoadOrCreateKey(cfg.DataDir, cfg.SecretKey) // exists: only loads
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	for _, w := range key.Warnings {
		fmt.Fprintln(stderr, "spark: warning:", w)
	}
	sealer, err := secret.NewSealer(key.Bytes)
	if err != nil {
		return err
	}
	db, err := postgres.Connect(ctx, cfg.DatabaseURL, sealer)
	if err != nil {
		return fmt.Errorf("store %s: %w", where, err)
	}
	defer db.Close()
	ok, err := db.HasSchema(ctx)
	if err != nil {
		return fmt.Errorf("store %s: %w", where, err)
	}
	if !ok {
		return fmt.Errorf("no spark tables in %s: 'spark serve' has not run with this DATABASE_URL yet; nothing was created", where)
	}
	statuses, err := pool.StatusFromStore(ctx, db, time.Now(), recent)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Database: %s\n\n", where)
	return pool.Describe(stdout, statuses)
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
