package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/dashapi"
	"github.com/sparkgw/spark/internal/secret"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// OIDC sign-in lifetimes and bounds.
const (
	// OIDCLoginTTL is how long a started sign-in (its state, nonce and
	// PKCE verifier) waits for the provider's callback.
	OIDCLoginTTL = 10 * time.Minute
	// oidcMaxUsed bounds the used sign-ins the default Once remembers
	// (past it, a replay is refused by the provider alone: its codes are
	// single-use).
	oidcMaxUsed = 10_000
	// oidcStateCookie binds a started sign-in to the browser that started
	// it: it carries the state, which the callback must echo.
	oidcStateCookie = "spark_oidc_state"
	// oidcProviderTimeout bounds one exchange with the provider
	// (discovery, keys, token).
	oidcProviderTimeout = 30 * time.Second
	// oidcMaxBody bounds what spark reads of one provider answer.
	oidcMaxBody = 1 << 20
)

// OIDCOptions configure sign-in through an OpenID provider.
type OIDCOptions struct {
	// Issuer is OIDC_ISSUER; ClientID and ClientSecret are
	// OIDC_CLIENT_ID and OIDC_CLIENT_SECRET. Sign-in is on when both are
	// set.
	Issuer, ClientID, ClientSecret string
	// ProviderName is the label a sign-in button shows.
	ProviderName string
	// AllowedDomains (lower case, no "@") and AllowedEmails admit new
	// people; with neither, every verified email of the issuer is
	// admitted. AdminEmails (SPARK_ADMIN_EMAILS) are admitted as admins.
	AllowedDomains, AllowedEmails, AdminEmails []string
	// HTTPClient talks to the provider; default one with a 30 s timeout.
	HTTPClient *http.Client
	// Sealer seals a started sign-in into the browser's state cookie, so
	// that whichever replica gets the callback can finish it (replicas
	// share SPARK_SECRET_KEY); default a key of this process alone.
	Sealer *secret.Sealer
	// Once reports whether key is seen for the first time within ttl,
	// across replicas (the shared state's claim), so a sign-in is used
	// once; default: within this process.
	Once func(ctx context.Context, key string, ttl time.Duration) bool
}

// OIDC is dashboard sign-in through an OpenID provider: GET /auth/login
// sends the browser to the provider (authorization code flow with PKCE
// S256, state and nonce), GET /auth/callback checks what comes back and
// opens a session through [Service.StartSession].
//
// A started sign-in (its state, nonce, PKCE verifier and where to go
// next) travels sealed in a short-lived HttpOnly cookie scoped to the
// callback, so that only the browser that started it can finish it (the
// CSRF protection of the callback) and any replica can: no replica keeps
// it. It lives OIDCLoginTTL and is used once (OIDCOptions.Once).
type OIDC struct {
	s        *Service
	o        OIDCOptions
	enabled  bool
	startLim limit.Limiter

	mu       sync.Mutex // guards provider and verifier (discovered once)
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier

	umu  sync.Mutex
	used map[string]time.Time // the default Once: key -> until
}

// pendingLogin is a sign-in between /auth/login and its callback, as
// sealed into the state cookie.
type pendingLogin struct {
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	RedirectURL string `json:"r"`
	Next        string `json:"x"`
	Expires     int64  `json:"e"` // Unix seconds
}

// oidcSealPurpose separates the state cookie's key from the others.
const oidcSealPurpose = "oidc-login"

// NewOIDC returns OIDC sign-in for s. Without a client id and secret it
// is off: its routes answer 404. The provider is discovered at the first
// sign-in (and again after a failure), so spark starts while the provider
// is unreachable.
func (s *Service) NewOIDC(o OIDCOptions) (*OIDC, error) {
	o.Issuer = strings.TrimSpace(o.Issuer)
	o.ClientID = strings.TrimSpace(o.ClientID)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: oidcProviderTimeout}
	}
	bounded := *o.HTTPClient
	bounded.Transport = boundedTransport{next: o.HTTPClient.Transport}
	o.HTTPClient = &bounded
	x := &OIDC{s: s, o: o, enabled: o.ClientID != "" && o.ClientSecret != "", used: map[string]time.Time{}}
	if !x.enabled {
		return x, nil
	}
	if x.o.Sealer == nil {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("identity: OIDC state key: %w", err)
		}
		sl, err := secret.NewSealer(k)
		if err != nil {
			return nil, fmt.Errorf("identity: OIDC state key: %w", err)
		}
		x.o.Sealer = sl
	}
	if x.o.Once == nil {
		x.o.Once = x.onceHere
	}
	if o.Issuer == "" {
		return nil, errors.New("identity: OIDC sign-in needs an issuer")
	}
	var err error
	if x.startLim, err = s.loginLimiter(s.opts.LoginPerIP, DefaultLoginPerIP); err != nil {
		return nil, err
	}
	if len(o.AllowedDomains) == 0 && len(o.AllowedEmails) == 0 {
		s.log.Warn("OIDC sign-in admits every verified email of the issuer; set OIDC_ALLOWED_DOMAINS or OIDC_ALLOWED_EMAILS to restrict it",
			"issuer", o.Issuer)
	}
	s.log.Info("OIDC sign-in on", "issuer", o.Issuer, "provider", o.ProviderName)
	return x, nil
}

// Enabled reports whether OIDC sign-in is configured.
func (x *OIDC) Enabled() bool { return x.enabled }

// ProviderName is the label of the provider's sign-in button.
func (x *OIDC) ProviderName() string { return x.o.ProviderName }

// Routes returns GET /auth/login, GET /auth/callback and GET
// /auth/methods. They are public: the first two establish the session (the
// state bound to the browser's cookie is the callback's protection against
// cross-site requests), the last tells a sign-in page what to offer.
func (x *OIDC) Routes() []route.Route {
	return []route.Route{
		{Pattern: "GET /auth/login", Class: route.Public, Dialect: route.OpenAI, Handler: http.HandlerFunc(x.login)},
		{Pattern: "GET /auth/callback", Class: route.Public, Dialect: route.OpenAI, Handler: http.HandlerFunc(x.callback)},
		{Pattern: "GET /auth/methods", Class: route.Public, Dialect: route.OpenAI, Handler: http.HandlerFunc(x.methods)},
	}
}

// methods is GET /auth/methods: the sign-in methods on offer,
// {"password":bool,"oidc":{"enabled":bool,"name":"Google","login_url":"/auth/login"}}.
func (x *OIDC) methods(w http.ResponseWriter, _ *http.Request) {
	oidcJSON := map[string]any{"enabled": x.enabled, "name": nil, "login_url": nil}
	if x.enabled {
		oidcJSON["name"], oidcJSON["login_url"] = x.o.ProviderName, x.s.opts.Prefix+"/auth/login"
	}
	dashapi.WriteJSON(w, http.StatusOK, map[string]any{"password": x.s.opts.PasswordLogin, "oidc": oidcJSON})
}

// discover returns the provider's oauth2 endpoints and ID token verifier,
// fetching the discovery document the first time (and after a failure).
func (x *OIDC) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.provider != nil {
		return x.provider, x.verifier, nil
	}
	ctx, cancel := context.WithTimeout(ctx, oidcProviderTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, x.o.HTTPClient), x.o.Issuer)
	if err != nil {
		// The error may quote the provider's answer: keep the log line short.
		msg := err.Error()
		if len(msg) > 300 {
			msg = strings.ToValidUTF8(msg[:300], "") + "…"
		}
		return nil, nil, fmt.Errorf("OIDC discovery at %s: %s", x.o.Issuer, msg)
	}
	x.provider = p
	x.verifier = p.VerifierContext(oidc.ClientContext(context.Background(), x.o.HTTPClient),
		&oidc.Config{ClientID: x.o.ClientID, Now: x.s.now})
	return x.provider, x.verifier, nil
}

// oauthConfig is the client's configuration for one redirect URL.
func (x *OIDC) oauthConfig(p *oidc.Provider, redirectURL string) *oauth2.Config {
	return &oauth2.Config{ClientID: x.o.ClientID, ClientSecret: x.o.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: redirectURL, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

// callbackURL is {PUBLIC_URL}{ROUTE_PREFIX}/auth/callback, or without
// PUBLIC_URL the same under the origin the request reached (its scheme,
// X-Forwarded-Proto with TRUST_PROXY, and its Host).
func (x *OIDC) callbackURL(r *http.Request) string {
	base := strings.TrimRight(strings.TrimSpace(x.s.opts.PublicURL), "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil || (x.s.opts.TrustProxy && r.Header.Get("X-Forwarded-Proto") == "https") {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + x.s.opts.Prefix + "/auth/callback"
}

// login is GET /auth/login?next=PATH: a redirect to the provider.
func (x *OIDC) login(w http.ResponseWriter, r *http.Request) {
	if !x.enabled {
		x.refuse(w, r, errOIDCOff)
		return
	}
	if err := x.s.throttle(r, x.startLim, "oidc-ip:"+dashapi.ClientIP(r, x.s.opts.TrustProxy)); err != nil {
		x.refuse(w, r, err)
		return
	}
	p, _, err := x.discover(r.Context())
	if err != nil {
		x.s.log.Warn("OIDC provider unavailable", "error", err)
		x.refuse(w, r, errProviderDown)
		return
	}
	state, err := newToken()
	if err != nil {
		x.refuse(w, r, err)
		return
	}
	nonce, err := newToken()
	if err != nil {
		x.refuse(w, r, err)
		return
	}
	pl := pendingLogin{Nonce: nonce, Verifier: oauth2.GenerateVerifier(), RedirectURL: x.callbackURL(r),
		Next: x.safeNext(r.URL.Query().Get("next")), Expires: x.s.now().Add(OIDCLoginTTL).Unix()}
	value, err := x.seal(state, pl)
	if err != nil {
		x.refuse(w, r, err)
		return
	}
	http.SetCookie(w, x.stateCookie(r, value, int(OIDCLoginTTL/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, x.oauthConfig(p, pl.RedirectURL).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(pl.Verifier)), http.StatusFound)
}

// seal is the state cookie's value: the state, a dot, the sign-in sealed
// and bound to the state.
func (x *OIDC) seal(state string, pl pendingLogin) (string, error) {
	b, err := json.Marshal(pl)
	if err != nil {
		return "", fmt.Errorf("identity: OIDC state: %w", err)
	}
	sealed, err := x.o.Sealer.Seal(oidcSealPurpose, b, []byte(state))
	if err != nil {
		return "", fmt.Errorf("identity: OIDC state: %w", err)
	}
	return state + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// open returns the sign-in the state cookie's value carries, if its state
// is state (compared in constant time), it opens under this deployment's
// key, has not expired and was not used before.
func (x *OIDC) open(ctx context.Context, value, state string) (pendingLogin, bool) {
	cs, sealed, ok := strings.Cut(value, ".")
	if !ok || state == "" || len(state) > 128 || len(value) > maxStateCookie ||
		subtle.ConstantTimeCompare([]byte(cs), []byte(state)) != 1 {
		return pendingLogin{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return pendingLogin{}, false
	}
	b, err := x.o.Sealer.Open(oidcSealPurpose, raw, []byte(state))
	if err != nil {
		return pendingLogin{}, false
	}
	var pl pendingLogin
	if json.Unmarshal(b, &pl) != nil || !x.s.now().Before(time.Unix(pl.Expires, 0)) {
		return pendingLogin{}, false
	}
	// Remembered for twice the sign-in's life: longer than it can be
	// valid whenever its callback comes.
	return pl, x.o.Once(ctx, "oidc-state:"+hex.EncodeToString(hashToken(state)), 2*OIDCLoginTTL)
}

// maxStateCookie bounds the state cookie read back (the next path is at
// most 1 KiB).
const maxStateCookie = 4096

// onceHere is the default Once: keys seen by this process, kept for
// their ttl (bounded: sign-in starts are throttled per address).
func (x *OIDC) onceHere(_ context.Context, key string, ttl time.Duration) bool {
	x.umu.Lock()
	defer x.umu.Unlock()
	now := x.s.now()
	if until, ok := x.used[key]; ok && now.Before(until) {
		return false
	}
	if len(x.used) >= oidcMaxUsed {
		for k, until := range x.used {
			if !now.Before(until) {
				delete(x.used, k)
			}
		}
		if len(x.used) >= oidcMaxUsed {
			return true
		}
	}
	x.used[key] = now.Add(ttl)
	return true
}

// stateCookie carries the state of a started sign-in, scoped to the
// callback's path.
func (x *OIDC) stateCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: oidcStateCookie, Value: value, Path: x.s.opts.Prefix + "/auth/callback", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: x.s.secure(r)}
}

// safeNext is next when it is a local path of this site, else the
// dashboard's root.
func (x *OIDC) safeNext(next string) string {
	root := x.s.opts.Prefix + "/"
	if next == "" || len(next) > 1024 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\x00\r\n\t") {
		return root
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return root
	}
	return next
}

// oidcClaims are the ID token claims sign-in reads. email_verified is a
// boolean, or the string "true" for some providers.
type oidcClaims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"`
	Name          string `json:"name"`
}

func (c oidcClaims) verified() bool {
	switch v := c.EmailVerified.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

var providerErrorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// callback is GET /auth/callback?code=&state=: the provider's answer.
func (x *OIDC) callback(w http.ResponseWriter, r *http.Request) {
	if !x.enabled {
		x.refuse(w, r, errOIDCOff)
		return
	}
	http.SetCookie(w, x.stateCookie(r, "", -1))
	q := r.URL.Query()
	state := q.Get("state")
	c, cerr := r.Cookie(oidcStateCookie)
	if cerr != nil || state == "" || !strings.HasPrefix(c.Value, state+".") {
		// Not audited: without a sign-in of this browser behind it, an
		// entry would let anyone fill the audit trail.
		x.s.log.Info("OIDC callback refused: state does not match this browser's sign-in", "ip", dashapi.ClientIP(r, x.s.opts.TrustProxy))
		x.refuse(w, r, errBadState)
		return
	}
	pl, ok := x.open(r.Context(), c.Value, state)
	if !ok {
		x.s.log.Info("OIDC callback refused: sign-in unknown, used or expired", "ip", dashapi.ClientIP(r, x.s.opts.TrustProxy))
		x.refuse(w, r, errBadState)
		return
	}
	u, err := x.signIn(r, q, pl)
	if err != nil {
		var actor store.User
		var rf *oidcRefusal
		if errors.As(err, &rf) {
			actor = rf.actor
			err = rf.err
		}
		x.s.audit(r, actor, ActionLoginFailed, "user", actor.ID)
		x.refuse(w, r, err)
		return
	}
	if err := x.s.StartSession(w, r, u); err != nil {
		x.refuse(w, r, err)
		return
	}
	x.s.log.Info("signed in", "method", "oidc", "user_id", u.ID)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, pl.Next, http.StatusFound)
}

// oidcRefusal is a refused sign-in with the user it concerns (for the
// audit trail): the known user, or only the verified email.
type oidcRefusal struct {
	actor store.User
	err   error
}

func (e *oidcRefusal) Error() string { return e.err.Error() }

// signIn completes a started sign-in: the code exchanged with the PKCE
// verifier, the ID token verified (signature, issuer, audience, expiry,
// nonce), the email verified and admitted, the user found or created.
func (x *OIDC) signIn(r *http.Request, q url.Values, pl pendingLogin) (store.User, error) {
	ctx := r.Context()
	if e := q.Get("error"); e != "" {
		if !providerErrorCode.MatchString(e) {
			e = "error"
		}
		x.s.log.Info("OIDC provider refused the sign-in", "error_code", e)
		return store.User{}, &dashapi.Error{Status: http.StatusUnauthorized, Type: gw.CodeUnauthorized, Code: "provider_refused",
			Message: "The identity provider did not sign you in (" + e + ")."}
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		return store.User{}, dashapi.BadRequest("missing_code", "The identity provider's answer has no authorization code.")
	}
	p, v, err := x.discover(ctx)
	if err != nil {
		x.s.log.Warn("OIDC provider unavailable", "error", err)
		return store.User{}, errProviderDown
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, x.o.HTTPClient), oidcProviderTimeout)
	defer cancel()
	tok, err := x.oauthConfig(p, pl.RedirectURL).Exchange(ctx, code, oauth2.VerifierOption(pl.Verifier))
	if err != nil {
		// Only the error code: the answer's body is the provider's.
		var re *oauth2.RetrieveError
		reason := "transport"
		if errors.As(err, &re) {
			reason = re.ErrorCode
			if !providerErrorCode.MatchString(reason) {
				reason = "status " + http.StatusText(re.Response.StatusCode)
			}
		}
		x.s.log.Warn("OIDC code exchange failed", "reason", reason)
		return store.User{}, &dashapi.Error{Status: http.StatusUnauthorized, Type: gw.CodeUnauthorized, Code: "code_exchange_failed",
			Message: "The identity provider refused the sign-in code; start again."}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		x.s.log.Warn("OIDC token answer without an ID token")
		return store.User{}, errBadIDToken
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		x.s.log.Warn("OIDC ID token refused", "error", err)
		return store.User{}, errBadIDToken
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pl.Nonce)) != 1 {
		x.s.log.Warn("OIDC ID token refused: nonce does not match the sign-in")
		return store.User{}, &dashapi.Error{Status: http.StatusUnauthorized, Type: gw.CodeUnauthorized, Code: "invalid_nonce",
			Message: "The identity provider's ID token is not for this sign-in; start again."}
	}
	var cl oidcClaims
	if err := idt.Claims(&cl); err != nil {
		x.s.log.Warn("OIDC ID token claims unreadable", "error", err)
		return store.User{}, errBadIDToken
	}
	email := strings.TrimSpace(cl.Email)
	if email == "" || !cl.verified() {
		return store.User{}, &dashapi.Error{Status: http.StatusForbidden, Type: gw.CodeForbidden, Code: "email_not_verified",
			Message: "The identity provider did not vouch for an email address (email_verified); verify it there first."}
	}
	refuse := func(u store.User, ae *dashapi.Error) (store.User, error) {
		if u.ID == "" {
			u = store.User{Email: email}
		}
		return store.User{}, &oidcRefusal{actor: store.User{ID: u.ID, Email: u.Email}, err: ae}
	}
	admin := x.isAdminEmail(email)
	if !admin && !x.admitted(email) {
		x.s.log.Info("OIDC sign-in refused: email not admitted", "domain", domainOf(email))
		return refuse(store.User{}, &dashapi.Error{Status: http.StatusForbidden, Type: gw.CodeForbidden, Code: "not_allowed",
			Message: "This email may not sign in here (OIDC_ALLOWED_DOMAINS / OIDC_ALLOWED_EMAILS)."})
	}
	u, err := x.s.st.FindUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		role := store.RoleUser
		if admin {
			role = store.RoleAdmin
		}
		u, err = x.s.st.CreateUser(ctx, store.User{Email: email, Name: boundName(cl.Name), Role: role})
		if errors.Is(err, store.ErrConflict) { // signed up at the same moment
			u, err = x.s.st.FindUserByEmail(ctx, email)
		} else if err == nil {
			x.s.log.Info("user created by OIDC sign-in", "user_id", u.ID, "role", string(u.Role))
		}
		if errors.Is(err, store.ErrInvalid) {
			return refuse(store.User{}, dashapi.BadRequest("invalid_email", "The identity provider's email is not an address spark accepts."))
		}
	}
	if err != nil {
		return store.User{}, fmt.Errorf("identity: OIDC user: %w", err)
	}
	if u.Disabled {
		return refuse(u, &dashapi.Error{Status: http.StatusForbidden, Type: gw.CodeForbidden, Code: "user_disabled",
			Message: "This user is disabled; ask an admin."})
	}
	if admin && u.Role != store.RoleAdmin {
		if u, err = x.s.st.UpdateUser(ctx, u.ID, store.UserPatch{Role: ptr(store.RoleAdmin)}); err != nil {
			return store.User{}, fmt.Errorf("identity: OIDC admin: %w", err)
		}
		x.s.log.Info("user made admin by SPARK_ADMIN_EMAILS", "user_id", u.ID)
		x.s.audit(r, u, ActionUserUpdate, "user", u.ID)
	}
	return u, nil
}

func boundName(n string) string {
	n = strings.TrimSpace(n)
	if len(n) > 200 {
		n = strings.ToValidUTF8(n[:200], "")
	}
	return n
}

// domainOf is the lower-cased domain of email (after its last "@").
func domainOf(email string) string {
	return strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
}

// isAdminEmail reports whether email is in SPARK_ADMIN_EMAILS.
func (x *OIDC) isAdminEmail(email string) bool {
	return slices.ContainsFunc(x.o.AdminEmails, func(a string) bool { return store.EmailKey(a) == store.EmailKey(email) })
}

// admitted reports whether the allow-lists let email in: its domain in
// AllowedDomains (exactly, not a subdomain) or the email in
// AllowedEmails; with neither list, every verified email.
func (x *OIDC) admitted(email string) bool {
	if len(x.o.AllowedDomains) == 0 && len(x.o.AllowedEmails) == 0 {
		return true
	}
	if slices.ContainsFunc(x.o.AllowedEmails, func(a string) bool { return store.EmailKey(a) == store.EmailKey(email) }) {
		return true
	}
	return slices.Contains(x.o.AllowedDomains, domainOf(email))
}

var (
	errOIDCOff = &dashapi.Error{Status: http.StatusNotFound, Type: gw.CodeNotFound, Code: "oidc_disabled",
		Message: "Sign-in through an identity provider is not configured (OIDC_CLIENT_ID, OIDC_CLIENT_SECRET)."}
	errProviderDown = &dashapi.Error{Status: http.StatusServiceUnavailable, Type: gw.CodeUnavailable, Code: "provider_unavailable",
		Message: "The identity provider cannot be reached; retry later.", RetryAfter: 30 * time.Second}
	errBadState = &dashapi.Error{Status: http.StatusBadRequest, Type: gw.CodeInvalidRequest, Code: "invalid_state",
		Message: "This sign-in was not started in this browser, was already used or has expired; start again."}
	errBadIDToken = &dashapi.Error{Status: http.StatusUnauthorized, Type: gw.CodeUnauthorized, Code: "invalid_id_token",
		Message: "The identity provider's ID token could not be verified; start again."}
)

// refuse answers a refused sign-in: JSON (the dashboard API's envelope)
// for a client that asks for it, else a small HTML page, as /setup does.
func (x *OIDC) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		x.s.fail(w, r, err)
		return
	}
	rec := &statusRecorder{header: http.Header{}}
	x.s.fail(rec, r, err) // the status, Retry-After and the logged internal error
	var ae *dashapi.Error
	msg := "Internal error."
	if errors.As(err, &ae) {
		msg = ae.Message
	} else if ge := gw.AsError(err); ge.Code != gw.CodeInternal {
		msg = ge.Message
	}
	h := w.Header()
	if ra := rec.header.Get("Retry-After"); ra != "" {
		h.Set("Retry-After", ra)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(rec.status)
	_ = refusalTemplate.Execute(w, map[string]string{"Message": msg, "Retry": x.s.opts.Prefix + "/auth/login"})
}

// statusRecorder captures the status and headers of an error envelope.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }

var refusalTemplate = template.Must(template.New("refusal").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spark sign-in</title></head>
<body><h1>Sign-in refused</h1>
<p>{{.Message}}</p>
<p><a href="{{.Retry}}">Try again</a></p>
</body></html>
`))

// boundedTransport fails a provider answer larger than oidcMaxBody, so a
// misbehaving provider cannot make spark read without end.
type boundedTransport struct{ next http.RoundTripper }

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{rc: resp.Body, left: oidcMaxBody}
	return resp, nil
}

type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var probe [1]byte
		if n, err := b.rc.Read(probe[:]); n == 0 && err != nil {
			return 0, err // io.EOF at exactly the bound
		}
		return 0, errors.New("identity: identity provider answer larger than 1 MiB")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
