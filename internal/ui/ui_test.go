package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// fakeSessions signs in whoever sends the cookie "s=<id>" as users[id].
type fakeSessions map[string]store.User

func (f fakeSessions) SessionUser(r *http.Request) (store.User, error) {
	c, err := r.Cookie("s")
	if err != nil {
		return store.User{}, &gw.Error{Code: gw.CodeUnauthorized, Message: "no session"}
	}
	u, ok := f[c.Value]
	if !ok {
		return store.User{}, &gw.Error{Code: gw.CodeUnauthorized, Message: "no session"}
	}
	return u, nil
}

var testUsers = fakeSessions{
	"admin": {ID: "u1", Email: "boss@example.com", Role: store.RoleAdmin},
	"user":  {ID: "u2", Email: "dev@example.com", Role: store.RoleUser},
}

func newTestMux(t *testing.T, opts Options) http.Handler {
	t.Helper()
	if opts.Sessions == nil {
		opts.Sessions = testUsers
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	// Paths without the prefix, as the server hands them over.
	mux := http.NewServeMux()
	route.Mount(mux, "", h.Routes())
	mux.Handle("GET /{$}", h.Root())
	if opts.Prefix == "" {
		return mux
	}
	outer := http.NewServeMux()
	outer.Handle(opts.Prefix+"/", http.StripPrefix(opts.Prefix, mux))
	return outer
}

func get(t *testing.T, mux http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

// TestPagesNeedASession: without a session every page redirects the browser
// to the sign-in page with the page to come back to; the sign-in page and
// the static files are served to anyone.
func TestPagesNeedASession(t *testing.T) {
	mux := newTestMux(t, Options{Prefix: "/hf", PasswordLogin: true})
	for _, p := range []string{"/hf/", "/hf/accounts", "/hf/keys", "/hf/usage?x=1", "/hf/models", "/hf/playground", "/hf/users", "/hf/audit"} {
		w := get(t, mux, p)
		want := "/hf/login?next=" + strings.ReplaceAll(strings.ReplaceAll(p, "/", "%2F"), "?", "%3F")
		want = strings.ReplaceAll(want, "=1", "%3D1")
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("GET %s without a session: %d Location %q, want 303 %q", p, w.Code, w.Header().Get("Location"), want)
		}
	}
	if w := get(t, mux, "/hf/login"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="signin-form"`) {
		t.Fatalf("GET /hf/login: %d", w.Code)
	}
	if w := get(t, mux, "/hf/ui/js/app.js"); w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET app.js: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	// Signed in already: the sign-in page sends the browser on.
	if w := get(t, mux, "/hf/login?next=/hf/keys", "Cookie", "s=user"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/hf/keys" {
		t.Fatalf("signed-in GET /hf/login: %d %q", w.Code, w.Header().Get("Location"))
	}
}

// TestSignInPageMethods: the form and the OIDC button appear as configured,
// with the accessible names external tests use.
func TestSignInPageMethods(t *testing.T) {
	for _, tc := range []struct {
		password bool
		oidc     string
		want     []string
		not      []string
	}{
		{true, "", []string{`<label for="email">Email</label>`, `<label for="password">Password</label>`, `>Sign in</button>`}, []string{">Sign in with"}},
		{true, "Google", []string{`>Sign in</button>`, `>Sign in with Google</button>`, `action="/auth/login"`}, nil},
		{false, "Corp SSO", []string{`>Sign in with Corp SSO</button>`}, []string{`id="password"`}},
	} {
		mux := newTestMux(t, Options{PasswordLogin: tc.password, OIDCName: tc.oidc})
		body := get(t, mux, "/login").Body.String()
		for _, s := range tc.want {
			if !strings.Contains(body, s) {
				t.Errorf("password=%v oidc=%q: page lacks %s", tc.password, tc.oidc, s)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(body, s) {
				t.Errorf("password=%v oidc=%q: page has %s", tc.password, tc.oidc, s)
			}
		}
	}
}

var (
	scriptTag = regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`)
	inlineOn  = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+=`)
)

// TestPagesHaveStrictCSP: every page has a CSP that allows scripts from its
// own origin only and nothing inline, no inline script (only module files
// and the JSON message catalog), no event-handler or style attributes, and
// a viewport meta and favicon.
func TestPagesHaveStrictCSP(t *testing.T) {
	mux := newTestMux(t, Options{PasswordLogin: true, OIDCName: "Google", PublicURL: "https://spark.example.com/base"})
	paths := []string{"/login", "/", "/accounts", "/keys", "/usage", "/models", "/playground", "/users", "/audit"}
	for _, p := range paths {
		cookie := "s=admin"
		if p == "/login" {
			cookie = "s=nobody"
		}
		w := get(t, mux, p, "Cookie", cookie)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, w.Code)
		}
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "img-src 'self' data: blob: https://spark.example.com;", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q allows unsafe sources", p, csp)
		}
		body := w.Body.String()
		for _, m := range scriptTag.FindAllStringSubmatch(body, -1) {
			attrs, content := m[1], strings.TrimSpace(m[2])
			switch {
			case strings.Contains(attrs, `type="module"`) && strings.Contains(attrs, "src=") && content == "":
			case strings.Contains(attrs, `type="application/json"`):
				var v map[string]string
				if err := json.Unmarshal([]byte(content), &v); err != nil || v["nav.overview"] == "" {
					t.Errorf("%s: the catalog is not a JSON object of messages: %v", p, err)
				}
			default:
				t.Errorf("%s: inline or classic script <script%s>", p, attrs)
			}
		}
		if inlineOn.MatchString(body) || strings.Contains(body, " style=") {
			t.Errorf("%s: an inline event handler or style attribute", p)
		}
		for _, want := range []string{`<meta name="viewport" content="width=device-width, initial-scale=1">`, `<link rel="icon" href="/ui/favicon.svg"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: lacks %s", p, want)
			}
		}
	}
	if w := get(t, mux, "/ui/favicon.svg"); w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Errorf("GET /ui/favicon.svg: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// TestNavigationByRole: admins see Users and Audit; users see neither and
// get a 404 page for them.
func TestNavigationByRole(t *testing.T) {
	mux := newTestMux(t, Options{})
	admin := get(t, mux, "/keys", "Cookie", "s=admin").Body.String()
	for _, name := range []string{"Overview", "Accounts", "Keys", "Usage", "Models", "Playground", "Users", "Audit"} {
		if !strings.Contains(admin, ">"+name+"</a>") {
			t.Errorf("admin navigation lacks %q", name)
		}
	}
	if !strings.Contains(admin, `href="/keys" aria-current="page">Keys</a>`) || !strings.Contains(admin, `>Sign out</button>`) {
		t.Error("the current page is not marked, or Sign out is missing")
	}
	user := get(t, mux, "/keys", "Cookie", "s=user").Body.String()
	if strings.Contains(user, ">Users</a>") || strings.Contains(user, ">Audit</a>") {
		t.Error("a user's navigation shows admin pages")
	}
	for _, p := range []string{"/users", "/audit"} {
		if w := get(t, mux, p, "Cookie", "s=user"); w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "users-table") || strings.Contains(w.Body.String(), "audit-table") {
			t.Errorf("a user's GET %s: %d", p, w.Code)
		}
	}
}

// TestLanguageAndTheme: the language comes from the switch's cookie, else
// Accept-Language; dark mode from its cookie; both render server-side.
func TestLanguageAndTheme(t *testing.T) {
	mux := newTestMux(t, Options{PasswordLogin: true})
	for _, tc := range []struct {
		header []string
		lang   string
		signIn string
	}{
		{nil, "en", ">Sign in</button>"},
		{[]string{"Accept-Language", "zh-TW,zh;q=0.9,en;q=0.8"}, "zh-CN", ">登录</button>"},
		{[]string{"Accept-Language", "fr-FR,en;q=0.5,zh;q=0.1"}, "en", ">Sign in</button>"},
		{[]string{"Accept-Language", "zh-CN", "Cookie", "spark_lang=en"}, "en", ">Sign in</button>"},
		{[]string{"Cookie", "spark_lang=zh-CN"}, "zh-CN", ">登录</button>"},
		{[]string{"Cookie", "spark_lang=xx"}, "en", ">Sign in</button>"},
	} {
		body := get(t, mux, "/login", tc.header...).Body.String()
		if !strings.Contains(body, `<html lang="`+tc.lang+`"`) || !strings.Contains(body, tc.signIn) {
			t.Errorf("%v: want lang %s with %s", tc.header, tc.lang, tc.signIn)
		}
	}
	if body := get(t, mux, "/login", "Cookie", "spark_theme=dark").Body.String(); !strings.Contains(body, `data-theme="dark"`) || !strings.Contains(body, `id="dark-mode" checked`) {
		t.Error("the dark-mode cookie does not render the dark theme")
	}
	if body := get(t, mux, "/login", "Cookie", "spark_theme=light").Body.String(); !strings.Contains(body, `data-theme="light"`) || strings.Contains(body, `id="dark-mode" checked`) {
		t.Error("the light cookie does not render the light theme")
	}
	if body := get(t, mux, "/login").Body.String(); strings.Contains(body, `data-theme=`) {
		t.Error("a theme without the cookie (the browser's preference should apply)")
	}
}

// TestCatalogs: both languages have the same keys with non-empty messages,
// every key the templates and scripts use exists, and the English accessible
// names are the ones external browser tests use.
func TestCatalogs(t *testing.T) {
	en, zh := catalogs[LangEnglish], catalogs[LangChinese]
	for k, v := range en {
		if strings.TrimSpace(v) == "" || strings.TrimSpace(zh[k]) == "" {
			t.Errorf("%q is empty or missing in a language", k)
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%q is in zh-CN only", k)
		}
	}
	used := map[string]bool{}
	tmplKey := regexp.MustCompile(`\.Tf? "([a-z0-9_.]+)"`)
	jsKey := regexp.MustCompile(`\bt\("([a-z0-9_.]+)"`)
	jsPrefix := regexp.MustCompile(`\bt\("([a-z0-9_]+\.)" \+`)
	prefixes := map[string]bool{}
	err := fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "vendor") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".html":
			for _, m := range tmplKey.FindAllSubmatch(b, -1) {
				used[string(m[1])] = true
			}
		case ".js":
			for _, m := range jsKey.FindAllSubmatch(b, -1) {
				if !strings.HasSuffix(string(m[1]), ".") {
					used[string(m[1])] = true
				}
			}
			for _, m := range jsPrefix.FindAllSubmatch(b, -1) {
				prefixes[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 100 {
		t.Fatalf("found only %d message keys in use; the scan is broken", len(used))
	}
	for k := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is used but not in the catalog", k)
		}
	}
	// Keys built from API values: every state, doctor problem and import
	// status the API defines.
	for _, k := range []string{"state.active", "state.resting", "state.disabled",
		"problem.logged_out", "problem.rate_limited", "problem.quota", "problem.blocked", "problem.cloudflare",
		"problem.network", "problem.protocol_changed", "problem.model_downgraded",
		"import.created", "import.updated", "import.unchanged", "import.invalid"} {
		if _, ok := en[k]; !ok {
			t.Errorf("catalog lacks %q", k)
		}
		prefix, _, _ := strings.Cut(k, ".")
		if !prefixes[prefix+"."] {
			t.Errorf("no script builds keys with %q", prefix+".")
		}
	}
	fixed := map[string]string{
		"signin.email": "Email", "signin.password": "Password", "signin.submit": "Sign in", "signin.oidc": "Sign in with {provider}",
		"nav.overview": "Overview", "nav.accounts": "Accounts", "nav.keys": "Keys", "nav.usage": "Usage", "nav.models": "Models",
		"nav.playground": "Playground", "nav.users": "Users", "nav.audit": "Audit", "nav.signout": "Sign out", "prefs.dark": "Dark mode",
		"accounts.test": "Test", "accounts.reset": "Reset", "common.delete": "Delete", "accounts.add": "Add account",
		"accounts.provider": "Provider", "accounts.cookie": "Cookie", "accounts.label": "Label", "accounts.proxy": "Proxy",
		"common.save": "Save", "accounts.import": "Import", "keys.create": "Create key", "keys.name": "Name", "keys.models": "Models",
		"keys.ip_allow": "IP allowlist", "keys.expires": "Expires", "keys.rpm": "Requests per minute", "keys.max_concurrency": "Max concurrency",
		"keys.token_quota": "Token quota", "keys.submit": "Create", "keys.revoke": "Revoke", "usage.export": "Export CSV",
		"playground.model": "Model", "playground.system": "System", "playground.message": "Message", "playground.send": "Send",
	}
	for k, want := range fixed {
		if en[k] != want {
			t.Errorf("English %q = %q, want %q (a fixed accessible name)", k, en[k], want)
		}
		if zh[k] == want && !slices.Contains([]string{"accounts.cookie"}, k) {
			t.Errorf("zh-CN %q is not translated", k)
		}
	}
}

// TestSafeNext: the page to go back to after signing in is a local path
// under the prefix, never another site.
func TestSafeNext(t *testing.T) {
	h := &Handler{opts: Options{Prefix: "/hf"}}
	for in, want := range map[string]string{
		"":                     "/hf/",
		"/hf/keys?x=1":         "/hf/keys?x=1",
		"//evil.example/hf/":   "/hf/",
		"https://evil.example": "/hf/",
		"/other":               "/hf/",
		"/hf/\\evil":           "/hf/",
		"/hf/a\r\nb":           "/hf/",
	} {
		if got := h.safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestVendoredUPlot: the vendored uPlot files are the npm package's, as
// README.md next to them records (sums), and byte for byte the package's
// files when test/browser/node_modules is installed.
func TestVendoredUPlot(t *testing.T) {
	readme, err := os.ReadFile("static/vendor/uplot/README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (\S+) \| (\S+) \| ([0-9a-f]{64}) \|$`)
	rows := row.FindAllStringSubmatch(string(readme), -1)
	if len(rows) != 3 {
		t.Fatalf("README.md lists %d files, want 3", len(rows))
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile("../../test/browser/package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	if v := pkg.Dependencies["uplot"]; v == "" || !strings.Contains(string(readme), "**"+v+"**") {
		t.Fatalf("test/browser pins uplot %q, README.md another version", v)
	}
	nodeModules := "../../test/browser/node_modules/uplot"
	_, statErr := os.Stat(nodeModules)
	for _, r := range rows {
		vendored, err := os.ReadFile(filepath.Join("static/vendor/uplot", r[1]))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(vendored)
		if hex.EncodeToString(sum[:]) != r[3] {
			t.Errorf("%s: sha256 %x, README.md says %s", r[1], sum, r[3])
		}
		if statErr == nil {
			orig, err := os.ReadFile(filepath.Join(nodeModules, r[2]))
			if err != nil {
				t.Fatal(err)
			}
			if string(orig) != string(vendored) {
				t.Errorf("%s differs from the npm package's %s", r[1], r[2])
			}
		}
	}
	if statErr != nil {
		t.Logf("test/browser/node_modules not installed: checked the recorded sums only")
	}
}
