package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
)

// PutResponse implements [store.ResponseStore].
func (d *DB) PutResponse(ctx context.Context, r store.StoredResponse) error {
	if r.ID == "" || len(r.Response) == 0 {
		return fmt.Errorf("%w: a stored response needs an id and a body", store.ErrInvalid)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = d.now()
	}
	aad := store.ResponseAAD(r.ID, r.Owner)
	resp, err := d.sealer.Seal(store.PurposeResponse, r.Response, aad)
	if err != nil {
		return fmt.Errorf("sqlite: put response: %w", err)
	}
	input, err := d.sealer.Seal(store.PurposeResponseInput, r.InputItems, aad)
	if err != nil {
		return fmt.Errorf("sqlite: put response: %w", err)
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO responses (id, owner, created_at, response, input_items) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.Owner, micros(norm(r.CreatedAt)), resp, input)
	if err != nil {
		return constraint("put response", err)
	}
	return nil
}

// GetResponse implements [store.ResponseStore].
func (d *DB) GetResponse(ctx context.Context, owner, id string) (store.StoredResponse, error) {
	var (
		created     int64
		resp, input []byte
		r           = store.StoredResponse{ID: id, Owner: owner}
	)
	err := d.db.QueryRowContext(ctx, `SELECT created_at, response, input_items FROM responses WHERE id = ? AND owner = ?`, id, owner).
		Scan(&created, &resp, &input)
	if errors.Is(err, sql.ErrNoRows) {
		return store.StoredResponse{}, fmt.Errorf("sqlite: response: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.StoredResponse{}, fmt.Errorf("sqlite: get response: %w", err)
	}
	aad := store.ResponseAAD(id, owner)
	if r.Response, err = d.sealer.Open(store.PurposeResponse, resp, aad); err == nil {
		r.InputItems, err = d.sealer.Open(store.PurposeResponseInput, input, aad)
	}
	if err != nil {
		if errors.Is(err, secret.ErrUnknownKey) {
			// A response sealed under a previous master key is gone for
			// the client, as if it had expired.
			return store.StoredResponse{}, fmt.Errorf("sqlite: response %s was sealed with another key (did SPARK_SECRET_KEY or %s change?): %w: %w",
				id, secret.KeyFileName, store.ErrNotFound, err)
		}
		return store.StoredResponse{}, fmt.Errorf("sqlite: open response %s: %w", id, err)
	}
	r.CreatedAt = fromMicros(created)
	return r, nil
}

// DeleteResponse implements [store.ResponseStore].
func (d *DB) DeleteResponse(ctx context.Context, owner, id string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM responses WHERE id = ? AND owner = ?`, id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: delete response: %w", err)
	}
	return affected(res, "delete response")
}

// PruneResponses implements [store.ResponseStore].
func (d *DB) PruneResponses(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM responses WHERE created_at < ?`, micros(norm(cutoff)))
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune responses: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune responses: %w", err)
	}
	return int(n), nil
}
