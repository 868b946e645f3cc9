package usage_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
	"github.com/sparkgw/spark/internal/usage"
)

// day0 is the first day of the test data; "today" is two days later.
var day0 = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// seeded is a store with: day 0, key k1 asking m1, four requests (one
// 502); day 1, key k2 asking m2, two requests (one 429); day 2, key k1
// asking "=cmd" (a formula-looking model name), one request.
func seeded(t *testing.T) *memstore.Store {
	t.Helper()
	st := memstore.New(nil)
	var recs []store.UsageRecord
	add := func(day, hour int, key, model string, status int, latency, ttft int64) {
		recs = append(recs, store.UsageRecord{
			Time: day0.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour), RequestID: fmt.Sprintf("req_%d", len(recs)),
			KeyID: key, AccountID: "acct_" + key, Route: "POST /v1/chat/completions", Model: model, ServedModel: model,
			Status: status, InputTokens: 10, OutputTokens: 20, ReasoningTokens: 5, LatencyMS: latency, TTFTMS: ttft, Stream: true,
		})
	}
	add(0, 1, "k1", "m1", 200, 100, 10)
	add(0, 1, "k1", "m1", 200, 100, 10)
	add(0, 2, "k1", "m1", 200, 100, 10)
	add(0, 2, "k1", "m1", 502, 2000, 0)
	add(1, 5, "k2", "m2", 200, 300, 30)
	add(1, 5, "k2", "m2", 429, 5, 0)
	add(2, 0, "k1", "=cmd", 200, 100, 10)
	if err := st.AddUsage(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	return st
}

// mux mounts the usage routes without the server's steps, as an admin
// would call them.
func mux(st *memstore.Store) http.Handler {
	return muxAs(st, addUser(st, "usr_admin", store.RoleAdmin, false))
}

// muxAs mounts the usage routes without the server's steps, called by the
// user with id (as the server's session authenticator passes it on).
func muxAs(st usage.Store, id string) http.Handler {
	m := http.NewServeMux()
	h := usage.NewHandler(st, usage.HandlerOptions{Now: func() time.Time { return day0.AddDate(0, 0, 2).Add(13 * time.Hour) }})
	route.Mount(m, "", h.Routes())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.ServeHTTP(w, r.WithContext(reqctx.WithKeyID(r.Context(), id)))
	})
}

// addUser stores a user and returns their id.
func addUser(st *memstore.Store, id string, role store.Role, builtin bool) string {
	u, err := st.CreateUser(context.Background(), store.User{ID: id, Email: id + "@example.com", Role: role, Builtin: builtin})
	if err != nil {
		panic(err)
	}
	return u.ID
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	return v
}

func TestSummaryRoute(t *testing.T) {
	h := mux(seeded(t))
	type rows = struct{ Data []usage.SummaryRow }
	for _, tt := range []struct {
		name, query string
		want        string // group:requests/errors per row, in order
	}{
		{"by day, default range", "", "2026-04-01:4/1 2026-04-02:2/1 2026-04-03:1/0"},
		{"by day, one day", "?from=2026-04-02&to=2026-04-02", "2026-04-02:2/1"},
		{"by model", "?from=2026-04-01&to=2026-04-03&group_by=model", "m1:4/1 m2:2/1 =cmd:1/0"},
		{"by key", "?from=2026-04-01&to=2026-04-03&group_by=key", "k1:5/1 k2:2/1"},
		{"by account", "?from=2026-04-01&to=2026-04-01&group_by=account", "acct_k1:4/1"},
		{"by status", "?from=2026-04-01&to=2026-04-03&group_by=status", "200:5/0 429:1/1 502:1/1"},
		{"by hour", "?from=2026-04-01&to=2026-04-02&group_by=hour", "2026-04-01T01:00Z:2/0 2026-04-01T02:00Z:2/1 2026-04-02T05:00Z:2/1"},
		{"empty range", "?from=2025-01-01&to=2025-01-31", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range decode[rows](t, get(t, h, "/api/usage"+tt.query)).Data {
				got = append(got, fmt.Sprintf("%s:%d/%d", r.Group, r.Requests, r.Errors))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
	day := decode[rows](t, get(t, h, "/api/usage?from=2026-04-01&to=2026-04-01")).Data[0]
	if day.InputTokens != 40 || day.OutputTokens != 80 || day.ReasoningTokens != 20 {
		t.Errorf("tokens of day 0: %+v", day)
	}
	// 3 of 4 latencies are 100 ms, one 2000 ms; TTFT only of the 3 with a
	// first event. Percentiles come from histograms: within 12%.
	within := func(what string, got, exact int64) {
		if d := float64(got-exact) / float64(exact); d < -0.12 || d > 0.12 {
			t.Errorf("%s = %d, exact %d", what, got, exact)
		}
	}
	within("latency p50", day.LatencyP50MS, 100)
	within("latency p95", day.LatencyP95MS, 2000)
	within("ttft p50", day.TTFTP50MS, 10)
	var raw map[string][]map[string]any
	_ = json.Unmarshal(get(t, h, "/api/usage?from=2026-04-01&to=2026-04-01").Body.Bytes(), &raw)
	for _, k := range []string{"group", "requests", "errors", "input_tokens", "output_tokens", "reasoning_tokens", "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms"} {
		if _, ok := raw["data"][0][k]; !ok {
			t.Errorf("summary row lacks %q: %v", k, raw["data"][0])
		}
	}
}

func TestSummaryRouteRefusesBadQueries(t *testing.T) {
	h := mux(seeded(t))
	for _, q := range []string{
		"from=yesterday", "to=2026-13-01", "from=2026-04-03&to=2026-04-01", "from=2024-01-01&to=2026-04-01",
		"group_by=week", "from=2026-03-01&to=2026-04-01&group_by=hour",
	} {
		w := get(t, h, "/api/usage?"+q)
		var env struct {
			Error struct{ Message, Type string }
		}
		if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &env) != nil || env.Error.Message == "" {
			t.Errorf("%s: status %d, body %s; want a 400 JSON error", q, w.Code, w.Body)
		}
	}
}

func TestRequestsRoute(t *testing.T) {
	h := mux(seeded(t))
	type page = usage.RequestsPage
	ids := func(p page) string {
		var out []string
		for _, r := range p.Data {
			out = append(out, r.RequestID)
		}
		return strings.Join(out, " ")
	}
	p := decode[page](t, get(t, h, "/api/usage/requests"))
	if ids(p) != "req_6 req_5 req_4 req_3 req_2 req_1 req_0" || p.NextCursor != nil {
		t.Fatalf("all: %s, next %v", ids(p), p.NextCursor)
	}
	// Pages of 3 with the cursor, newest first, the last without a cursor.
	var seen []string
	path := "/api/usage/requests?limit=3"
	for range 5 {
		p := decode[page](t, get(t, h, path))
		seen = append(seen, ids(p))
		if p.NextCursor == nil {
			break
		}
		path = "/api/usage/requests?limit=3&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	if got := strings.Join(seen, " | "); got != "req_6 req_5 req_4 | req_3 req_2 req_1 | req_0" {
		t.Errorf("pages: %s", got)
	}
	for q, want := range map[string]string{
		"key=k2":           "req_5 req_4",
		"model=m1":         "req_3 req_2 req_1 req_0",
		"status=502":       "req_3",
		"status=error":     "req_5 req_3",
		"key=k1&status=ok": "req_6 req_2 req_1 req_0",
		"model=%3Dcmd":     "req_6",
		"key=nobody":       "",
		"key=k1&limit=2":   "req_6 req_3",
	} {
		if got := ids(decode[page](t, get(t, h, "/api/usage/requests?"+q))); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	var raw struct {
		Data       []map[string]any
		NextCursor any `json:"next_cursor"`
	}
	_ = json.Unmarshal(get(t, h, "/api/usage/requests?status=error").Body.Bytes(), &raw)
	r := raw.Data[0]
	for _, k := range []string{"time", "request_id", "key_id", "account_id", "route", "model", "served_model", "status",
		"error_class", "input_tokens", "output_tokens", "latency_ms", "ttft_ms", "stream"} {
		if _, ok := r[k]; !ok {
			t.Errorf("row lacks %q: %v", k, r)
		}
	}
	if r["ttft_ms"] != nil || r["time"] != "2026-04-02T05:00:00Z" {
		t.Errorf("failed request row: ttft_ms %v (want null), time %v", r["ttft_ms"], r["time"])
	}
	for _, q := range []string{"limit=0", "limit=x", "cursor=abc", "status=700", "status=bad"} {
		if w := get(t, h, "/api/usage/requests?"+q); w.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, w.Code)
		}
	}
}

func TestExportRoute(t *testing.T) {
	h := mux(seeded(t))
	w := get(t, h, "/api/usage/export.csv?key=k1")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 || strings.Join(rows[0], ",") != "time,request_id,key_id,account_id,route,model,served_model,status,error_class,input_tokens,output_tokens,reasoning_tokens,latency_ms,ttft_ms,stream" {
		t.Fatalf("rows: %q", rows)
	}
	if rows[1][1] != "req_6" || rows[1][5] != "'=cmd" {
		t.Errorf("first row %q: want req_6 with the formula-looking model quoted", rows[1])
	}
	if got := rows[2]; got[1] != "req_3" || got[7] != "502" || got[13] != "" || got[14] != "true" {
		t.Errorf("failed request row: %q", got)
	}
	if n := len(must(csv.NewReader(get(t, h, "/api/usage/export.csv?limit=2").Body).ReadAll())); n != 3 {
		t.Errorf("limit=2 exported %d lines, want a header and 2 rows", n)
	}
}

// TestExportPagesThroughTheStore exports more records than one store page.
func TestExportPagesThroughTheStore(t *testing.T) {
	st := memstore.New(nil)
	recs := make([]store.UsageRecord, store.MaxUsagePage+7)
	for i := range recs {
		recs[i] = store.UsageRecord{RequestID: fmt.Sprintf("req_%d", i), Status: 200}
	}
	if err := st.AddUsage(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	rows := must(csv.NewReader(get(t, mux(st), "/api/usage/export.csv").Body).ReadAll())
	if len(rows) != len(recs)+1 || rows[len(rows)-1][1] != "req_0" {
		t.Fatalf("%d lines, last %q", len(rows), rows[len(rows)-1])
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// session accepts the cookie "spark_session=ok".
type session struct{}

func (session) Authenticate(r *http.Request) (string, bool, error) {
	c, err := r.Cookie("spark_session")
	return "user_1", err == nil && c.Value == "ok", nil
}

// The routes are of the session class: without a session the server
// answers 401 before them; a user's session (not an admin's) reads them.
func TestRoutesNeedASession(t *testing.T) {
	st := seeded(t)
	addUser(st, "user_1", store.RoleUser, false)
	srv := server.New(server.Options{Session: session{}, Admin: noAdmin{}})
	if err := srv.Handle(usage.NewHandler(st, usage.HandlerOptions{}).Routes()...); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/usage", "/api/usage/requests", "/api/usage/export.csv"} {
		if w := get(t, srv, path); w.Code != http.StatusUnauthorized {
			t.Errorf("%s without a session: %d, want 401", path, w.Code)
		}
		r := httptest.NewRequest("GET", path, nil)
		r.AddCookie(&http.Cookie{Name: "spark_session", Value: "ok"})
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("%s with a user's session: %d %s", path, w.Code, w.Body)
		}
	}
}

// noAdmin refuses every request as an admin.
type noAdmin struct{}

func (noAdmin) Authenticate(*http.Request) (string, bool, error) { return "", false, nil }

// A user reads only the usage of their own keys: never another user's
// rows, sums or export, and another user's key id as a filter is 404. The
// built-in admin's own usage includes the environment's keys (owner ""); an
// admin reads everyone's, or one user's with owner=.
func TestUsageScopedToOwner(t *testing.T) {
	st := memstore.New(nil)
	ctx := t.Context()
	alice := addUser(st, "usr_alice", store.RoleUser, false)
	bob := addUser(st, "usr_bob", store.RoleUser, false)
	boss := addUser(st, "usr_boss", store.RoleAdmin, true)
	keyOf := map[string]string{}
	for _, owner := range []string{alice, bob, ""} {
		k, err := st.CreateAPIKey(ctx, store.APIKey{Name: "k", Prefix: "sk-spark-x", Hash: []byte(fmt.Sprintf("%-32s", owner)), OwnerID: owner})
		if err != nil {
			t.Fatal(err)
		}
		keyOf[owner] = k.ID
	}
	var recs []store.UsageRecord
	for i, owner := range []string{alice, alice, bob, "", boss} {
		key := keyOf[owner]
		if owner == boss {
			key = "env:1"
		}
		recs = append(recs, store.UsageRecord{Time: day0.AddDate(0, 0, 2), RequestID: fmt.Sprintf("req_%s_%d", owner, i),
			KeyID: key, OwnerID: owner, Model: "m-" + owner, Status: 200, InputTokens: 1})
	}
	if err := st.AddUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	rows := func(h http.Handler, q string) (int, string) {
		t.Helper()
		w := get(t, h, "/api/usage/requests"+q)
		var p usage.RequestsPage
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		var ids []string
		for _, r := range p.Data {
			ids = append(ids, r.RequestID)
		}
		return w.Code, strings.Join(ids, " ")
	}
	asAlice, asBob, asBoss := muxAs(st, alice), muxAs(st, bob), muxAs(st, boss)
	for _, tt := range []struct {
		name   string
		h      http.Handler
		query  string
		status int
		want   string
	}{
		{"alice sees hers", asAlice, "", 200, "req_usr_alice_1 req_usr_alice_0"},
		{"bob sees his", asBob, "", 200, "req_usr_bob_2"},
		{"alice filters by her key", asAlice, "?key=" + keyOf[alice], 200, "req_usr_alice_1 req_usr_alice_0"},
		{"alice filters by bob's key", asAlice, "?key=" + keyOf[bob], 404, ""},
		{"alice filters by an env key", asAlice, "?key=env:1", 404, ""},
		{"alice filters by bob", asAlice, "?owner=" + bob, 404, ""},
		{"the admin sees everyone's", asBoss, "", 200, "req_usr_boss_4 req__3 req_usr_bob_2 req_usr_alice_1 req_usr_alice_0"},
		{"the admin filters by bob", asBoss, "?owner=" + bob, 200, "req_usr_bob_2"},
		{"the built-in admin's own", asBoss, "?owner=" + boss, 200, "req_usr_boss_4 req__3"},
		{"the admin filters by bob's key", asBoss, "?key=" + keyOf[bob], 200, "req_usr_bob_2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status, got := rows(tt.h, tt.query); status != tt.status || got != tt.want {
				t.Errorf("%d %q, want %d %q", status, got, tt.status, tt.want)
			}
		})
	}
	// The sums and the export are scoped alike.
	var sum struct{ Data []usage.SummaryRow }
	w := get(t, asBob, "/api/usage?from=2026-04-01&to=2026-04-03&group_by=model")
	if err := json.Unmarshal(w.Body.Bytes(), &sum); err != nil || len(sum.Data) != 1 || sum.Data[0].Group != "m-"+bob || sum.Data[0].Requests != 1 {
		t.Errorf("bob's summary: %d %s", w.Code, w.Body)
	}
	w = get(t, asBob, "/api/usage?from=2026-04-01&to=2026-04-03&group_by=hour")
	if err := json.Unmarshal(w.Body.Bytes(), &sum); err != nil || len(sum.Data) != 1 || sum.Data[0].Requests != 1 {
		t.Errorf("bob's summary by hour: %d %s", w.Code, w.Body)
	}
	csvRows := must(csv.NewReader(get(t, asAlice, "/api/usage/export.csv").Body).ReadAll())
	if len(csvRows) != 3 || csvRows[1][1] != "req_usr_alice_1" || csvRows[2][1] != "req_usr_alice_0" {
		t.Errorf("alice's export: %q", csvRows)
	}
	if w := get(t, asAlice, "/api/usage/export.csv?key="+keyOf[bob]); w.Code != http.StatusNotFound {
		t.Errorf("alice exports bob's key: %d", w.Code)
	}
	// A session whose user is gone reads nothing.
	if w := get(t, muxAs(st, "usr_gone"), "/api/usage/requests"); w.Code != http.StatusUnauthorized {
		t.Errorf("a deleted user: %d", w.Code)
	}
}
