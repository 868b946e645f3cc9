package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// identity is the in-memory state of store.IdentityStore, guarded by
// Store.mu.
type identity struct {
	users    []store.User // creation order
	sessions []store.Session
	setup    map[string]time.Time // hex of the hash -> expiry
	audit    []store.AuditEntry   // oldest first
	auditSeq int64
}

func (s *Store) userIndex(id string) int {
	return slices.IndexFunc(s.ident.users, func(u store.User) bool { return u.ID == id })
}

// CreateUser implements [store.IdentityStore].
func (s *Store) CreateUser(_ context.Context, u store.User) (store.User, error) {
	u, err := store.PrepareUser(u, s.now())
	if err != nil {
		return store.User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.ident.users {
		if o.ID == u.ID || store.EmailKey(o.Email) == store.EmailKey(u.Email) || (u.Builtin && o.Builtin) {
			return store.User{}, conflict("user")
		}
	}
	s.ident.users = append(s.ident.users, u)
	return u, nil
}

// GetUser implements [store.IdentityStore].
func (s *Store) GetUser(_ context.Context, id string) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.userIndex(id); i >= 0 {
		return s.ident.users[i], nil
	}
	return store.User{}, notFound("user")
}

// FindUserByEmail implements [store.IdentityStore].
func (s *Store) FindUserByEmail(_ context.Context, email string) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := store.EmailKey(email)
	for _, u := range s.ident.users {
		if store.EmailKey(u.Email) == key {
			return u, nil
		}
	}
	return store.User{}, notFound("user")
}

// ListUsers implements [store.IdentityStore].
func (s *Store) ListUsers(context.Context) ([]store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ident.users), nil
}

// BuiltinAdmin implements [store.IdentityStore].
func (s *Store) BuiltinAdmin(context.Context) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.ident.users {
		if u.Builtin {
			return u, nil
		}
	}
	return store.User{}, notFound("built-in admin")
}

// UpdateUser implements [store.IdentityStore].
func (s *Store) UpdateUser(_ context.Context, id string, p store.UserPatch) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.userIndex(id)
	if i < 0 {
		return store.User{}, notFound("user")
	}
	next, err := store.ApplyUserPatch(s.ident.users[i], p, s.ident.users)
	if err != nil {
		return store.User{}, fmt.Errorf("memstore: update user: %w", err)
	}
	s.ident.users[i] = next
	if next.Disabled {
		now := s.now()
		for j := range s.ident.sessions {
			if ss := &s.ident.sessions[j]; ss.UserID == id && ss.RevokedAt.IsZero() {
				ss.RevokedAt = now
			}
		}
	}
	return next, nil
}

// TouchUserLogin implements [store.IdentityStore].
func (s *Store) TouchUserLogin(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.userIndex(id)
	if i < 0 {
		return notFound("user")
	}
	s.ident.users[i].LastLoginAt = norm(at)
	return nil
}

// CreateSession implements [store.IdentityStore].
func (s *Store) CreateSession(_ context.Context, ss store.Session) (store.Session, error) {
	ss, err := store.PrepareSession(ss, s.now())
	if err != nil {
		return store.Session{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userIndex(ss.UserID) < 0 {
		return store.Session{}, notFound("session user")
	}
	for _, o := range s.ident.sessions {
		if o.ID == ss.ID || bytes.Equal(o.Hash, ss.Hash) {
			return store.Session{}, conflict("session")
		}
	}
	s.ident.sessions = append(s.ident.sessions, ss)
	return cloneSession(ss), nil
}

func cloneSession(ss store.Session) store.Session {
	ss.Hash = bytes.Clone(ss.Hash)
	return ss
}

// FindSession implements [store.IdentityStore].
func (s *Store) FindSession(_ context.Context, hash []byte) (store.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.ident.sessions {
		if bytes.Equal(o.Hash, hash) {
			return cloneSession(o), nil
		}
	}
	return store.Session{}, notFound("session")
}

func (s *Store) sessionIndex(id string) int {
	return slices.IndexFunc(s.ident.sessions, func(o store.Session) bool { return o.ID == id })
}

// ExtendSession implements [store.IdentityStore].
func (s *Store) ExtendSession(_ context.Context, id string, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.sessionIndex(id)
	if i < 0 || !s.ident.sessions[i].RevokedAt.IsZero() {
		return notFound("session")
	}
	s.ident.sessions[i].ExpiresAt = norm(expiresAt)
	return nil
}

// RevokeSession implements [store.IdentityStore].
func (s *Store) RevokeSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.sessionIndex(id)
	if i < 0 {
		return notFound("session")
	}
	if s.ident.sessions[i].RevokedAt.IsZero() {
		s.ident.sessions[i].RevokedAt = s.now()
	}
	return nil
}

// PruneIdentity implements [store.IdentityStore].
func (s *Store) PruneIdentity(_ context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.ident.sessions)
	s.ident.sessions = slices.DeleteFunc(s.ident.sessions, func(o store.Session) bool {
		return o.ExpiresAt.Before(before) || (!o.RevokedAt.IsZero() && o.RevokedAt.Before(before))
	})
	n -= len(s.ident.sessions)
	for h, exp := range s.ident.setup {
		if exp.Before(before) {
			delete(s.ident.setup, h)
			n++
		}
	}
	return n, nil
}

// PutSetupToken implements [store.IdentityStore].
func (s *Store) PutSetupToken(_ context.Context, hash []byte, expiresAt time.Time) error {
	if len(hash) != 32 {
		return fmt.Errorf("%w: a setup token needs a 32-byte hash", store.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ident.setup == nil {
		s.ident.setup = map[string]time.Time{}
	}
	s.ident.setup[string(hash)] = norm(expiresAt)
	return nil
}

// UseSetupToken implements [store.IdentityStore].
func (s *Store) UseSetupToken(_ context.Context, hash []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.ident.setup[string(hash)]
	delete(s.ident.setup, string(hash))
	if !ok || !now.Before(exp) {
		return notFound("setup token")
	}
	return nil
}

// AppendAudit implements [store.IdentityStore].
func (s *Store) AppendAudit(_ context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	e, err := store.PrepareAudit(e, s.now())
	if err != nil {
		return store.AuditEntry{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ident.auditSeq++
	e.ID = s.ident.auditSeq
	s.ident.audit = append(s.ident.audit, e)
	return e, nil
}

// ListAudit implements [store.IdentityStore].
func (s *Store) ListAudit(_ context.Context, q store.AuditQuery) ([]store.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.AuditEntry
	for i := len(s.ident.audit) - 1; i >= 0 && len(out) < q.AuditLimit(); i-- {
		if e := s.ident.audit[i]; q.Before <= 0 || e.ID < q.Before {
			out = append(out, e)
		}
	}
	return out, nil
}
