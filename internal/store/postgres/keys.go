package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sparkgw/spark/internal/store"
)

const keyColumns = `id, name, prefix, hash, created_at, last_used_at, disabled, rate_limit,
	owner_id, models, ip_allow, expires_at, max_concurrency, token_quota, tokens_used`

func scanKey(s pgx.Row) (store.APIKey, error) {
	var k store.APIKey
	if err := s.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, timeCol{&k.CreatedAt}, timeCol{&k.LastUsedAt}, &k.Disabled, &k.RateLimit,
		&k.OwnerID, &k.Models, &k.IPAllow, timeCol{&k.ExpiresAt}, &k.MaxConcurrency, &k.TokenQuota, &k.TokensUsed); err != nil {
		return store.APIKey{}, err
	}
	// An empty policy list reads as nil, as from every engine.
	if len(k.Models) == 0 {
		k.Models = nil
	}
	if len(k.IPAllow) == 0 {
		k.IPAllow = nil
	}
	return k, nil
}

// textArray is l as a text[] parameter: empty, not NULL, for no entries.
func textArray(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// CreateAPIKey implements [store.APIKeyStore].
func (d *DB) CreateAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	k, err := store.PrepareAPIKey(k, d.now())
	if err != nil {
		return store.APIKey{}, err
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		k.ID, k.Name, k.Prefix, k.Hash, tv(k.CreatedAt), tv(k.LastUsedAt), k.Disabled, k.RateLimit,
		k.OwnerID, textArray(k.Models), textArray(k.IPAllow), tv(k.ExpiresAt), k.MaxConcurrency, k.TokenQuota, k.TokensUsed)
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

// GetAPIKey implements [store.APIKeyStore].
func (d *DB) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanKey(d.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.APIKey{}, fmt.Errorf("postgres: API key: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("postgres: get API key: %w", err)
	}
	return k, nil
}

// AddAPIKeyTokens implements [store.APIKeyStore]: one UPDATE adds and
// returns the total, so replicas adding at once lose nothing.
func (d *DB) AddAPIKeyTokens(ctx context.Context, id string, n int64) (int64, error) {
	if n < 0 {
		return 0, fmt.Errorf("%w: negative token count", store.ErrInvalid)
	}
	var total int64
	err := d.pool.QueryRow(ctx, `UPDATE api_keys SET tokens_used = tokens_used + $1 WHERE id = $2 RETURNING tokens_used`,
		n, id).Scan(&total)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: API key: %w", store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: add API key tokens: %w", err)
	}
	return total, nil
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
