// Package postgres is spark's shared store for several replicas: one
// PostgreSQL database (github.com/jackc/pgx/v5, a pgxpool.Pool) with goose
// migrations embedded in the binary, applied under a PostgreSQL advisory
// lock so replicas starting together migrate once. It keeps the same
// records as package sqlite with the same meaning, sealed the same way:
// cookies, proxy URLs, stored responses and files are sealed with package
// secret (same purposes, same associated data) before they reach the
// database, so only ciphertext and keyed fingerprints are written.
//
// Every read-modify-write that SQLite serialises with its single writer is
// made safe here for concurrent writers on several replicas: row locks
// (SELECT ... FOR NO KEY UPDATE: the row is rewritten, its key is not, so
// inserts that reference it are not held up), an advisory lock per file
// owner for the quota, and single-statement upserts for the usage roll-ups
// and counters.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
)

// DefaultMaxConns is the pool size of a replica whose DATABASE_URL sets no
// pool_max_conns (pgx's own default, the number of CPUs but at least 4,
// would queue a gateway's key lookups under load).
const DefaultMaxConns = 10

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a [store.Store] over one PostgreSQL database. It is safe for
// concurrent use, and several DBs (replicas) may share one database.
type DB struct {
	pool   *pgxpool.Pool
	sealer *secret.Sealer
	rules  store.Rules

	// Now returns the current time; tests may replace it before use.
	Now func() time.Time
}

var _ store.Store = (*DB)(nil)

// Open connects to the database at url (postgres://user:password@host/db,
// or any connection string pgx accepts, with pgxpool's pool_* settings),
// checks that it answers and applies pending migrations. sealer encrypts
// what is sealed at rest; the same key must be used by every replica and
// on every open. opts give the providers' credential rules
// (store.WithRules). Errors never contain the password.
func Open(ctx context.Context, url string, sealer *secret.Sealer, opts ...store.Option) (*DB, error) {
	d, err := Connect(ctx, url, sealer, opts...)
	if err != nil {
		return nil, err
	}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Connect is Open without the migrations, for tools that only read (spark
// accounts): it changes nothing in the database. See [DB.HasSchema].
func Connect(ctx context.Context, url string, sealer *secret.Sealer, opts ...store.Option) (*DB, error) {
	if sealer == nil {
		return nil, errors.New("postgres: a sealer is required")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", redactedParseError(err))
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &DB{pool: pool, sealer: sealer, rules: store.Apply(opts...).Rules, Now: time.Now}, nil
}

// HasSchema reports whether spark's tables exist in the database (a
// gateway opened it at least once).
func (d *DB) HasSchema(ctx context.Context) (bool, error) {
	var ok bool
	if err := d.pool.QueryRow(ctx, `SELECT to_regclass('accounts') IS NOT NULL`).Scan(&ok); err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	return ok, nil
}

// redactedParseError words a connection string parse error without the
// string: pgx's own message quotes it (password redacted as well as pgx
// can tell where it is), and a URL error quotes it whole.
func redactedParseError(err error) error {
	const msg = "cannot parse the connection string (want postgres://user:password@host:port/database?options)"
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %v", msg, ue.Err)
	}
	return errors.New(msg)
}

// migrationLockID is the advisory lock replicas take while migrating
// ("spark" in ASCII).
const migrationLockID = 0x737061726b

func (d *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(d.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Close closes every connection of the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// Stats returns the connection pool's statistics (for metrics).
func (d *DB) Stats() *pgxpool.Stat { return d.pool.Stat() }

// Ping checks that the database answers (readiness).
func (d *DB) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

func (d *DB) now() time.Time { return d.Now().UTC().Truncate(time.Microsecond) }

// querier is what *pgxpool.Pool and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// txAttempts bounds how often tx runs fn again after a deadlock or a
// serialization failure, which PostgreSQL resolves by aborting one side.
const txAttempts = 3

// tx runs fn in a read-committed transaction, committing when it returns
// nil; fn takes the row or advisory locks its read-modify-write needs.
func (d *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for range txAttempts {
		err = pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{}, fn)
		if !retryable(err) {
			break
		}
	}
	return err
}

// retryable reports a deadlock or serialization failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// tv is how a time is written: NULL for the zero time, else t rounded to
// what the database keeps.
func tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.NormTime(t)
}

// timeCol scans a timestamptz into *p: UTC, the zero time for NULL.
type timeCol struct{ p *time.Time }

// ScanTimestamptz implements pgtype.TimestamptzScanner.
func (c timeCol) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		*c.p = time.Time{}
		return nil
	}
	*c.p = v.Time.UTC()
	return nil
}

// constraint maps PostgreSQL constraint violations to store sentinels;
// other errors are wrapped with op. The server's message and detail (which
// may quote values) are left out of mapped errors.
func constraint(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("postgres: %s: %w", op, store.ErrConflict)
		case "23503": // foreign_key_violation
			return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
		case "23514", "22001": // check_violation, string_data_right_truncation
			return fmt.Errorf("postgres: %s: %w", op, store.ErrInvalid)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// affected returns ErrNotFound when tag says no row was touched.
func affected(tag pgconn.CommandTag, op string) error {
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// norm rounds t to what the database keeps.
func norm(t time.Time) time.Time { return store.NormTime(t) }
