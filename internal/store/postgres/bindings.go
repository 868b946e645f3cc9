package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sparkgw/spark/internal/store"
)

// GetBinding implements [store.BindingStore].
func (d *DB) GetBinding(ctx context.Context, key string) (store.Binding, error) {
	var (
		b       store.Binding
		account *string
	)
	err := d.pool.QueryRow(ctx, `SELECT key, account_id, value, updated_at FROM bindings WHERE key = $1`, key).
		Scan(&b.Key, &account, &b.Value, timeCol{&b.UpdatedAt})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Binding{}, fmt.Errorf("postgres: binding: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Binding{}, fmt.Errorf("postgres: get binding: %w", err)
	}
	if account != nil {
		b.AccountID = *account
	}
	return b, nil
}

// PutBinding implements [store.BindingStore].
func (d *DB) PutBinding(ctx context.Context, b store.Binding) (store.Binding, error) {
	if b.Key == "" {
		return store.Binding{}, fmt.Errorf("%w: empty binding key", store.ErrInvalid)
	}
	b.UpdatedAt = d.now()
	var account any // NULL: bound to no account
	if b.AccountID != "" {
		account = b.AccountID
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO bindings (key, account_id, value, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET account_id = excluded.account_id, value = excluded.value,
		updated_at = excluded.updated_at`, b.Key, account, b.Value, b.UpdatedAt)
	if err != nil {
		return store.Binding{}, constraint("put binding", err)
	}
	return b, nil
}

// DeleteBinding implements [store.BindingStore].
func (d *DB) DeleteBinding(ctx context.Context, key string) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM bindings WHERE key = $1`, key); err != nil {
		return fmt.Errorf("postgres: delete binding: %w", err)
	}
	return nil
}
