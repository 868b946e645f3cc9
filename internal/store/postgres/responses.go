package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
		return fmt.Errorf("postgres: put response: %w", err)
	}
	input, err := d.sealer.Seal(store.PurposeResponseInput, r.InputItems, aad)
	if err != nil {
		return fmt.Errorf("postgres: put response: %w", err)
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO responses (id, owner, created_at, response, input_items) VALUES ($1, $2, $3, $4, $5)`,
		r.ID, r.Owner, tv(r.CreatedAt), resp, input)
	if err != nil {
		return constraint("put response", err)
	}
	return nil
}

// GetResponse implements [store.ResponseStore].
func (d *DB) GetResponse(ctx context.Context, owner, id string) (store.StoredResponse, error) {
	var (
		resp, input []byte
		r           = store.StoredResponse{ID: id, Owner: owner}
	)
	err := d.pool.QueryRow(ctx, `SELECT created_at, response, input_items FROM responses WHERE id = $1 AND owner = $2`, id, owner).
		Scan(timeCol{&r.CreatedAt}, &resp, &input)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.StoredResponse{}, fmt.Errorf("postgres: response: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.StoredResponse{}, fmt.Errorf("postgres: get response: %w", err)
	}
	aad := store.ResponseAAD(id, owner)
	if r.Response, err = d.sealer.Open(store.PurposeResponse, resp, aad); err == nil {
		r.InputItems, err = d.sealer.Open(store.PurposeResponseInput, input, aad)
	}
	if err != nil {
		if errors.Is(err, secret.ErrUnknownKey) {
			// A response sealed under a previous master key is gone for
			// the client, as if it had expired.
			return store.StoredResponse{}, fmt.Errorf("postgres: response %s was sealed with another key (did SPARK_SECRET_KEY or %s change?): %w: %w",
				id, secret.KeyFileName, store.ErrNotFound, err)
		}
		return store.StoredResponse{}, fmt.Errorf("postgres: open response %s: %w", id, err)
	}
	return r, nil
}

// DeleteResponse implements [store.ResponseStore].
func (d *DB) DeleteResponse(ctx context.Context, owner, id string) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM responses WHERE id = $1 AND owner = $2`, id, owner)
	if err != nil {
		return fmt.Errorf("postgres: delete response: %w", err)
	}
	return affected(tag, "delete response")
}

// PruneResponses implements [store.ResponseStore].
func (d *DB) PruneResponses(ctx context.Context, cutoff time.Time) (int, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM responses WHERE created_at < $1`, norm(cutoff))
	if err != nil {
		return 0, fmt.Errorf("postgres: prune responses: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
