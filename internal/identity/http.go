package identity

import (
	"errors"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/dashapi"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/limit"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// Routes returns the sign-in routes (/auth/login, /auth/logout, /setup)
// and the identity part of the dashboard API (/api/me, /api/users,
// /api/audit). The server applies the classes: /api/* need a session,
// the user and audit routes an admin, and every state-changing route is
// refused cross-origin.
func (s *Service) Routes() []route.Route {
	return []route.Route{
		{Pattern: "POST /auth/login", Class: route.Public, Dialect: route.OpenAI, MaxBody: 16 << 10, Handler: http.HandlerFunc(s.login)},
		{Pattern: "POST /auth/logout", Class: route.Public, Dialect: route.OpenAI, MaxBody: 16 << 10, Handler: http.HandlerFunc(s.logout)},
		{Pattern: "GET /setup", Class: route.Public, Dialect: route.OpenAI, Handler: http.HandlerFunc(s.setupPage)},
		{Pattern: "POST /setup", Class: route.Public, Dialect: route.OpenAI, MaxBody: 16 << 10, Handler: http.HandlerFunc(s.setup)},
		{Pattern: "GET /api/me", Class: route.Session, Dialect: route.OpenAI, Handler: http.HandlerFunc(s.me)},
		{Pattern: "GET /api/users", Class: route.Admin, Dialect: route.OpenAI, Handler: http.HandlerFunc(s.listUsers)},
		{Pattern: "PATCH /api/users/{id}", Class: route.Admin, Dialect: route.OpenAI, Handler: http.HandlerFunc(s.patchUser)},
		{Pattern: "GET /api/audit", Class: route.Admin, Dialect: route.OpenAI, Handler: http.HandlerFunc(s.listAudit)},
	}
}

// fail writes err as the dashboard API's error envelope; errors that are
// not an *dashapi.Error are internal (their text is not shown).
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	dashapi.Fail(s.log, w, r, err)
}

// throttle counts one sign-in attempt under key and refuses it with 429
// when over the limit.
func (s *Service) throttle(r *http.Request, l limit.Limiter, key string) error {
	if l == nil {
		return nil
	}
	ok, wait, err := l.Allow(r.Context(), key)
	if err != nil {
		s.log.Error("login throttle failed; allowing the attempt", "error", err)
		return nil
	}
	if ok {
		return nil
	}
	return &dashapi.Error{Status: http.StatusTooManyRequests, Type: gw.CodeClientRateLimited, Code: "too_many_attempts",
		Message: "Too many sign-in attempts; retry later.", RetryAfter: wait}
}

var errBadCredentials = &dashapi.Error{Status: http.StatusUnauthorized, Type: gw.CodeUnauthorized, Code: "invalid_credentials",
	Message: "Wrong email or password."}

// login is POST /auth/login {"email","password"}: 204 with the session
// cookie, 401 for wrong credentials (the same answer, after the same work,
// whether or not the user exists), 429 when throttled.
func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	if !s.opts.PasswordLogin {
		s.fail(w, r, &dashapi.Error{Status: http.StatusForbidden, Type: gw.CodeForbidden, Code: "password_login_disabled",
			Message: "Password sign-in is turned off (PASSWORD_LOGIN=0); sign in through the identity provider."})
		return
	}
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := dashapi.DecodeJSON(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if strings.TrimSpace(in.Email) == "" || in.Password == "" {
		s.fail(w, r, dashapi.BadRequest("missing_field", "Send both email and password."))
		return
	}
	if err := s.throttle(r, s.ipLim, "ip:"+dashapi.ClientIP(r, s.opts.TrustProxy)); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.throttle(r, s.mailLim, "email:"+store.EmailKey(in.Email)); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.st.FindUserByEmail(r.Context(), in.Email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	known := err == nil
	hash := u.PasswordHash
	if !known || hash == "" {
		hash = dummyHash()
	}
	match, err := s.verifyPassword(r.Context(), hash, in.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	match = match && known && u.PasswordHash != ""
	if !match || u.Disabled {
		// The email is recorded only when it names a user: a password
		// typed into the email field must not land in the audit trail.
		var actor store.User
		if known {
			actor = store.User{ID: u.ID, Email: u.Email}
		}
		s.audit(r, actor, ActionLoginFailed, "user", actor.ID)
		s.fail(w, r, errBadCredentials)
		return
	}
	if err := s.StartSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logout is POST /auth/logout: the session (if any) is revoked and the
// cookie cleared; 204 either way.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" && len(c.Value) <= 128 {
		ss, err := s.st.FindSession(r.Context(), hashToken(c.Value))
		if err == nil && ss.RevokedAt.IsZero() {
			if err := s.st.RevokeSession(r.Context(), ss.ID); err != nil {
				s.fail(w, r, err)
				return
			}
			if u, err := s.st.GetUser(r.Context(), ss.UserID); err == nil {
				s.audit(r, u, ActionLogout, "user", u.ID)
			}
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, s.cookie(r, "", -1))
	w.WriteHeader(http.StatusNoContent)
}

// userJSON is a user as the dashboard API shows it (never the password
// hash).
type userJSON struct {
	ID          string  `json:"id"`
	Email       string  `json:"email"`
	Name        string  `json:"name"`
	Role        string  `json:"role"`
	Disabled    bool    `json:"disabled"`
	Builtin     bool    `json:"builtin"`
	CreatedAt   string  `json:"created_at"`
	LastLoginAt *string `json:"last_login_at"`
}

func rfc3339(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.UTC().Format(time.RFC3339)
	return &v
}

func toUserJSON(u store.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled, Builtin: u.Builtin,
		CreatedAt: *rfc3339(u.CreatedAt), LastLoginAt: rfc3339(u.LastLoginAt)}
}

// caller is the user the server's authenticator let through.
func (s *Service) caller(r *http.Request) (store.User, error) {
	u, err := s.st.GetUser(r.Context(), reqctx.KeyID(r.Context()))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNoSession
	}
	return u, err
}

// me is GET /api/me.
func (s *Service) me(w http.ResponseWriter, r *http.Request) {
	u, err := s.caller(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	dashapi.WriteJSON(w, http.StatusOK, map[string]string{"id": u.ID, "email": u.Email, "name": u.Name, "role": string(u.Role)})
}

// listUsers is GET /api/users (admin).
func (s *Service) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.st.ListUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]userJSON, len(users))
	for i, u := range users {
		out[i] = toUserJSON(u)
	}
	dashapi.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
}

// patchUser is PATCH /api/users/{id} {"role","disabled"} (admin).
func (s *Service) patchUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role     *store.Role `json:"role"`
		Disabled *bool       `json:"disabled"`
	}
	if err := dashapi.DecodeJSON(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Role == nil && in.Disabled == nil {
		s.fail(w, r, dashapi.BadRequest("nothing_to_change", `Send "role" and/or "disabled".`))
		return
	}
	if in.Role != nil && !in.Role.Valid() {
		s.fail(w, r, dashapi.BadRequest("invalid_role", `role must be "admin" or "user".`))
		return
	}
	actor, err := s.caller(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.st.UpdateUser(r.Context(), r.PathValue("id"), store.UserPatch{Role: in.Role, Disabled: in.Disabled})
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, &dashapi.Error{Status: http.StatusNotFound, Type: gw.CodeNotFound, Code: "user_not_found", Message: "No such user."})
		return
	case errors.Is(err, store.ErrLastAdmin):
		s.fail(w, r, &dashapi.Error{Status: http.StatusConflict, Type: gw.CodeInvalidRequest, Code: "last_admin",
			Message: "The last enabled admin cannot be demoted or disabled; make another admin first."})
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.audit(r, actor, ActionUserUpdate, "user", u.ID)
	dashapi.WriteJSON(w, http.StatusOK, toUserJSON(u))
}

// listAudit is GET /api/audit?limit=&cursor= (admin): newest first, with
// "next_cursor" (null on the last page).
func (s *Service) listAudit(w http.ResponseWriter, r *http.Request) {
	q := store.AuditQuery{}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxAuditLimit {
			s.fail(w, r, dashapi.BadRequest("invalid_limit", "limit must be 1 to "+strconv.Itoa(store.MaxAuditLimit)+"."))
			return
		}
		q.Limit = n
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			s.fail(w, r, dashapi.BadRequest("invalid_cursor", "cursor must be a next_cursor value from a previous page."))
			return
		}
		q.Before = n
	}
	entries, err := s.st.ListAudit(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type row struct {
		Time       string `json:"time"`
		ActorID    string `json:"actor_id"`
		ActorEmail string `json:"actor_email"`
		Action     string `json:"action"`
		TargetType string `json:"target_type"`
		TargetID   string `json:"target_id"`
		IP         string `json:"ip"`
	}
	out := make([]row, len(entries))
	for i, e := range entries {
		out[i] = row{Time: *rfc3339(e.Time), ActorID: e.ActorID, ActorEmail: e.ActorEmail, Action: e.Action,
			TargetType: e.TargetType, TargetID: e.TargetID, IP: e.IP}
	}
	var next *string
	if len(entries) == q.AuditLimit() {
		v := strconv.FormatInt(entries[len(entries)-1].ID, 10)
		next = &v
	}
	dashapi.WriteJSON(w, http.StatusOK, map[string]any{"data": out, "next_cursor": next})
}

// setupPage is GET /setup?token=...: a minimal form (no script, so it
// passes a strict Content-Security-Policy) or, for a client that asks for
// JSON, how to post it. 404 once an admin exists.
func (s *Service) setupPage(w http.ResponseWriter, r *http.Request) {
	has, err := s.HasAdmin(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if has {
		s.fail(w, r, &dashapi.Error{Status: http.StatusNotFound, Type: gw.CodeNotFound, Code: "setup_done", Message: "Setup is done: an admin exists; sign in instead."})
		return
	}
	token := r.URL.Query().Get("token")
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		dashapi.WriteJSON(w, http.StatusOK, map[string]any{
			"message": "POST this URL's path with a JSON body to create the first admin and sign in.",
			"method":  "POST", "path": s.opts.Prefix + "/setup",
			"body": map[string]string{"token": "the token from the setup link", "email": "admin email",
				"password": "at least " + strconv.Itoa(MinPasswordLength) + " characters", "name": "optional"},
		})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the token is in the URL
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	_ = setupTemplate.Execute(w, map[string]any{"Action": s.opts.Prefix + "/setup", "Token": token, "Min": MinPasswordLength})
}

var setupTemplate = template.Must(template.New("setup").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spark setup</title></head>
<body><h1>Create the first admin</h1>
<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<p><label>Email <input type="email" name="email" required autocomplete="username"></label></p>
<p><label>Name <input type="text" name="name" autocomplete="name"></label></p>
<p><label>Password <input type="password" name="password" required minlength="{{.Min}}" autocomplete="new-password"></label></p>
<p><button type="submit">Create admin</button></p>
</form></body></html>
`))

// setup is POST /setup {"token","email","password","name"?} (JSON, or the
// form of GET /setup): with a valid, unused, unexpired token and no admin
// yet, it creates the first admin (the built-in one when none exists),
// signs them in and answers 201 with the user (a form post is redirected
// to the root instead). The token is single-use.
func (s *Service) setup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token    string `json:"token"`
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	form := ct == "application/x-www-form-urlencoded"
	if form {
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, dashapi.BadRequest("invalid_form", "The form could not be read."))
			return
		}
		in.Token, in.Email, in.Password, in.Name = r.PostForm.Get("token"), r.PostForm.Get("email"), r.PostForm.Get("password"), r.PostForm.Get("name")
	} else if err := dashapi.DecodeJSON(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Token == "" || len(in.Token) > 128 {
		s.fail(w, r, errBadSetupToken)
		return
	}
	if _, err := store.PrepareUser(store.User{Email: in.Email}, time.Time{}); err != nil {
		s.fail(w, r, dashapi.BadRequest("invalid_email", "email must be an email address."))
		return
	}
	if err := CheckPasswordPolicy(in.Password); err != nil {
		s.fail(w, r, dashapi.BadRequest("weak_password", "The "+err.Error()+"."))
		return
	}
	if len(in.Name) > 200 {
		s.fail(w, r, dashapi.BadRequest("invalid_name", "name is too long."))
		return
	}
	has, err := s.HasAdmin(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if has {
		s.fail(w, r, &dashapi.Error{Status: http.StatusConflict, Type: gw.CodeInvalidRequest, Code: "setup_done", Message: "Setup is done: an admin exists; sign in instead."})
		return
	}
	if err := s.st.UseSetupToken(r.Context(), hashToken(in.Token), s.now()); errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, errBadSetupToken)
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, berr := s.st.BuiltinAdmin(r.Context())
	if berr != nil && !errors.Is(berr, store.ErrNotFound) {
		s.fail(w, r, berr)
		return
	}
	u, err := s.st.CreateUser(r.Context(), store.User{Email: in.Email, Name: in.Name, Role: store.RoleAdmin, PasswordHash: hash, Builtin: berr != nil})
	if errors.Is(err, store.ErrConflict) {
		s.fail(w, r, &dashapi.Error{Status: http.StatusConflict, Type: gw.CodeInvalidRequest, Code: "email_taken", Message: "A user with this email exists."})
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	s.audit(r, u, ActionSetup, "user", u.ID)
	if err := s.StartSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	if form {
		http.Redirect(w, r, s.opts.Prefix+"/", http.StatusSeeOther)
		return
	}
	dashapi.WriteJSON(w, http.StatusCreated, toUserJSON(u))
}

var errBadSetupToken = &dashapi.Error{Status: http.StatusUnauthorized, Type: gw.CodeUnauthorized, Code: "invalid_setup_token",
	Message: "The setup link is invalid, used or expired; restart spark to print a new one."}
