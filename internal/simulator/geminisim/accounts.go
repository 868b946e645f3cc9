package geminisim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// rotateInterval is the refresh interval the rotation page announces (s).
const rotateInterval = 600

// handleRotate simulates POST accounts.google.com/RotateCookies.
//
// Flow A (sentinel body `[000,"-0000000000000000000"]`, not strict JSON)
// must carry only __Secure-1PSID and __Secure-1PSIDTS; any other cookie gives
// 401, as does a logged-out account or a missing/foreign __Secure-1PSIDTS.
// Flow B (body `[658,"<id>"]` after GET /RotateCookiesPage) may carry the
// whole jar. Success is 200 with Set-Cookie headers shaped like the
// rotatecookies_2025-10 fixture: a new __Secure-1PSIDTS / __Secure-3PSIDTS
// pair and the SIDCC family; `norotate…` accounts get only the SIDCC family.
func (s *Server) handleRotate(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, maxSmallBody)
	h := s.rec.Start(r, "accounts", body)
	if err != nil {
		s.bodyFailed(w, r, h, err)
		return
	}
	ch := cookieHeader(r)
	names := cookieNames(ch)
	h.Set("cookie_names", strings.Join(names, ","))
	ss := s.sessionOf(r)
	trimmed := strings.TrimSpace(string(body))
	flow := ""
	switch {
	case strings.HasPrefix(trimmed, "[000,") || strings.HasPrefix(trimmed, "[0,"):
		flow = "sentinel"
	case strings.HasPrefix(trimmed, "["):
		flow = "page"
	}
	h.Set("flow", flow)
	h.Set("new_psidts", "")
	reject := func(status int, why string) {
		h.Set("reason", why)
		googleErrorPage(w, status)
		s.finish(h, r, simcore.OutcomeRejected)
	}
	if flow == "" {
		reject(http.StatusBadRequest, "body is not a rotation request")
		return
	}
	if flow == "sentinel" {
		var extra []string
		for _, n := range names {
			if n != "__Secure-1PSID" && n != "__Secure-1PSIDTS" {
				extra = append(extra, n)
			}
		}
		if len(extra) > 0 {
			h.Set("extra_cookies", strings.Join(extra, ","))
			reject(http.StatusUnauthorized, "cookies other than __Secure-1PSID and __Secure-1PSIDTS")
			return
		}
	}
	switch {
	case !ss.hasPSID || ss.state == simcore.AccountExpired:
		reject(http.StatusUnauthorized, "session is logged out")
		return
	case ss.psidts == "":
		reject(http.StatusUnauthorized, "missing __Secure-1PSIDTS")
		return
	case strings.HasPrefix(ss.psidts, mintedPrefix) && !strings.HasSuffix(ss.psidts, "-"+ss.tag):
		reject(http.StatusUnauthorized, "__Secure-1PSIDTS of another account")
		return
	}
	exp := googleExpires(time.Now().AddDate(1, 0, 0))
	if !strings.HasPrefix(ss.psid, "norotate") {
		v := s.rotate(ss.psid)
		h.Set("new_psidts", v)
		setCookie(w, r, "__Secure-1PSIDTS", v, "Domain=.google.com", "Expires="+exp, "Path=/", "Secure", "HttpOnly", "Priority=HIGH", "SameParty")
		setCookie(w, r, "__Secure-3PSIDTS", v, "Domain=.google.com", "Expires="+exp, "Path=/", "Secure", "HttpOnly", "Priority=HIGH", "SameSite=none")
	}
	s.refreshCC(w, r, ss)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	fmt.Fprintf(w, "%s[[\"identity.hfcr\",%d],[\"di\",%d]]", xssiGuard, rotateInterval, 7)
	s.finish(h, r, simcore.OutcomeCompleted)
}

// handleRotatePage simulates GET accounts.google.com/RotateCookiesPage: a
// live session gets `init('<id>', 658.0, 0.0, 0.0, 600.0)`, a dead one a
// page without init(.
func (s *Server) handleRotatePage(w http.ResponseWriter, r *http.Request) {
	h := s.rec.Start(r, "accounts", nil)
	ss := s.sessionOf(r)
	live := ss.hasPSID && ss.state != simcore.AccountExpired
	h.Set("live", live)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	script := ""
	if live {
		script = fmt.Sprintf("init('%s', 658.0, 0.0, 0.0, %d.0);", hexOf(20, "rotpage", ss.psid), rotateInterval)
		s.refreshCC(w, r, ss)
	}
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><script nonce=\"c2lt\">%s</script></head><body></body></html>\n", script)
	outcome := simcore.OutcomeCompleted
	if !live {
		outcome = simcore.OutcomeRejected
	}
	s.finish(h, r, outcome)
}

// hostOnlyCookies are the cookies whose presence makes the image hosts
// answer 403 (zexadev media.go).
var hostOnlyCookies = []string{"__Host-1PLSID", "__Host-3PLSID", "__Host-GAPS", "LSID", "OSID", "__Secure-OSID"}

func hasHostOnlyCookie(names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return slices.Contains(hostOnlyCookies, n) })
}
