package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
)

const accountColumns = `id, provider, label, cookie_sealed, cookie_fingerprint, proxy_sealed,
	state, rest_until, disabled_reason, last_error_code, last_error_message, last_error_at,
	failures, created_at, updated_at, import_hash, owner_id, shared`

func (d *DB) scanAccount(s pgx.Row) (store.Account, error) {
	var (
		a             store.Account
		cookie, proxy []byte
		state, code   string
	)
	err := s.Scan(&a.ID, &a.Provider, &a.Label, &cookie, &a.CookieFingerprint, &proxy,
		&state, timeCol{&a.RestUntil}, &a.DisabledReason, &code, &a.LastError.Message, timeCol{&a.LastError.At},
		&a.Failures, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}, &a.ImportHash, &a.OwnerID, &a.Shared)
	if err != nil {
		return store.Account{}, err
	}
	a.State = store.AccountState(state)
	a.LastError.Code = gw.Code(code)
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
		return fmt.Errorf("postgres: account %s: %s was sealed with another key (did SPARK_SECRET_KEY or %s change?): %w",
			id, what, secret.KeyFileName, err)
	}
	return fmt.Errorf("postgres: account %s: %s: %w", id, what, err)
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

// insertAccount inserts a. With onConflictIdentity, an account of the same
// provider and cookie identity makes it insert nothing and report false
// instead of failing.
func (d *DB) insertAccount(ctx context.Context, q querier, a store.Account, onConflictIdentity bool) (bool, error) {
	cookie, proxy, err := d.seal(a)
	if err != nil {
		return false, err
	}
	query := `INSERT INTO accounts (` + accountColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`
	if onConflictIdentity {
		query += ` ON CONFLICT (provider, cookie_fingerprint) DO NOTHING`
	}
	tag, err := q.Exec(ctx, query,
		a.ID, a.Provider, a.Label, cookie, a.CookieFingerprint, proxy,
		string(a.State), tv(a.RestUntil), a.DisabledReason, string(a.LastError.Code), a.LastError.Message,
		tv(a.LastError.At), a.Failures, tv(a.CreatedAt), tv(a.UpdatedAt), a.ImportHash, a.OwnerID, a.Shared)
	if err != nil {
		return false, constraint("create account", err)
	}
	return tag.RowsAffected() == 1, nil
}

// writeAccount rewrites every mutable column of a (all but the id, the
// provider, the owner and the creation time).
func (d *DB) writeAccount(ctx context.Context, q querier, a store.Account) error {
	cookie, proxy, err := d.seal(a)
	if err != nil {
		return err
	}
	tag, err := q.Exec(ctx, `UPDATE accounts SET label = $1, cookie_sealed = $2, cookie_fingerprint = $3,
		proxy_sealed = $4, state = $5, rest_until = $6, disabled_reason = $7, last_error_code = $8,
		last_error_message = $9, last_error_at = $10, failures = $11, updated_at = $12, import_hash = $13, shared = $14
		WHERE id = $15`,
		a.Label, cookie, a.CookieFingerprint, proxy, string(a.State), tv(a.RestUntil), a.DisabledReason,
		string(a.LastError.Code), a.LastError.Message, tv(a.LastError.At), a.Failures, tv(a.UpdatedAt), a.ImportHash, a.Shared, a.ID)
	if err != nil {
		return constraint("update account", err)
	}
	return affected(tag, "update account")
}

// CreateAccount implements [store.AccountStore].
func (d *DB) CreateAccount(ctx context.Context, a store.Account) (store.Account, error) {
	a, err := d.prepare(a)
	if err != nil {
		return store.Account{}, err
	}
	if _, err := d.insertAccount(ctx, d.pool, a, false); err != nil {
		return store.Account{}, err
	}
	return a, nil
}

// importAttempts bounds ImportAccount's rounds: a round finds the login
// inserted by a concurrent import only when that import raced its own.
const importAttempts = 3

// ImportAccount implements [store.AccountStore]. The stored account of the
// same login is locked while it is merged; a login no one stored yet is
// inserted only if no concurrent import (another replica) inserted it
// first, else the import merges into that one.
func (d *DB) ImportAccount(ctx context.Context, a store.Account) (store.Account, store.ImportResult, error) {
	labelGiven := strings.TrimSpace(a.Label) != ""
	a, err := d.prepare(a)
	if err != nil {
		return store.Account{}, "", err
	}
	a.ImportHash = store.ImportHash(d.sealer, a.Cookie)
	var out store.Account
	var res store.ImportResult
	for range importAttempts {
		inserted := false
		err = d.tx(ctx, func(tx pgx.Tx) error {
			row := tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts
				WHERE provider = $1 AND cookie_fingerprint = $2 FOR NO KEY UPDATE`, a.Provider, a.CookieFingerprint)
			cur, err := d.scanAccount(row)
			if errors.Is(err, pgx.ErrNoRows) {
				out, res = a, store.ImportCreated
				inserted, err = d.insertAccount(ctx, tx, a, true)
				return err
			}
			if err != nil {
				return fmt.Errorf("postgres: import account: %w", err)
			}
			inserted = true
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
		if inserted {
			return out, res, nil
		}
	}
	return store.Account{}, "", fmt.Errorf("postgres: import account: %w: concurrent imports of one login", store.ErrConflict)
}

// GetAccount implements [store.AccountStore].
func (d *DB) GetAccount(ctx context.Context, id string) (store.Account, error) {
	return d.getAccount(ctx, d.pool, id, "")
}

// getAccount reads the account with id; lock is "" or a locking clause.
func (d *DB) getAccount(ctx context.Context, q querier, id, lock string) (store.Account, error) {
	a, err := d.scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1 `+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Account{}, fmt.Errorf("postgres: account %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("postgres: get account: %w", err)
	}
	return a, nil
}

// ListAccounts implements [store.AccountStore].
func (d *DB) ListAccounts(ctx context.Context, f store.AccountFilter) ([]store.Account, error) {
	query := `SELECT ` + accountColumns + ` FROM accounts`
	var args []any
	if f.Provider != "" {
		query += ` WHERE provider = $1`
		args = append(args, f.Provider)
	}
	rows, err := d.pool.Query(ctx, query+` ORDER BY provider, seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := d.scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list accounts: %w", err)
	}
	return out, nil
}

// UpdateCookie implements [store.AccountStore]. The account is locked
// while the new cookie is merged, so two replicas rotating it at once
// write one after the other.
func (d *DB) UpdateCookie(ctx context.Context, id, cookie string) (store.Account, error) {
	var out store.Account
	err := d.tx(ctx, func(tx pgx.Tx) error {
		cur, err := d.getAccount(ctx, tx, id, "FOR NO KEY UPDATE")
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

// UpdateAccountInfo implements [store.AccountStore]. The account is locked
// while the patch is applied.
func (d *DB) UpdateAccountInfo(ctx context.Context, id string, p store.AccountPatch) (store.Account, error) {
	var out store.Account
	err := d.tx(ctx, func(tx pgx.Tx) error {
		cur, err := d.getAccount(ctx, tx, id, "FOR NO KEY UPDATE")
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
	tag, err := d.pool.Exec(ctx, `UPDATE accounts SET state = $1, rest_until = $2, disabled_reason = $3,
		last_error_code = $4, last_error_message = $5, last_error_at = $6, failures = $7, updated_at = $8
		WHERE id = $9`,
		string(u.State), tv(u.RestUntil), u.DisabledReason, string(u.LastError.Code), u.LastError.Message,
		tv(u.LastError.At), u.Failures, d.now(), id)
	if err != nil {
		return constraint("update account state", err)
	}
	return affected(tag, "update account state")
}

// RecordEvent implements [store.AccountStore].
func (d *DB) RecordEvent(ctx context.Context, ev store.AccountEvent) error {
	if ev.At.IsZero() {
		ev.At = d.now()
	}
	return d.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO account_events
			(account_id, at, kind, code, from_state, to_state, until, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			ev.AccountID, tv(ev.At), string(ev.Kind), string(ev.Code), string(ev.From), string(ev.To),
			tv(ev.Until), ev.Message)
		if err != nil {
			return constraint("record event", err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM account_events WHERE account_id = $1 AND id < (
			SELECT id FROM account_events WHERE account_id = $1 ORDER BY id DESC OFFSET $2 - 1 LIMIT 1)`,
			ev.AccountID, store.EventsPerAccount)
		if err != nil {
			return fmt.Errorf("postgres: trim events: %w", err)
		}
		return nil
	})
}

// ListEvents implements [store.AccountStore].
func (d *DB) ListEvents(ctx context.Context, accountID string, limit int) ([]store.AccountEvent, error) {
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	rows, err := d.pool.Query(ctx, `SELECT id, account_id, at, kind, code, from_state, to_state, until, message
		FROM account_events WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, lim)
	if err != nil {
		return nil, fmt.Errorf("postgres: list events: %w", err)
	}
	defer rows.Close()
	var out []store.AccountEvent
	for rows.Next() {
		var (
			ev                   store.AccountEvent
			kind, code, from, to string
		)
		if err := rows.Scan(&ev.ID, &ev.AccountID, timeCol{&ev.At}, &kind, &code, &from, &to, timeCol{&ev.Until}, &ev.Message); err != nil {
			return nil, fmt.Errorf("postgres: list events: %w", err)
		}
		ev.Kind, ev.Code = store.EventKind(kind), gw.Code(code)
		ev.From, ev.To = store.AccountState(from), store.AccountState(to)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list events: %w", err)
	}
	return out, nil
}

// DeleteAccount implements [store.AccountStore].
func (d *DB) DeleteAccount(ctx context.Context, id string) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: delete account: %w", err)
	}
	return affected(tag, "delete account "+id)
}
