package geminisim

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// handleApp serves the app page. A signed-in session gets WIZ_global_data
// with SNlM0e (the `at` token), cfb2h (`bl`), FdrFJe (`f.sid`), TuX5cc
// (language) and qKIAYe (upload push id); a logged-out one gets the same page
// without SNlM0e.
func (s *Server) handleApp(w http.ResponseWriter, r *http.Request) {
	h := s.rec.Start(r, "gemini", nil)
	ss := s.sessionOf(r)
	h.Set("signed_in", ss.signedIn)
	if au := r.PathValue("authuser"); au != "" {
		h.Set("authuser", au)
	}
	lang := r.URL.Query().Get("hl")
	if lang == "" {
		lang = "en"
	}
	fsid := sessionID("anonymous")
	var wiz strings.Builder
	wiz.WriteString(`{"DpimGf":false,"EOzIkf":"UUFaWc","FdrFJe":"`)
	if ss.signedIn {
		fsid = sessionID(ss.psid)
	}
	wiz.WriteString(fsid)
	wiz.WriteString(`","Im6cmf":"/_/BardChatUi","LVIXXb":1,"Lna0ve":false,"QrtxK":"0","S06Grb":"`)
	if ss.signedIn {
		wiz.WriteString(hexOf(21, "uid", ss.psid))
	}
	wiz.WriteString(`","SNlM0e":"`)
	if ss.signedIn {
		wiz.WriteString(snlm0e(ss.psid))
	}
	wiz.WriteString(`","TuX5cc":"` + lang + `","W3Yyqf":"`)
	if ss.signedIn {
		wiz.WriteString(hexOf(21, "uid", ss.psid))
	}
	wiz.WriteString(`","cfb2h":"` + buildLabel + `","eptZe":"/_/BardChatUi/","fPDxwd":[],"qKIAYe":"` + pushID + `","qwAQke":"BardChatUi","y2FhP":"prod"}`)
	page := wiz.String()
	if !ss.signedIn {
		// The logged-out page carries no account fields at all.
		page = strings.Replace(page, `"S06Grb":"",`, "", 1)
		page = strings.Replace(page, `"SNlM0e":"",`, "", 1)
		page = strings.Replace(page, `"W3Yyqf":"",`, "", 1)
	}
	s.refreshCC(w, r, ss)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	fmt.Fprintf(w, `<!doctype html><html lang="%s" dir="ltr"><head><meta charset="utf-8"><title>Gemini</title>
<script data-id="_gd" nonce="c2ltdWxhdG9y">window.WIZ_global_data = %s;</script></head>
<body><chat-app id="app-root"></chat-app></body></html>
`, lang, page)
	s.finish(h, r, simcore.OutcomeCompleted)
}

// sorryURL is where an IP-blocked request is redirected.
func sorryURL(r *http.Request) string {
	cont := baseURL(r) + "/app"
	return baseURL(r) + "/sorry/index?continue=" + url.QueryEscape(cont) + "&q=" + hexOf(32, "sorry", r.RemoteAddr)
}

// handleSorry serves Google's "unusual traffic" page with HTTP 429.
func (s *Server) handleSorry(w http.ResponseWriter, r *http.Request) {
	h := s.rec.Start(r, "gemini", nil)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprint(w, `<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"><title>https://gemini.google.com/app</title></head>
<body><div id="infoDiv">Our systems have detected unusual traffic from your computer network. This page checks to see if it's really you sending the requests, and not a robot.</div></body></html>
`)
	s.finish(h, r, simcore.OutcomeRejected)
}

// googleErrorPage answers with Google's plain HTML error page.
func googleErrorPage(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!DOCTYPE html>
<html lang=en><meta charset=utf-8><title>Error %d (%s)!!1</title>
<p><b>%d.</b> <ins>That’s an error.</ins>
<p>%s <ins>That’s all we know.</ins>
`, status, http.StatusText(status), status, http.StatusText(status))
}
