package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sparkgw/spark/internal/store"
)

// GetBinding implements [store.BindingStore].
func (d *DB) GetBinding(ctx context.Context, key string) (store.Binding, error) {
	var (
		b       store.Binding
		account sql.NullString
		updated int64
	)
	err := d.db.QueryRowContext(ctx, `SELECT key, account_id, value, updated_at FROM bindings WHERE key = ?`, key).
		Scan(&b.Key, &account, &b.Value, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Binding{}, fmt.Errorf("sqlite: binding: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Binding{}, fmt.Errorf("sqlite: get binding: %w", err)
	}
	b.AccountID, b.UpdatedAt = account.String, fromMicros(updated)
	return b, nil
}

// PutBinding implements [store.BindingStore].
func (d *DB) PutBinding(ctx context.Context, b store.Binding) (store.Binding, error) {
	if b.Key == "" {
		return store.Binding{}, fmt.Errorf("%w: empty binding key", store.ErrInvalid)
	}
	b.UpdatedAt = d.now()
	account := sql.NullString{String: b.AccountID, Valid: b.AccountID != ""}
	_, err := d.db.ExecContext(ctx, `INSERT INTO bindings (key, account_id, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET account_id = excluded.account_id, value = excluded.value,
		updated_at = excluded.updated_at`, b.Key, account, b.Value, micros(b.UpdatedAt))
	if err != nil {
		return store.Binding{}, constraint("put binding", err)
	}
	return b, nil
}

// DeleteBinding implements [store.BindingStore].
func (d *DB) DeleteBinding(ctx context.Context, key string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM bindings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("sqlite: delete binding: %w", err)
	}
	return nil
}
