package app_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/config"
)

// TestManagementPlaneEndToEnd is issue 13's scenario in one piece, with
// no account from the environment: the admin signs in, adds a Gemini and
// a Genspark account through the API, tests them (the logged-out one is
// diagnosed logged_out), a second user signs in and can neither see nor
// touch them, the admin mints a key limited to gpt-5.1 at 2 requests a
// minute, the official openai Go SDK uses it (gpt-5.1 works,
// gemini-3-flash is refused with 403, the third request of the minute
// with 429), and the three requests appear in /api/usage/requests and in
// the CSV export, with the X-Request-Id of their answers.
func TestManagementPlaneEndToEnd(t *testing.T) {
	e := startKeys(t, func(c *config.Config) { c.GSCookie, c.GeminiCookie = "", "" })
	if st, _, body := call(t, e.admin, "GET", e.url+"/api/accounts", ""); st != 200 || strings.Contains(body, `"id"`) {
		t.Fatalf("accounts before any was added: %d %s", st, body)
	}

	add := func(provider, cookie, label string) string {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"provider": provider, "cookie": cookie, "label": label})
		st, _, body := call(t, e.admin, "POST", e.url+"/api/accounts", string(b))
		var a struct {
			ID, State string
			Shared    bool
		}
		if err := json.Unmarshal([]byte(body), &a); st != http.StatusCreated || err != nil || a.ID == "" || a.State != "active" || a.Shared {
			t.Fatalf("add %s: %d %s", label, st, body)
		}
		if strings.Contains(body, cookie) {
			t.Fatalf("the answer to adding %s echoes its cookie", label)
		}
		return a.ID
	}
	gemini := add("geminiweb", "__Secure-1PSID=e2e-gemini; __Secure-1PSIDTS=ts", "team gemini")
	genspark := add("genspark", "session_id=e2e-genspark", "team genspark")
	loggedOut := add("genspark", "session_id=expired-session", "stale genspark")

	type verdict struct {
		OK      bool    `json:"ok"`
		Problem *string `json:"problem"`
	}
	doctor := func(id string) verdict {
		t.Helper()
		st, _, body := call(t, e.admin, "POST", e.url+"/api/accounts/"+id+"/test", "")
		var v verdict
		if err := json.Unmarshal([]byte(body), &v); st != 200 || err != nil {
			t.Fatalf("test %s: %d %s", id, st, body)
		}
		return v
	}
	for _, id := range []string{gemini, genspark} {
		if v := doctor(id); !v.OK || v.Problem != nil {
			t.Fatalf("healthy account %s: %+v", id, v)
		}
	}
	if v := doctor(loggedOut); v.OK || v.Problem == nil || *v.Problem != "logged_out" {
		t.Fatalf("logged-out account: %+v", v)
	}

	// A second user sees none of it: not in the list, 404 by id.
	dev := e.signIn("dev@example.com")
	if st, _, body := call(t, dev, "GET", e.url+"/api/accounts", ""); st != 200 || strings.Contains(body, gemini) ||
		strings.Contains(body, genspark) || strings.Contains(body, "team ") {
		t.Fatalf("the second user's account list: %d %s", st, body)
	}
	for _, req := range [][2]string{
		{"POST", "/api/accounts/" + gemini + "/test"}, {"POST", "/api/accounts/" + genspark + "/reset"},
		{"PATCH", "/api/accounts/" + genspark}, {"DELETE", "/api/accounts/" + loggedOut},
	} {
		body := ""
		if req[0] == "PATCH" {
			body = `{"label":"mine now"}`
		}
		if st, _, out := call(t, dev, req[0], e.url+req[1], body); st != http.StatusNotFound {
			t.Fatalf("the second user: %s %s = %d %s, want 404", req[0], req[1], st, out)
		}
	}

	id, key := e.mint(e.admin, `{"name":"e2e","models":["gpt-5.1"],"rpm":2}`)
	var requestIDs []string
	completion, err := e.chat(key, "gpt-5.1")
	if err != nil {
		t.Fatalf("gpt-5.1 through the key: %v", err)
	}
	if completion.Model != "gpt-5.1" {
		t.Errorf("answered by model %q", completion.Model)
	}
	_, err = e.chat(key, "gemini-3-flash")
	ae := apiError(t, err, http.StatusForbidden)
	if !strings.Contains(ae.Message, "gpt-5.1") {
		t.Errorf("the 403 does not name the allowed model: %q", ae.Message)
	}
	requestIDs = append(requestIDs, ae.Response.Header.Get("X-Request-Id"))
	_, err = e.chat(key, "gpt-5.1")
	ae = apiError(t, err, http.StatusTooManyRequests)
	if ra, err := strconv.Atoi(ae.Response.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", ae.Response.Header.Get("Retry-After"))
	}
	requestIDs = append(requestIDs, ae.Response.Header.Get("X-Request-Id"))

	type row struct {
		RequestID   string `json:"request_id"`
		KeyID       string `json:"key_id"`
		AccountID   string `json:"account_id"`
		Model       string `json:"model"`
		ServedModel string `json:"served_model"`
		Status      int    `json:"status"`
	}
	var rows []row
	eventually(t, "three usage records", func() bool {
		_, _, body := call(t, e.admin, "GET", e.url+"/api/usage/requests?key="+id, "")
		var p struct{ Data []row }
		_ = json.Unmarshal([]byte(body), &p)
		rows = p.Data
		return len(rows) >= 3
	})
	if len(rows) != 3 || rows[0].Status != 429 || rows[1].Status != 403 || rows[2].Status != 200 {
		t.Fatalf("usage rows %+v, want 429, 403, 200 (newest first)", rows)
	}
	if rows[2].Model != "gpt-5.1" || rows[2].ServedModel != "gpt-5.1" || rows[2].AccountID != genspark {
		t.Errorf("the successful request's row %+v, want gpt-5.1 served by the team's Genspark account", rows[2])
	}
	for i, want := range []string{requestIDs[1], requestIDs[0]} {
		if want == "" || rows[i].RequestID != want {
			t.Errorf("row %d has request id %q, want the answer's X-Request-Id %q", i, rows[i].RequestID, want)
		}
	}
	st, hdr, body := call(t, e.admin, "GET", e.url+"/api/usage/export.csv?key="+id, "")
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if st != 200 || err != nil || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || len(recs) != 4 {
		t.Fatalf("CSV export: %d %s %q %v", st, hdr.Get("Content-Type"), recs, err)
	}
	col := slices.Index(recs[0], "request_id")
	if col < 0 || recs[1][col] != requestIDs[1] {
		t.Errorf("CSV header %q, first row %q", recs[0], recs[1])
	}
	// And the second user's usage holds none of it.
	if st, _, body := call(t, dev, "GET", e.url+"/api/usage/requests", ""); st != 200 || strings.Contains(body, id) {
		t.Fatalf("the second user's usage: %d %s", st, body)
	}
}
