package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
)

const accountColumns = `id, provider, label, cookie_sealed, cookie_fingerprint, proxy_sealed,
	state, rest_until, disabled_reason, last_error_code, last_error_message, last_error_at,
	failures, created_at, updated_at, import_hash, owner_id, shared`

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

func (d *DB) scanAccount(s scanner) (store.Account, error) {
	var (
		a                                  store.Account
		cookie, proxy                      []byte
		state, code                        string
		restUntil, errAt, created, updated int64
	)
	err := s.Scan(&a.ID, &a.Provider, &a.Label, &cookie, &a.CookieFingerprint, &proxy,
		&state, &restUntil, &a.DisabledReason, &code, &a.LastError.Message, &errAt,
		&a.Failures, &created, &updated, &a.ImportHash, &a.OwnerID, &a.Shared)
	if err != nil {
		return store.Account{}, err
	}
	a.State = store.AccountState(state)
	a.LastError.Code = gw.Code(code)
	a.RestUntil, a.LastError.At = fromMicros(restUntil), fromMicros(errAt)
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	pt, err := d.sealer.Open(store.PurposeCookie, cookie, []byte(a.ID))
	if err != nil {
		return store.Account{}, openError(a.ID, "cookie", err)
	}
	a.Cookie = string(pt)
	if proxy != nil {
		pt, err := d.sealer.Open(store.PurposeProxy, proxy, []byte(a.ID))
		if err != nil {
			return store.Account{}, openError(a.ID, "proxy", err)
		}
		a.Proxy = string(pt)
	}
	return a, nil
}

func openError(id, what string, err error) error {
	if errors.Is(err, secret.ErrUnknownKey) {
		return fmt.Errorf("sqlite: account %s: %s was sealed with another key (did SPARK_SECRET_KEY or %s change?): %w",
			id, what, secret.KeyFileName, err)
	}
	return fmt.Errorf("sqlite: account %s: %s: %w", id, what, err)
}

// prepare validates and completes a new account.
func (d *DB) prepare(a store.Account) (store.Account, error) {
	return store.PrepareAccount(d.sealer, d.rules, a, d.now())
}

func (d *DB) seal(a store.Account) (cookie, proxy []byte, err error) {
	cookie, err = d.sealer.Seal(store.PurposeCookie, []byte(a.Cookie), []byte(a.ID))
	if err != nil {
		return nil, nil, err
	}
	if a.Proxy != "" {
		proxy, err = d.sealer.Seal(store.PurposeProxy, []byte(a.Proxy), []byte(a.ID))
	}
	return cookie, proxy, err
}

func (d *DB) insertAccount(ctx context.Context, q querier, a store.Account) error {
	cookie, proxy, err := d.seal(a)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO accounts (`+accountColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Provider, a.Label, cookie, a.CookieFingerprint, proxy,
		string(a.State), micros(a.RestUntil), a.DisabledReason, string(a.LastError.Code), a.LastError.Message,
		micros(a.LastError.At), a.Failures, micros(a.CreatedAt), micros(a.UpdatedAt), a.ImportHash, a.OwnerID, a.Shared)
	if err != nil {
		return constraint("create account", err)
	}
	return nil
}

// writeAccount rewrites every mutable column of a.
func (d *DB) writeAccount(ctx context.Context, q querier, a store.Account) error {
	cookie, proxy, err := d.seal(a)
	if err != nil {
		return err
	}
	res, err := q.ExecContext(ctx, `UPDATE accounts SET label = ?, cookie_sealed = ?, cookie_fingerprint = ?,
		proxy_sealed = ?, state = ?, rest_until = ?, disabled_reason = ?, last_error_code = ?,
		last_error_message = ?, last_error_at = ?, failures = ?, updated_at = ?, import_hash = ? WHERE id = ?`,
		a.Label, cookie, a.CookieFingerprint, proxy, string(a.State), micros(a.RestUntil), a.DisabledReason,
		string(a.LastError.Code), a.LastError.Message, micros(a.LastError.At), a.Failures, micros(a.UpdatedAt), a.ImportHash, a.ID)
	if err != nil {
		return constraint("update account", err)
	}
	return affected(res, "update account")
}

func affected(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// CreateAccount implements [store.AccountStore].
func (d *DB) CreateAccount(ctx context.Context, a store.Account) (store.Account, error) {
	a, err := d.prepare(a)
	if err != nil {
		return store.Account{}, err
	}
	if err := d.insertAccount(ctx, d.db, a); err != nil {
		return store.Account{}, err
	}
	return a, nil
}

// ImportAccount implements [store.AccountStore].
func (d *DB) ImportAccount(ctx context.Context, a store.Account) (store.Account, store.ImportResult, error) {
	labelGiven := strings.TrimSpace(a.Label) != ""
	a, err := d.prepare(a)
	if err != nil {
		return store.Account{}, "", err
	}
	a.ImportHash = store.ImportHash(d.sealer, a.Cookie)
	var out store.Account
	var res store.ImportResult
	err = d.tx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts
			WHERE provider = ? AND cookie_fingerprint = ?`, a.Provider, a.CookieFingerprint)
		cur, err := d.scanAccount(row)
		if errors.Is(err, sql.ErrNoRows) {
			out, res = a, store.ImportCreated
			return d.insertAccount(ctx, tx, a)
		}
		if err != nil {
			return fmt.Errorf("sqlite: import account: %w", err)
		}
		in := a
		if !labelGiven {
			in.Label = ""
		}
		next, changed := store.MergeImport(cur, in, d.now())
		out, res = next, store.ImportUnchanged
		if !changed {
			return nil
		}
		res = store.ImportUpdated
		return d.writeAccount(ctx, tx, next)
	})
	if err != nil {
		return store.Account{}, "", err
	}
	return out, res, nil
}

// GetAccount implements [store.AccountStore].
func (d *DB) GetAccount(ctx context.Context, id string) (store.Account, error) {
	return d.getAccount(ctx, d.db, id)
}

func (d *DB) getAccount(ctx context.Context, q querier, id string) (store.Account, error) {
	a, err := d.scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("sqlite: account %s: %w", id, store.ErrNotFound)
	}
	return a, err
}

// ListAccounts implements [store.AccountStore].
func (d *DB) ListAccounts(ctx context.Context, f store.AccountFilter) ([]store.Account, error) {
	query := `SELECT ` + accountColumns + ` FROM accounts`
	var args []any
	if f.Provider != "" {
		query += ` WHERE provider = ?`
		args = append(args, f.Provider)
	}
	rows, err := d.db.QueryContext(ctx, query+` ORDER BY provider, seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := d.scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list accounts: %w", err)
	}
	return out, nil
}

// UpdateCookie implements [store.AccountStore].
func (d *DB) UpdateCookie(ctx context.Context, id, cookie string) (store.Account, error) {
	var out store.Account
	err := d.tx(ctx, func(tx *sql.Tx) error {
		cur, err := d.getAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		next, changed, err := store.WithCookie(d.sealer, d.rules, cur, cookie, d.now())
		if err != nil || !changed {
			out = cur
			return err
		}
		out = next
		return d.writeAccount(ctx, tx, next)
	})
	if err != nil {
		return store.Account{}, err
	}
	return out, nil
}

// UpdateAccountInfo implements [store.AccountStore].
func (d *DB) UpdateAccountInfo(ctx context.Context, id string, p store.AccountPatch) (store.Account, error) {
	var out store.Account
	err := d.tx(ctx, func(tx *sql.Tx) error {
		cur, err := d.getAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		next, err := store.PatchAccount(cur, p, d.now())
		if err != nil {
			return err
		}
		if err := d.writeAccount(ctx, tx, next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET shared = ? WHERE id = ?`, next.Shared, id); err != nil {
			return fmt.Errorf("sqlite: update account: %w", err)
		}
		out = next
		return nil
	})
	if err != nil {
		return store.Account{}, err
	}
	return out, nil
}

// UpdateAccountState implements [store.AccountStore].
func (d *DB) UpdateAccountState(ctx context.Context, id string, u store.StateUpdate) error {
	if !u.State.Valid() {
		return fmt.Errorf("%w: account state %q", store.ErrInvalid, u.State)
	}
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET state = ?, rest_until = ?, disabled_reason = ?,
		last_error_code = ?, last_error_message = ?, last_error_at = ?, failures = ?, updated_at = ?
		WHERE id = ?`,
		string(u.State), micros(norm(u.RestUntil)), u.DisabledReason, string(u.LastError.Code), u.LastError.Message,
		micros(norm(u.LastError.At)), u.Failures, micros(d.now()), id)
	if err != nil {
		return fmt.Errorf("sqlite: update account state: %w", err)
	}
	return affected(res, "update account state")
}

// RecordEvent implements [store.AccountStore].
func (d *DB) RecordEvent(ctx context.Context, ev store.AccountEvent) error {
	if ev.At.IsZero() {
		ev.At = d.now()
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO account_events
			(account_id, at, kind, code, from_state, to_state, until, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.AccountID, micros(norm(ev.At)), string(ev.Kind), string(ev.Code), string(ev.From), string(ev.To),
			micros(norm(ev.Until)), ev.Message)
		if err != nil {
			return constraint("record event", err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM account_events WHERE account_id = ?1 AND id NOT IN
			(SELECT id FROM account_events WHERE account_id = ?1 ORDER BY id DESC LIMIT ?2)`,
			ev.AccountID, store.EventsPerAccount)
		if err != nil {
			return fmt.Errorf("sqlite: trim events: %w", err)
		}
		return nil
	})
}

// ListEvents implements [store.AccountStore].
func (d *DB) ListEvents(ctx context.Context, accountID string, limit int) ([]store.AccountEvent, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, account_id, at, kind, code, from_state, to_state, until, message
		FROM account_events WHERE account_id = ? ORDER BY id DESC LIMIT ?`, accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	defer rows.Close()
	var out []store.AccountEvent
	for rows.Next() {
		var (
			ev                   store.AccountEvent
			kind, code, from, to string
			at, until            int64
		)
		if err := rows.Scan(&ev.ID, &ev.AccountID, &at, &kind, &code, &from, &to, &until, &ev.Message); err != nil {
			return nil, fmt.Errorf("sqlite: list events: %w", err)
		}
		ev.At, ev.Until = fromMicros(at), fromMicros(until)
		ev.Kind, ev.Code = store.EventKind(kind), gw.Code(code)
		ev.From, ev.To = store.AccountState(from), store.AccountState(to)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	return out, nil
}

// DeleteAccount implements [store.AccountStore].
func (d *DB) DeleteAccount(ctx context.Context, id string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM accounts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete account: %w", err)
	}
	return affected(res, "delete account "+id)
}
