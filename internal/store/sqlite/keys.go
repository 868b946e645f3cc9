package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

const keyColumns = `id, name, prefix, hash, created_at, last_used_at, disabled, rate_limit,
	owner_id, models, ip_allow, expires_at, max_concurrency, token_quota, tokens_used`

func scanKey(s scanner) (store.APIKey, error) {
	var (
		k                      store.APIKey
		created, used, expires int64
		models, ipAllow        string
	)
	if err := s.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &created, &used, &k.Disabled, &k.RateLimit,
		&k.OwnerID, &models, &ipAllow, &expires, &k.MaxConcurrency, &k.TokenQuota, &k.TokensUsed); err != nil {
		return store.APIKey{}, err
	}
	k.CreatedAt, k.LastUsedAt, k.ExpiresAt = fromMicros(created), fromMicros(used), fromMicros(expires)
	var err error
	if k.Models, err = store.DecodeList(models); err != nil {
		return store.APIKey{}, fmt.Errorf("API key %s models: %w", k.ID, err)
	}
	if k.IPAllow, err = store.DecodeList(ipAllow); err != nil {
		return store.APIKey{}, fmt.Errorf("API key %s ip_allow: %w", k.ID, err)
	}
	return k, nil
}

// CreateAPIKey implements [store.APIKeyStore].
func (d *DB) CreateAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	if len(k.Hash) != 32 || strings.TrimSpace(k.Prefix) == "" {
		return store.APIKey{}, fmt.Errorf("%w: an API key needs a 32-byte hash and a prefix", store.ErrInvalid)
	}
	k, err := store.PrepareAPIKey(k, d.now())
	if err != nil {
		return store.APIKey{}, err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Prefix, k.Hash, micros(k.CreatedAt), micros(k.LastUsedAt), k.Disabled, k.RateLimit,
		k.OwnerID, store.EncodeList(k.Models), store.EncodeList(k.IPAllow), micros(k.ExpiresAt), k.MaxConcurrency,
		k.TokenQuota, k.TokensUsed)
	if err != nil {
		return store.APIKey{}, constraint("create API key", err)
	}
	return k, nil
}

// FindAPIKeyByHash implements [store.APIKeyStore].
func (d *DB) FindAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	k, err := scanKey(d.keyByHash.QueryRowContext(ctx, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.APIKey{}, fmt.Errorf("sqlite: API key: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("sqlite: find API key: %w", err)
	}
	return k, nil
}

// GetAPIKey implements [store.APIKeyStore].
func (d *DB) GetAPIKey(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanKey(d.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.APIKey{}, fmt.Errorf("sqlite: API key: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("sqlite: get API key: %w", err)
	}
	return k, nil
}

// AddAPIKeyTokens implements [store.APIKeyStore].
func (d *DB) AddAPIKeyTokens(ctx context.Context, id string, n int64) (int64, error) {
	if n < 0 {
		return 0, fmt.Errorf("%w: negative token count", store.ErrInvalid)
	}
	var total int64
	err := d.db.QueryRowContext(ctx, `UPDATE api_keys SET tokens_used = tokens_used + ? WHERE id = ? RETURNING tokens_used`,
		n, id).Scan(&total)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: API key: %w", store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: add API key tokens: %w", err)
	}
	return total, nil
}

// ListAPIKeys implements [store.APIKeyStore].
func (d *DB) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list API keys: %w", err)
	}
	defer rows.Close()
	var out []store.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list API keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list API keys: %w", err)
	}
	return out, nil
}

// TouchAPIKey implements [store.APIKeyStore].
func (d *DB) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, micros(norm(at)), id)
	if err != nil {
		return fmt.Errorf("sqlite: touch API key: %w", err)
	}
	return affected(res, "touch API key")
}

// DisableAPIKey implements [store.APIKeyStore].
func (d *DB) DisableAPIKey(ctx context.Context, id string) error {
	res, err := d.db.ExecContext(ctx, `UPDATE api_keys SET disabled = 1 WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: disable API key: %w", err)
	}
	return affected(res, "disable API key")
}
