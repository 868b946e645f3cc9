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

const keyColumns = `id, name, prefix, hash, created_at, last_used_at, disabled, rate_limit`

func scanKey(s scanner) (store.APIKey, error) {
	var (
		k             store.APIKey
		created, used int64
	)
	if err := s.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &created, &used, &k.Disabled, &k.RateLimit); err != nil {
		return store.APIKey{}, err
	}
	k.CreatedAt, k.LastUsedAt = fromMicros(created), fromMicros(used)
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
	_, err := d.db.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Prefix, k.Hash, micros(k.CreatedAt), micros(k.LastUsedAt), k.Disabled, k.RateLimit)
	if err != nil {
		return store.APIKey{}, constraint("create API key", err)
	}
	return k, nil
}

// FindAPIKeyByHash implements [store.APIKeyStore].
func (d *DB) FindAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	k, err := scanKey(d.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.APIKey{}, fmt.Errorf("sqlite: API key: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("sqlite: find API key: %w", err)
	}
	return k, nil
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
