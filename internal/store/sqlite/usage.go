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

// pruneChunk bounds the rows one pruning statement deletes, so that the
// write lock is taken in short turns.
const pruneChunk = 5000

// AddUsage implements [store.UsageStore].
func (d *DB) AddUsage(ctx context.Context, recs []store.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	recs, err := store.PrepareUsage(recs, d.now())
	if err != nil {
		return err
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		for rest := recs; len(rest) > 0; {
			n := min(len(rest), insertRows)
			if err := insertUsage(ctx, tx, rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		for _, u := range store.RollUp(recs) {
			if err := addRollup(ctx, tx, u); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertRows is how many records one INSERT statement writes: a statement
// per row costs about twice as much per record.
const insertRows = 100

// usageColumns are the columns insertUsage writes, in order.
const usageColumns = 16

// insertUsage writes recs with one multi-row INSERT.
func insertUsage(ctx context.Context, tx *sql.Tx, recs []store.UsageRecord) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO usage_records (at, request_id, key_id, account_id, route, model, served_model,
		status, error_class, input_tokens, output_tokens, reasoning_tokens, latency_ms, ttft_ms, stream, owner_id) VALUES `)
	args := make([]any, 0, len(recs)*usageColumns)
	for i, r := range recs {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, micros(r.Time), r.RequestID, r.KeyID, r.AccountID, r.Route, r.Model, r.ServedModel,
			r.Status, r.ErrorClass, r.InputTokens, r.OutputTokens, r.ReasoningTokens, r.LatencyMS, r.TTFTMS, r.Stream, r.OwnerID)
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("sqlite: add usage: %w", err)
	}
	return nil
}

// addRollup adds u to its stored roll-up row. The histograms are merged
// here, the sums by the upsert.
func addRollup(ctx context.Context, tx *sql.Tx, u store.UsageRollup) error {
	var lat, ttft string
	err := tx.QueryRowContext(ctx, `SELECT latency_hist, ttft_hist FROM usage_daily
		WHERE day = ? AND key_id = ? AND model = ? AND account_id = ? AND status = ?`,
		u.Day, u.KeyID, u.Model, u.AccountID, u.Status).Scan(&lat, &ttft)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("sqlite: usage roll-up: %w", err)
	default:
		if err := mergeHistograms(&u, lat, ttft); err != nil {
			return fmt.Errorf("sqlite: usage roll-up %s: %w", u.Day, err)
		}
	}
	// A key has one owner for life, so owner_id follows key_id and is
	// not part of the row's identity.
	_, err = tx.ExecContext(ctx, `INSERT INTO usage_daily (day, key_id, model, account_id, status,
		requests, errors, input_tokens, output_tokens, reasoning_tokens, latency_hist, ttft_hist, owner_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (day, key_id, model, account_id, status) DO UPDATE SET
			requests = usage_daily.requests + excluded.requests,
			errors = usage_daily.errors + excluded.errors,
			input_tokens = usage_daily.input_tokens + excluded.input_tokens,
			output_tokens = usage_daily.output_tokens + excluded.output_tokens,
			reasoning_tokens = usage_daily.reasoning_tokens + excluded.reasoning_tokens,
			latency_hist = excluded.latency_hist,
			ttft_hist = excluded.ttft_hist,
			owner_id = excluded.owner_id`,
		u.Day, u.KeyID, u.Model, u.AccountID, u.Status,
		u.Requests, u.Errors, u.InputTokens, u.OutputTokens, u.ReasoningTokens, u.Latency.String(), u.TTFT.String(), u.OwnerID)
	if err != nil {
		return fmt.Errorf("sqlite: usage roll-up: %w", err)
	}
	return nil
}

// mergeHistograms adds the stored histograms lat and ttft to u's.
func mergeHistograms(u *store.UsageRollup, lat, ttft string) error {
	l, err := store.ParseHistogram(lat)
	if err != nil {
		return err
	}
	t, err := store.ParseHistogram(ttft)
	if err != nil {
		return err
	}
	u.Latency.Merge(&l)
	u.TTFT.Merge(&t)
	return nil
}

// ListUsage implements [store.UsageStore].
func (d *DB) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v ...any) { where = append(where, cond); args = append(args, v...) }
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	if f.KeyID != "" {
		add("key_id = ?", f.KeyID)
	}
	if f.Model != "" {
		add("model = ?", f.Model)
	}
	if f.Owners != nil {
		if len(f.Owners) == 0 {
			return nil, nil
		}
		add("owner_id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.Owners)), ",")+")", anys(f.Owners)...)
	}
	if f.Status != 0 {
		add("status = ?", f.Status)
	}
	if f.Errors != nil {
		if *f.Errors {
			add("(status >= 400 OR error_class <> '')")
		} else {
			add("(status < 400 AND error_class = '')")
		}
	}
	if !f.From.IsZero() {
		add("at >= ?", micros(norm(f.From)))
	}
	if !f.To.IsZero() {
		add("at < ?", micros(norm(f.To)))
	}
	q := `SELECT id, at, request_id, key_id, account_id, route, model, served_model, status, error_class,
		input_tokens, output_tokens, reasoning_tokens, latency_ms, ttft_ms, stream, owner_id FROM usage_records`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.PageLimit())
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list usage: %w", err)
	}
	defer rows.Close()
	var out []store.UsageRecord
	for rows.Next() {
		var (
			r  store.UsageRecord
			at int64
		)
		if err := rows.Scan(&r.ID, &at, &r.RequestID, &r.KeyID, &r.AccountID, &r.Route, &r.Model, &r.ServedModel,
			&r.Status, &r.ErrorClass, &r.InputTokens, &r.OutputTokens, &r.ReasoningTokens, &r.LatencyMS, &r.TTFTMS, &r.Stream, &r.OwnerID); err != nil {
			return nil, fmt.Errorf("sqlite: list usage: %w", err)
		}
		r.Time = fromMicros(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list usage: %w", err)
	}
	return out, nil
}

// UsageRollups implements [store.UsageStore].
func (d *DB) UsageRollups(ctx context.Context, from, to time.Time) ([]store.UsageRollup, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT day, key_id, model, account_id, status, requests, errors,
		input_tokens, output_tokens, reasoning_tokens, latency_hist, ttft_hist, owner_id
		FROM usage_daily WHERE day >= ? AND day <= ?`, store.UsageDay(from), store.UsageDay(to))
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage roll-ups: %w", err)
	}
	defer rows.Close()
	var out []store.UsageRollup
	for rows.Next() {
		var (
			u         store.UsageRollup
			lat, ttft string
		)
		if err := rows.Scan(&u.Day, &u.KeyID, &u.Model, &u.AccountID, &u.Status, &u.Requests, &u.Errors,
			&u.InputTokens, &u.OutputTokens, &u.ReasoningTokens, &lat, &ttft, &u.OwnerID); err != nil {
			return nil, fmt.Errorf("sqlite: usage roll-ups: %w", err)
		}
		if err := mergeHistograms(&u, lat, ttft); err != nil {
			return nil, fmt.Errorf("sqlite: usage roll-up %s: %w", u.Day, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: usage roll-ups: %w", err)
	}
	return out, nil
}

// PruneUsage implements [store.UsageStore].
func (d *DB) PruneUsage(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	for {
		res, err := d.db.ExecContext(ctx, `DELETE FROM usage_records WHERE id IN
			(SELECT id FROM usage_records WHERE at < ? LIMIT ?)`, micros(norm(cutoff)), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("sqlite: prune usage: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: prune usage: %w", err)
		}
		total += int(n)
		if n < pruneChunk {
			break
		}
	}
	if _, err := d.db.ExecContext(ctx, `DELETE FROM usage_daily WHERE day < ?`, store.UsageDay(cutoff)); err != nil {
		return total, fmt.Errorf("sqlite: prune usage roll-ups: %w", err)
	}
	return total, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
