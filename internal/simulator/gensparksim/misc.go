package gensparksim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// handleIsLogin serves GET /api/is_login (docs/genspark-upstream.md §1.9): the account of the
// session cookie, or the not-login body for a missing/expired session.
func (s *Server) handleIsLogin(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.begin(w, r, "genspark", maxRequestBody)
	if !ok {
		return
	}
	defer c.finish(simcore.OutcomeCompleted)
	if r.Method != http.MethodGet {
		c.methodNotAllowed(w, http.MethodGet)
		return
	}
	if !c.checkLogin(w) {
		return
	}
	sum := sha256.Sum256([]byte("cogen:" + sessionID(r)))
	id := hex.EncodeToString(sum[:8])
	type data struct {
		CogenID    string `json:"cogen_id"`
		CogenName  string `json:"cogen_name"`
		CogenEmail string `json:"cogen_email"`
		IsLogin    bool   `json:"is_login"`
	}
	resp := struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Data    data   `json:"data"`
	}{0, "success", data{id, "Sim User " + id[:4], "sim-" + id[:8] + "@example.com", true}}
	c.h.Set("cogen_id", id)
	writeRaw(w, http.StatusOK, "application/json", compactJSON(resp))
}

// handleDelete serves GET /api/project/delete?project_id=<id> (docs/genspark-upstream.md §1.7).
// An empty project id (which the reference proxy can send, docs/genspark-upstream.md §1.7) is refused.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.begin(w, r, "genspark", maxRequestBody)
	if !ok {
		return
	}
	defer c.finish(simcore.OutcomeCompleted)
	if r.Method != http.MethodGet {
		c.methodNotAllowed(w, http.MethodGet)
		return
	}
	if !c.checkLogin(w) {
		return
	}
	pid := r.URL.Query().Get("project_id")
	c.h.Set("project_id", pid)
	if pid == "" {
		writeRaw(w, http.StatusOK, "application/json", `{"status":-1,"message":"project_id is required","data":{}}`)
		c.reject("empty project_id")
		return
	}
	writeRaw(w, http.StatusOK, "application/json", `{"status":0,"message":"success","data":{}}`)
}

// recaptchaToken is the deterministic fake reCAPTCHA v3 token the helper
// issues for a Cookie header (derived from its session_id value, or from the
// whole header when it has none).
func recaptchaToken(cookieHeader string) string {
	key := simcore.CookieValue(cookieHeader, "session_id")
	if key == "" {
		key = strings.TrimSpace(cookieHeader)
	}
	if key == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("03AFcWeA")
	sum := sha256.Sum256([]byte("genspark-recaptcha\x00" + key))
	for range 4 {
		b.WriteString(base64.RawURLEncoding.EncodeToString(sum[:]))
		sum = sha256.Sum256(sum[:])
	}
	return b.String()
}

// handleRecaptcha serves GET /genspark, the third-party reCAPTCHA token
// helper of docs/genspark-upstream.md §6 (RECAPTCHA_PROXY_URL), recorded as upstream "recaptcha":
// 200 {"code": 200, "token": …} for a Cookie header; 400 without one; 500 when
// the cookie value starts with `recaptchafail`.
func (s *Server) handleRecaptcha(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.begin(w, r, "recaptcha", maxRequestBody)
	if !ok {
		return
	}
	defer c.finish(simcore.OutcomeCompleted)
	if r.Method != http.MethodGet {
		c.methodNotAllowed(w, http.MethodGet)
		return
	}
	cookie := strings.TrimSpace(r.Header.Get("Cookie"))
	if cookie == "" {
		writeRaw(w, http.StatusBadRequest, "application/json", string(obj(kv{"code", 400}, kv{"message", "cookie required"})))
		c.reject("cookie required")
		return
	}
	value := simcore.CookieValue(cookie, "session_id")
	if value == "" {
		value = cookie
	}
	c.h.Set("session_id", simcore.CookieValue(cookie, "session_id"))
	if strings.HasPrefix(value, "recaptchafail") {
		writeRaw(w, http.StatusInternalServerError, "application/json", string(obj(kv{"code", 500}, kv{"message", "failed to obtain recaptcha token"})))
		c.reject("token service failure")
		return
	}
	tok := recaptchaToken(cookie)
	c.h.Set("token", tok)
	writeRaw(w, http.StatusOK, "application/json", string(obj(kv{"code", 200}, kv{"token", tok})))
}
