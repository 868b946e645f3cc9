package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

func hash32(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func ptr[T any](v T) *T { return &v }

func testUsers(t *testing.T, db DB) {
	s := open(t, db)
	ctx := t.Context()
	before := time.Now()
	a := must[store.User](t)(s.CreateUser(ctx, store.User{Email: " Admin@Example.com ", Name: "Ada", Role: store.RoleAdmin, PasswordHash: "h1", Builtin: true}))
	if !strings.HasPrefix(a.ID, "usr_") || a.Email != "Admin@Example.com" || a.Role != store.RoleAdmin || !near(a.CreatedAt, before, time.Now()) {
		t.Fatalf("created %+v", a)
	}
	u := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "bob@example.com"}))
	if u.Role != store.RoleUser || u.Builtin {
		t.Fatalf("default role: %+v", u)
	}
	_, err := s.CreateUser(ctx, store.User{Email: "ADMIN@example.COM"})
	wantErr(t, "same email other case", err, store.ErrConflict)
	_, err = s.CreateUser(ctx, store.User{Email: "carl@example.com", Role: store.RoleAdmin, Builtin: true})
	wantErr(t, "second built-in admin", err, store.ErrConflict)
	for _, bad := range []store.User{{Email: "not an email"}, {Email: ""}, {Email: "x@example.com", Role: "root"}} {
		_, err = s.CreateUser(ctx, bad)
		wantErr(t, "invalid "+bad.Email, err, store.ErrInvalid)
	}

	got := must[store.User](t)(s.FindUserByEmail(ctx, "admin@EXAMPLE.com"))
	if got != a {
		t.Fatalf("FindUserByEmail = %+v, want %+v", got, a)
	}
	_, err = s.FindUserByEmail(ctx, "nobody@example.com")
	wantErr(t, "unknown email", err, store.ErrNotFound)
	if got := must[store.User](t)(s.GetUser(ctx, u.ID)); got != u {
		t.Fatalf("GetUser = %+v, want %+v", got, u)
	}
	_, err = s.GetUser(ctx, "usr_missing")
	wantErr(t, "unknown id", err, store.ErrNotFound)
	if got := must[store.User](t)(s.BuiltinAdmin(ctx)); got.ID != a.ID {
		t.Fatalf("BuiltinAdmin = %s, want %s", got.ID, a.ID)
	}
	if list := must[[]store.User](t)(s.ListUsers(ctx)); len(list) != 2 || list[0].ID != a.ID || list[1].ID != u.ID {
		t.Fatalf("ListUsers = %+v", list)
	}

	at := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)
	ok(t, s.TouchUserLogin(ctx, u.ID, at))
	wantErr(t, "touch unknown", s.TouchUserLogin(ctx, "usr_missing", at), store.ErrNotFound)
	up := must[store.User](t)(s.UpdateUser(ctx, u.ID, store.UserPatch{Role: ptr(store.RoleAdmin), Name: ptr("Bob"), PasswordHash: ptr("h2")}))
	if up.Role != store.RoleAdmin || up.Name != "Bob" || up.PasswordHash != "h2" || !up.LastLoginAt.Equal(at) {
		t.Fatalf("updated %+v", up)
	}
	if got := must[store.User](t)(s.GetUser(ctx, u.ID)); got != up {
		t.Fatalf("after update GetUser = %+v, want %+v", got, up)
	}
	_, err = s.UpdateUser(ctx, u.ID, store.UserPatch{Role: ptr(store.Role("root"))})
	wantErr(t, "bad role", err, store.ErrInvalid)
	_, err = s.UpdateUser(ctx, "usr_missing", store.UserPatch{Name: ptr("x")})
	wantErr(t, "update unknown", err, store.ErrNotFound)
	if _, err := s.BuiltinAdmin(ctx); err != nil {
		t.Fatal(err)
	}
}

func testUsersLastAdmin(t *testing.T, db DB) {
	s := open(t, db)
	ctx := t.Context()
	_, err := s.BuiltinAdmin(ctx)
	wantErr(t, "no built-in admin yet", err, store.ErrNotFound)
	a := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "a@example.com", Role: store.RoleAdmin}))
	b := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "b@example.com", Role: store.RoleAdmin}))
	must[store.User](t)(s.UpdateUser(ctx, b.ID, store.UserPatch{Disabled: ptr(true)}))
	_, err = s.UpdateUser(ctx, a.ID, store.UserPatch{Role: ptr(store.RoleUser)})
	wantErr(t, "demote the last enabled admin", err, store.ErrLastAdmin)
	_, err = s.UpdateUser(ctx, a.ID, store.UserPatch{Disabled: ptr(true)})
	wantErr(t, "disable the last enabled admin", err, store.ErrLastAdmin)
	if got := must[store.User](t)(s.GetUser(ctx, a.ID)); got.Role != store.RoleAdmin || got.Disabled {
		t.Fatalf("refused change was applied: %+v", got)
	}
	must[store.User](t)(s.UpdateUser(ctx, b.ID, store.UserPatch{Disabled: ptr(false)}))
	if got := must[store.User](t)(s.UpdateUser(ctx, a.ID, store.UserPatch{Role: ptr(store.RoleUser)})); got.Role != store.RoleUser {
		t.Fatalf("demotion with another admin left: %+v", got)
	}
}

func testSessions(t *testing.T, db DB) {
	s := open(t, db)
	ctx := t.Context()
	u := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "u@example.com"}))
	other := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "o@example.com", Role: store.RoleAdmin}))
	exp := time.Now().Add(7 * 24 * time.Hour)
	ss := must[store.Session](t)(s.CreateSession(ctx, store.Session{Hash: hash32("one"), UserID: u.ID, ExpiresAt: exp}))
	if !strings.HasPrefix(ss.ID, "ses_") || !ss.ExpiresAt.Equal(store.NormTime(exp)) || !ss.RevokedAt.IsZero() {
		t.Fatalf("created %+v", ss)
	}
	_, err := s.CreateSession(ctx, store.Session{Hash: hash32("one"), UserID: u.ID, ExpiresAt: exp})
	wantErr(t, "same hash", err, store.ErrConflict)
	_, err = s.CreateSession(ctx, store.Session{Hash: []byte("short"), UserID: u.ID, ExpiresAt: exp})
	wantErr(t, "short hash", err, store.ErrInvalid)
	_, err = s.CreateSession(ctx, store.Session{Hash: hash32("x"), UserID: "usr_missing", ExpiresAt: exp})
	wantErr(t, "unknown user", err, store.ErrNotFound)
	got := must[store.Session](t)(s.FindSession(ctx, hash32("one")))
	if got.ID != ss.ID || got.UserID != u.ID || !bytes.Equal(got.Hash, hash32("one")) {
		t.Fatalf("FindSession = %+v", got)
	}
	_, err = s.FindSession(ctx, hash32("two"))
	wantErr(t, "unknown session", err, store.ErrNotFound)

	later := exp.Add(time.Hour)
	ok(t, s.ExtendSession(ctx, ss.ID, later))
	if got := must[store.Session](t)(s.FindSession(ctx, hash32("one"))); !got.ExpiresAt.Equal(store.NormTime(later)) {
		t.Fatalf("extended to %v, want %v", got.ExpiresAt, later)
	}
	ok(t, s.RevokeSession(ctx, ss.ID))
	ok(t, s.RevokeSession(ctx, ss.ID))
	if got := must[store.Session](t)(s.FindSession(ctx, hash32("one"))); got.RevokedAt.IsZero() {
		t.Fatal("revoked session has no RevokedAt")
	}
	wantErr(t, "extend revoked", s.ExtendSession(ctx, ss.ID, later), store.ErrNotFound)
	wantErr(t, "revoke unknown", s.RevokeSession(ctx, "ses_missing"), store.ErrNotFound)

	// Disabling a user revokes their live sessions, not others'.
	mine := must[store.Session](t)(s.CreateSession(ctx, store.Session{Hash: hash32("mine"), UserID: u.ID, ExpiresAt: exp}))
	theirs := must[store.Session](t)(s.CreateSession(ctx, store.Session{Hash: hash32("theirs"), UserID: other.ID, ExpiresAt: exp}))
	must[store.User](t)(s.UpdateUser(ctx, u.ID, store.UserPatch{Disabled: ptr(true)}))
	if got := must[store.Session](t)(s.FindSession(ctx, mine.Hash)); got.RevokedAt.IsZero() {
		t.Fatal("disabling the user left their session live")
	}
	if got := must[store.Session](t)(s.FindSession(ctx, theirs.Hash)); !got.RevokedAt.IsZero() {
		t.Fatal("disabling a user revoked another user's session")
	}
}

func testSetupTokens(t *testing.T, db DB) {
	s := open(t, db)
	ctx := t.Context()
	now := time.Now()
	wantErr(t, "short hash", s.PutSetupToken(ctx, []byte("x"), now.Add(time.Hour)), store.ErrInvalid)
	ok(t, s.PutSetupToken(ctx, hash32("tok"), now.Add(time.Hour)))
	wantErr(t, "unknown token", s.UseSetupToken(ctx, hash32("other"), now), store.ErrNotFound)
	ok(t, s.UseSetupToken(ctx, hash32("tok"), now))
	wantErr(t, "second use", s.UseSetupToken(ctx, hash32("tok"), now), store.ErrNotFound)

	ok(t, s.PutSetupToken(ctx, hash32("old"), now.Add(time.Hour)))
	wantErr(t, "expired token", s.UseSetupToken(ctx, hash32("old"), now.Add(time.Hour)), store.ErrNotFound)
	wantErr(t, "expired token is gone", s.UseSetupToken(ctx, hash32("old"), now), store.ErrNotFound)
}

func testAudit(t *testing.T, db DB) {
	s := open(t, db)
	ctx := t.Context()
	_, err := s.AppendAudit(ctx, store.AuditEntry{ActorID: "usr_1"})
	wantErr(t, "no action", err, store.ErrInvalid)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	first := must[store.AuditEntry](t)(s.AppendAudit(ctx, store.AuditEntry{Time: at, ActorID: "usr_1", ActorEmail: "a@example.com",
		Action: "login", TargetType: "user", TargetID: "usr_1", IP: "192.0.2.1"}))
	if first.ID <= 0 {
		t.Fatalf("no id: %+v", first)
	}
	for i := range 4 {
		must[store.AuditEntry](t)(s.AppendAudit(ctx, store.AuditEntry{Action: "user.update", TargetID: string(rune('a' + i))}))
	}
	all := must[[]store.AuditEntry](t)(s.ListAudit(ctx, store.AuditQuery{}))
	if len(all) != 5 || all[4] != first || all[0].TargetID != "d" {
		t.Fatalf("ListAudit = %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("not newest first: %+v", all)
		}
	}
	page := must[[]store.AuditEntry](t)(s.ListAudit(ctx, store.AuditQuery{Limit: 2}))
	next := must[[]store.AuditEntry](t)(s.ListAudit(ctx, store.AuditQuery{Limit: 2, Before: page[1].ID}))
	if len(page) != 2 || len(next) != 2 || next[0].ID != all[2].ID || next[1].ID != all[3].ID {
		t.Fatalf("pages %+v then %+v", page, next)
	}
}

func testIdentityPersists(t *testing.T, db DB) {
	s := open(t, db)
	ctx := t.Context()
	u := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "p@example.com", Role: store.RoleAdmin, Builtin: true, PasswordHash: "hash"}))
	ss := must[store.Session](t)(s.CreateSession(ctx, store.Session{Hash: hash32("p"), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}))
	must[store.AuditEntry](t)(s.AppendAudit(ctx, store.AuditEntry{Action: "setup", ActorID: u.ID}))
	s = reopen(t, db, s)
	if got := must[store.User](t)(s.BuiltinAdmin(ctx)); got != u {
		t.Fatalf("after reopen %+v, want %+v", got, u)
	}
	if got := must[store.Session](t)(s.FindSession(ctx, hash32("p"))); got.ID != ss.ID || !got.ExpiresAt.Equal(ss.ExpiresAt) {
		t.Fatalf("session after reopen %+v, want %+v", got, ss)
	}
	if got := must[[]store.AuditEntry](t)(s.ListAudit(ctx, store.AuditQuery{})); len(got) != 1 || got[0].Action != "setup" {
		t.Fatalf("audit after reopen %+v", got)
	}
}

func testIdentityConcurrent(t *testing.T, db DB) {
	s := open(t, db)
	ctx := t.Context()
	now := time.Now()
	ok(t, s.PutSetupToken(ctx, hash32("race"), now.Add(time.Hour)))
	a := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "a@example.com", Role: store.RoleAdmin}))
	b := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "b@example.com", Role: store.RoleAdmin}))
	var (
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		used, demoted, bad int
	)
	for i := range 8 {
		wg.Go(func() {
			err := s.UseSetupToken(ctx, hash32("race"), now)
			id := a.ID
			if i%2 == 1 {
				id = b.ID
			}
			_, derr := s.UpdateUser(ctx, id, store.UserPatch{Role: ptr(store.RoleUser)})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				used++
			}
			switch {
			case derr == nil:
				demoted++
			case !errors.Is(derr, store.ErrLastAdmin):
				bad++
			}
		})
	}
	wg.Wait()
	if used != 1 || bad != 0 {
		t.Fatalf("setup token used %d times (want 1); %d unexpected errors", used, bad)
	}
	users := must[[]store.User](t)(s.ListUsers(ctx))
	admins := 0
	for _, u := range users {
		if u.Role == store.RoleAdmin {
			admins++
		}
	}
	if admins != 1 {
		t.Fatalf("%d admins left after concurrent demotions (%d succeeded), want 1", admins, demoted)
	}
}

func testIdentityPrune(t *testing.T, db DB) {
	s := open(t, db)
	ctx := t.Context()
	u := must[store.User](t)(s.CreateUser(ctx, store.User{Email: "p@example.com"}))
	now := time.Now()
	mk := func(name string, exp time.Time) store.Session {
		return must[store.Session](t)(s.CreateSession(ctx, store.Session{Hash: hash32(name), UserID: u.ID, ExpiresAt: exp}))
	}
	mk("expired", now.Add(-time.Minute))
	mk("live", now.Add(time.Hour))
	revoked := mk("revoked", now.Add(time.Hour))
	ok(t, s.RevokeSession(ctx, revoked.ID))
	ok(t, s.PutSetupToken(ctx, hash32("old-token"), now.Add(-time.Minute)))
	ok(t, s.PutSetupToken(ctx, hash32("new-token"), now.Add(time.Hour)))

	n := must[int](t)(s.PruneIdentity(ctx, now.Add(time.Second)))
	if n != 3 {
		t.Fatalf("pruned %d records, want 3 (expired and revoked sessions, expired token)", n)
	}
	for name, want := range map[string]error{"expired": store.ErrNotFound, "revoked": store.ErrNotFound, "live": nil} {
		if _, err := s.FindSession(ctx, hash32(name)); !errors.Is(err, want) {
			t.Errorf("session %s after prune: %v, want %v", name, err, want)
		}
	}
	ok(t, s.UseSetupToken(ctx, hash32("new-token"), now))
}
