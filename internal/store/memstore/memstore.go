// Package memstore is an in-memory [store.Store]: the same contract as the
// SQLite engine (it passes storetest) with nothing written anywhere. It
// serves tests of packages that need a store and `spark demo`.
package memstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
)

// Store is an in-memory [store.Store]. It is safe for concurrent use; Close
// does nothing, so a Store may be "reopened" by using it again.
type Store struct {
	sealer *secret.Sealer
	rules  store.Rules

	mu       sync.Mutex
	seq      int64
	accounts map[string]*account
	events   map[string][]store.AccountEvent // oldest first
	eventSeq int64
	ident    identity // users, sessions, setup tokens, audit (identity.go)
	keys     []store.APIKey
	bindings map[string]store.Binding
	resps    map[string]store.StoredResponse
	files    map[string]*storedFile
	usage    usage

	// Now returns the current time; tests may replace it before use.
	Now func() time.Time
}

type account struct {
	store.Account
	seq int64
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.IdentityStore = (*Store)(nil)
)

// New returns an empty store. sealer keys the cookie fingerprints; nil
// uses a random key for the life of the store. opts give the providers'
// credential rules (store.WithRules).
func New(sealer *secret.Sealer, opts ...store.Option) *Store {
	if sealer == nil {
		k := make([]byte, secret.KeySize)
		rand.Read(k)
		sealer, _ = secret.NewSealer(k)
	}
	return &Store{
		sealer:   sealer,
		rules:    store.Apply(opts...).Rules,
		accounts: map[string]*account{},
		events:   map[string][]store.AccountEvent{},
		bindings: map[string]store.Binding{},
		resps:    map[string]store.StoredResponse{},
		files:    map[string]*storedFile{},
		Now:      time.Now,
	}
}

// Close implements io.Closer; it keeps the data.
func (s *Store) Close() error { return nil }

func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func norm(t time.Time) time.Time { return store.NormTime(t) }

func notFound(what string) error { return fmt.Errorf("memstore: %s: %w", what, store.ErrNotFound) }

func conflict(what string) error { return fmt.Errorf("memstore: %s: %w", what, store.ErrConflict) }

func (s *Store) prepare(a store.Account) (store.Account, error) {
	return store.PrepareAccount(s.sealer, s.rules, a, s.now())
}

// unique returns ErrConflict when a's id, identity or label is taken by
// another account. Callers hold mu.
func (s *Store) unique(a store.Account, self string) error {
	for id, o := range s.accounts {
		if id == self {
			continue
		}
		switch {
		case id == a.ID:
			return conflict("account id")
		case o.Provider == a.Provider && o.CookieFingerprint == a.CookieFingerprint:
			return conflict("account cookie identity")
		case o.Provider == a.Provider && o.Label == a.Label:
			return conflict("account label")
		}
	}
	return nil
}

func (s *Store) insert(a store.Account) error {
	if err := s.unique(a, ""); err != nil {
		return err
	}
	s.seq++
	s.accounts[a.ID] = &account{Account: a, seq: s.seq}
	return nil
}

// CreateAccount implements [store.AccountStore].
func (s *Store) CreateAccount(_ context.Context, a store.Account) (store.Account, error) {
	a, err := s.prepare(a)
	if err != nil {
		return store.Account{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.insert(a); err != nil {
		return store.Account{}, err
	}
	return a, nil
}

// ImportAccount implements [store.AccountStore].
func (s *Store) ImportAccount(_ context.Context, a store.Account) (store.Account, store.ImportResult, error) {
	labelGiven := strings.TrimSpace(a.Label) != ""
	a, err := s.prepare(a)
	if err != nil {
		return store.Account{}, "", err
	}
	a.ImportHash = store.ImportHash(s.sealer, a.Cookie)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cur := range s.accounts {
		if cur.Provider != a.Provider || cur.CookieFingerprint != a.CookieFingerprint {
			continue
		}
		in := a
		if !labelGiven {
			in.Label = ""
		}
		next, changed := store.MergeImport(cur.Account, in, s.now())
		if !changed {
			return cur.Account, store.ImportUnchanged, nil
		}
		if err := s.unique(next, cur.ID); err != nil {
			return store.Account{}, "", err
		}
		cur.Account = next
		return next, store.ImportUpdated, nil
	}
	if err := s.insert(a); err != nil {
		return store.Account{}, "", err
	}
	return a, store.ImportCreated, nil
}

// GetAccount implements [store.AccountStore].
func (s *Store) GetAccount(_ context.Context, id string) (store.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return store.Account{}, notFound("account " + id)
	}
	return a.Account, nil
}

// ListAccounts implements [store.AccountStore].
func (s *Store) ListAccounts(_ context.Context, f store.AccountFilter) ([]store.Account, error) {
	s.mu.Lock()
	list := make([]*account, 0, len(s.accounts))
	for _, a := range s.accounts {
		if f.Provider == "" || a.Provider == f.Provider {
			list = append(list, a)
		}
	}
	slices.SortFunc(list, func(a, b *account) int {
		if c := strings.Compare(a.Provider, b.Provider); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	out := make([]store.Account, len(list))
	for i, a := range list {
		out[i] = a.Account
	}
	s.mu.Unlock()
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// UpdateCookie implements [store.AccountStore].
func (s *Store) UpdateCookie(_ context.Context, id, cookie string) (store.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.accounts[id]
	if !ok {
		return store.Account{}, notFound("account " + id)
	}
	next, changed, err := store.WithCookie(s.sealer, s.rules, cur.Account, cookie, s.now())
	if err != nil || !changed {
		return cur.Account, err
	}
	if err := s.unique(next, id); err != nil {
		return store.Account{}, err
	}
	cur.Account = next
	return next, nil
}

// UpdateAccountInfo implements [store.AccountStore].
func (s *Store) UpdateAccountInfo(_ context.Context, id string, p store.AccountPatch) (store.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.accounts[id]
	if !ok {
		return store.Account{}, notFound("account " + id)
	}
	next, err := store.PatchAccount(cur.Account, p, s.now())
	if err != nil {
		return store.Account{}, err
	}
	if err := s.unique(next, id); err != nil {
		return store.Account{}, err
	}
	cur.Account = next
	return next, nil
}

// UpdateAccountState implements [store.AccountStore].
func (s *Store) UpdateAccountState(_ context.Context, id string, u store.StateUpdate) error {
	if !u.State.Valid() {
		return fmt.Errorf("%w: account state %q", store.ErrInvalid, u.State)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return notFound("account " + id)
	}
	a.State, a.RestUntil, a.DisabledReason, a.Failures = u.State, norm(u.RestUntil), u.DisabledReason, u.Failures
	a.LastError = u.LastError
	a.LastError.At = norm(a.LastError.At)
	a.UpdatedAt = s.now()
	return nil
}

// RecordEvent implements [store.AccountStore].
func (s *Store) RecordEvent(_ context.Context, ev store.AccountEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[ev.AccountID]; !ok {
		return notFound("account " + ev.AccountID)
	}
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	ev.At, ev.Until = norm(ev.At), norm(ev.Until)
	s.eventSeq++
	ev.ID = s.eventSeq
	evs := append(s.events[ev.AccountID], ev)
	if n := len(evs) - store.EventsPerAccount; n > 0 {
		evs = slices.Delete(evs, 0, n)
	}
	s.events[ev.AccountID] = evs
	return nil
}

// ListEvents implements [store.AccountStore].
func (s *Store) ListEvents(_ context.Context, accountID string, limit int) ([]store.AccountEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := s.events[accountID]
	if limit <= 0 || limit > len(evs) {
		limit = len(evs)
	}
	var out []store.AccountEvent
	for i := len(evs) - 1; i >= len(evs)-limit; i-- {
		out = append(out, evs[i])
	}
	return out, nil
}

// DeleteAccount implements [store.AccountStore].
func (s *Store) DeleteAccount(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[id]; !ok {
		return notFound("account " + id)
	}
	delete(s.accounts, id)
	delete(s.events, id)
	for k, b := range s.bindings {
		if b.AccountID == id {
			delete(s.bindings, k)
		}
	}
	return nil
}

// CreateAPIKey implements [store.APIKeyStore].
func (s *Store) CreateAPIKey(_ context.Context, k store.APIKey) (store.APIKey, error) {
	k, err := store.PrepareAPIKey(k, s.now())
	if err != nil {
		return store.APIKey{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.keys {
		if o.ID == k.ID || bytes.Equal(o.Hash, k.Hash) {
			return store.APIKey{}, conflict("API key")
		}
	}
	s.keys = append(s.keys, k)
	return k, nil
}

// FindAPIKeyByHash implements [store.APIKeyStore].
func (s *Store) FindAPIKeyByHash(_ context.Context, hash []byte) (store.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if bytes.Equal(k.Hash, hash) {
			return cloneKey(k), nil
		}
	}
	return store.APIKey{}, notFound("API key")
}

// GetAPIKey implements [store.APIKeyStore].
func (s *Store) GetAPIKey(_ context.Context, id string) (store.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.ID == id {
			return cloneKey(k), nil
		}
	}
	return store.APIKey{}, notFound("API key")
}

// AddAPIKeyTokens implements [store.APIKeyStore].
func (s *Store) AddAPIKeyTokens(_ context.Context, id string, n int64) (int64, error) {
	if n < 0 {
		return 0, fmt.Errorf("%w: negative token count", store.ErrInvalid)
	}
	var total int64
	err := s.updateKey(id, func(k *store.APIKey) { k.TokensUsed += n; total = k.TokensUsed })
	return total, err
}

// cloneKey copies k's slices, so callers never share the store's.
func cloneKey(k store.APIKey) store.APIKey {
	k.Hash = bytes.Clone(k.Hash)
	k.Models = slices.Clone(k.Models)
	k.IPAllow = slices.Clone(k.IPAllow)
	return k
}

// ListAPIKeys implements [store.APIKeyStore].
func (s *Store) ListAPIKeys(_ context.Context) ([]store.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.APIKey
	for _, k := range s.keys {
		out = append(out, cloneKey(k))
	}
	return out, nil
}

func (s *Store) updateKey(id string, fn func(*store.APIKey)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].ID == id {
			fn(&s.keys[i])
			return nil
		}
	}
	return notFound("API key " + id)
}

// TouchAPIKey implements [store.APIKeyStore].
func (s *Store) TouchAPIKey(_ context.Context, id string, at time.Time) error {
	return s.updateKey(id, func(k *store.APIKey) { k.LastUsedAt = norm(at) })
}

// DisableAPIKey implements [store.APIKeyStore].
func (s *Store) DisableAPIKey(_ context.Context, id string) error {
	return s.updateKey(id, func(k *store.APIKey) { k.Disabled = true })
}

// GetBinding implements [store.BindingStore].
func (s *Store) GetBinding(_ context.Context, key string) (store.Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bindings[key]
	if !ok {
		return store.Binding{}, notFound("binding")
	}
	return b, nil
}

// PutBinding implements [store.BindingStore].
func (s *Store) PutBinding(_ context.Context, b store.Binding) (store.Binding, error) {
	if b.Key == "" {
		return store.Binding{}, fmt.Errorf("%w: empty binding key", store.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.AccountID != "" {
		if _, ok := s.accounts[b.AccountID]; !ok {
			return store.Binding{}, notFound("account " + b.AccountID)
		}
	}
	b.UpdatedAt = s.now()
	s.bindings[b.Key] = b
	return b, nil
}

// DeleteBinding implements [store.BindingStore].
func (s *Store) DeleteBinding(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bindings, key)
	return nil
}
