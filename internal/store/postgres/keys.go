package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sparkgw/spark/internal/store"
)

const keyColumns = `id, name, prefix, hash, created_at, last_used_at, disabled, rate_limit`

func scanKey(s pgx.Row) (store.APIKey, error) {
	var k store.APIKey
	if err := s.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, timeCol{&k.CreatedAt}, timeCol{&k.LastUsedAt}, &k.Disabled, &k.RateLimit); err != nil {
		return store.APIKey{}, err
	}
	return k, nil
}

// CreateAPIKey implements [store.APIKeyStore].
func (d *DB) CreateAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	if len(k.Hash) != 32 || strings.TrimSpace(k.Prefix) == "" {
		return store.APIKey{}, fmt.Errorf("%w: an API key needs a 32-byte hash and a prefix", store.ErrInvalid)
	}
	if k.RateLimit < 0 {
		return store.APIKey{}, fmt.Errorf("%w: negative rate limit", store.ErrInvalid)
	}
	if k.ID == "" {
		k.ID = store.NewID("key_")
	}
	k.Hash = append([]byte(nil), k.Hash...)
	k.CreatedAt = d.now()
	k.LastUsedAt = norm(k.LastUsedAt)
	_, err := d.pool.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Name, k.Prefix, k.Hash, tv(k.CreatedAt), tv(k.LastUsedAt), k.Disabled, k.RateLimit)
	if err != nil {
		return store.APIKey{}, constraint("create API key", err)
	}
	return k, nil
}

// FindAPIKeyByHash implements [store.APIKeyStore].
func (d *DB) FindAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	k, err := scanKey(d.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.APIKey{}, fmt.Errorf("postgres: API key: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("postgres: find API key: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements [store.APIKeyStore].
func (d *DB) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list API keys: %w", err)
	}
	defer rows.Close()
	var out []store.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list API keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list API keys: %w", err)
	}
	return out, nil
}

// TouchAPIKey implements [store.APIKeyStore].
func (d *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	tag, err := d.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, tv(at), id)
	if err != nil {
		return fmt.Errorf("postgres: touch API key: %w", err)
	}
	return affected(tag, "touch API key")
}

// DisableAPIKey implements [store.APIKeyStore].
func (d *DB) DisableAPIKey(ctx context.Context, id string) error {
	tag, err := d.pool.Exec(ctx, `UPDATE api_keys SET disabled = TRUE WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: disable API key: %w", err)
	}
	return affected(tag, "disable API key")
}
