// Package storetest is the behaviour suite every store engine must pass, so
// that the embedded SQLite store, the PostgreSQL store and the in-memory
// store keep exactly the same contract. An engine's test calls
//
//	storetest.Run(t, func(t *testing.T) storetest.DB { ... })
//
// with a factory that creates a new, empty database per subtest, whose
// stores apply [Rules].
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/credential"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/store"
)

// The suite's two made-up providers. sess is identified by its sid cookie
// and accepts a bare value as the sid; jar is identified by PSID.
const (
	providerSess = "sess"
	providerJar  = "jar"
)

// Rules are the credential rules every engine under test must be opened
// with (store.WithRules(storetest.Rules)).
var Rules = store.Rules{
	providerSess: credential.Cookie{Name: "sid", Bare: true},
	providerJar:  credential.Cookie{Name: "PSID"},
}

// DB is one empty database under test.
type DB interface {
	// Open opens a store over this database. The suite closes each store
	// it opens and may open the database again afterwards to check that
	// data persisted.
	Open(t *testing.T) store.Store
	// AtRest returns every byte the engine keeps at rest for this
	// database (data file, WAL, journals), for the encryption-at-rest
	// checks, or nil when the engine keeps nothing at rest (in-memory
	// engines; the checks are then skipped).
	AtRest(t *testing.T) []byte
}

// Run runs the whole suite against the engine that newDB creates.
func Run(t *testing.T, newDB func(t *testing.T) DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db DB)
	}{
		{"CreateAccount", testCreateAccount},
		{"CreateAccountInvalid", testCreateAccountInvalid},
		{"CreateAccountConflict", testCreateAccountConflict},
		{"ImportAccount", testImportAccount},
		{"ImportAccountConcurrent", testImportAccountConcurrent},
		{"ImportCredentials", testImportCredentials},
		{"GetAccountNotFound", testGetAccountNotFound},
		{"ListAccounts", testListAccounts},
		{"UpdateCookie", testUpdateCookie},
		{"UpdateCookiePersists", testUpdateCookiePersists},
		{"ReimportKeepsRotatedCookie", testReimportKeepsRotatedCookie},
		{"UpdateAccountState", testUpdateAccountState},
		{"Events", testEvents},
		{"EventsBounded", testEventsBounded},
		{"DeleteAccount", testDeleteAccount},
		{"EncryptionAtRest", testEncryptionAtRest},
		{"APIKeys", testAPIKeys},
		{"APIKeysStoredHashed", testAPIKeysStoredHashed},
		{"Bindings", testBindings},
		{"Responses", testResponses},
		{"ResponsesOwnerScoped", testResponsesOwnerScoped},
		{"ResponsesPersist", testResponsesPersist},
		{"ResponsesPrune", testResponsesPrune},
		{"ResponsesSealedAtRest", testResponsesSealedAtRest},
		{"Users", testUsers},
		{"UsersLastAdmin", testUsersLastAdmin},
		{"Sessions", testSessions},
		{"SetupTokens", testSetupTokens},
		{"Audit", testAudit},
		{"IdentityPersists", testIdentityPersists},
		{"IdentityConcurrent", testIdentityConcurrent},
		{"IdentityPrune", testIdentityPrune},
	}
	tests = append(tests, usageTests...)
	tests = append(tests, ownershipTests...)
	for _, tt := range append(tests, fileTests...) {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newDB(t)) })
	}
}

// open opens db and closes the store when the test ends.
func open(t *testing.T, db DB) store.Store {
	t.Helper()
	s := db.Open(t)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { s.Close() }) })
	return s
}

// reopen closes s and opens db again.
func reopen(t *testing.T, db DB, s store.Store) store.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return open(t, db)
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// near reports whether got lies in [before, after] give or take a
// millisecond (stores round times).
func near(got, before, after time.Time) bool {
	return !got.Before(before.Add(-time.Millisecond)) && !got.After(after.Add(time.Millisecond))
}

func bare(session string, extra ...string) string {
	return strings.Join(append([]string{"sid=" + session}, extra...), "; ")
}

func jar(psid, psidts string) string {
	return "PSID=" + psid + "; PSIDTS=" + psidts + "; NID=1"
}

func testCreateAccount(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	before := time.Now()
	a, err := s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s1", "x=1"), Proxy: "http://u:p@proxy:8080"})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.Label == "" || a.CookieFingerprint == "" {
		t.Fatalf("store did not fill ID/Label/CookieFingerprint: %v", a)
	}
	if a.Label != store.DefaultLabel("sess", a.CookieFingerprint) {
		t.Errorf("Label = %q, want the default", a.Label)
	}
	if a.State != store.StateActive || !a.RestUntil.IsZero() || a.Failures != 0 {
		t.Errorf("new account state %v until %v failures %d", a.State, a.RestUntil, a.Failures)
	}
	if !near(a.CreatedAt, before, after) || !a.UpdatedAt.Equal(a.CreatedAt) {
		t.Errorf("CreatedAt %v UpdatedAt %v not in [%v, %v]", a.CreatedAt, a.UpdatedAt, before, after)
	}
	if strings.Contains(a.CookieFingerprint, "s1") {
		t.Error("fingerprint contains the session id")
	}
	got := must[store.Account](t)(s.GetAccount(ctx, a.ID))
	if got.Cookie != bare("s1", "x=1") || got.Proxy != "http://u:p@proxy:8080" || got.Provider != "sess" ||
		got.Label != a.Label || got.CookieFingerprint != a.CookieFingerprint || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("GetAccount = %#v, want %#v", got, a)
	}
	if got.Cookie != a.Cookie {
		t.Error("cookie did not round-trip")
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v %s", got, got, got, got), "s1") {
		t.Error("formatting an account reveals its cookie")
	}

	// A bare session id gets the sid= prefix (the sess rule); explicit
	// fields are kept.
	b, err := s.CreateAccount(ctx, store.Account{ID: "acct_fixed", Provider: "sess", Label: "main", Cookie: " bare123 ",
		State: store.StateResting, RestUntil: before.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "acct_fixed" || b.Label != "main" || b.Cookie != "sid=bare123" || b.State != store.StateResting ||
		!near(b.RestUntil, before.Add(time.Hour), before.Add(time.Hour)) {
		t.Errorf("explicit fields not kept: %#v cookie ok=%v", b, b.Cookie == "sid=bare123")
	}
	g := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "jar", Cookie: jar("g1", "ts1")}))
	if g.Cookie != jar("g1", "ts1") {
		t.Error("jar cookie altered")
	}
}

func testCreateAccountInvalid(t *testing.T, db DB) {
	s := open(t, db)
	for _, tt := range []struct {
		name string
		a    store.Account
	}{
		{"NoProvider", store.Account{Cookie: bare("secretA")}},
		{"NoCookie", store.Account{Provider: "sess"}},
		{"BlankCookie", store.Account{Provider: "sess", Cookie: "   "}},
		{"BareEmptySession", store.Account{Provider: "sess", Cookie: "sid=; other=secretA"}},
		{"JarWithoutPSID", store.Account{Provider: "jar", Cookie: "PSIDTS=secretA"}},
		{"BadState", store.Account{Provider: "sess", Cookie: bare("secretA"), State: "sleeping"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAccount(t.Context(), tt.a)
			wantErr(t, "CreateAccount", err, store.ErrInvalid)
			if strings.Contains(err.Error(), "secretA") {
				t.Errorf("error %q reveals the cookie", err)
			}
		})
	}
	if n := len(must[[]store.Account](t)(s.ListAccounts(t.Context(), store.AccountFilter{}))); n != 0 {
		t.Fatalf("%d accounts stored after invalid creates", n)
	}
}

func testCreateAccountConflict(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{ID: "acct_1", Provider: "sess", Label: "one", Cookie: bare("s1")}))
	for _, tt := range []struct {
		name string
		a    store.Account
	}{
		{"SameIdentity", store.Account{Provider: "sess", Cookie: bare("s1", "other=2")}},
		{"SameLabel", store.Account{Provider: "sess", Label: "one", Cookie: bare("s2")}},
		{"SameID", store.Account{ID: "acct_1", Provider: "sess", Cookie: bare("s3")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAccount(ctx, tt.a)
			wantErr(t, "CreateAccount", err, store.ErrConflict)
		})
	}
	// The same identity or label under another provider is another account.
	must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "other", Label: "one", Cookie: bare("s1")}))
	if got := must[store.Account](t)(s.GetAccount(ctx, a.ID)); got.Cookie != bare("s1") {
		t.Error("a failed create changed the existing account")
	}
}

func testImportAccount(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	imp := func(a store.Account, want store.ImportResult) store.Account {
		t.Helper()
		got, res, err := s.ImportAccount(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if res != want {
			t.Fatalf("ImportAccount result %q, want %q", res, want)
		}
		return got
	}
	count := func(want int) {
		t.Helper()
		if n := len(must[[]store.Account](t)(s.ListAccounts(ctx, store.AccountFilter{}))); n != want {
			t.Fatalf("%d accounts, want %d", n, want)
		}
	}

	first := imp(store.Account{Provider: "sess", Cookie: bare("s1", "a=1")}, store.ImportCreated)
	again := imp(store.Account{Provider: "sess", Cookie: bare("s1", "a=1")}, store.ImportUnchanged)
	if again.ID != first.ID || !again.UpdatedAt.Equal(first.UpdatedAt) {
		t.Fatal("re-import of the same cookie changed the account")
	}
	count(1)

	// The same login with other non-identity parts updates the account.
	upd := imp(store.Account{Provider: "sess", Cookie: bare("s1", "a=2")}, store.ImportUpdated)
	if upd.ID != first.ID || upd.Cookie != bare("s1", "a=2") || upd.CookieFingerprint != first.CookieFingerprint {
		t.Fatalf("update changed identity: %#v", upd)
	}
	if got := must[store.Account](t)(s.GetAccount(ctx, first.ID)); got.Cookie != bare("s1", "a=2") {
		t.Fatal("updated cookie not stored")
	}
	count(1)
	// A bare session id is the same login.
	if b := imp(store.Account{Provider: "sess", Cookie: "s1"}, store.ImportUpdated); b.Cookie != bare("s1") {
		t.Fatalf("bare session id stored as %q", b.Cookie)
	}
	imp(store.Account{Provider: "sess", Cookie: bare("s1", "a=2")}, store.ImportUpdated)
	count(1)

	// Another login is another account; so is the same value for another provider.
	imp(store.Account{Provider: "sess", Cookie: bare("s2")}, store.ImportCreated)
	imp(store.Account{Provider: "jar", Cookie: jar("p1", "t1")}, store.ImportCreated)
	g := imp(store.Account{Provider: "jar", Cookie: jar("p1", "t2")}, store.ImportUpdated)
	count(3)

	// Label and proxy: given values replace, empty ones keep.
	renamed := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Label: "custom", Cookie: bare("s3")}))
	kept := imp(store.Account{Provider: "sess", Cookie: bare("s3")}, store.ImportUnchanged)
	if kept.Label != "custom" {
		t.Errorf("import without a label renamed the account to %q", kept.Label)
	}
	relabeled := imp(store.Account{Provider: "sess", Label: "new", Proxy: "socks5://h:1", Cookie: bare("s3")}, store.ImportUpdated)
	if relabeled.ID != renamed.ID || relabeled.Label != "new" || relabeled.Proxy != "socks5://h:1" {
		t.Errorf("label/proxy not applied: %#v", relabeled)
	}

	// A disabled (logged-out) account: the same cookie keeps it disabled,
	// a new cookie for the same login brings it back.
	err := s.UpdateAccountState(ctx, g.ID, store.StateUpdate{State: store.StateDisabled, DisabledReason: "logged out",
		LastError: store.ErrorInfo{Code: gw.CodeLoggedOut, Message: "not login"}, Failures: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := imp(store.Account{Provider: "jar", Cookie: jar("p1", "t2")}, store.ImportUnchanged); got.State != store.StateDisabled {
		t.Fatalf("re-importing the same logged-out cookie changed state to %s", got.State)
	}
	back := imp(store.Account{Provider: "jar", Cookie: jar("p1", "t3")}, store.ImportUpdated)
	if back.State != store.StateActive || back.DisabledReason != "" || back.Failures != 0 {
		t.Fatalf("new cookie did not re-enable: %v reason %q failures %d", back.State, back.DisabledReason, back.Failures)
	}
	if stored := must[store.Account](t)(s.GetAccount(ctx, g.ID)); stored.State != store.StateActive {
		t.Fatal("re-enable not stored")
	}

	_, _, err = s.ImportAccount(ctx, store.Account{Provider: "jar", Cookie: "NID=1"})
	wantErr(t, "ImportAccount without identity", err, store.ErrInvalid)
}

func testImportAccountConcurrent(t *testing.T, db DB) {
	s := open(t, db)
	var wg sync.WaitGroup
	var created sync.Map
	for i := range 16 {
		wg.Go(func() {
			a, res, err := s.ImportAccount(context.Background(), store.Account{Provider: "sess", Cookie: bare("same", fmt.Sprintf("n=%d", i%2))})
			if err != nil {
				t.Error(err)
				return
			}
			if res == store.ImportCreated {
				created.Store(a.ID, true)
			}
		})
	}
	wg.Wait()
	list := must[[]store.Account](t)(s.ListAccounts(t.Context(), store.AccountFilter{}))
	n := 0
	created.Range(func(any, any) bool { n++; return true })
	if len(list) != 1 || n != 1 {
		t.Fatalf("concurrent imports of one login: %d accounts, %d created results", len(list), n)
	}
}

func testImportCredentials(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	sum, err := store.ImportCredentials(ctx, s, "sess", "SESS_COOKIE", []string{bare("s1"), "", " s2 ", "sid=; leakme=1", bare("s1")})
	if err == nil || !strings.Contains(err.Error(), "entry 4") || strings.Contains(err.Error(), "leakme") {
		t.Fatalf("ImportCredentials error = %v, want entry 4 reported without its content", err)
	}
	if sum.Created != 2 || sum.Unchanged != 1 || sum.Updated != 0 || len(sum.Accounts) != 3 {
		t.Fatalf("summary %+v", sum)
	}
	sum, err = store.ImportCredentials(ctx, s, "sess", "SESS_COOKIE", []string{bare("s1"), bare("s2")})
	if err != nil || sum.Created != 0 || sum.Unchanged != 2 {
		t.Fatalf("second import: %+v, %v", sum, err)
	}

	// A per-account proxy after the cookie; a bad one is refused by position.
	sum, err = store.ImportCredentials(ctx, s, "sess", "SESS_COOKIE", []string{bare("s3") + "|proxy=socks5://127.0.0.1:1080", bare("s4") + "|proxy=ftp://nope"})
	if err == nil || !strings.Contains(err.Error(), "entry 2") || sum.Created != 1 {
		t.Fatalf("proxy import: %+v, %v", sum, err)
	}
	if p := sum.Accounts[0]; p.Proxy != "socks5://127.0.0.1:1080" || strings.Contains(p.Cookie, "proxy") {
		t.Fatalf("proxy %q cookie has suffix=%v", p.Proxy, strings.Contains(p.Cookie, "proxy"))
	}
}

func testGetAccountNotFound(t *testing.T, db DB) {
	s := open(t, db)
	_, err := s.GetAccount(t.Context(), "acct_missing")
	wantErr(t, "GetAccount", err, store.ErrNotFound)
}

func testListAccounts(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	if got := must[[]store.Account](t)(s.ListAccounts(ctx, store.AccountFilter{})); len(got) != 0 {
		t.Fatalf("empty store lists %d accounts", len(got))
	}
	var ids []string
	for _, a := range []store.Account{
		{Provider: "jar", Label: "g1", Cookie: jar("p1", "t")},
		{Provider: "sess", Label: "z", Cookie: bare("s1")},
		{Provider: "sess", Label: "a", Cookie: bare("s2")},
		{Provider: "jar", Label: "g2", Cookie: jar("p2", "t")},
	} {
		ids = append(ids, must[store.Account](t)(s.CreateAccount(ctx, a)).ID)
	}
	labels := func(list []store.Account) []string {
		var out []string
		for _, a := range list {
			out = append(out, a.Label)
		}
		return out
	}
	all := must[[]store.Account](t)(s.ListAccounts(ctx, store.AccountFilter{}))
	if got, want := labels(all), []string{"g1", "g2", "z", "a"}; !slices.Equal(got, want) {
		t.Errorf("ListAccounts order %v, want %v (provider, then creation)", got, want)
	}
	gsOnly := must[[]store.Account](t)(s.ListAccounts(ctx, store.AccountFilter{Provider: "sess"}))
	if got, want := labels(gsOnly), []string{"z", "a"}; !slices.Equal(got, want) {
		t.Errorf("filtered list %v, want %v", got, want)
	}
	if gsOnly[0].Cookie != bare("s1") {
		t.Error("listed account lacks its cookie")
	}
	if got := must[[]store.Account](t)(s.ListAccounts(ctx, store.AccountFilter{Provider: "none"})); len(got) != 0 {
		t.Errorf("unknown provider lists %d", len(got))
	}
}

func testUpdateCookie(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "jar", Cookie: jar("p1", "t1")}))
	other := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "jar", Cookie: jar("p2", "t1")}))

	got, err := s.UpdateCookie(ctx, a.ID, jar("p1", "t2"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.Cookie != jar("p1", "t2") || got.CookieFingerprint != a.CookieFingerprint ||
		got.UpdatedAt.Before(a.UpdatedAt) || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("UpdateCookie = %#v", got)
	}
	same := must[store.Account](t)(s.UpdateCookie(ctx, a.ID, jar("p1", "t2")))
	if !same.UpdatedAt.Equal(got.UpdatedAt) {
		t.Error("setting the same cookie counted as a change")
	}

	// A resting account keeps resting; a disabled one comes back.
	until := time.Now().Add(time.Hour).UTC()
	ok(t, s.UpdateAccountState(ctx, a.ID, store.StateUpdate{State: store.StateResting, RestUntil: until, Failures: 2}))
	r := must[store.Account](t)(s.UpdateCookie(ctx, a.ID, jar("p1", "t3")))
	if r.State != store.StateResting || r.Failures != 2 || !near(r.RestUntil, until, until) {
		t.Errorf("resting account after cookie update: %v until %v failures %d", r.State, r.RestUntil, r.Failures)
	}
	ok(t, s.UpdateAccountState(ctx, a.ID, store.StateUpdate{State: store.StateDisabled,
		DisabledReason: "logged out", LastError: store.ErrorInfo{Code: gw.CodeLoggedOut, Message: "not login"}, Failures: 1}))
	d := must[store.Account](t)(s.UpdateCookie(ctx, a.ID, jar("p1", "t4")))
	if d.State != store.StateActive || d.DisabledReason != "" || d.Failures != 0 || !d.RestUntil.IsZero() {
		t.Errorf("disabled account after cookie update: %v reason %q failures %d", d.State, d.DisabledReason, d.Failures)
	}
	if d.LastError.Code != gw.CodeLoggedOut {
		t.Error("cookie update erased the last error (history)")
	}
	if got := must[store.Account](t)(s.GetAccount(ctx, a.ID)); got.State != store.StateActive || got.Cookie != jar("p1", "t4") {
		t.Error("re-enable not stored")
	}

	// A new login for the account: the fingerprint follows the cookie.
	moved := must[store.Account](t)(s.UpdateCookie(ctx, a.ID, jar("p9", "t1")))
	if moved.CookieFingerprint == a.CookieFingerprint {
		t.Error("fingerprint did not follow a new identity")
	}
	if _, res, _ := s.ImportAccount(ctx, store.Account{Provider: "jar", Cookie: jar("p9", "t1")}); res != store.ImportUnchanged {
		t.Errorf("import after identity change: %s, want unchanged", res)
	}

	_, err = s.UpdateCookie(ctx, a.ID, jar("p2", "t9"))
	wantErr(t, "UpdateCookie to another account's identity", err, store.ErrConflict)
	_, err = s.UpdateCookie(ctx, a.ID, "NID=2")
	wantErr(t, "UpdateCookie without identity", err, store.ErrInvalid)
	_, err = s.UpdateCookie(ctx, a.ID, "")
	wantErr(t, "UpdateCookie empty", err, store.ErrInvalid)
	_, err = s.UpdateCookie(ctx, "acct_missing", jar("p3", "t"))
	wantErr(t, "UpdateCookie missing", err, store.ErrNotFound)
	if got := must[store.Account](t)(s.GetAccount(ctx, other.ID)); got.Cookie != jar("p2", "t1") {
		t.Error("failed update touched another account")
	}
}

func testUpdateCookiePersists(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "jar", Cookie: jar("p1", "t1"), Proxy: "http://x:y@h:1"}))
	must[store.Account](t)(s.UpdateCookie(ctx, a.ID, jar("p1", "rotated")))
	ok(t, s.RecordEvent(ctx, store.AccountEvent{AccountID: a.ID, Kind: store.EventCookie}))
	s = reopen(t, db, s)
	got := must[store.Account](t)(s.GetAccount(ctx, a.ID))
	if got.Cookie != jar("p1", "rotated") || got.Proxy != "http://x:y@h:1" {
		t.Fatalf("after reopen: cookie ok=%v proxy ok=%v", got.Cookie == jar("p1", "rotated"), got.Proxy == "http://x:y@h:1")
	}
	if evs := must[[]store.AccountEvent](t)(s.ListEvents(ctx, a.ID, 0)); len(evs) != 1 {
		t.Fatalf("%d events after reopen", len(evs))
	}
}

// A restart re-imports the same environment cookie: the rotated cookie in
// the store must survive; a changed environment cookie replaces it.
func testReimportKeepsRotatedCookie(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	env := jar("p9", "from-env")
	a, _ := mustImport(t, s, "jar", env)
	must[store.Account](t)(s.UpdateCookie(ctx, a.ID, jar("p9", "rotated")))
	s = reopen(t, db, s)
	got, res := mustImport(t, s, "jar", env)
	if got.Cookie != jar("p9", "rotated") || res != store.ImportUnchanged {
		t.Fatalf("re-import of the same env cookie: result %s, rotated cookie kept=%v", res, got.Cookie == jar("p9", "rotated"))
	}
	if stored := must[store.Account](t)(s.GetAccount(ctx, a.ID)); stored.Cookie != jar("p9", "rotated") {
		t.Fatal("the stored cookie lost its rotation")
	}
	got, res = mustImport(t, s, "jar", jar("p9", "operator-new"))
	if got.Cookie != jar("p9", "operator-new") || res != store.ImportUpdated {
		t.Fatalf("a changed env cookie: result %s, replaced=%v", res, got.Cookie == jar("p9", "operator-new"))
	}
}

func mustImport(t *testing.T, s store.Store, provider, cookie string) (store.Account, store.ImportResult) {
	t.Helper()
	a, res, err := s.ImportAccount(t.Context(), store.Account{Provider: provider, Cookie: cookie})
	if err != nil {
		t.Fatal(err)
	}
	return a, res
}

func testUpdateAccountState(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s1")}))
	until := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	errAt := until.Add(-time.Minute)
	u := store.StateUpdate{State: store.StateResting, RestUntil: until, DisabledReason: "",
		LastError: store.ErrorInfo{Code: gw.CodeRateLimited, Message: "Rate limit exceeded cf1", At: errAt}, Failures: 3}
	if err := s.UpdateAccountState(ctx, a.ID, u); err != nil {
		t.Fatal(err)
	}
	got := must[store.Account](t)(s.GetAccount(ctx, a.ID))
	if got.State != store.StateResting || !near(got.RestUntil, until, until) || got.LastError.Code != gw.CodeRateLimited ||
		got.LastError.Message != "Rate limit exceeded cf1" || !near(got.LastError.At, errAt, errAt) || got.Failures != 3 {
		t.Fatalf("state not round-tripped: %#v %+v", got, got.LastError)
	}
	if got.RestUntil.Location() != time.UTC {
		t.Error("times not returned in UTC")
	}
	if got.Cookie != bare("s1") {
		t.Error("state update touched the cookie")
	}
	if got.EffectiveState(until.Add(-time.Second)) != store.StateResting || got.EffectiveState(until.Add(time.Second)) != store.StateActive {
		t.Error("EffectiveState does not end the rest at RestUntil")
	}
	if err := s.UpdateAccountState(ctx, a.ID, store.StateUpdate{State: store.StateActive}); err != nil {
		t.Fatal(err)
	}
	if got := must[store.Account](t)(s.GetAccount(ctx, a.ID)); !got.RestUntil.IsZero() || got.Failures != 0 || !got.LastError.IsZero() {
		t.Errorf("zero update left %v %d %+v", got.RestUntil, got.Failures, got.LastError)
	}
	wantErr(t, "bad state", s.UpdateAccountState(ctx, a.ID, store.StateUpdate{State: "zzz"}), store.ErrInvalid)
	wantErr(t, "missing", s.UpdateAccountState(ctx, "acct_missing", store.StateUpdate{State: store.StateActive}), store.ErrNotFound)
}

func testEvents(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s1")}))
	b := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s2")}))
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	evs := []store.AccountEvent{
		{AccountID: a.ID, At: at, Kind: store.EventFailure, Code: gw.CodeTransient, Message: "hiccup"},
		{AccountID: a.ID, At: at.Add(time.Second), Kind: store.EventState, Code: gw.CodeRateLimited,
			From: store.StateActive, To: store.StateResting, Until: at.Add(10 * time.Minute)},
		{AccountID: b.ID, Kind: store.EventFailure, Code: gw.CodeLoggedOut},
	}
	for _, ev := range evs {
		if err := s.RecordEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got := must[[]store.AccountEvent](t)(s.ListEvents(ctx, a.ID, 0))
	if len(got) != 2 {
		t.Fatalf("%d events, want 2", len(got))
	}
	if got[0].Kind != store.EventState || got[1].Kind != store.EventFailure || got[0].ID <= got[1].ID {
		t.Fatalf("events not newest first: %+v", got)
	}
	e := got[0]
	if e.AccountID != a.ID || e.Code != gw.CodeRateLimited || e.From != store.StateActive || e.To != store.StateResting ||
		!e.At.Equal(at.Add(time.Second)) || !e.Until.Equal(at.Add(10*time.Minute)) {
		t.Errorf("event not round-tripped: %+v", e)
	}
	if got[1].Message != "hiccup" {
		t.Errorf("message %q", got[1].Message)
	}
	if one := must[[]store.AccountEvent](t)(s.ListEvents(ctx, a.ID, 1)); len(one) != 1 || one[0].ID != e.ID {
		t.Errorf("limit 1 gave %+v", one)
	}
	if bev := must[[]store.AccountEvent](t)(s.ListEvents(ctx, b.ID, 0)); len(bev) != 1 || bev[0].At.IsZero() {
		t.Errorf("event without At: %+v", bev)
	}
	if none := must[[]store.AccountEvent](t)(s.ListEvents(ctx, "acct_missing", 0)); len(none) != 0 {
		t.Errorf("unknown account has %d events", len(none))
	}
	wantErr(t, "RecordEvent for a missing account",
		s.RecordEvent(ctx, store.AccountEvent{AccountID: "acct_missing", Kind: store.EventFailure}), store.ErrNotFound)
}

func testEventsBounded(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s1")}))
	b := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s2")}))
	ok(t, s.RecordEvent(ctx, store.AccountEvent{AccountID: b.ID, Kind: store.EventFailure, Message: "b"}))
	total := store.EventsPerAccount + 15
	for i := range total {
		ev := store.AccountEvent{AccountID: a.ID, Kind: store.EventFailure, Code: gw.CodeTransient, Message: fmt.Sprint(i)}
		if err := s.RecordEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got := must[[]store.AccountEvent](t)(s.ListEvents(ctx, a.ID, 0))
	if len(got) != store.EventsPerAccount {
		t.Fatalf("%d events kept, want %d", len(got), store.EventsPerAccount)
	}
	if got[0].Message != fmt.Sprint(total-1) || got[len(got)-1].Message != fmt.Sprint(total-store.EventsPerAccount) {
		t.Errorf("kept events %s..%s, want the newest", got[len(got)-1].Message, got[0].Message)
	}
	if bev := must[[]store.AccountEvent](t)(s.ListEvents(ctx, b.ID, 0)); len(bev) != 1 {
		t.Error("trimming one account's events touched another's")
	}
}

func testDeleteAccount(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s1")}))
	b := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s2")}))
	ok(t, s.RecordEvent(ctx, store.AccountEvent{AccountID: a.ID, Kind: store.EventFailure}))
	must[store.Binding](t)(s.PutBinding(ctx, store.Binding{Key: "sess/a/gpt", AccountID: a.ID, Value: "chat1"}))
	must[store.Binding](t)(s.PutBinding(ctx, store.Binding{Key: "sess/b/gpt", AccountID: b.ID, Value: "chat2"}))
	must[store.Binding](t)(s.PutBinding(ctx, store.Binding{Key: "global", Value: "x"}))

	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetAccount(ctx, a.ID)
	wantErr(t, "GetAccount after delete", err, store.ErrNotFound)
	if evs := must[[]store.AccountEvent](t)(s.ListEvents(ctx, a.ID, 0)); len(evs) != 0 {
		t.Error("events survived their account")
	}
	_, err = s.GetBinding(ctx, "sess/a/gpt")
	wantErr(t, "binding of a deleted account", err, store.ErrNotFound)
	must[store.Binding](t)(s.GetBinding(ctx, "sess/b/gpt"))
	must[store.Binding](t)(s.GetBinding(ctx, "global"))
	wantErr(t, "DeleteAccount twice", s.DeleteAccount(ctx, a.ID), store.ErrNotFound)
	// The login can be added again.
	must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s1")}))
}

func testEncryptionAtRest(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	if db.AtRest(t) == nil {
		t.Skip("engine keeps nothing at rest")
	}
	secrets := []string{"SessVal0123456789abcdef", "PsidValue0123456789XYZ", "PsidTsValue9876543210", "ProxyPassw0rdQQ",
		"RotatedPsidTs55555555", "SecondSession77777777"}
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare(secrets[0], "tok=abc")}))
	g := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "jar", Cookie: jar(secrets[1], secrets[2]),
		Proxy: "http://user:" + secrets[3] + "@proxy:3128"}))
	must[store.Account](t)(s.UpdateCookie(ctx, g.ID, jar(secrets[1], secrets[4])))
	_, _, err := s.ImportAccount(ctx, store.Account{Provider: "sess", Cookie: bare(secrets[5])})
	ok(t, err)
	must[store.Account](t)(s.UpdateCookie(ctx, a.ID, bare(secrets[0], "tok=def")))

	checkSealedAtRest(t, db, s, a.ID, secrets)
}

// checkSealedAtRest fails t when any of secrets appears in db's bytes at
// rest, while s is open and after it is closed. marker, a value stored in
// the clear (an id), proves that AtRest covers the data.
func checkSealedAtRest(t *testing.T, db DB, s store.Store, marker string, secrets []string) {
	t.Helper()
	check := func(when string) {
		t.Helper()
		raw := db.AtRest(t)
		if len(raw) == 0 {
			t.Fatalf("%s: no bytes at rest", when)
		}
		if !bytes.Contains(raw, []byte(marker)) {
			t.Fatalf("%s: %q is not in the bytes at rest; AtRest does not cover the data", when, marker)
		}
		for _, sec := range secrets {
			if bytes.Contains(raw, []byte(sec)) {
				t.Errorf("%s: %q found in the raw database bytes", when, sec)
			}
		}
	}
	check("while open")
	s.Close()
	check("after close")
}

func testAPIKeys(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	if got := must[[]store.APIKey](t)(s.ListAPIKeys(ctx)); len(got) != 0 {
		t.Fatalf("%d keys in an empty store", len(got))
	}
	h1 := sha256.Sum256([]byte("key-one"))
	h2 := sha256.Sum256([]byte("key-two"))
	before := time.Now()
	k1, err := s.CreateAPIKey(ctx, store.APIKey{Name: "first", Prefix: "sk-spark-AbCd", Hash: h1[:], RateLimit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID == "" || !near(k1.CreatedAt, before, time.Now()) || !k1.LastUsedAt.IsZero() || k1.Disabled {
		t.Fatalf("created key %+v", k1)
	}
	k2 := must[store.APIKey](t)(s.CreateAPIKey(ctx, store.APIKey{Prefix: "sk-spark-EfGh", Hash: h2[:]}))

	got := must[store.APIKey](t)(s.FindAPIKeyByHash(ctx, h1[:]))
	if got.ID != k1.ID || got.Name != "first" || got.Prefix != "sk-spark-AbCd" || !bytes.Equal(got.Hash, h1[:]) || got.RateLimit != 30 {
		t.Fatalf("FindAPIKeyByHash = %+v", got)
	}
	missing := sha256.Sum256([]byte("nope"))
	_, err = s.FindAPIKeyByHash(ctx, missing[:])
	wantErr(t, "FindAPIKeyByHash", err, store.ErrNotFound)

	list := must[[]store.APIKey](t)(s.ListAPIKeys(ctx))
	if len(list) != 2 || list[0].ID != k1.ID || list[1].ID != k2.ID {
		t.Fatalf("ListAPIKeys = %+v", list)
	}

	used := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.TouchAPIKey(ctx, k1.ID, used); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableAPIKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	if got := must[store.APIKey](t)(s.FindAPIKeyByHash(ctx, h1[:])); !got.LastUsedAt.Equal(used) || got.Disabled {
		t.Errorf("after touch: %+v", got)
	}
	if got := must[store.APIKey](t)(s.FindAPIKeyByHash(ctx, h2[:])); !got.Disabled {
		t.Error("DisableAPIKey did not disable")
	}

	wantErr(t, "TouchAPIKey missing", s.TouchAPIKey(ctx, "key_missing", used), store.ErrNotFound)
	wantErr(t, "DisableAPIKey missing", s.DisableAPIKey(ctx, "key_missing"), store.ErrNotFound)
	_, err = s.CreateAPIKey(ctx, store.APIKey{Prefix: "sk-spark-Dupe", Hash: h1[:]})
	wantErr(t, "duplicate hash", err, store.ErrConflict)
	_, err = s.CreateAPIKey(ctx, store.APIKey{Prefix: "sk-spark-Shrt", Hash: h1[:16]})
	wantErr(t, "short hash", err, store.ErrInvalid)
	_, err = s.CreateAPIKey(ctx, store.APIKey{Hash: missing[:]})
	wantErr(t, "no prefix", err, store.ErrInvalid)
}

func testAPIKeysStoredHashed(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	key := "sk-spark-ThisIsTheWholeSecretKeyValue0123456789"
	h := sha256.Sum256([]byte(key))
	k := must[store.APIKey](t)(s.CreateAPIKey(ctx, store.APIKey{Name: "n", Prefix: key[:13], Hash: h[:]}))
	s = reopen(t, db, s)
	got := must[store.APIKey](t)(s.FindAPIKeyByHash(ctx, h[:]))
	if got.ID != k.ID {
		t.Fatal("key not found by hash after reopen")
	}
	if raw := db.AtRest(t); raw != nil && bytes.Contains(raw, []byte(key[13:])) {
		t.Error("the key's secret part is in the raw database bytes")
	}
}

func testBindings(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	a := must[store.Account](t)(s.CreateAccount(ctx, store.Account{Provider: "sess", Cookie: bare("s1")}))
	_, err := s.GetBinding(ctx, "k")
	wantErr(t, "GetBinding missing", err, store.ErrNotFound)

	before := time.Now()
	b := must[store.Binding](t)(s.PutBinding(ctx, store.Binding{Key: "k", AccountID: a.ID, Value: "chat1"}))
	if !near(b.UpdatedAt, before, time.Now()) {
		t.Errorf("UpdatedAt %v", b.UpdatedAt)
	}
	got := must[store.Binding](t)(s.GetBinding(ctx, "k"))
	if got.Key != "k" || got.AccountID != a.ID || got.Value != "chat1" || !got.UpdatedAt.Equal(b.UpdatedAt) {
		t.Fatalf("GetBinding = %+v", got)
	}
	must[store.Binding](t)(s.PutBinding(ctx, store.Binding{Key: "k", Value: "chat2"}))
	if got := must[store.Binding](t)(s.GetBinding(ctx, "k")); got.Value != "chat2" || got.AccountID != "" {
		t.Fatalf("replaced binding = %+v", got)
	}
	if err := s.DeleteBinding(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetBinding(ctx, "k")
	wantErr(t, "GetBinding after delete", err, store.ErrNotFound)
	if err := s.DeleteBinding(ctx, "k"); err != nil {
		t.Errorf("deleting a missing binding: %v", err)
	}
	_, err = s.PutBinding(ctx, store.Binding{Key: "x", AccountID: "acct_missing", Value: "v"})
	wantErr(t, "PutBinding for a missing account", err, store.ErrNotFound)
	_, err = s.PutBinding(ctx, store.Binding{Value: "v"})
	wantErr(t, "PutBinding without key", err, store.ErrInvalid)
}

func sameResponse(t *testing.T, what string, got, want store.StoredResponse) {
	t.Helper()
	if got.ID != want.ID || got.Owner != want.Owner || !bytes.Equal(got.Response, want.Response) ||
		!bytes.Equal(got.InputItems, want.InputItems) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("%s = %+v\nwant %+v", what, got, want)
	}
}

func testResponses(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	_, err := s.GetResponse(ctx, "key_1", "resp_1")
	wantErr(t, "GetResponse missing", err, store.ErrNotFound)

	created := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	r := store.StoredResponse{ID: "resp_1", Owner: "key_1", CreatedAt: created,
		Response:   []byte(`{"id":"resp_1","object":"response","output":[]}`),
		InputItems: []byte(`[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}]`)}
	want := r
	want.Response = bytes.Clone(r.Response)
	want.CreatedAt = created.UTC().Truncate(time.Microsecond)
	ok(t, s.PutResponse(ctx, r))
	r.Response[0] = 'X' // the store must have copied the bytes
	got := must[store.StoredResponse](t)(s.GetResponse(ctx, "key_1", "resp_1"))
	sameResponse(t, "GetResponse", got, want)
	got.Response[0] = 'X' // nor may it share them with the caller
	sameResponse(t, "GetResponse again", must[store.StoredResponse](t)(s.GetResponse(ctx, "key_1", "resp_1")), want)

	wantErr(t, "PutResponse duplicate id", s.PutResponse(ctx, r), store.ErrConflict)
	wantErr(t, "PutResponse without id", s.PutResponse(ctx, store.StoredResponse{Response: []byte("{}")}), store.ErrInvalid)
	wantErr(t, "PutResponse without body", s.PutResponse(ctx, store.StoredResponse{ID: "resp_2"}), store.ErrInvalid)

	// CreatedAt defaults to now; empty input items and owner are fine.
	before := time.Now()
	ok(t, s.PutResponse(ctx, store.StoredResponse{ID: "resp_3", Response: []byte("{}")}))
	got3 := must[store.StoredResponse](t)(s.GetResponse(ctx, "", "resp_3"))
	if !near(got3.CreatedAt, before, time.Now()) || len(got3.InputItems) != 0 || string(got3.Response) != "{}" {
		t.Errorf("defaulted response = %+v", got3)
	}

	ok(t, s.DeleteResponse(ctx, "key_1", "resp_1"))
	_, err = s.GetResponse(ctx, "key_1", "resp_1")
	wantErr(t, "GetResponse after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteResponse twice", s.DeleteResponse(ctx, "key_1", "resp_1"), store.ErrNotFound)
	wantErr(t, "DeleteResponse missing", s.DeleteResponse(ctx, "", "resp_missing"), store.ErrNotFound)
}

func testResponsesOwnerScoped(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	ok(t, s.PutResponse(ctx, store.StoredResponse{ID: "resp_a", Owner: "key_a", Response: []byte(`{"a":1}`)}))
	ok(t, s.PutResponse(ctx, store.StoredResponse{ID: "resp_open", Response: []byte(`{"open":1}`)}))
	for _, owner := range []string{"key_b", "", "KEY_A", "key_a "} {
		_, err := s.GetResponse(ctx, owner, "resp_a")
		wantErr(t, "GetResponse by "+owner, err, store.ErrNotFound)
		wantErr(t, "DeleteResponse by "+owner, s.DeleteResponse(ctx, owner, "resp_a"), store.ErrNotFound)
	}
	_, err := s.GetResponse(ctx, "key_a", "resp_open")
	wantErr(t, "GetResponse of an ownerless response with a key", err, store.ErrNotFound)
	if got := must[store.StoredResponse](t)(s.GetResponse(ctx, "key_a", "resp_a")); string(got.Response) != `{"a":1}` {
		t.Fatalf("owner read %q", got.Response)
	}
	// Another owner cannot take the id either.
	wantErr(t, "PutResponse with a taken id", s.PutResponse(ctx, store.StoredResponse{ID: "resp_a", Owner: "key_b", Response: []byte("{}")}), store.ErrConflict)
	if got := must[store.StoredResponse](t)(s.GetResponse(ctx, "key_a", "resp_a")); string(got.Response) != `{"a":1}` {
		t.Fatalf("after a conflicting put the owner reads %q", got.Response)
	}
}

func testResponsesPersist(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	r := store.StoredResponse{ID: "resp_p", Owner: "key_p", CreatedAt: at,
		Response: []byte(`{"id":"resp_p"}`), InputItems: bytes.Repeat([]byte("x"), 3<<20)}
	ok(t, s.PutResponse(ctx, r))
	s = reopen(t, db, s)
	sameResponse(t, "GetResponse after reopen", must[store.StoredResponse](t)(s.GetResponse(ctx, "key_p", "resp_p")), r)
}

func testResponsesPrune(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i, owner := range []string{"k1", "k2", "k1", "k2"} {
		ok(t, s.PutResponse(ctx, store.StoredResponse{ID: fmt.Sprintf("resp_%d", i), Owner: owner,
			CreatedAt: base.Add(time.Duration(i) * time.Hour), Response: []byte("{}")}))
	}
	if n := must[int](t)(s.PruneResponses(ctx, base.Add(2*time.Hour))); n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	for i, owner := range []string{"k1", "k2", "k1", "k2"} {
		_, err := s.GetResponse(ctx, owner, fmt.Sprintf("resp_%d", i))
		if (i < 2) != errors.Is(err, store.ErrNotFound) {
			t.Errorf("resp_%d after prune: %v", i, err)
		}
	}
	if n := must[int](t)(s.PruneResponses(ctx, base)); n != 0 {
		t.Fatalf("pruned %d again, want 0", n)
	}
}

func testResponsesSealedAtRest(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	if db.AtRest(t) == nil {
		t.Skip("engine keeps nothing at rest")
	}
	secrets := []string{"PromptSecret0123456789", "AnswerSecret9876543210"}
	ok(t, s.PutResponse(ctx, store.StoredResponse{ID: "resp_sealed", Owner: "key_s",
		Response:   []byte(`{"output":[{"type":"message","content":[{"type":"output_text","text":"` + secrets[1] + `"}]}]}`),
		InputItems: []byte(`[{"type":"message","role":"user","content":"` + secrets[0] + `"}]`)}))
	check := func(when string) {
		t.Helper()
		raw := db.AtRest(t)
		if !bytes.Contains(raw, []byte("resp_sealed")) {
			t.Fatalf("%s: the response id is not in the bytes at rest; AtRest does not cover the data", when)
		}
		for _, sec := range secrets {
			if bytes.Contains(raw, []byte(sec)) {
				t.Errorf("%s: %q found in the raw database bytes", when, sec)
			}
		}
	}
	check("while open")
	s.Close()
	check("after close")
}
