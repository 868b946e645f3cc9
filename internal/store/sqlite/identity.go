package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

var _ store.IdentityStore = (*DB)(nil)

const userColumns = `id, email, name, role, password_hash, builtin, disabled, created_at, last_login_at`

func scanUser(s scanner) (store.User, error) {
	var (
		u              store.User
		created, login int64
	)
	if err := s.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash, &u.Builtin, &u.Disabled, &created, &login); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.LastLoginAt = fromMicros(created), fromMicros(login)
	return u, nil
}

func (d *DB) queryUsers(ctx context.Context, q sqlQuerier, where string, args ...any) ([]store.User, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+userColumns+` FROM users `+where+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return out, nil
}

// sqlQuerier is what *sql.DB and *sql.Tx share.
type sqlQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (d *DB) oneUser(ctx context.Context, where string, args ...any) (store.User, error) {
	u, err := scanUser(d.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, args...))
	if err != nil {
		return store.User{}, constraint("get user", err)
	}
	return u, nil
}

// onePrepared is oneUser for a prepared statement's row.
func (d *DB) onePrepared(row *sql.Row) (store.User, error) {
	u, err := scanUser(row)
	if err != nil {
		return store.User{}, constraint("get user", err)
	}
	return u, nil
}

// CreateUser implements [store.IdentityStore].
func (d *DB) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	u, err := store.PrepareUser(u, d.now())
	if err != nil {
		return store.User{}, err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO users (id, email, email_key, name, role, password_hash, builtin, disabled, created_at, last_login_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, store.EmailKey(u.Email), u.Name, u.Role, u.PasswordHash, u.Builtin, u.Disabled, micros(u.CreatedAt), micros(u.LastLoginAt))
	if err != nil {
		return store.User{}, constraint("create user", err)
	}
	return u, nil
}

// GetUser implements [store.IdentityStore].
func (d *DB) GetUser(ctx context.Context, id string) (store.User, error) {
	return d.onePrepared(d.userByID.QueryRowContext(ctx, id))
}

// FindUserByEmail implements [store.IdentityStore].
func (d *DB) FindUserByEmail(ctx context.Context, email string) (store.User, error) {
	return d.oneUser(ctx, `email_key = ?`, store.EmailKey(email))
}

// ListUsers implements [store.IdentityStore].
func (d *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	return d.queryUsers(ctx, d.db, "")
}

// BuiltinAdmin implements [store.IdentityStore].
func (d *DB) BuiltinAdmin(ctx context.Context) (store.User, error) {
	return d.onePrepared(d.builtinAdmin.QueryRowContext(ctx))
}

// UpdateUser implements [store.IdentityStore]. The last-admin rule is
// checked inside the write transaction, so two concurrent demotions cannot
// both pass it.
func (d *DB) UpdateUser(ctx context.Context, id string, p store.UserPatch) (store.User, error) {
	var next store.User
	err := d.tx(ctx, func(tx *sql.Tx) error {
		all, err := d.queryUsers(ctx, tx, "")
		if err != nil {
			return err
		}
		i := -1
		for j, u := range all {
			if u.ID == id {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("sqlite: update user: %w", store.ErrNotFound)
		}
		if next, err = store.ApplyUserPatch(all[i], p, all); err != nil {
			return fmt.Errorf("sqlite: update user: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET name = ?, role = ?, disabled = ?, password_hash = ? WHERE id = ?`,
			next.Name, next.Role, next.Disabled, next.PasswordHash, id); err != nil {
			return constraint("update user", err)
		}
		if next.Disabled {
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`, micros(d.now()), id); err != nil {
				return fmt.Errorf("sqlite: revoke sessions: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return store.User{}, err
	}
	return next, nil
}

// TouchUserLogin implements [store.IdentityStore].
func (d *DB) TouchUserLogin(ctx context.Context, id string, at time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE users SET last_login_at = ? WHERE id = ?`, micros(norm(at)), id)
	if err != nil {
		return fmt.Errorf("sqlite: touch user: %w", err)
	}
	return affected(res, "touch user")
}

const sessionColumns = `id, hash, user_id, created_at, expires_at, revoked_at`

// CreateSession implements [store.IdentityStore].
func (d *DB) CreateSession(ctx context.Context, s store.Session) (store.Session, error) {
	s, err := store.PrepareSession(s, d.now())
	if err != nil {
		return store.Session{}, err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, 0)`,
		s.ID, s.Hash, s.UserID, micros(s.CreatedAt), micros(s.ExpiresAt))
	if err != nil {
		return store.Session{}, constraint("create session", err)
	}
	return s, nil
}

// FindSession implements [store.IdentityStore].
func (d *DB) FindSession(ctx context.Context, hash []byte) (store.Session, error) {
	var (
		s                         store.Session
		created, expires, revoked int64
	)
	err := d.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE hash = ?`, hash).
		Scan(&s.ID, &s.Hash, &s.UserID, &created, &expires, &revoked)
	if err != nil {
		return store.Session{}, constraint("find session", err)
	}
	s.CreatedAt, s.ExpiresAt, s.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return s, nil
}

// ExtendSession implements [store.IdentityStore].
func (d *DB) ExtendSession(ctx context.Context, id string, expiresAt time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE sessions SET expires_at = ? WHERE id = ? AND revoked_at = 0`, micros(norm(expiresAt)), id)
	if err != nil {
		return fmt.Errorf("sqlite: extend session: %w", err)
	}
	return affected(res, "extend session")
}

// RevokeSession implements [store.IdentityStore].
func (d *DB) RevokeSession(ctx context.Context, id string) error {
	res, err := d.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`, micros(d.now()), id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke session: %w", err)
	}
	return affected(res, "revoke session")
}

// PruneIdentity implements [store.IdentityStore].
func (d *DB) PruneIdentity(ctx context.Context, before time.Time) (int, error) {
	cut := micros(norm(before))
	var n int64
	err := d.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM sessions WHERE expires_at < ? OR (revoked_at <> 0 AND revoked_at < ?)`, []any{cut, cut}},
			{`DELETE FROM setup_tokens WHERE expires_at < ?`, []any{cut}},
		} {
			res, err := tx.ExecContext(ctx, q.sql, q.args...)
			if err != nil {
				return fmt.Errorf("sqlite: prune identity: %w", err)
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	})
	return int(n), err
}

// PutSetupToken implements [store.IdentityStore].
func (d *DB) PutSetupToken(ctx context.Context, hash []byte, expiresAt time.Time) error {
	if len(hash) != 32 {
		return fmt.Errorf("%w: a setup token needs a 32-byte hash", store.ErrInvalid)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO setup_tokens (hash, expires_at) VALUES (?, ?)
		ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at`, hash, micros(norm(expiresAt)))
	if err != nil {
		return fmt.Errorf("sqlite: put setup token: %w", err)
	}
	return nil
}

// UseSetupToken implements [store.IdentityStore]: one DELETE decides, so
// two concurrent uses cannot both succeed.
func (d *DB) UseSetupToken(ctx context.Context, hash []byte, now time.Time) error {
	var exp int64
	err := d.db.QueryRowContext(ctx, `DELETE FROM setup_tokens WHERE hash = ? RETURNING expires_at`, hash).Scan(&exp)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !now.Before(fromMicros(exp))) {
		return fmt.Errorf("sqlite: setup token: %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: use setup token: %w", err)
	}
	return nil
}

const auditColumns = `id, at, actor_id, actor_email, action, target_type, target_id, ip`

// AppendAudit implements [store.IdentityStore].
func (d *DB) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	e, err := store.PrepareAudit(e, d.now())
	if err != nil {
		return store.AuditEntry{}, err
	}
	err = d.db.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor_id, actor_email, action, target_type, target_id, ip)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		micros(e.Time), e.ActorID, e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.IP).Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("sqlite: append audit: %w", err)
	}
	return e, nil
}

// ListAudit implements [store.IdentityStore].
func (d *DB) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	before := q.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?`, before, q.AuditLimit())
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var (
			e  store.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.ActorEmail, &e.Action, &e.TargetType, &e.TargetID, &e.IP); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		e.Time = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}
