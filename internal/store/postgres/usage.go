package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sparkgw/spark/internal/store"
)

// pruneChunk bounds the rows one pruning statement deletes, so that no
// statement holds locks on a whole retention's worth of rows.
const pruneChunk = 5000

// rollupRows bounds the roll-up rows one upsert statement writes (13
// parameters each, under PostgreSQL's 65535).
const rollupRows = 1000

var usageCopyColumns = []string{"at", "request_id", "key_id", "account_id", "route", "model", "served_model",
	"status", "error_class", "input_tokens", "output_tokens", "reasoning_tokens", "latency_ms", "ttft_ms", "stream", "owner_id"}

// AddUsage implements [store.UsageStore]. The records are written with
// COPY; the roll-ups with upserts that add counts and merge histograms in
// the statement itself, on the row they lock, so writers on several
// replicas never lose each other's counts. Roll-up rows are written in key
// order, so two transactions touching the same rows lock them in the same
// order and never deadlock.
func (d *DB) AddUsage(ctx context.Context, recs []store.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	recs, err := store.PrepareUsage(recs, d.now())
	if err != nil {
		return err
	}
	rollups := rowRollups(store.RollUp(recs))
	return d.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"usage_records"}, usageCopyColumns,
			pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
				r := recs[i]
				return []any{r.Time, r.RequestID, r.KeyID, r.AccountID, r.Route, r.Model, r.ServedModel,
					int32(r.Status), r.ErrorClass, r.InputTokens, r.OutputTokens, r.ReasoningTokens, r.LatencyMS, r.TTFTMS, r.Stream, r.OwnerID}, nil
			}))
		if err != nil {
			return fmt.Errorf("postgres: add usage: %w", err)
		}
		for rest := rollups; len(rest) > 0; {
			n := min(len(rest), rollupRows)
			if err := addRollups(ctx, tx, rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
}

// rowRollups merges roll-ups that land in the same stored row and sorts
// them by the row's identity, the order in which their rows are locked (so
// that two writers never wait on each other's rows in opposite orders).
func rowRollups(us []store.UsageRollup) []store.UsageRollup {
	idx := map[store.UsageRollupKey]int{}
	out := us[:0:0]
	for _, u := range us {
		if i, ok := idx[u.Key()]; ok {
			out[i].Add(u)
			continue
		}
		idx[u.Key()] = len(out)
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b store.UsageRollup) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.OwnerID, b.OwnerID), cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Model, b.Model),
			cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Status, b.Status))
	})
	return out
}

// addRollups adds us to their stored roll-up rows with one upsert.
func addRollups(ctx context.Context, tx pgx.Tx, us []store.UsageRollup) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO usage_daily (day, key_id, model, account_id, status,
		requests, errors, input_tokens, output_tokens, reasoning_tokens, latency_hist, ttft_hist, owner_id) VALUES `)
	args := make([]any, 0, len(us)*13)
	for i, u := range us {
		if i > 0 {
			q.WriteByte(',')
		}
		day, err := time.Parse(time.DateOnly, u.Day)
		if err != nil {
			return fmt.Errorf("postgres: usage roll-up day %q: %w", u.Day, err)
		}
		n := len(args)
		fmt.Fprintf(&q, "($%d::date,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d::bigint[],$%d::bigint[],$%d)",
			n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11, n+12, n+13)
		args = append(args, day, u.KeyID, u.Model, u.AccountID, int32(u.Status),
			u.Requests, u.Errors, u.InputTokens, u.OutputTokens, u.ReasoningTokens, histCounts(&u.Latency), histCounts(&u.TTFT), u.OwnerID)
	}
	q.WriteString(` ON CONFLICT (day, owner_id, key_id, model, account_id, status) DO UPDATE SET
		requests = usage_daily.requests + excluded.requests,
		errors = usage_daily.errors + excluded.errors,
		input_tokens = usage_daily.input_tokens + excluded.input_tokens,
		output_tokens = usage_daily.output_tokens + excluded.output_tokens,
		reasoning_tokens = usage_daily.reasoning_tokens + excluded.reasoning_tokens,
		latency_hist = spark_hist_add(usage_daily.latency_hist, excluded.latency_hist),
		ttft_hist = spark_hist_add(usage_daily.ttft_hist, excluded.ttft_hist)`)
	if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("postgres: usage roll-up: %w", err)
	}
	return nil
}

// histCounts is h as stored: its bucket counts without the trailing
// empty buckets.
func histCounts(h *store.Histogram) []int64 {
	last := len(h)
	for last > 0 && h[last-1] == 0 {
		last--
	}
	return h[:last:last]
}

// histFromCounts is the inverse of histCounts.
func histFromCounts(c []int64) (store.Histogram, error) {
	var h store.Histogram
	if len(c) > len(h) {
		return h, fmt.Errorf("histogram has %d buckets, at most %d expected", len(c), len(h))
	}
	for i, n := range c {
		if n < 0 {
			return h, fmt.Errorf("histogram bucket %d is negative", i)
		}
		h[i] = n
	}
	return h, nil
}

// ListUsage implements [store.UsageStore].
func (d *DB) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v ...any) {
		args = append(args, v...)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
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
		add("owner_id = ANY(?)", f.Owners)
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
		add("at >= ?", norm(f.From))
	}
	if !f.To.IsZero() {
		add("at < ?", norm(f.To))
	}
	q := `SELECT id, at, request_id, key_id, account_id, route, model, served_model, status, error_class,
		input_tokens, output_tokens, reasoning_tokens, latency_ms, ttft_ms, stream, owner_id FROM usage_records`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.PageLimit())
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list usage: %w", err)
	}
	defer rows.Close()
	var out []store.UsageRecord
	for rows.Next() {
		var r store.UsageRecord
		if err := rows.Scan(&r.ID, timeCol{&r.Time}, &r.RequestID, &r.KeyID, &r.AccountID, &r.Route, &r.Model, &r.ServedModel,
			&r.Status, &r.ErrorClass, &r.InputTokens, &r.OutputTokens, &r.ReasoningTokens, &r.LatencyMS, &r.TTFTMS, &r.Stream, &r.OwnerID); err != nil {
			return nil, fmt.Errorf("postgres: list usage: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list usage: %w", err)
	}
	return out, nil
}

// usageDate is t's UTC day as a date parameter.
func usageDate(t time.Time) pgtype.Date {
	y, m, dd := t.UTC().Date()
	return pgtype.Date{Time: time.Date(y, m, dd, 0, 0, 0, 0, time.UTC), Valid: true}
}

// UsageRollups implements [store.UsageStore].
func (d *DB) UsageRollups(ctx context.Context, from, to time.Time) ([]store.UsageRollup, error) {
	rows, err := d.pool.Query(ctx, `SELECT day, key_id, model, account_id, status, requests, errors,
		input_tokens, output_tokens, reasoning_tokens, latency_hist, ttft_hist, owner_id
		FROM usage_daily WHERE day >= $1 AND day <= $2`, usageDate(from), usageDate(to))
	if err != nil {
		return nil, fmt.Errorf("postgres: usage roll-ups: %w", err)
	}
	defer rows.Close()
	var out []store.UsageRollup
	for rows.Next() {
		var (
			u         store.UsageRollup
			day       pgtype.Date
			lat, ttft []int64
		)
		if err := rows.Scan(&day, &u.KeyID, &u.Model, &u.AccountID, &u.Status, &u.Requests, &u.Errors,
			&u.InputTokens, &u.OutputTokens, &u.ReasoningTokens, &lat, &ttft, &u.OwnerID); err != nil {
			return nil, fmt.Errorf("postgres: usage roll-ups: %w", err)
		}
		u.Day = day.Time.Format(time.DateOnly)
		if u.Latency, err = histFromCounts(lat); err == nil {
			u.TTFT, err = histFromCounts(ttft)
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: usage roll-up %s: %w", u.Day, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: usage roll-ups: %w", err)
	}
	return out, nil
}

// PruneUsage implements [store.UsageStore].
func (d *DB) PruneUsage(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	for {
		tag, err := d.pool.Exec(ctx, `DELETE FROM usage_records WHERE id IN
			(SELECT id FROM usage_records WHERE at < $1 LIMIT $2)`, norm(cutoff), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("postgres: prune usage: %w", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < pruneChunk {
			break
		}
	}
	if _, err := d.pool.Exec(ctx, `DELETE FROM usage_daily WHERE day < $1`, usageDate(cutoff)); err != nil {
		return total, fmt.Errorf("postgres: prune usage roll-ups: %w", err)
	}
	return total, nil
}
