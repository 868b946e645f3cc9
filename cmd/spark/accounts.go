package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store/sqlite"
)

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("accounts", "List upstream accounts with provider, label, state, rest-until and recent\nerrors, as stored under DATA_DIR. Cookies are never printed.", stderr)
	dataDir := fs.String("data-dir", "", "data directory (DATA_DIR, default ./data)")
	recent := fs.Int("recent", 3, "recent errors shown per account")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	path := filepath.Join(cfg.DataDir, sqlite.FileName)
	key, err := secret.LoadOrCreateKey(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
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
	return pool.Describe(stdout, statuses)
}
