package geminiweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sparkgw/spark/internal/gw"
)

// BardErrorInfo codes (docs/gemini-web-upstream.md §4).
const (
	codeTransient1013 = 1013
	codeUsageLimit    = 1037
	codeModelHistory  = 1050
	codeModelInvalid  = 1052
	codeIPBlocked     = 1060
	codeNotPersisted  = 1096
	codeAnonymousFile = 1100
	codeTransient1155 = 1155
)

// proxyHint ends the messages of IP blocks.
const proxyHint = "set PROXY_URL (or the account's proxy) to route this account through another egress IP, and keep a steady request pace"

func newErr(code gw.Code, msg string) *gw.Error {
	return &gw.Error{Code: code, Message: msg, Provider: Name}
}

// errLoggedOut is the error of a signed-out account. why says how spark
// found out.
func errLoggedOut(why string) *gw.Error {
	return newErr(gw.CodeLoggedOut, "Gemini account is logged out ("+why+"): refresh its cookie (__Secure-1PSID and __Secure-1PSIDTS from a signed-in browser) in GEMINI_COOKIE or the dashboard")
}

// errIPBlocked is the error of a blocked egress IP.
func errIPBlocked(why string) *gw.Error {
	return newErr(gw.CodeIPBlocked, "Gemini temporarily blocked this egress IP ("+why+"); "+proxyHint)
}

// errAttestation is the error for a demand spark will not meet.
func errAttestation(what string) *gw.Error {
	return newErr(gw.CodeAttestation, "Gemini demands "+what+", which spark cannot produce honestly (it forges no anti-bot attestation, device binding or browser fingerprint); use a cookie exported from Firefox or a fresh private window, or another account")
}

// errorForCode maps a BardErrorInfo code to a gw error.
func errorForCode(code int) *gw.Error {
	switch code {
	case codeUsageLimit:
		return newErr(gw.CodeRateLimited, "Gemini usage limit reached for this model on this account (code 1037)")
	case codeIPBlocked:
		return errIPBlocked("code 1060")
	case codeTransient1013, codeTransient1155:
		return newErr(gw.CodeTransient, fmt.Sprintf("Gemini rejected the request transiently (code %d); retry", code))
	case codeModelHistory:
		return newErr(gw.CodeProtocolChanged, "Gemini rejected the request layout (code 1050: model inconsistent with the conversation): the web protocol probably changed; update spark")
	case codeModelInvalid:
		return newErr(gw.CodeProtocolChanged, "Gemini rejected the request layout (code 1052): the web protocol probably changed; update spark")
	case codeNotPersisted:
		return newErr(gw.CodeUpstream, "Gemini rejected the request without an answer (code 1096)")
	case codeAnonymousFile:
		return newErr(gw.CodeUpstream, "Gemini refused the attachments (code 1100: the session is treated as anonymous)")
	}
	return newErr(gw.CodeUpstream, fmt.Sprintf("Gemini failed with error code %d", code))
}

// errorForStatus maps a non-200 HTTP answer of StreamGenerate or
// batchexecute. Redirects are handled by the caller.
func errorForStatus(resp *http.Response, what string) *gw.Error {
	st := resp.StatusCode
	switch {
	case st == http.StatusTooManyRequests:
		e := errIPBlocked("HTTP 429")
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
		return e
	case st == http.StatusUnauthorized:
		return errLoggedOut(what + " answered HTTP 401")
	case st == http.StatusServiceUnavailable:
		return newErr(gw.CodeUnavailable, fmt.Sprintf("Gemini %s is unavailable (HTTP 503)", what))
	case st == http.StatusRequestEntityTooLarge:
		return newErr(gw.CodeTooLarge, fmt.Sprintf("Gemini %s refused the request as too large (HTTP 413)", what))
	case st >= 500:
		return newErr(gw.CodeTransient, fmt.Sprintf("Gemini %s failed with HTTP %d", what, st))
	}
	return newErr(gw.CodeUpstream, fmt.Sprintf("Gemini %s failed with HTTP %d", what, st))
}

// redirectError classifies a redirect of an upstream call.
func redirectError(resp *http.Response, what string) *gw.Error {
	loc := resp.Header.Get("Location")
	switch {
	case strings.Contains(loc, "/sorry/"):
		return errIPBlocked(fmt.Sprintf("%s was redirected to google.com/sorry", what))
	case strings.Contains(loc, "accounts.google.com") || strings.Contains(loc, "ServiceLogin") || strings.Contains(loc, "/signin"):
		return errLoggedOut(what + " was redirected to the sign-in page")
	}
	return newErr(gw.CodeUpstream, fmt.Sprintf("Gemini %s answered an unexpected redirect (HTTP %d)", what, resp.StatusCode))
}

// retryAfter parses a Retry-After header (seconds or HTTP date).
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// transportError maps a failed round trip or body read.
func transportError(ctx context.Context, err error, what string) error {
	var ge *gw.Error
	if errors.As(err, &ge) {
		return ge
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &gw.Error{Code: gw.CodeUpstreamTimeout, Message: "Gemini " + what + " timed out", Provider: Name, Cause: err}
		}
		return &gw.Error{Code: gw.CodeCanceled, Message: "request canceled by the client", Provider: Name, Cause: ctx.Err()}
	}
	switch {
	case errors.Is(err, ErrBadFraming):
		return &gw.Error{Code: gw.CodeProtocolChanged, Message: "Gemini " + what + " answered in an unknown format: the web protocol probably changed; update spark", Provider: Name, Cause: err}
	case errors.Is(err, ErrFrameTooLarge):
		return &gw.Error{Code: gw.CodeUpstream, Message: "Gemini " + what + " sent a frame larger than spark accepts", Provider: Name, Cause: err}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return &gw.Error{Code: gw.CodeTransient, Message: "the connection to Gemini dropped during the " + what, Provider: Name, Cause: err}
	case isTimeout(err): // UPSTREAM_HEADER_TIMEOUT, a dial timeout
		return &gw.Error{Code: gw.CodeUpstreamTimeout, Message: "Gemini " + what + " timed out", Provider: Name, Cause: err}
	}
	return &gw.Error{Code: gw.CodeUnavailable, Message: "Gemini " + what + " is unreachable", Provider: Name, Cause: err}
}

// isTimeout reports a transport timeout (no response headers in time, a
// dial or TLS handshake timeout).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
