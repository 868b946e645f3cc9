package accounts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/accounts"
	"github.com/sparkgw/spark/internal/credential"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/identity"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
)

// Two made-up providers: "alpha" accounts are identified by their sid
// cookie, "beta" ones by psid.
var rules = store.Rules{"alpha": credential.Cookie{Name: "sid", Bare: true}, "beta": credential.Cookie{Name: "psid"}}

// fakeDoctor answers a scripted verdict per cookie.
type fakeDoctor struct{ verdicts map[string]accounts.Verdict }

func (d fakeDoctor) Test(_ context.Context, a store.Account) accounts.Verdict {
	return d.verdicts[a.Cookie]
}

// fakeCatalog serves each provider's models to every account of it.
type fakeCatalog map[string][]llm.ModelInfo

func (c fakeCatalog) AccountModels(_ context.Context, a store.Account) []llm.ModelInfo {
	return c[a.Provider]
}

// env is the account routes behind the real server, identity service and
// pool over an in-memory store, with three users: the built-in admin, and
// the users alice and bob.
type env struct {
	t                  *testing.T
	st                 *memstore.Store
	pool               *pool.Local
	url                string
	admin, alice, bob  store.User
	sessions           map[string]*http.Cookie
	now                time.Time
	activity           *accounts.Activity
	envAcct, aliceAcct store.Account
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, st: memstore.New(nil, store.WithRules(rules)), sessions: map[string]*http.Cookie{},
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	e.st.Now = func() time.Time { return e.now }
	mk := func(email string, role store.Role, builtin bool) store.User {
		u, err := e.st.CreateUser(ctx, store.User{Email: email, Role: role, Builtin: builtin})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	e.admin, e.alice, e.bob = mk("admin@example.com", store.RoleAdmin, true), mk("alice@example.com", store.RoleUser, false), mk("bob@example.com", store.RoleUser, false)
	var err error
	// An environment account (owned by "", the built-in admin) and one of
	// alice's.
	if e.envAcct, err = e.st.CreateAccount(ctx, store.Account{Provider: "alpha", Cookie: "sid=env-one", Label: "env"}); err != nil {
		t.Fatal(err)
	}
	if e.aliceAcct, err = e.st.CreateAccount(ctx, store.Account{Provider: "alpha", Cookie: "sid=alice-one", Label: "alice's", OwnerID: e.alice.ID}); err != nil {
		t.Fatal(err)
	}
	e.pool, err = pool.New(ctx, pool.Options{Store: e.st, Clock: clockFunc(func() time.Time { return e.now })})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := identity.New(identity.Options{Store: e.st, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.activity = accounts.NewActivity(nil)
	h := accounts.NewHandler(accounts.Options{
		Store: e.st, Pool: e.pool, Rules: rules, Activity: e.activity, Now: func() time.Time { return e.now },
		Providers: []accounts.Provider{{Name: "alpha", DisplayName: "Alpha"}, {Name: "beta", DisplayName: "Beta"}},
		Doctor: fakeDoctor{map[string]accounts.Verdict{
			"sid=alice-one": {OK: true, Message: "signed in", Models: []string{"m-1"}, Latency: 42 * time.Millisecond},
			"sid=env-one":   accounts.VerdictFor(&gw.Error{Code: gw.CodeLoggedOut, Message: "the cookie is signed out"}, time.Millisecond),
		}},
		Catalog: fakeCatalog{"alpha": {{ID: "m-1", DisplayName: "Model One", Kind: llm.KindChat, ClaudeID: "claude-m-1"}, {ID: "pic", Kind: llm.KindImage}}},
	})
	srv := server.New(server.Options{Session: identity.SessionAuthenticator{S: svc}, Admin: identity.AdminAuthenticator{S: svc}})
	if err := srv.Handle(h.Routes()...); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	for _, u := range []store.User{e.admin, e.alice, e.bob} {
		rec := httptest.NewRecorder()
		if err := svc.StartSession(rec, httptest.NewRequest("POST", "/auth/login", nil), u); err != nil {
			t.Fatal(err)
		}
		e.sessions[u.ID] = rec.Result().Cookies()[0]
	}
	return e
}

// do sends a request as u (no session for the zero user) and returns the
// status and body.
func (e *env) do(u store.User, method, path, body string, hdr ...string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c := e.sessions[u.ID]; c != nil {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type acctJSON struct {
	ID             string   `json:"id"`
	Provider       string   `json:"provider"`
	Label          string   `json:"label"`
	State          string   `json:"state"`
	RestUntil      *string  `json:"rest_until"`
	DisabledReason string   `json:"disabled_reason"`
	LastError      *string  `json:"last_error"`
	LastUsedAt     *string  `json:"last_used_at"`
	Requests24h    int64    `json:"requests_24h"`
	Errors24h      int64    `json:"errors_24h"`
	Models         []string `json:"models"`
	ProxySet       bool     `json:"proxy_set"`
	Shared         bool     `json:"shared"`
	OwnerID        string   `json:"owner_id"`
	Editable       bool     `json:"editable"`
	CreatedAt      string   `json:"created_at"`
}

func (e *env) list(u store.User) []acctJSON {
	e.t.Helper()
	st, body := e.do(u, "GET", "/api/accounts", "")
	var out struct{ Data []acctJSON }
	if err := json.Unmarshal([]byte(body), &out); st != 200 || err != nil {
		e.t.Fatalf("GET /api/accounts: %d %s", st, body)
	}
	return out.Data
}

func ids(list []acctJSON) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.ID)
	}
	return out
}

// errCode returns the error code of a dashboard error body.
func errCode(t *testing.T, body string) string {
	t.Helper()
	var out struct {
		Error struct{ Message, Type, Code string }
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Error.Message == "" {
		t.Fatalf("not an error envelope: %s", body)
	}
	return out.Error.Code
}

// TestAuthRequired: every route answers 401 without a session.
func TestAuthRequired(t *testing.T) {
	e := newEnv(t)
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/accounts", ""},
		{"POST", "/api/accounts", `{"provider":"alpha","cookie":"sid=x"}`},
		{"POST", "/api/accounts/import", `{"provider":"alpha","cookies":["sid=x"]}`},
		{"POST", "/api/accounts/" + e.envAcct.ID + "/test", ""},
		{"POST", "/api/accounts/" + e.envAcct.ID + "/reset", ""},
		{"PATCH", "/api/accounts/" + e.envAcct.ID, `{"label":"x"}`},
		{"DELETE", "/api/accounts/" + e.envAcct.ID, ""},
		{"GET", "/api/models", ""},
	} {
		if st, body := e.do(store.User{}, r.method, r.path, r.body); st != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d %s", r.method, r.path, st, body)
		}
	}
	if _, err := e.st.GetAccount(context.Background(), e.envAcct.ID); err != nil {
		t.Fatalf("the account is gone after unauthenticated requests: %v", err)
	}
}

// TestListOwnership: the admin sees every account (an environment
// account's owner is the built-in admin's id), a user their own and the
// shared ones (read-only), never another user's; no cookie or proxy is
// ever in the answer.
func TestListOwnership(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.st.UpdateAccountInfo(ctx, e.aliceAcct.ID, store.AccountPatch{Proxy: ptr("socks5://user:proxysecret@127.0.0.1:1080")}); err != nil {
		t.Fatal(err)
	}
	all := e.list(e.admin)
	if !slices.Equal(ids(all), []string{e.envAcct.ID, e.aliceAcct.ID}) {
		t.Fatalf("admin sees %v", ids(all))
	}
	if all[0].OwnerID != e.admin.ID || all[1].OwnerID != e.alice.ID || !all[0].Editable || !all[1].Editable {
		t.Fatalf("owners %+v", all)
	}
	if got := e.list(e.alice); !slices.Equal(ids(got), []string{e.aliceAcct.ID}) || !got[0].ProxySet || got[0].State != "active" ||
		!slices.Equal(got[0].Models, []string{"m-1", "pic"}) || got[0].CreatedAt == "" {
		t.Fatalf("alice sees %+v", got)
	}
	if got := e.list(e.bob); len(got) != 0 {
		t.Fatalf("bob sees %+v", got)
	}
	// Shared by the admin: bob sees it, read-only.
	if st, body := e.do(e.admin, "PATCH", "/api/accounts/"+e.envAcct.ID, `{"shared":true}`); st != 200 || !strings.Contains(body, `"shared":true`) {
		t.Fatalf("share: %d %s", st, body)
	}
	if got := e.list(e.bob); !slices.Equal(ids(got), []string{e.envAcct.ID}) || got[0].Editable || !got[0].Shared {
		t.Fatalf("bob sees %+v", got)
	}
	for _, u := range []store.User{e.admin, e.alice, e.bob} {
		_, body := e.do(u, "GET", "/api/accounts", "")
		for _, secret := range []string{"env-one", "alice-one", "proxysecret", "socks5"} {
			if strings.Contains(body, secret) {
				t.Fatalf("%s's list shows %q: %s", u.Email, secret, body)
			}
		}
	}
}

// TestOtherUsersAccount404: every route answers 404 for another user's
// account, as for an unknown id, and for a shared account the user does
// not own; nothing changes.
func TestOtherUsersAccount404(t *testing.T) {
	e := newEnv(t)
	if st, body := e.do(e.admin, "PATCH", "/api/accounts/"+e.envAcct.ID, `{"shared":true}`); st != 200 {
		t.Fatalf("share: %d %s", st, body)
	}
	for _, id := range []string{e.aliceAcct.ID, e.envAcct.ID, "acct_nope"} {
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/api/accounts/" + id + "/test", ""},
			{"POST", "/api/accounts/" + id + "/reset", ""},
			{"PATCH", "/api/accounts/" + id, `{"label":"mine now"}`},
			{"DELETE", "/api/accounts/" + id, ""},
		} {
			st, body := e.do(e.bob, r.method, r.path, r.body)
			if st != http.StatusNotFound || errCode(t, body) != "account_not_found" {
				t.Errorf("bob %s %s: %d %s", r.method, r.path, st, body)
			}
		}
	}
	got := e.list(e.admin)
	if len(got) != 2 || got[0].Label != "env" || got[1].Label != "alice's" {
		t.Fatalf("accounts changed: %+v", got)
	}
}

// TestCreate: a user adds an account (201, owned by them, the pool can
// lease it for them at once); bad input is refused with the reason; a
// login already registered is a 409 that does not say whose.
func TestCreate(t *testing.T) {
	e := newEnv(t)
	st, body := e.do(e.bob, "POST", "/api/accounts", `{"provider":"beta","cookie":"psid=bob-one; other=1","label":"bob's","proxy":"http://u:p@127.0.0.1:3128"}`)
	var a acctJSON
	if err := json.Unmarshal([]byte(body), &a); st != http.StatusCreated || err != nil || a.OwnerID != e.bob.ID ||
		a.Provider != "beta" || a.Label != "bob's" || !a.ProxySet || a.State != "active" || strings.Contains(body, "bob-one") {
		t.Fatalf("create: %d %s", st, body)
	}
	lease, err := e.pool.Acquire(context.Background(), pool.Request{Provider: "beta", Owners: []string{e.bob.ID}})
	if err != nil || lease.Account().ID != a.ID {
		t.Fatalf("the pool does not lease bob's new account to bob: %v", err)
	}
	lease.Release(nil)
	if _, err := e.pool.Acquire(context.Background(), pool.Request{Provider: "beta", Owners: []string{e.alice.ID}}); err == nil {
		t.Fatal("the pool leases bob's account to alice")
	}

	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown provider", `{"provider":"gamma","cookie":"sid=x"}`, 400, "invalid_provider"},
		{"no cookie", `{"provider":"alpha"}`, 400, "missing_cookie"},
		{"cookie without its login", `{"provider":"beta","cookie":"a=1; b=2"}`, 400, "invalid_cookie"},
		{"bad proxy scheme", `{"provider":"alpha","cookie":"sid=y","proxy":"ftp://h:1"}`, 400, "invalid_proxy"},
		{"proxy not a URL", `{"provider":"alpha","cookie":"sid=y","proxy":"not a url"}`, 400, "invalid_proxy"},
		{"label with control characters", `{"provider":"alpha","cookie":"sid=y","label":"a\nb"}`, 400, "invalid_label"},
		{"unknown field", `{"provider":"alpha","cookie":"sid=y","owner_id":"usr_x"}`, 400, "unknown_field"},
		{"not JSON", `provider=alpha`, 400, "invalid_json"},
		{"another user's login", `{"provider":"alpha","cookie":"sid=alice-one; extra=2"}`, 409, "account_exists"},
		{"a taken label", `{"provider":"alpha","cookie":"sid=new-one","label":"env"}`, 409, "account_exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := e.do(e.bob, "POST", "/api/accounts", tt.body)
			if st != tt.status || errCode(t, body) != tt.code {
				t.Fatalf("%d %s, want %d %s", st, body, tt.status, tt.code)
			}
			if strings.Contains(body, "alice") || strings.Contains(body, "ftp://") {
				t.Fatalf("the error echoes input or names the owner: %s", body)
			}
		})
	}
	if got := e.list(e.admin); len(got) != 3 {
		t.Fatalf("refused creates added accounts: %d", len(got))
	}
	requireAudit(t, e, "account.create", a.ID)
}

// TestImport: one answer row per cookie, in order, with created, updated
// (the caller's account, new cookie), unchanged (same cookie), and invalid
// (no login value, another user's login, a duplicate of a row created
// above counts as unchanged); the text form takes one cookie per line.
func TestImport(t *testing.T) {
	e := newEnv(t)
	body := `{"provider":"alpha","cookies":["sid=new-1","alice-one","sid=alice-one; x=2","nosid=1; y=2","sid=env-one","sid=new-1",""]}`
	st, out := e.do(e.alice, "POST", "/api/accounts/import", body)
	var res struct {
		Data []struct {
			Index  int
			Status string
			ID     *string
			Reason *string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); st != 200 || err != nil || len(res.Data) != 7 {
		t.Fatalf("import: %d %s", st, out)
	}
	want := []string{"created", "unchanged", "updated", "invalid", "invalid", "unchanged", "invalid"}
	for i, r := range res.Data {
		if r.Index != i || r.Status != want[i] {
			t.Errorf("row %d: %+v, want %s", i, r, want[i])
		}
		if (r.Status == "invalid") != (r.Reason != nil) || (r.Status == "invalid") == (r.ID != nil) {
			t.Errorf("row %d: id %v reason %v", i, r.ID, r.Reason)
		}
	}
	if *res.Data[1].ID != e.aliceAcct.ID || *res.Data[2].ID != e.aliceAcct.ID || *res.Data[5].ID != *res.Data[0].ID {
		t.Errorf("ids %s", out)
	}
	if !strings.Contains(*res.Data[3].Reason, "sid") || *res.Data[4].Reason != "this login is already registered" {
		t.Errorf("reasons %s", out)
	}
	for _, secret := range []string{"new-1", "alice-one", "env-one", "nosid"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the answer echoes a cookie: %s", out)
		}
	}
	if a, err := e.st.GetAccount(context.Background(), e.aliceAcct.ID); err != nil || a.Cookie != "sid=alice-one; x=2" {
		t.Fatalf("alice's cookie was not updated: %v", err)
	}
	if a, err := e.st.GetAccount(context.Background(), e.envAcct.ID); err != nil || a.Cookie != "sid=env-one" || a.OwnerID != "" {
		t.Fatalf("the env account changed: %v %v", a, err)
	}
	lease, err := e.pool.Acquire(context.Background(), pool.Request{Provider: "alpha", Owners: []string{e.alice.ID}, Exclude: map[string]bool{e.aliceAcct.ID: true}})
	if err != nil || lease.Account().ID != *res.Data[0].ID {
		t.Fatalf("the imported account is not in the pool: %v", err)
	}
	lease.Release(nil)

	st, out = e.do(e.alice, "POST", "/api/accounts/import", `{"provider":"alpha","cookies":["sid=`+strings.Repeat("x", accounts.MaxCookieBytes)+`"]}`)
	if st != 200 || !strings.Contains(out, `"status":"invalid"`) || !strings.Contains(out, "longer than") {
		t.Fatalf("an over-long cookie: %d %.300s", st, out)
	}
	st, out = e.do(e.bob, "POST", "/api/accounts/import?provider=beta", "psid=b1\n\npsid=b2; z=1\r\nbroken\n", "Content-Type", "text/plain")
	if st != 200 || strings.Count(out, `"created"`) != 2 || strings.Count(out, `"invalid"`) != 1 {
		t.Fatalf("text import: %d %s", st, out)
	}
	for _, tt := range []struct{ name, body, ct, code string }{
		{"unknown provider", `{"provider":"gamma","cookies":["sid=1"]}`, "", "invalid_provider"},
		{"no cookies", `{"provider":"alpha","cookies":[]}`, "", "missing_cookies"},
		{"too many", `{"provider":"alpha","cookies":[` + strings.Repeat(`"sid=1",`, accounts.MaxImport) + `"sid=2"]}`, "", "too_many_cookies"},
		{"text without provider", "sid=1\n", "text/plain", "invalid_provider"},
	} {
		hdr := []string{}
		if tt.ct != "" {
			hdr = []string{"Content-Type", tt.ct}
		}
		if st, body := e.do(e.alice, "POST", "/api/accounts/import", tt.body, hdr...); st != 400 || errCode(t, body) != tt.code {
			t.Errorf("%s: %d %s", tt.name, st, body)
		}
	}
	if st, body := e.do(e.alice, "POST", "/api/accounts/import", `{"provider":"alpha","cookies":["`+strings.Repeat("x", accounts.MaxImportBytes)+`"]}`); st != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the bound: %d %.200s", st, body)
	}
	requireAudit(t, e, "account.import", "")
}

// TestDoctorRoute: the verdict of the doctor in the API's shape, problem
// null when ok.
func TestDoctorRoute(t *testing.T) {
	e := newEnv(t)
	st, body := e.do(e.alice, "POST", "/api/accounts/"+e.aliceAcct.ID+"/test", "")
	if st != 200 || body != `{"ok":true,"problem":null,"message":"signed in","models":["m-1"],"latency_ms":42}`+"\n" {
		t.Fatalf("ok verdict: %d %s", st, body)
	}
	st, body = e.do(e.admin, "POST", "/api/accounts/"+e.envAcct.ID+"/test", "")
	if st != 200 || body != `{"ok":false,"problem":"logged_out","message":"the cookie is signed out","models":[],"latency_ms":1}`+"\n" {
		t.Fatalf("logged-out verdict: %d %s", st, body)
	}
}

// TestProblemFor: every gateway code an upstream failure has maps to one of
// the doctor's problems; spark's own codes to none.
func TestProblemFor(t *testing.T) {
	tests := []struct {
		code gw.Code
		want accounts.Problem
	}{
		{gw.CodeLoggedOut, accounts.ProblemLoggedOut},
		{gw.CodeRateLimited, accounts.ProblemRateLimited},
		{gw.CodeQuotaExhausted, accounts.ProblemQuota},
		{gw.CodeIPBlocked, accounts.ProblemBlocked},
		{gw.CodeAttestation, accounts.ProblemBlocked},
		{gw.CodeChallenged, accounts.ProblemCloudflare},
		{gw.CodeUnavailable, accounts.ProblemNetwork},
		{gw.CodeTransient, accounts.ProblemNetwork},
		{gw.CodeUpstreamTimeout, accounts.ProblemNetwork},
		{gw.CodeProtocolChanged, accounts.ProblemProtocolChanged},
		{gw.CodeModelMismatch, accounts.ProblemModelDowngraded},
		{gw.CodeInternal, ""},
		{gw.CodeInvalidRequest, ""},
	}
	for _, tt := range tests {
		got, ok := accounts.ProblemFor(tt.code)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("ProblemFor(%s) = %q %v, want %q", tt.code, got, ok, tt.want)
		}
	}
}

// TestResetAndEnabled: reset ends a rest in the store and the pool at
// once; enabled:false disables the account with the owner's reason (the
// pool stops leasing it), enabled:true brings it back.
func TestResetAndEnabled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acquire := func() error {
		l, err := e.pool.Acquire(ctx, pool.Request{Provider: "alpha", Owners: []string{e.alice.ID}})
		if err == nil {
			l.Release(nil)
		}
		return err
	}
	if err := e.st.UpdateAccountState(ctx, e.aliceAcct.ID, store.StateUpdate{State: store.StateResting, RestUntil: e.now.Add(time.Hour),
		LastError: store.ErrorInfo{Code: gw.CodeRateLimited, Message: "limited", At: e.now}}); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.list(e.alice)[0]; got.State != "resting" || got.RestUntil == nil || got.LastError == nil || *got.LastError != "limited" {
		t.Fatalf("resting account listed as %+v", got)
	}
	if err := acquire(); gw.ErrorCode(err) != gw.CodeNoAccounts {
		t.Fatalf("resting account leased: %v", err)
	}
	st, body := e.do(e.alice, "POST", "/api/accounts/"+e.aliceAcct.ID+"/reset", "")
	if st != 200 || !strings.Contains(body, `"state":"active"`) || !strings.Contains(body, `"rest_until":null`) {
		t.Fatalf("reset: %d %s", st, body)
	}
	if err := acquire(); err != nil {
		t.Fatalf("the pool still rests the account after the reset: %v", err)
	}
	if a, _ := e.st.GetAccount(ctx, e.aliceAcct.ID); a.State != store.StateActive || !a.RestUntil.IsZero() {
		t.Fatalf("stored state after the reset: %v", a)
	}
	requireAudit(t, e, "account.reset", e.aliceAcct.ID)

	st, body = e.do(e.alice, "PATCH", "/api/accounts/"+e.aliceAcct.ID, `{"enabled":false,"label":"paused"}`)
	if st != 200 || !strings.Contains(body, `"state":"disabled"`) || !strings.Contains(body, `"disabled_reason":"disabled by its owner"`) || !strings.Contains(body, `"label":"paused"`) {
		t.Fatalf("disable: %d %s", st, body)
	}
	if err := acquire(); err == nil {
		t.Fatal("a disabled account was leased")
	}
	st, body = e.do(e.alice, "PATCH", "/api/accounts/"+e.aliceAcct.ID, `{"enabled":true}`)
	if st != 200 || !strings.Contains(body, `"state":"active"`) {
		t.Fatalf("enable: %d %s", st, body)
	}
	if err := acquire(); err != nil {
		t.Fatalf("the enabled account is not leased: %v", err)
	}
	requireAudit(t, e, "account.update", e.aliceAcct.ID)
}

// TestPatch: labels and proxies are checked; shared is for admins only
// (403 for a user on their own account); an empty patch is refused.
func TestPatch(t *testing.T) {
	e := newEnv(t)
	path := "/api/accounts/" + e.aliceAcct.ID
	for _, tt := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"shared":true}`, 403, "admin_only"},
		{`{}`, 400, "nothing_to_change"},
		{`{"label":"  "}`, 400, "invalid_label"},
		{`{"label":"env"}`, 409, "label_taken"},
		{`{"proxy":"gopher://x"}`, 400, "invalid_proxy"},
		{`{"enabled":"yes"}`, 400, "invalid_enabled"},
	} {
		if st, body := e.do(e.alice, "PATCH", path, tt.body); st != tt.status || errCode(t, body) != tt.code {
			t.Errorf("PATCH %s: %d %s", tt.body, st, body)
		}
	}
	if a, _ := e.st.GetAccount(context.Background(), e.aliceAcct.ID); a.Shared || a.Label != "alice's" {
		t.Fatalf("refused patches changed the account: %v", a)
	}
	st, body := e.do(e.alice, "PATCH", path, `{"proxy":"socks5h://127.0.0.1:9050"}`)
	if st != 200 || !strings.Contains(body, `"proxy_set":true`) {
		t.Fatalf("set proxy: %d %s", st, body)
	}
	st, body = e.do(e.alice, "PATCH", path, `{"proxy":""}`)
	if st != 200 || !strings.Contains(body, `"proxy_set":false`) {
		t.Fatalf("remove proxy: %d %s", st, body)
	}
	if st, body := e.do(e.admin, "PATCH", path, `{"shared":true}`); st != 200 || !strings.Contains(body, `"shared":true`) {
		t.Fatalf("admin shares: %d %s", st, body)
	}
	// Shared, bob's keys may be served by it.
	l, err := e.pool.Acquire(context.Background(), pool.Request{Provider: "alpha", Owners: []string{e.bob.ID}})
	if err != nil || l.Account().ID != e.aliceAcct.ID {
		t.Fatalf("the shared account does not serve bob: %v", err)
	}
	l.Release(nil)
}

// TestDelete: 204, the account leaves the store and the pool; audited.
func TestDelete(t *testing.T) {
	e := newEnv(t)
	if st, body := e.do(e.alice, "DELETE", "/api/accounts/"+e.aliceAcct.ID, ""); st != http.StatusNoContent || body != "" {
		t.Fatalf("delete: %d %s", st, body)
	}
	if _, err := e.st.GetAccount(context.Background(), e.aliceAcct.ID); err == nil {
		t.Fatal("the account is still stored")
	}
	if _, err := e.pool.Acquire(context.Background(), pool.Request{Provider: "alpha", Owners: []string{e.alice.ID}}); err == nil {
		t.Fatal("the pool still leases the deleted account")
	}
	if st, _ := e.do(e.alice, "DELETE", "/api/accounts/"+e.aliceAcct.ID, ""); st != http.StatusNotFound {
		t.Fatalf("second delete: %d", st)
	}
	requireAudit(t, e, "account.delete", e.aliceAcct.ID)
}

// TestActivity: requests_24h, errors_24h and last_used_at come from the
// usage records of the last 24 hours (older ones are not counted), seeded
// from the store at start.
func TestActivity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := store.UsageRecord{Time: e.now.Add(-25 * time.Hour), AccountID: e.aliceAcct.ID, Status: 200}
	seeded := store.UsageRecord{Time: e.now.Add(-2 * time.Hour), AccountID: e.aliceAcct.ID, Status: 429, ErrorClass: "rate_limited"}
	if err := e.st.AddUsage(ctx, []store.UsageRecord{old, seeded}); err != nil {
		t.Fatal(err)
	}
	if err := e.activity.Seed(ctx, e.st, e.now); err != nil {
		t.Fatal(err)
	}
	e.activity.Record(store.UsageRecord{Time: e.now.Add(-time.Minute), AccountID: e.aliceAcct.ID, Status: 200})
	e.activity.Record(store.UsageRecord{Time: e.now, Status: 401}) // no account
	got := e.list(e.alice)[0]
	if got.Requests24h != 2 || got.Errors24h != 1 || got.LastUsedAt == nil || *got.LastUsedAt != e.now.Add(-time.Minute).Format(time.RFC3339) {
		t.Fatalf("activity %+v", got)
	}
	// Counted in hourly buckets: 22 hours on, the request of a minute
	// before the start still counts, the seeded one of 2 hours before
	// not.
	e.now = e.now.Add(22 * time.Hour)
	if got := e.list(e.alice)[0]; got.Requests24h != 1 || got.Errors24h != 0 {
		t.Fatalf("a day later: %+v", got)
	}
}

// TestModels: the models the caller's accounts serve, with display names,
// aliases and serving accounts; a user without accounts has none.
func TestModels(t *testing.T) {
	e := newEnv(t)
	st, body := e.do(e.alice, "GET", "/api/models", "")
	var out struct {
		Data []struct {
			ID, DisplayName, Kind, Provider, ProviderName string
			Aliases                                       []string
			Accounts                                      []struct{ ID, Label, State string }
		}
	}
	if err := json.Unmarshal([]byte(body), &out); st != 200 || err != nil || len(out.Data) != 2 {
		t.Fatalf("alice's models: %d %s", st, body)
	}
	m := out.Data[0]
	if m.ID != "m-1" || !strings.Contains(body, `"display_name":"Model One"`) || !strings.Contains(body, `"provider_name":"Alpha"`) ||
		!slices.Equal(m.Aliases, []string{"claude-m-1"}) || len(m.Accounts) != 1 || m.Accounts[0].ID != e.aliceAcct.ID {
		t.Fatalf("model %+v in %s", m, body)
	}
	if _, body := e.do(e.admin, "GET", "/api/models", ""); strings.Count(body, `"id":"acct_`) != 4 {
		t.Fatalf("admin's models name both accounts twice: %s", body)
	}
	if st, body := e.do(e.bob, "GET", "/api/models", ""); st != 200 || body != `{"data":[]}`+"\n" {
		t.Fatalf("bob's models: %d %s", st, body)
	}
}

// requireAudit fails unless the trail has action on targetID ("" = any).
func requireAudit(t *testing.T, e *env, action, targetID string) {
	t.Helper()
	entries, err := e.st.ListAudit(context.Background(), store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if en.Action == action && (targetID == "" || en.TargetID == targetID) && en.ActorID != "" && en.TargetType == "account" {
			return
		}
	}
	t.Fatalf("no audit entry %s on %q in %+v", action, targetID, entries)
}

func ptr[T any](v T) *T { return &v }

// clockFunc is a pool.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }
