package keys_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/apikey"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/keys"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
)

var now = time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)

// catalog resolves names as the gateway would (aliases to catalog ids)
// and says which owners' accounts serve which ids.
type catalog struct {
	aliases map[string]string   // name -> catalog id
	serves  map[string][]string // owner id -> catalog ids their accounts serve
}

func (c catalog) ResolveModels(_ context.Context, owners []string, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		id, ok := c.aliases[n]
		if !ok {
			return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: "models: unknown model `" + n + "`."}
		}
		served := false
		for _, o := range owners {
			served = served || slices.Contains(c.serves[o], id)
		}
		if !served {
			return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: "models: none of your accounts serves `" + id + "`."}
		}
		out = append(out, id)
	}
	return out, nil
}

// userHeader authenticates a session by the X-Test-User header (the user
// id), as the session authenticator passes the user on.
type userHeader struct{}

func (userHeader) Authenticate(r *http.Request) (string, bool, error) {
	id := r.Header.Get("X-Test-User")
	return id, id != "", nil
}

type harness struct {
	t       *testing.T
	st      *memstore.Store
	srv     *server.Server
	pending map[string]int64
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, st: memstore.New(nil), pending: map[string]int64{}}
	for _, u := range []store.User{
		{ID: "usr_boss", Email: "boss@example.com", Role: store.RoleAdmin, Builtin: true},
		{ID: "usr_alice", Email: "alice@example.com", Role: store.RoleUser},
		{ID: "usr_bob", Email: "bob@example.com", Role: store.RoleUser},
	} {
		if _, err := h.st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	cat := catalog{
		aliases: map[string]string{"gpt-5.1": "gpt-5.1", "gpt-5.1-2025-11-13": "gpt-5.1", "gemini-3-flash": "gemini-3-flash", "claude-haiku": "gemini-3-flash", "o3": "o3"},
		serves:  map[string][]string{"": {"gpt-5.1", "o3"}, "usr_alice": {"gpt-5.1", "gemini-3-flash"}, "usr_bob": {"o3"}},
	}
	kh, err := keys.New(keys.Options{Store: h.st, Models: cat, Now: func() time.Time { return now },
		Pending: func(id string) int64 { return h.pending[id] }})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = server.New(server.Options{Session: userHeader{}})
	if err := h.srv.Handle(kh.Routes()...); err != nil {
		t.Fatal(err)
	}
	return h
}

type answer struct {
	status int
	body   string
	hdr    http.Header
}

func (a answer) code(t *testing.T) string {
	t.Helper()
	var env struct {
		Error struct{ Message, Type, Code string }
	}
	if err := json.Unmarshal([]byte(a.body), &env); err != nil || env.Error.Message == "" || env.Error.Type == "" {
		t.Fatalf("not a dashboard error envelope: %d %s", a.status, a.body)
	}
	return env.Error.Code
}

func (h *harness) do(user, method, path, body string) answer {
	h.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "198.51.100.9:4242"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		r.Header.Set("X-Test-User", user)
	}
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, r)
	return answer{w.Code, w.Body.String(), w.Header()}
}

type keyJSON struct {
	keys.KeyJSON
	Key string `json:"key"`
}

func (h *harness) list(user string) []keyJSON {
	h.t.Helper()
	a := h.do(user, "GET", "/api/keys", "")
	var out struct{ Data []keyJSON }
	if a.status != 200 || json.Unmarshal([]byte(a.body), &out) != nil {
		h.t.Fatalf("list as %s: %d %s", user, a.status, a.body)
	}
	return out.Data
}

func (h *harness) mint(user, body string) keyJSON {
	h.t.Helper()
	a := h.do(user, "POST", "/api/keys", body)
	var k keyJSON
	if a.status != http.StatusCreated || json.Unmarshal([]byte(a.body), &k) != nil {
		h.t.Fatalf("mint as %s: %d %s", user, a.status, a.body)
	}
	return k
}

func (h *harness) audit() []store.AuditEntry {
	h.t.Helper()
	es, err := h.st.ListAudit(h.t.Context(), store.AuditQuery{})
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

// A user mints a key with every policy: the answer has the fields of the
// key and, this once, the key itself, which the verifier accepts with
// those policies and the user as owner; the list shows it without the
// key; revoking it makes the verifier refuse it at once; both steps are
// in the audit trail with actor, target and address.
func TestMintListRevoke(t *testing.T) {
	h := newHarness(t)
	k := h.mint("usr_alice", `{"name":" ci ","models":["gpt-5.1-2025-11-13","claude-haiku","gpt-5.1"],
		"ip_allow":["10.1.2.3","10.0.0.0/8","2001:db8::/32","::ffff:192.0.2.1"],"expires_at":"2030-06-01T00:00:00+02:00",
		"rpm":2,"max_concurrency":3,"token_quota":5000}`)
	if _, err := time.Parse(time.RFC3339, k.CreatedAt); err != nil {
		t.Fatalf("created_at %q", k.CreatedAt)
	}
	want := keys.KeyJSON{ID: k.ID, Name: "ci", Prefix: apikey.DisplayPrefix(k.Key), CreatedAt: k.CreatedAt,
		ExpiresAt: ptr("2030-05-31T22:00:00Z"), Models: []string{"gpt-5.1", "gemini-3-flash"},
		IPAllow: []string{"10.1.2.3/32", "10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32"}, RPM: 2, MaxConcurrency: 3, TokenQuota: 5000}
	if !strings.HasPrefix(k.Key, apikey.Prefix) || !equalKey(k.KeyJSON, want) {
		t.Fatalf("minted %+v (key %q)\nwant %+v", k.KeyJSON, k.Key, want)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(h.do("usr_alice", "GET", "/api/keys", "").body), &raw)
	row := raw["data"].([]any)[0].(map[string]any)
	for _, f := range []string{"id", "name", "prefix", "created_at", "last_used_at", "expires_at", "models", "ip_allow", "rpm",
		"max_concurrency", "token_quota", "tokens_used", "revoked"} {
		if _, ok := row[f]; !ok {
			t.Errorf("listed key lacks %q", f)
		}
	}
	if _, ok := row["key"]; ok || strings.Contains(h.do("usr_alice", "GET", "/api/keys", "").body, k.Key) {
		t.Fatal("the list shows the key itself")
	}

	v := apikey.NewVerifier(h.st, "", apikey.Options{Clock: fixed{now}})
	p, err := v.Verify(t.Context(), k.Key)
	if err != nil || p.OwnerID != "usr_alice" || p.RateLimit != 2 || p.MaxConcurrency != 3 || p.TokenQuota != 5000 ||
		!slices.Equal(p.Models, want.Models) || !slices.Equal(p.IPAllow, want.IPAllow) {
		t.Fatalf("verified %+v %v", p, err)
	}
	h.pending[k.ID] = 70
	if got := h.list("usr_alice"); len(got) != 1 || got[0].TokensUsed != 70 {
		t.Fatalf("tokens_used with 70 pending: %+v", got)
	}

	if a := h.do("usr_alice", "DELETE", "/api/keys/"+k.ID, ""); a.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	if _, err := v.Verify(t.Context(), k.Key); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Fatalf("a revoked key verified: %v", err)
	}
	if got := h.list("usr_alice"); len(got) != 1 || !got[0].Revoked {
		t.Fatalf("after revoking: %+v", got)
	}
	if a := h.do("usr_alice", "DELETE", "/api/keys/"+k.ID, ""); a.status != http.StatusNoContent {
		t.Fatalf("revoking twice: %d", a.status)
	}
	var trail []string
	for _, e := range h.audit() {
		trail = append(trail, strings.Join([]string{e.Action, e.ActorID, e.ActorEmail, e.TargetType, e.TargetID, e.IP}, " "))
	}
	wantTrail := []string{
		"key.revoke usr_alice alice@example.com key " + k.ID + " 198.51.100.9",
		"key.create usr_alice alice@example.com key " + k.ID + " 198.51.100.9",
	}
	if !slices.Equal(trail, wantTrail) {
		t.Fatalf("audit trail %q\nwant %q", trail, wantTrail)
	}
}

func ptr[T any](v T) *T { return &v }

type fixed struct{ t time.Time }

func (f fixed) Now() time.Time { return f.t }

func equalKey(a, b keys.KeyJSON) bool {
	eq := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.ID == b.ID && a.Name == b.Name && a.Prefix == b.Prefix && a.CreatedAt == b.CreatedAt &&
		eq(a.LastUsedAt, b.LastUsedAt) && eq(a.ExpiresAt, b.ExpiresAt) && slices.Equal(a.Models, b.Models) &&
		slices.Equal(a.IPAllow, b.IPAllow) && a.RPM == b.RPM && a.MaxConcurrency == b.MaxConcurrency &&
		a.TokenQuota == b.TokenQuota && a.TokensUsed == b.TokensUsed && a.Revoked == b.Revoked
}

// A key without policies lists them as empty lists, zeros and nulls.
func TestMintWithoutPolicies(t *testing.T) {
	h := newHarness(t)
	k := h.mint("usr_bob", `{"name":"plain"}`)
	if k.Models == nil || len(k.Models) != 0 || k.IPAllow == nil || len(k.IPAllow) != 0 || k.ExpiresAt != nil ||
		k.RPM != 0 || k.MaxConcurrency != 0 || k.TokenQuota != 0 || k.Revoked {
		t.Fatalf("plain key %+v", k.KeyJSON)
	}
	if !strings.Contains(h.do("usr_bob", "GET", "/api/keys", "").body, `"models":[],"ip_allow":[]`) {
		t.Fatal("empty lists are not [] in the JSON")
	}
}

// Every invalid field is a 400 with a code naming the problem, and no key
// is minted.
func TestMintValidation(t *testing.T) {
	h := newHarness(t)
	many := func(n int, item string) string {
		l := make([]string, n)
		for i := range l {
			l[i] = item
		}
		return `["` + strings.Join(l, `","`) + `"]`
	}
	for _, tt := range []struct{ name, body, code string }{
		{"no name", `{}`, "missing_field"},
		{"blank name", `{"name":"  "}`, "missing_field"},
		{"long name", `{"name":"` + strings.Repeat("é", keys.MaxNameRunes+1) + `"}`, "invalid_name"},
		{"control in name", `{"name":"a\u0007b"}`, "invalid_name"},
		{"name not a string", `{"name":5}`, "invalid_name"},
		{"unknown model", `{"name":"k","models":["gpt-9"]}`, "unknown_model"},
		{"model the creator's accounts do not serve", `{"name":"k","models":["o3"]}`, "unknown_model"},
		{"empty model", `{"name":"k","models":[""]}`, "invalid_model"},
		{"too many models", `{"name":"k","models":` + many(keys.MaxModels+1, "gpt-5.1") + `}`, "too_many_models"},
		{"models not a list", `{"name":"k","models":"gpt-5.1"}`, "invalid_models"},
		{"bad CIDR", `{"name":"k","ip_allow":["10.0.0.0/33"]}`, "invalid_cidr"},
		{"not an address", `{"name":"k","ip_allow":["example.com"]}`, "invalid_cidr"},
		{"address with a zone", `{"name":"k","ip_allow":["fe80::1%eth0"]}`, "invalid_cidr"},
		{"too many addresses", `{"name":"k","ip_allow":` + many(keys.MaxIPAllow+1, "10.0.0.1") + `}`, "too_many_entries"},
		{"expiry in the past", `{"name":"k","expires_at":"2030-05-01T11:59:59Z"}`, "invalid_expires_at"},
		{"expiry now", `{"name":"k","expires_at":"2030-05-01T12:00:00Z"}`, "invalid_expires_at"},
		{"expiry not a time", `{"name":"k","expires_at":"tomorrow"}`, "invalid_expires_at"},
		{"negative rpm", `{"name":"k","rpm":-1}`, "invalid_rpm"},
		{"huge rpm", `{"name":"k","rpm":1000000000}`, "invalid_rpm"},
		{"fractional rpm", `{"name":"k","rpm":1.5}`, "invalid_rpm"},
		{"negative concurrency", `{"name":"k","max_concurrency":-2}`, "invalid_max_concurrency"},
		{"negative quota", `{"name":"k","token_quota":-5}`, "invalid_token_quota"},
		{"unknown field", `{"name":"k","rate_limit":5}`, "unknown_field"},
		{"two objects", `{"name":"k"}{"name":"j"}`, "invalid_json"},
		{"not JSON", `name=k`, "invalid_json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do("usr_alice", "POST", "/api/keys", tt.body)
			if a.status != http.StatusBadRequest || a.code(t) != tt.code {
				t.Fatalf("%d %s, want 400 %s", a.status, a.body, tt.code)
			}
		})
	}
	if got := h.list("usr_alice"); len(got) != 0 {
		t.Fatalf("invalid requests minted %d keys", len(got))
	}
	// Bob's accounts serve o3, not gpt-5.1: his rights, not Alice's.
	if a := h.do("usr_bob", "POST", "/api/keys", `{"name":"k","models":["gpt-5.1"]}`); a.status != http.StatusBadRequest {
		t.Fatalf("bob limited to a model only alice's accounts serve: %d", a.status)
	}
	h.mint("usr_bob", `{"name":"k","models":["o3"]}`)
}

// Another user's key is 404 on every route and never listed; an admin's
// list shows their own keys (the built-in admin's include the initial key,
// owned by ""), and an admin may revoke anyone's key.
func TestOwnership(t *testing.T) {
	h := newHarness(t)
	if _, _, err := apikey.Create(t.Context(), h.st, apikey.InitialKeyName, 0); err != nil {
		t.Fatal(err)
	}
	a := h.mint("usr_alice", `{"name":"alice's"}`)
	b := h.mint("usr_bob", `{"name":"bob's"}`)
	names := func(user string) string {
		var out []string
		for _, k := range h.list(user) {
			out = append(out, k.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names("usr_alice"); got != "alice's" {
		t.Fatalf("alice lists %q", got)
	}
	if got := names("usr_bob"); got != "bob's" {
		t.Fatalf("bob lists %q", got)
	}
	if got := names("usr_boss"); got != apikey.InitialKeyName {
		t.Fatalf("the built-in admin lists %q", got)
	}
	for _, id := range []string{b.ID, "key_nonexistent"} {
		if ans := h.do("usr_alice", "DELETE", "/api/keys/"+id, ""); ans.status != http.StatusNotFound || ans.code(t) != "not_found" {
			t.Fatalf("alice revokes %s: %d %s", id, ans.status, ans.body)
		}
	}
	if got := h.list("usr_bob"); got[0].Revoked {
		t.Fatal("alice revoked bob's key")
	}
	if ans := h.do("usr_boss", "DELETE", "/api/keys/"+a.ID, ""); ans.status != http.StatusNoContent {
		t.Fatalf("the admin revokes alice's key: %d %s", ans.status, ans.body)
	}
	if got := h.list("usr_alice"); !got[0].Revoked {
		t.Fatal("the admin's revocation did not take")
	}
	if es := h.audit(); es[0].Action != keys.ActionKeyRevoke || es[0].ActorID != "usr_boss" || es[0].TargetID != a.ID {
		t.Fatalf("audit of the admin's revocation: %+v", es[0])
	}
}

// Without a session every route is 401 (the server's session class), and
// a cross-origin POST is refused.
func TestRoutesNeedASession(t *testing.T) {
	h := newHarness(t)
	for _, rt := range []struct{ method, path string }{{"GET", "/api/keys"}, {"POST", "/api/keys"}, {"DELETE", "/api/keys/key_x"}} {
		if a := h.do("", rt.method, rt.path, `{"name":"k"}`); a.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d", rt.method, rt.path, a.status)
		}
	}
	r := httptest.NewRequest("POST", "/api/keys", strings.NewReader(`{"name":"k"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Test-User", "usr_alice")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || len(h.list("usr_alice")) != 0 {
		t.Fatalf("cross-site mint: %d %s", w.Code, w.Body)
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3": "10.1.2.3/32", "10.1.2.3/8": "10.0.0.0/8", "2001:db8::1": "2001:db8::1/128",
		"::ffff:10.0.0.1": "10.0.0.1/32", "::ffff:10.0.0.0/104": "10.0.0.0/8", " 192.0.2.0/24 ": "192.0.2.0/24",
	} {
		p, err := keys.ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v %v, want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/40", "10.0.0", "fe80::1%eth0", "host"} {
		if _, err := keys.ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q) accepted", in)
		}
	}
}
