package store

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// ErrLastAdmin means a change would leave no enabled administrator. It
// wraps ErrConflict.
var ErrLastAdmin = fmt.Errorf("%w: the last enabled admin cannot be demoted or disabled", ErrConflict)

// Role is what a dashboard user may do.
type Role string

// The roles.
const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleUser }

// User is a person who signs in to the dashboard.
type User struct {
	ID    string // usr_...
	Email string // as given; unique case-insensitively
	Name  string
	Role  Role
	// PasswordHash is the encoded password hash (package identity); empty
	// when the user signs in only through OIDC.
	PasswordHash string
	// Builtin marks the built-in admin: the first admin, who owns the
	// environment's accounts and API_SECRET keys. At most one user has it.
	Builtin     bool
	Disabled    bool
	CreatedAt   time.Time
	LastLoginAt time.Time // zero until the first sign-in
}

// OwnerIDs are the owner ids (Account.OwnerID, APIKey.OwnerID,
// UsageRecord.OwnerID) of the records that belong to u: their id, and for
// the built-in admin also "" (the environment's accounts and keys).
func (u User) OwnerIDs() []string {
	if u.Builtin {
		return []string{"", u.ID}
	}
	return []string{u.ID}
}

// UserPatch is a partial update of a user; nil fields are kept.
type UserPatch struct {
	Name         *string
	Role         *Role
	Disabled     *bool
	PasswordHash *string
}

// Session is a dashboard session as stored: the SHA-256 hash of the
// cookie value, never the value.
type Session struct {
	ID        string // ses_...: a handle for logs and revocation, not the cookie
	Hash      []byte // SHA-256 of the cookie value (32 bytes)
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero while the session is live
}

// AuditEntry is one line of the audit trail.
type AuditEntry struct {
	ID         int64 // assigned by the store, increasing
	Time       time.Time
	ActorID    string
	ActorEmail string
	Action     string // login, login.failed, user.update, setup, ...
	TargetType string // user, account, key, ...
	TargetID   string
	IP         string
}

// AuditQuery selects audit entries: newest first, at most Limit (<= 0:
// 100), only those with ID < Before when Before > 0 (the cursor).
type AuditQuery struct {
	Limit  int
	Before int64
}

// IdentityStore keeps dashboard users, their sessions, the one-time setup
// tokens and the audit trail. Implementations are safe for concurrent use.
type IdentityStore interface {
	// CreateUser adds u; the store sets ID (when empty) and CreatedAt,
	// trims Email and defaults Role to user. Returns ErrInvalid for an
	// email that is not an address or an unknown role, ErrConflict when
	// the email (case-insensitively), the id or the built-in flag is
	// taken.
	CreateUser(ctx context.Context, u User) (User, error)
	// GetUser returns the user with id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// FindUserByEmail returns the user with email (case-insensitively),
	// or ErrNotFound.
	FindUserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns every user, oldest first.
	ListUsers(ctx context.Context) ([]User, error)
	// BuiltinAdmin returns the built-in admin, or ErrNotFound before one
	// exists.
	BuiltinAdmin(ctx context.Context) (User, error)
	// UpdateUser applies p and returns the user as stored. Disabling a
	// user revokes their live sessions in the same step. Returns
	// ErrNotFound, ErrInvalid (unknown role) or ErrLastAdmin when the
	// change would leave no enabled admin.
	UpdateUser(ctx context.Context, id string, p UserPatch) (User, error)
	// TouchUserLogin sets the user's LastLoginAt, or returns ErrNotFound.
	TouchUserLogin(ctx context.Context, id string, at time.Time) error

	// CreateSession stores s (ID set when empty, CreatedAt stamped).
	// Returns ErrInvalid when Hash is not 32 bytes or ExpiresAt is zero,
	// ErrNotFound when the user does not exist, ErrConflict for a taken
	// hash or id.
	CreateSession(ctx context.Context, s Session) (Session, error)
	// FindSession returns the session whose hash is hash, expired or
	// revoked alike, or ErrNotFound.
	FindSession(ctx context.Context, hash []byte) (Session, error)
	// ExtendSession moves a live session's expiry to expiresAt, or
	// returns ErrNotFound (also when it is revoked).
	ExtendSession(ctx context.Context, id string, expiresAt time.Time) error
	// RevokeSession revokes the session with id (revoking twice is not an
	// error), or returns ErrNotFound.
	RevokeSession(ctx context.Context, id string) error

	// PruneIdentity removes sessions that expired or were revoked before
	// before and setup tokens that expired before it, and returns how
	// many records it removed.
	PruneIdentity(ctx context.Context, before time.Time) (int, error)

	// PutSetupToken stores the hash of a one-time setup token valid until
	// expiresAt. Returns ErrInvalid when hash is not 32 bytes.
	PutSetupToken(ctx context.Context, hash []byte, expiresAt time.Time) error
	// UseSetupToken consumes the token with hash: it succeeds once, when
	// the token exists and now is before its expiry, and the token is
	// gone afterwards either way. Returns ErrNotFound otherwise.
	UseSetupToken(ctx context.Context, hash []byte, now time.Time) error

	// AppendAudit adds e to the trail (ID assigned; Time defaults to now)
	// and returns it as stored. Returns ErrInvalid without an Action.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// ListAudit returns the entries q selects, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

// DefaultAuditLimit is the page size of ListAudit when q.Limit <= 0, and
// MaxAuditLimit its largest.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditLimit is q's effective page size.
func (q AuditQuery) AuditLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultAuditLimit
	case q.Limit > MaxAuditLimit:
		return MaxAuditLimit
	}
	return q.Limit
}

// EmailKey is the form under which emails are unique: trimmed and
// lower-cased.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// PrepareUser validates and completes a new user following the CreateUser
// contract. Errors wrap ErrInvalid.
func PrepareUser(u User, now time.Time) (User, error) {
	u.Email = strings.TrimSpace(u.Email)
	if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email || len(u.Email) > 254 {
		return u, fmt.Errorf("%w: user email is not an address", ErrInvalid)
	}
	u.Name = strings.TrimSpace(u.Name)
	if u.Role == "" {
		u.Role = RoleUser
	}
	if !u.Role.Valid() {
		return u, fmt.Errorf("%w: user role %q", ErrInvalid, u.Role)
	}
	if u.ID == "" {
		u.ID = NewID("usr_")
	}
	u.CreatedAt = NormTime(now)
	u.LastLoginAt = NormTime(u.LastLoginAt)
	return u, nil
}

// ApplyUserPatch returns u with p applied, following the UpdateUser
// contract; others are every other user, for the last-admin rule. Errors
// wrap ErrInvalid or are ErrLastAdmin.
func ApplyUserPatch(u User, p UserPatch, others []User) (User, error) {
	next := u
	if p.Name != nil {
		next.Name = strings.TrimSpace(*p.Name)
	}
	if p.Role != nil {
		if !p.Role.Valid() {
			return u, fmt.Errorf("%w: user role %q", ErrInvalid, *p.Role)
		}
		next.Role = *p.Role
	}
	if p.Disabled != nil {
		next.Disabled = *p.Disabled
	}
	if p.PasswordHash != nil {
		next.PasswordHash = *p.PasswordHash
	}
	activeAdmin := func(x User) bool { return x.Role == RoleAdmin && !x.Disabled }
	if activeAdmin(u) && !activeAdmin(next) {
		for _, o := range others {
			if o.ID != u.ID && activeAdmin(o) {
				return next, nil
			}
		}
		return u, ErrLastAdmin
	}
	return next, nil
}

// PrepareSession validates s and stamps it following CreateSession.
func PrepareSession(s Session, now time.Time) (Session, error) {
	if len(s.Hash) != 32 || s.ExpiresAt.IsZero() || s.UserID == "" {
		return s, fmt.Errorf("%w: a session needs a 32-byte hash, a user and an expiry", ErrInvalid)
	}
	if s.ID == "" {
		s.ID = NewID("ses_")
	}
	s.Hash = append([]byte(nil), s.Hash...)
	s.CreatedAt, s.ExpiresAt, s.RevokedAt = NormTime(now), NormTime(s.ExpiresAt), time.Time{}
	return s, nil
}

// PrepareAudit validates e and stamps it following AppendAudit.
func PrepareAudit(e AuditEntry, now time.Time) (AuditEntry, error) {
	if strings.TrimSpace(e.Action) == "" {
		return e, errors.Join(ErrInvalid, errors.New("store: audit entry without an action"))
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = NormTime(e.Time)
	return e, nil
}
