// Package sqlite is spark's embedded store: one SQLite file (modernc.org/sqlite,
// pure Go) under DATA_DIR, with WAL, a busy timeout, foreign keys and goose
// migrations embedded in the binary. Cookies and proxy URLs are sealed with
// package secret before they reach the database; only ciphertext and keyed
// fingerprints are written.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
)

// FileName is the database file spark keeps in DATA_DIR.
const FileName = "spark.db"

// busyTimeout is how long a statement waits for another writer.
const busyTimeout = 5 * time.Second

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a [store.Store] over one SQLite file. It is safe for concurrent use.
type DB struct {
	db     *sql.DB
	sealer *secret.Sealer
	rules  store.Rules
	path   string
	// The point reads made on every request with a stored client key,
	// prepared once (SQLite compiles an unprepared query every time:
	// about a third of such a read's cost).
	keyByHash, userByID, builtinAdmin *sql.Stmt

	// Now returns the current time; tests may replace it before use.
	Now func() time.Time
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed, mode 0600, parent directory 0700) the
// database at path, typically filepath.Join(DATA_DIR, FileName), and
// applies pending migrations. sealer encrypts cookies and proxies; the same
// key must be used on every open. opts give the providers' credential
// rules (store.WithRules).
func Open(ctx context.Context, path string, sealer *secret.Sealer, opts ...store.Option) (*DB, error) {
	if sealer == nil {
		return nil, errors.New("sqlite: a sealer is required")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	// Create the file ourselves so it starts 0600; SQLite gives the -wal
	// and -shm files the database file's permissions.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(8)
	// As many idle connections as open ones: with fewer, a burst of
	// concurrent reads closes connections and opens new ones (a new
	// SQLite connection applies the DSN's pragmas and reads the schema),
	// 4% of spark's CPU at c=16 with a stored key in the plane phase's
	// profile. Idle ones still close after ConnMaxIdleTime.
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	d := &DB{db: db, sealer: sealer, rules: store.Apply(opts...).Rules, path: abs, Now: time.Now}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := d.prepareHot(ctx); err != nil {
		d.closeStmts()
		db.Close()
		return nil, err
	}
	return d, nil
}

// prepareHot prepares the statements of the hot point reads.
func (d *DB) prepareHot(ctx context.Context) error {
	for _, s := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&d.keyByHash, `SELECT ` + keyColumns + ` FROM api_keys WHERE hash = ?`},
		{&d.userByID, `SELECT ` + userColumns + ` FROM users WHERE id = ?`},
		{&d.builtinAdmin, `SELECT ` + userColumns + ` FROM users WHERE builtin = 1`},
	} {
		st, err := d.db.PrepareContext(ctx, s.query)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*s.dst = st
	}
	return nil
}

func (d *DB) closeStmts() {
	for _, st := range []*sql.Stmt{d.keyByHash, d.userByID, d.builtinAdmin} {
		if st != nil {
			st.Close()
		}
	}
}

func dsn(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letter
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	return (&url.URL{Scheme: "file", Path: p}).String() + "?" + q.Encode()
}

func (d *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, d.db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// Path returns the database file's absolute path.
func (d *DB) Path() string { return d.path }

// Close checkpoints the WAL and closes the database.
func (d *DB) Close() error {
	d.closeStmts()
	_, _ = d.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return d.db.Close()
}

func (d *DB) now() time.Time { return d.Now().UTC().Truncate(time.Microsecond) }

// tx runs fn in a transaction (BEGIN IMMEDIATE), committing when it
// returns nil.
func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// micros converts a time to the stored form: unix microseconds, 0 = zero.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// constraint maps SQLite constraint violations to store sentinels; other
// errors are wrapped with op.
func constraint(op string, err error) error {
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// norm rounds t to what the database keeps.
func norm(t time.Time) time.Time { return store.NormTime(t) }

// Ping checks that the database answers (readiness).
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }
