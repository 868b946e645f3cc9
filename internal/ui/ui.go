// Package ui is the dashboard's web interface: server-rendered pages
// (html/template, embedded with go:embed) whose small ES modules drive the
// dashboard's JSON API with fetch and render its answers with DOM APIs
// only. Nothing is built or fetched from elsewhere at run time: the
// templates, scripts, styles, message catalogs and the vendored chart
// library are all in the binary.
//
// Pages are public routes that check the session themselves, so a browser
// without one is redirected to the sign-in page instead of getting the
// API's 401 JSON. Every page carries a strict Content-Security-Policy (no
// inline script or style), so a label, an error text or model output the
// API returns can never run script.
package ui

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Sessions finds the signed-in user of a request (identity.Service does).
// An error with gw.CodeUnauthorized means there is no valid session.
type Sessions interface {
	SessionUser(r *http.Request) (store.User, error)
}

// Provider is an upstream a user can add accounts for, as the account
// forms offer it.
type Provider struct {
	Name        string // the API's provider value
	DisplayName string // shown to people
}

// Options configure the dashboard.
type Options struct {
	Sessions Sessions
	// Prefix is ROUTE_PREFIX ("" or like "/hf"): every link the pages make
	// starts with it.
	Prefix string
	// PublicURL is the external base URL (PUBLIC_URL), whose origin the
	// pages may load images from (signed image links are minted under it).
	PublicURL string
	// PasswordLogin offers the email and password form.
	PasswordLogin bool
	// OIDCName is the OpenID provider's name for "Sign in with <name>";
	// "" when OIDC sign-in is off.
	OIDCName string
	// Providers are the upstreams offered when adding accounts.
	Providers []Provider
	Logger    *slog.Logger
}

// Handler serves the dashboard's pages and static files.
type Handler struct {
	opts   Options
	pages  map[string]*template.Template
	static http.Handler
	csp    string
}

// page is one navigable page of the dashboard.
type page struct {
	name  string // template and script name
	path  string // route path
	admin bool   // only for admins (others get a 404 page)
}

// pages lists the signed-in pages in navigation order.
var pages = []page{
	{name: "overview", path: "/{$}"},
	{name: "accounts", path: "/accounts"},
	{name: "keys", path: "/keys"},
	{name: "usage", path: "/usage"},
	{name: "models", path: "/models"},
	{name: "playground", path: "/playground"},
	{name: "users", path: "/users", admin: true},
	{name: "audit", path: "/audit", admin: true},
}

// New parses the embedded templates; it fails only on a broken build.
func New(opts Options) (*Handler, error) {
	if opts.Sessions == nil {
		return nil, errors.New("ui: no session lookup")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Prefix = strings.TrimRight(opts.Prefix, "/")
	h := &Handler{opts: opts, pages: map[string]*template.Template{}}
	for _, name := range append([]string{"signin", "notfound"}, pageNames()...) {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", name, err)
		}
		h.pages[name] = t
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static files: %w", err)
	}
	h.static = http.StripPrefix("/ui/", http.FileServerFS(sub))
	h.csp = contentSecurityPolicy(opts.PublicURL)
	return h, nil
}

// templateFuncs are the helpers the templates use beyond the built-ins.
var templateFuncs = template.FuncMap{
	"list": func(v ...string) []string { return v },
}

func pageNames() []string {
	out := make([]string, len(pages))
	for i, p := range pages {
		out[i] = p.name
	}
	return out
}

// contentSecurityPolicy allows scripts, styles, fetches and images from
// the page's own origin only (images also from PUBLIC_URL's origin, where
// signed image links point), and nothing inline.
func contentSecurityPolicy(publicURL string) string {
	img := "'self' data: blob:"
	if u, err := url.Parse(publicURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		img += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img +
		"; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; frame-ancestors 'none'"
}

// Root serves the overview at "/" (the server's root route).
func (h *Handler) Root() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.servePage(w, r, pages[0]) })
}

// Routes returns the sign-in page, the signed-in pages but the overview
// (served at "/" through Root) and the static files (the favicon among
// them: every page links it, so /favicon.ico stays the API's 404). All are public: a
// page checks the session itself and sends a browser without one to the
// sign-in page.
func (h *Handler) Routes() []route.Route {
	rts := []route.Route{
		{Pattern: "GET /login", Class: route.Public, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.signIn)},
		{Pattern: "GET /ui/{file...}", Class: route.Public, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.serveStatic)},
	}
	for _, p := range pages[1:] {
		rts = append(rts, route.Route{Pattern: "GET " + p.path, Class: route.Public, Dialect: route.OpenAI,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.servePage(w, r, p) })})
	}
	return rts
}

// view is what a template renders.
type view struct {
	Page          string
	Lang          string
	Theme         string // "dark", "light" or "" (the browser's preference)
	Base          string
	User          *store.User
	Admin         bool
	Nav           []navItem
	Providers     []Provider
	PasswordLogin bool
	OIDCName      string
	Next          string
	Catalog       map[string]string
}

// navItem is one link of the navigation bar.
type navItem struct {
	Key     string // message key of its text
	Href    string
	Current bool
}

// T translates key into the page's language.
func (v *view) T(key string) string { return translate(v.Lang, key) }

// Tf translates key and replaces {name} with value.
func (v *view) Tf(key, name, value string) string {
	return strings.ReplaceAll(v.T(key), "{"+name+"}", value)
}

func (h *Handler) newView(r *http.Request, name string) *view {
	return &view{Page: name, Lang: language(r), Theme: theme(r), Base: h.opts.Prefix}
}

// servePage renders a signed-in page, or redirects to the sign-in page.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request, p page) {
	u, err := h.opts.Sessions.SessionUser(r)
	if err != nil {
		if gw.ErrorCode(err) == gw.CodeUnauthorized {
			h.headers(w)
			http.Redirect(w, r, h.opts.Prefix+"/login?next="+url.QueryEscape(h.opts.Prefix+r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h.opts.Logger.Error("dashboard page: session lookup failed", "error", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	v := h.newView(r, p.name)
	v.User, v.Admin = &u, u.Role == store.RoleAdmin
	if p.admin && !v.Admin {
		v.Page = "notfound"
		h.render(w, http.StatusNotFound, v)
		return
	}
	for _, q := range pages {
		if q.admin && !v.Admin {
			continue
		}
		href := h.opts.Prefix + strings.TrimSuffix(q.path, "{$}")
		v.Nav = append(v.Nav, navItem{Key: "nav." + q.name, Href: href, Current: q.name == p.name})
	}
	v.Providers = h.opts.Providers
	v.Catalog = catalogFor(v.Lang)
	h.render(w, http.StatusOK, v)
}

// signIn renders the sign-in page; a browser already signed in goes on to
// next.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	next := h.safeNext(r.URL.Query().Get("next"))
	if _, err := h.opts.Sessions.SessionUser(r); err == nil {
		h.headers(w)
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	v := h.newView(r, "signin")
	v.PasswordLogin, v.OIDCName, v.Next = h.opts.PasswordLogin, h.opts.OIDCName, next
	v.Catalog = catalogFor(v.Lang)
	h.render(w, http.StatusOK, v)
}

// safeNext is next when it is a local path under the prefix, else the
// dashboard's root.
func (h *Handler) safeNext(next string) string {
	root := h.opts.Prefix + "/"
	if next == "" || len(next) > 1024 || !strings.HasPrefix(next, root) || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\x00\r\n\t") {
		return root
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return root
	}
	return next
}

// headers sets the security headers every dashboard answer carries.
func (h *Handler) headers(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
}

func (h *Handler) render(w http.ResponseWriter, status int, v *view) {
	t := h.pages[v.Page]
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		h.opts.Logger.Error("dashboard page: render failed", "page", v.Page, "error", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h.headers(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "Cookie, Accept-Language")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// serveStatic serves the embedded scripts, styles, icons and vendored
// libraries under /ui/.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	h.headers(w)
	w.Header().Set("Cache-Control", "no-cache")
	h.static.ServeHTTP(w, r)
}
