package genspark

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/gw"
)

// Failure signals of docs/genspark-upstream.md §3.1, recognised by meaning rather than byte for byte
// (genspark2api's exact-string matchers went stale when Genspark added keys
// to message_result). The messages of the challenge, block and unavailable
// errors are genspark2api's own, which its users search for.
const (
	msgChallenge   = "Detected Cloudflare Challenge Page"
	msgBlocked     = "CloudFlare: Sorry, you have been blocked"
	msgUnavailable = "Genspark Service Unavailable"
	msgClosedEarly = "Genspark closed the stream before the answer was complete"
	msgEmpty       = "Genspark returned an empty answer"
)

func errRateLimited(detail string) *gw.Error {
	msg := "Genspark rate limit exceeded"
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return newErr(gw.CodeRateLimited, msg, nil)
}

func errQuota() *gw.Error {
	e := newErr(gw.CodeQuotaExhausted, "Genspark free usage limit reached for today on this account", nil)
	e.RetryAfter = QuotaRetryAfter
	return e
}

func errLoggedOut() *gw.Error {
	return newErr(gw.CodeLoggedOut, "Genspark session is not logged in (cookie expired or invalid)", nil)
}

func errOverloaded() *gw.Error {
	return newErr(gw.CodeTransient, "Genspark server overloaded, please try again later", nil)
}

func errInternal() *gw.Error {
	return newErr(gw.CodeTransient, "Genspark Internal Server Error", nil)
}

// rateLimitRE matches genspark2api's rate-limit bodies (cf1, cf2, …).
var rateLimitRE = regexp.MustCompile(`^Rate limit exceeded\s*([A-Za-z0-9_-]{0,16})\s*$`)

// detectText recognises a plain-text line or body.
func detectText(t []byte) *gw.Error {
	t = bytes.TrimSpace(t)
	if m := rateLimitRE.FindSubmatch(t); m != nil {
		return errRateLimited(string(m[1]))
	}
	if bytes.Equal(t, []byte("Internal Server Error")) {
		return errInternal()
	}
	return nil
}

// detectJSON recognises an error object or a message_result that reports
// a limit. streamed says whether answer text was already delivered: then
// only the structural quota markers count, never the text.
func detectJSON(ev *UpstreamEvent, streamed bool) *gw.Error {
	if notLogin(ev) {
		return errLoggedOut()
	}
	if ev.Type != "message_result" {
		return nil
	}
	if ev.ActionType == "ACTION_QUOTA_EXCEEDED" || quotaFlag(ev) {
		return errQuota()
	}
	// Text markers only for a short result that carries the whole answer:
	// a real answer that mentions these words arrives as deltas.
	if streamed || len(ev.content()) > 300 {
		return nil
	}
	c := strings.ToLower(ev.content())
	switch {
	case strings.Contains(c, "free usage limit"):
		return errQuota()
	case strings.Contains(c, "server overloaded"):
		return errOverloaded()
	}
	if m := rateLimitRE.FindStringSubmatch(strings.TrimSpace(ev.content())); m != nil {
		return errRateLimited(m[1])
	}
	return nil
}

// notLogin reports {"status": -5, ...} or {"message": "not login", ...}.
func notLogin(ev *UpstreamEvent) bool {
	if string(ev.status) == "-5" {
		return true
	}
	if len(ev.message) == 0 {
		return false
	}
	msg, _ := jsonString(ev.message)
	return strings.EqualFold(strings.TrimSpace(msg), "not login")
}

// quotaFlag reports session_state.consume_usage_quota_exceeded == true.
func quotaFlag(ev *UpstreamEvent) bool {
	return string(objectField(ev.SessionState, "consume_usage_quota_exceeded")) == "true"
}

// classifyPage recognises an HTML page, whole or split over lines, with
// any status: Cloudflare block, Cloudflare challenge, Genspark's Service
// Unavailable page, an Internal Server Error page. It returns nil for other
// pages.
func classifyPage(page []byte) *gw.Error {
	s := string(page)
	lower := strings.ToLower(s)
	switch {
	case strings.Contains(lower, "sorry, you have been blocked"):
		return newErr(gw.CodeIPBlocked, msgBlocked, nil)
	case strings.Contains(s, "Just a moment..."), strings.Contains(s, "_cf_chl_opt"), challengePlatform(s):
		return newErr(gw.CodeChallenged, msgChallenge, nil)
	case strings.Contains(lower, "service unavailable"):
		return newErr(gw.CodeUnavailable, msgUnavailable, nil)
	case strings.Contains(lower, "internal server error"):
		return errInternal()
	}
	return nil
}

// challengePlatform reports a reference to Cloudflare's challenge platform
// other than the JavaScript-detection script that Cloudflare injects into
// ordinary pages (/cdn-cgi/challenge-platform/scripts/jsd/...).
func challengePlatform(s string) bool {
	return strings.Count(s, "challenge-platform") > strings.Count(s, "challenge-platform/scripts/jsd")
}

// detectBody recognises a whole non-stream body: a page, a plain-text
// signal, or signal lines (with or without `data: `).
func detectBody(body []byte) *gw.Error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil
	}
	if t[0] == '<' {
		return classifyPage(t)
	}
	if sig := detectText(t); sig != nil {
		return sig
	}
	if ev, ok := DecodeEvent(t); ok { // a whole (maybe pretty-printed) JSON body
		if sig := detectJSON(&ev, false); sig != nil {
			return sig
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(t))
	sc.Buffer(nil, len(t)+1)
	for sc.Scan() {
		payload, _ := cutData(bytes.TrimSpace(sc.Bytes()))
		if len(payload) == 0 {
			continue
		}
		if payload[0] == '{' {
			if ev, ok := DecodeEvent(payload); ok {
				if sig := detectJSON(&ev, false); sig != nil {
					return sig
				}
				continue
			}
		}
		if sig := detectText(payload); sig != nil {
			return sig
		}
	}
	if bytes.Contains(bytes.ToLower(t), []byte("<html")) {
		return classifyPage(t)
	}
	return nil
}

// statusError classifies a non-2xx answer: a recognised signal in the
// body wins, then 429 means rate limited, anything else is an upstream
// error naming the status. The body is never put in the message; a short
// sanitised excerpt goes in the cause, for logs.
func statusError(status int, body []byte, what string) *gw.Error {
	if sig := detectBody(body); sig != nil {
		sig.Cause = fmt.Errorf("HTTP %d", status)
		return sig
	}
	if status == http.StatusTooManyRequests {
		e := errRateLimited("")
		e.Message += " (HTTP 429)"
		e.Cause = excerptErr(body)
		return e
	}
	code := gw.CodeUpstream
	if status >= 500 {
		code = gw.CodeTransient // an unrecognised 5xx may pass on another attempt
	}
	return newErr(code, fmt.Sprintf("%s returned HTTP %d", what, status), excerptErr(body))
}

// secretRE matches cookie-like and token-like values to redact from
// excerpts.
var secretRE = regexp.MustCompile(`(?i)((?:session_id|token|cookie|authorization|key|secret|password)["']?\s*[:=]\s*["']?)[^"'\s;,&]+`)

// excerptErr returns a short, sanitised excerpt of body as an error (nil
// for an empty body): at most 200 bytes, control characters replaced,
// credential-looking values redacted.
func excerptErr(body []byte) error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil
	}
	const max = 200
	cut := len(t) > max
	if cut {
		t = t[:max]
		for len(t) > 0 && !utf8.Valid(t) {
			t = t[:len(t)-1]
		}
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, string(t))
	s = secretRE.ReplaceAllString(s, "${1}[redacted]")
	if cut {
		s += "…"
	}
	return errors.New("upstream body: " + s)
}
