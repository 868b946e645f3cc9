// Package identity is spark's dashboard sign-in: people (users with a
// role), password sign-in with throttling, server-side sessions behind the
// spark_session cookie, the first admin from the environment or a one-time
// setup link, the audit trail, and the session and admin authenticators of
// the server's route classes.
//
// Other sign-in methods (OIDC) plug in through [Service.StartSession]: once
// they know who the person is, they open the same kind of session.
//
// Nothing here logs or returns a password, a setup token or a session
// cookie value; only their hashes are stored.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/dashapi"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/store"
)

// CookieName is the session cookie.
const CookieName = "spark_session"

// Session lifetimes: a session lasts SessionIdle after its last use
// (sliding), and never beyond SessionMaxAge after sign-in.
const (
	SessionIdle   = 7 * 24 * time.Hour
	SessionMaxAge = 30 * 24 * time.Hour
	// slideStep is how stale a session's expiry may be before a request
	// moves it, so that a busy dashboard does not write on every call.
	slideStep = time.Minute
	// SetupTokenTTL is how long a setup link is valid.
	SetupTokenTTL = time.Hour
)

// Default login throttles: attempts per minute per client IP and per email.
const (
	DefaultLoginPerIP    = 20
	DefaultLoginPerEmail = 5
)

// Audit actions this package writes.
const (
	ActionLogin       = "login"
	ActionLoginFailed = "login.failed"
	ActionLogout      = "logout"
	ActionSetup       = "setup"
	ActionUserUpdate  = "user.update"
)

// Options configure a [Service].
type Options struct {
	Store  store.IdentityStore // required
	Logger *slog.Logger
	// PasswordLogin enables POST /auth/login (PASSWORD_LOGIN, default on).
	PasswordLogin bool
	// PublicURL is PUBLIC_URL: an https URL makes the cookie Secure, and
	// setup links are minted under it.
	PublicURL string
	// Prefix is ROUTE_PREFIX ("" or like "/hf"): the cookie's path root.
	Prefix     string
	TrustProxy bool
	// LoginPerIP and LoginPerEmail bound sign-in attempts per minute
	// (0 = the defaults; negative = no limit).
	LoginPerIP, LoginPerEmail int
	// Now tells the time (tests); default time.Now. Clock drives the
	// login throttles; default the system clock.
	Now   func() time.Time
	Clock limit.Clock
	// Shared, when set (REDIS_URL), keeps the sign-in throttles in the
	// replicas' shared windows, so that running more replicas does not
	// multiply the attempts a guesser gets; nil: per process.
	Shared limit.Admitter
}

// Service signs people in and checks their sessions. It is safe for
// concurrent use.
type Service struct {
	st      store.IdentityStore
	log     *slog.Logger
	opts    Options
	now     func() time.Time
	ipLim   limit.Limiter
	mailLim limit.Limiter
	// hashing bounds concurrent password checks: each holds argon2id's
	// memory (19 MiB), so a flood of sign-ins from many addresses cannot
	// exhaust it.
	hashing chan struct{}
	// lastPrune is when StartSession last dropped expired and revoked
	// sessions (unix nanoseconds).
	lastPrune atomic.Int64
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("identity: a store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{st: o.Store, log: o.Logger, opts: o, now: o.Now, hashing: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	var err error
	if s.ipLim, err = s.loginLimiter(o.LoginPerIP, DefaultLoginPerIP); err != nil {
		return nil, err
	}
	if s.mailLim, err = s.loginLimiter(o.LoginPerEmail, DefaultLoginPerEmail); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) loginLimiter(n, def int) (limit.Limiter, error) {
	switch {
	case n < 0:
		return nil, nil
	case n == 0:
		n = def
	}
	if s.opts.Shared != nil {
		return sharedLimiter{ad: s.opts.Shared, perMinute: n}, nil
	}
	l, err := limit.NewMemory(limit.Options{PerMinute: n, Clock: s.opts.Clock})
	if err != nil {
		return nil, fmt.Errorf("identity: login limiter: %w", err)
	}
	return l, nil
}

// verifyPassword is VerifyPassword with at most cap(s.hashing) checks at
// once; it reports false when ctx ends first.
func (s *Service) verifyPassword(ctx context.Context, encoded, pw string) (bool, error) {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.hashing }()
	return VerifyPassword(encoded, pw), nil
}

// hashToken is how session cookies and setup tokens are stored.
func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// newToken returns 32 random bytes, base64url.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("identity: token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// EnsureAdmin makes email (SPARK_ADMIN_EMAIL) an enabled admin whose
// password is password (SPARK_ADMIN_PASSWORD): created, the built-in admin
// when there is none yet, or brought up to date (role, enabled, a changed
// password). It reports whether it created the user.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (bool, error) {
	if err := CheckPasswordPolicy(password); err != nil {
		return false, fmt.Errorf("SPARK_ADMIN_PASSWORD: %w", err)
	}
	u, err := s.st.FindUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		_, berr := s.st.BuiltinAdmin(ctx)
		if berr != nil && !errors.Is(berr, store.ErrNotFound) {
			return false, fmt.Errorf("identity: %w", berr)
		}
		hash, err := HashPassword(password)
		if err != nil {
			return false, err
		}
		u, err = s.st.CreateUser(ctx, store.User{Email: email, Role: store.RoleAdmin, PasswordHash: hash, Builtin: berr != nil})
		if err != nil {
			return false, fmt.Errorf("identity: create admin: %w", err)
		}
		s.log.Info("admin created from SPARK_ADMIN_EMAIL", "user_id", u.ID, "builtin", u.Builtin)
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("identity: %w", err)
	}
	var p store.UserPatch
	if u.Role != store.RoleAdmin {
		p.Role = ptr(store.RoleAdmin)
	}
	if u.Disabled {
		p.Disabled = ptr(false)
	}
	if !VerifyPassword(u.PasswordHash, password) {
		hash, err := HashPassword(password)
		if err != nil {
			return false, err
		}
		p.PasswordHash = &hash
	}
	if p == (store.UserPatch{}) {
		return false, nil
	}
	if _, err := s.st.UpdateUser(ctx, u.ID, p); err != nil {
		return false, fmt.Errorf("identity: update admin: %w", err)
	}
	s.log.Info("admin updated from SPARK_ADMIN_EMAIL / SPARK_ADMIN_PASSWORD", "user_id", u.ID)
	return false, nil
}

func ptr[T any](v T) *T { return &v }

// HasAdmin reports whether an enabled admin exists.
func (s *Service) HasAdmin(ctx context.Context) (bool, error) {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return false, fmt.Errorf("identity: %w", err)
	}
	for _, u := range users {
		if u.Role == store.RoleAdmin && !u.Disabled {
			return true, nil
		}
	}
	return false, nil
}

// NewSetupToken mints a one-time setup token valid for SetupTokenTTL and
// stores its hash. The caller shows it once, as the link SetupLink makes.
func (s *Service) NewSetupToken(ctx context.Context) (string, error) {
	tok, err := newToken()
	if err != nil {
		return "", err
	}
	if err := s.st.PutSetupToken(ctx, hashToken(tok), s.now().Add(SetupTokenTTL)); err != nil {
		return "", fmt.Errorf("identity: %w", err)
	}
	return tok, nil
}

// SetupLink is the path (under base, an origin such as PUBLIC_URL) of
// the setup page for token.
func (s *Service) SetupLink(base, token string) string {
	return strings.TrimRight(base, "/") + s.opts.Prefix + "/setup?token=" + token
}

// errNoSession is the 401 of a missing, unknown, expired or revoked session.
var errNoSession = &gw.Error{Code: gw.CodeUnauthorized, Message: "Sign in first: this route needs a valid dashboard session."}

// SessionUser returns the signed-in user of r, sliding the session's
// expiry, or an error with gw.CodeUnauthorized.
func (s *Service) SessionUser(r *http.Request) (store.User, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return store.User{}, errNoSession
	}
	ctx := r.Context()
	ss, err := s.st.FindSession(ctx, hashToken(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNoSession
	}
	if err != nil {
		return store.User{}, fmt.Errorf("identity: session: %w", err)
	}
	now := s.now()
	if !ss.RevokedAt.IsZero() || !now.Before(ss.ExpiresAt) {
		return store.User{}, errNoSession
	}
	u, err := s.st.GetUser(ctx, ss.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNoSession
	}
	if err != nil {
		return store.User{}, fmt.Errorf("identity: session user: %w", err)
	}
	if u.Disabled {
		return store.User{}, errNoSession
	}
	next := now.Add(SessionIdle)
	if end := ss.CreatedAt.Add(SessionMaxAge); next.After(end) {
		next = end
	}
	if next.Sub(ss.ExpiresAt) >= slideStep {
		if err := s.st.ExtendSession(ctx, ss.ID, next); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("could not extend a session", "user_id", ss.UserID, "error", err)
		}
	}
	return u, nil
}

// StartSession opens a session for u (already authenticated by a password
// or another sign-in method), sets the session cookie, stamps the user's
// last sign-in and writes the "login" audit entry.
func (s *Service) StartSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	if u.Disabled {
		return &gw.Error{Code: gw.CodeForbidden, Message: "This user is disabled."}
	}
	tok, err := newToken()
	if err != nil {
		return err
	}
	now := s.now()
	_, err = s.st.CreateSession(r.Context(), store.Session{Hash: hashToken(tok), UserID: u.ID, ExpiresAt: now.Add(SessionIdle)})
	if err != nil {
		return fmt.Errorf("identity: create session: %w", err)
	}
	http.SetCookie(w, s.cookie(r, tok, int(SessionMaxAge/time.Second)))
	if err := s.st.TouchUserLogin(r.Context(), u.ID, now); err != nil {
		s.log.Warn("could not stamp the sign-in time", "user_id", u.ID, "error", err)
	}
	s.audit(r, u, ActionLogin, "user", u.ID)
	s.prune(r.Context(), now)
	return nil
}

// pruneEvery is how often sign-ins drop dead sessions and setup tokens.
const pruneEvery = time.Hour

// prune removes sessions and setup tokens dead before now, at most once
// per pruneEvery, so the tables stay bounded by the live ones.
func (s *Service) prune(ctx context.Context, now time.Time) {
	last := s.lastPrune.Load()
	if now.UnixNano()-last < int64(pruneEvery) || !s.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if n, err := s.st.PruneIdentity(ctx, now); err != nil {
		s.log.Warn("could not prune expired sessions", "error", err)
	} else if n > 0 {
		s.log.Debug("pruned expired sessions and setup tokens", "records", n)
	}
}

// cookie is the session cookie carrying value (maxAge < 0 deletes it).
func (s *Service) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	path := s.opts.Prefix
	if path == "" {
		path = "/"
	}
	return &http.Cookie{Name: CookieName, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)}
}

// secure reports whether the client reached spark over https.
func (s *Service) secure(r *http.Request) bool {
	if r.TLS != nil || strings.HasPrefix(strings.ToLower(s.opts.PublicURL), "https://") {
		return true
	}
	return s.opts.TrustProxy && r.Header.Get("X-Forwarded-Proto") == "https"
}

// audit appends an entry acted by u; a failure is logged, not returned
// (the action itself succeeded).
func (s *Service) audit(r *http.Request, u store.User, action, targetType, targetID string) {
	_, err := s.st.AppendAudit(r.Context(), store.AuditEntry{Time: s.now(), ActorID: u.ID, ActorEmail: u.Email,
		Action: action, TargetType: targetType, TargetID: targetID, IP: dashapi.ClientIP(r, s.opts.TrustProxy)})
	if err != nil {
		s.log.Error("could not write the audit trail", "action", action, "error", err)
	}
}

// SessionAuthenticator is the server's authenticator of Session routes:
// any enabled user with a live session.
type SessionAuthenticator struct{ S *Service }

// Authenticate implements server.Authenticator.
func (a SessionAuthenticator) Authenticate(r *http.Request) (string, bool, error) {
	u, err := a.S.SessionUser(r)
	if gw.ErrorCode(err) == gw.CodeUnauthorized {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return u.ID, true, nil
}

// AdminAuthenticator is the server's authenticator of Admin routes: a
// session of an enabled admin. A signed-in user who is not an admin gets a
// gw.CodeForbidden error (403).
type AdminAuthenticator struct{ S *Service }

// Authenticate implements server.Authenticator.
func (a AdminAuthenticator) Authenticate(r *http.Request) (string, bool, error) {
	u, err := a.S.SessionUser(r)
	if gw.ErrorCode(err) == gw.CodeUnauthorized {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if u.Role != store.RoleAdmin {
		return "", false, &gw.Error{Code: gw.CodeForbidden, Message: "This route is for admins."}
	}
	return u.ID, true, nil
}

// sharedLimiter is a sign-in throttle kept in the replicas' shared
// sliding windows: a window per throttle key ("login:" + key), with
// perMinute attempts in any 60 seconds.
type sharedLimiter struct {
	ad        limit.Admitter
	perMinute int
}

func (l sharedLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	t, err := l.ad.Admit(ctx, limit.Admission{IP: "login:" + key, IPPerMinute: l.perMinute})
	var ref *limit.Refusal
	if errors.As(err, &ref) {
		return false, ref.RetryAfter, nil
	}
	if err != nil {
		return false, 0, err
	}
	t.Release()
	return true, 0, nil
}
