package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sparkgw/spark/internal/store"
)

var _ store.IdentityStore = (*DB)(nil)

const userColumns = `id, email, name, role, password_hash, builtin, disabled, created_at, last_login_at`

func scanUser(s pgx.Row) (store.User, error) {
	var (
		u    store.User
		role string
	)
	if err := s.Scan(&u.ID, &u.Email, &u.Name, &role, &u.PasswordHash, &u.Builtin, &u.Disabled,
		timeCol{&u.CreatedAt}, timeCol{&u.LastLoginAt}); err != nil {
		return store.User{}, err
	}
	u.Role = store.Role(role)
	return u, nil
}

// queryUsers returns the users after where (a WHERE clause or a locking
// clause), oldest first.
func (d *DB) queryUsers(ctx context.Context, q querier, tail string, args ...any) ([]store.User, error) {
	rows, err := q.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY seq `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return out, nil
}

func (d *DB) oneUser(ctx context.Context, where string, args ...any) (store.User, error) {
	u, err := scanUser(d.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, args...))
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
	_, err = d.pool.Exec(ctx, `INSERT INTO users (id, email, email_key, name, role, password_hash, builtin, disabled, created_at, last_login_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		u.ID, u.Email, store.EmailKey(u.Email), u.Name, string(u.Role), u.PasswordHash, u.Builtin, u.Disabled, tv(u.CreatedAt), tv(u.LastLoginAt))
	if err != nil {
		return store.User{}, constraint("create user", err)
	}
	return u, nil
}

// GetUser implements [store.IdentityStore].
func (d *DB) GetUser(ctx context.Context, id string) (store.User, error) {
	return d.oneUser(ctx, `id = $1`, id)
}

// FindUserByEmail implements [store.IdentityStore].
func (d *DB) FindUserByEmail(ctx context.Context, email string) (store.User, error) {
	return d.oneUser(ctx, `email_key = $1`, store.EmailKey(email))
}

// ListUsers implements [store.IdentityStore].
func (d *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	return d.queryUsers(ctx, d.pool, "")
}

// BuiltinAdmin implements [store.IdentityStore].
func (d *DB) BuiltinAdmin(ctx context.Context) (store.User, error) {
	return d.oneUser(ctx, `builtin`)
}

// UpdateUser implements [store.IdentityStore]. Every user row is locked
// (in creation order, so concurrent updates queue rather than deadlock)
// while the last-admin rule is checked and the change written: two
// replicas demoting the last two admins at once cannot both pass it.
func (d *DB) UpdateUser(ctx context.Context, id string, p store.UserPatch) (store.User, error) {
	var next store.User
	err := d.tx(ctx, func(tx pgx.Tx) error {
		all, err := d.queryUsers(ctx, tx, "FOR NO KEY UPDATE")
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
			return fmt.Errorf("postgres: update user: %w", store.ErrNotFound)
		}
		if next, err = store.ApplyUserPatch(all[i], p, all); err != nil {
			return fmt.Errorf("postgres: update user: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET name = $1, role = $2, disabled = $3, password_hash = $4 WHERE id = $5`,
			next.Name, string(next.Role), next.Disabled, next.PasswordHash, id); err != nil {
			return constraint("update user", err)
		}
		if next.Disabled {
			if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, d.now(), id); err != nil {
				return fmt.Errorf("postgres: revoke sessions: %w", err)
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
	tag, err := d.pool.Exec(ctx, `UPDATE users SET last_login_at = $1 WHERE id = $2`, tv(at), id)
	if err != nil {
		return fmt.Errorf("postgres: touch user: %w", err)
	}
	return affected(tag, "touch user")
}

const sessionColumns = `id, hash, user_id, created_at, expires_at, revoked_at`

// CreateSession implements [store.IdentityStore].
func (d *DB) CreateSession(ctx context.Context, s store.Session) (store.Session, error) {
	s, err := store.PrepareSession(s, d.now())
	if err != nil {
		return store.Session{}, err
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, NULL)`,
		s.ID, s.Hash, s.UserID, tv(s.CreatedAt), tv(s.ExpiresAt))
	if err != nil {
		return store.Session{}, constraint("create session", err)
	}
	return s, nil
}

// FindSession implements [store.IdentityStore].
func (d *DB) FindSession(ctx context.Context, hash []byte) (store.Session, error) {
	var s store.Session
	err := d.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE hash = $1`, hash).
		Scan(&s.ID, &s.Hash, &s.UserID, timeCol{&s.CreatedAt}, timeCol{&s.ExpiresAt}, timeCol{&s.RevokedAt})
	if err != nil {
		return store.Session{}, constraint("find session", err)
	}
	return s, nil
}

// ExtendSession implements [store.IdentityStore].
func (d *DB) ExtendSession(ctx context.Context, id string, expiresAt time.Time) error {
	tag, err := d.pool.Exec(ctx, `UPDATE sessions SET expires_at = $1 WHERE id = $2 AND revoked_at IS NULL`, norm(expiresAt), id)
	if err != nil {
		return fmt.Errorf("postgres: extend session: %w", err)
	}
	return affected(tag, "extend session")
}

// RevokeSession implements [store.IdentityStore].
func (d *DB) RevokeSession(ctx context.Context, id string) error {
	tag, err := d.pool.Exec(ctx, `UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, d.now(), id)
	if err != nil {
		return fmt.Errorf("postgres: revoke session: %w", err)
	}
	return affected(tag, "revoke session")
}

// PruneIdentity implements [store.IdentityStore].
func (d *DB) PruneIdentity(ctx context.Context, before time.Time) (int, error) {
	cut := norm(before)
	var n int64
	err := d.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		for _, q := range []string{
			`DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1`,
			`DELETE FROM setup_tokens WHERE expires_at < $1`,
		} {
			tag, err := tx.Exec(ctx, q, cut)
			if err != nil {
				return fmt.Errorf("postgres: prune identity: %w", err)
			}
			n += tag.RowsAffected()
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
	_, err := d.pool.Exec(ctx, `INSERT INTO setup_tokens (hash, expires_at) VALUES ($1, $2)
		ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at`, hash, norm(expiresAt))
	if err != nil {
		return fmt.Errorf("postgres: put setup token: %w", err)
	}
	return nil
}

// UseSetupToken implements [store.IdentityStore]: one DELETE decides, so
// two concurrent uses, on one replica or two, cannot both succeed.
func (d *DB) UseSetupToken(ctx context.Context, hash []byte, now time.Time) error {
	var exp time.Time
	err := d.pool.QueryRow(ctx, `DELETE FROM setup_tokens WHERE hash = $1 RETURNING expires_at`, hash).Scan(timeCol{&exp})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !now.Before(exp)) {
		return fmt.Errorf("postgres: setup token: %w", store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: use setup token: %w", err)
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
	err = d.pool.QueryRow(ctx, `INSERT INTO audit_log (at, actor_id, actor_email, action, target_type, target_id, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		tv(e.Time), e.ActorID, e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.IP).Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("postgres: append audit: %w", err)
	}
	return e, nil
}

// ListAudit implements [store.IdentityStore].
func (d *DB) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	before := q.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := d.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2`, before, q.AuditLimit())
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		if err := rows.Scan(&e.ID, timeCol{&e.Time}, &e.ActorID, &e.ActorEmail, &e.Action, &e.TargetType, &e.TargetID, &e.IP); err != nil {
			return nil, fmt.Errorf("postgres: list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return out, nil
}
