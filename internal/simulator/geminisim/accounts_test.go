package geminisim_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

func TestAppPage(t *testing.T) {
	e := newEnv(t)
	cookie := account("rita")
	resp, page := e.get("/app", cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}
	at := reSNlM0e.FindSubmatch(page)
	if at == nil || reCfb2h.FindSubmatch(page) == nil || reFdrFJe.FindSubmatch(page) == nil {
		t.Fatalf("signed-in page lacks SNlM0e/cfb2h/FdrFJe: %s", page)
	}
	// SNlM0e looks like the 2023 fixture: <28 chars>:<epoch-ms>.
	tok, ms, ok := strings.Cut(string(at[1]), ":")
	if !ok || len(tok) != 28 || len(ms) != 13 {
		t.Errorf("SNlM0e %q", at[1])
	}
	for _, key := range []string{`"TuX5cc":"en"`, `"qKIAYe":"feeds/`, `"cfb2h":"boq_assistant-bard-web-server_`} {
		mustContain(t, string(page), key)
	}
	// Deterministic per account, different between accounts.
	if again := e.scrape(cookie); again != string(at[1]) {
		t.Errorf("SNlM0e changed: %q then %q", at[1], again)
	}
	if other := e.scrape(account("rita2")); other == string(at[1]) || other == "" {
		t.Errorf("another account got %q", other)
	}
	// The SIDCC family is refreshed on the page.
	names := map[string]bool{}
	for _, c := range resp.Cookies() {
		names[c.Name] = true
	}
	for _, n := range []string{"SIDCC", "__Secure-1PSIDCC", "__Secure-3PSIDCC"} {
		if !names[n] {
			t.Errorf("page does not refresh %s (got %v)", n, names)
		}
	}
	// Multi-account prefix.
	if _, p := e.get("/u/1/app", cookie); !strings.Contains(string(p), string(at[1])) {
		t.Error("/u/1/app is not the same account's page")
	}
	// Logged out: no cookie, expired account, missing or stale PSIDTS.
	for _, c := range []string{"", account("expired-rita"), "__Secure-1PSID=rita", "__Secure-1PSID=rita; __Secure-1PSIDTS=stale-1"} {
		resp, p := e.get("/app", c)
		if resp.StatusCode != http.StatusOK || reSNlM0e.Match(p) {
			t.Errorf("cookie %q: status %d, SNlM0e present %v", c, resp.StatusCode, reSNlM0e.Match(p))
		}
		if !reCfb2h.Match(p) || !reFdrFJe.Match(p) {
			t.Errorf("cookie %q: anonymous page lacks bl/f.sid", c)
		}
	}
	if ent := e.lastEntry("gemini"); ent.Facts["signed_in"] != false {
		t.Errorf("facts %v", ent.Facts)
	}
}

// rotate calls RotateCookies with the sentinel body.
func (e *env) rotate(cookie string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/RotateCookies", strings.NewReader(`[000,"-0000000000000000000"]`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://accounts.google.com")
	req.Header.Set("Cookie", cookie)
	resp, _ := e.do(req)
	return resp
}

func newPSIDTS(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if c.Name == "__Secure-1PSIDTS" {
			return c.Value
		}
	}
	return ""
}

func TestRotateCookies(t *testing.T) {
	e := newEnv(t)
	original := account("sam")
	resp := e.rotate(original)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ts1 := newPSIDTS(resp)
	if !strings.HasPrefix(ts1, "sidts-") {
		t.Fatalf("new __Secure-1PSIDTS %q", ts1)
	}
	// Same cookie names, in the same order, as the captured rotation.
	var fxNames []string
	sc := bufio.NewScanner(strings.NewReader(string(fixture(t, "rotatecookies_2025-10_set_cookie_headers.txt"))))
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, "=") {
			name, _, _ := strings.Cut(l, "=")
			fxNames = append(fxNames, name)
		}
	}
	var names []string
	for _, v := range resp.Header.Values("Set-Cookie") {
		name, _, _ := strings.Cut(v, "=")
		names = append(names, name)
	}
	if strings.Join(names, ",") != strings.Join(fxNames, ",") {
		t.Errorf("Set-Cookie names %v, fixture %v", names, fxNames)
	}
	if v := resp.Header.Values("Set-Cookie")[0]; !strings.Contains(v, "; Path=/;") || !strings.Contains(v, "HttpOnly; Priority=HIGH; SameParty") || !strings.Contains(v, "-20") {
		t.Errorf("__Secure-1PSIDTS attributes %q", v)
	}
	if c := resp.Cookies()[0]; c.Expires.IsZero() {
		t.Error("Expires does not parse")
	}
	if ent := e.lastEntry("accounts"); ent.Facts["new_psidts"] != ts1 || ent.Outcome != simcore.OutcomeCompleted {
		t.Fatalf("entry %+v", ent)
	}
	// The minted value signs the app page in.
	rotated := "__Secure-1PSID=sam; __Secure-1PSIDTS=" + ts1
	if e.scrape(rotated) == "" {
		t.Fatal("rotated __Secure-1PSIDTS is not accepted by /app")
	}
	// A second rotation: the newest and the previous value work, the
	// imported one has gone stale.
	ts2 := newPSIDTS(e.rotate(rotated))
	if ts2 == "" || ts2 == ts1 {
		t.Fatalf("second rotation gave %q after %q", ts2, ts1)
	}
	if e.scrape("__Secure-1PSID=sam; __Secure-1PSIDTS="+ts2) == "" || e.scrape(rotated) == "" {
		t.Fatal("current or previous __Secure-1PSIDTS rejected")
	}
	if e.scrape(original) != "" {
		t.Fatal("the imported __Secure-1PSIDTS is still accepted after two rotations")
	}
	// Another account's minted value is never accepted.
	if e.scrape("__Secure-1PSID=tom; __Secure-1PSIDTS="+ts2) != "" {
		t.Fatal("a __Secure-1PSIDTS of another account signs in")
	}

	// No new cookie (known failure mode): 200, SIDCC family only.
	resp = e.rotate(account("norotate-sam"))
	if resp.StatusCode != http.StatusOK || newPSIDTS(resp) != "" {
		t.Fatalf("norotate: status %d psidts %q", resp.StatusCode, newPSIDTS(resp))
	}
	if len(resp.Cookies()) == 0 {
		t.Error("norotate answer refreshes no cookies")
	}
	if ent := e.lastEntry("accounts"); ent.Facts["new_psidts"] != "" {
		t.Fatalf("new_psidts %v", ent.Facts["new_psidts"])
	}
	// Dead session, or the whole jar sent: 401.
	for _, c := range []string{account("expired-sam"), "", account("sam") + "; SID=x; HSID=y", "__Secure-1PSID=sam"} {
		if resp := e.rotate(c); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("cookie %q: status %d, want 401", c, resp.StatusCode)
		}
	}
}

func TestRotateCookiesPageFlow(t *testing.T) {
	e := newEnv(t)
	cookie := account("uma") + "; SID=a; HSID=b"
	_, page := e.get("/RotateCookiesPage?og_pid=658&rot=3&origin=https%3A%2F%2Fgemini.google.com&exp_id=0", cookie)
	i := strings.Index(string(page), "init('")
	if i < 0 || !strings.Contains(string(page), "658.0, 0.0, 0.0, 600.0)") {
		t.Fatalf("page %s", page)
	}
	id, _, _ := strings.Cut(string(page[i+6:]), "'")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/RotateCookies", strings.NewReader(`[658,"`+id+`"]`))
	req.Header.Set("Cookie", cookie)
	resp, _ := e.do(req)
	if resp.StatusCode != http.StatusOK || newPSIDTS(resp) == "" {
		t.Fatalf("page flow: %d %q", resp.StatusCode, newPSIDTS(resp))
	}
	_, page = e.get("/RotateCookiesPage?og_pid=658", account("expired-uma"))
	if strings.Contains(string(page), "init(") {
		t.Fatal("dead session got init(")
	}
}
