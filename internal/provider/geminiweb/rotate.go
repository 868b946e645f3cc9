package geminiweb

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
)

// rotateBody is the sentinel rotation body (docs/gemini-web-upstream.md §1.4 flow A). It is not strict
// JSON (leading zeros) and is sent byte for byte.
const rotateBody = `[000,"-0000000000000000000"]`

// RotateDue rotates __Secure-1PSIDTS of every Gemini account in accounts
// whose rotation is due (see Config.RotateEvery). The app may call it from
// a ticker; Chat also rotates lazily. Accounts of other providers are
// skipped. Failures are logged; a 401 marks the account logged out, which
// its next Chat reports.
func (p *Provider) RotateDue(ctx context.Context, accounts []*gw.Account) {
	for _, a := range accounts {
		if a == nil || a.Provider != "" && a.Provider != Name {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if !strings.Contains(a.Cookie, cookiePSID+"=") {
			continue
		}
		_ = p.maybeRotate(ctx, a, p.state(a))
	}
}

// maybeRotate rotates the account's cookies when due. Only a 401 (the
// session is dead) or a device-binding demand is returned as an error.
func (p *Provider) maybeRotate(ctx context.Context, acct *gw.Account, st *account) error {
	_, err := p.rotateIf(ctx, acct, st, false)
	return err
}

// rotateIf rotates the account's cookies when a rotation is due, or with
// force whenever the last attempt is at least RotateFloor old. It never
// runs two rotations of one account at once: a caller that finds one
// running waits for it and then sees that nothing is due. It reports
// whether a new __Secure-1PSIDTS arrived.
func (p *Provider) rotateIf(ctx context.Context, acct *gw.Account, st *account, force bool) (bool, error) {
	allowed := func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		now := p.now()
		if st.loggedOut != nil || !st.lastRot.IsZero() && now.Sub(st.lastRot) < RotateFloor {
			return false
		}
		if st.jar.get(cookiePSIDTS) == "" {
			return false // nothing to rotate (some accounts need no PSIDTS)
		}
		return force || !now.Before(st.nextRot)
	}
	if !allowed() {
		return false, nil
	}
	st.rotMu.Lock()
	defer st.rotMu.Unlock()
	if !allowed() {
		return false, nil
	}
	if p.cfg.Claim != nil {
		job, period := "rotate:"+acct.ID, p.cfg.RotateEvery
		if force {
			job, period = "rotate-now:"+acct.ID, RotateFloor
		}
		if !p.cfg.Claim(ctx, job, period) {
			// Another process rotates this account: its value reaches
			// this one through the store.
			st.mu.Lock()
			st.nextRot = p.now().Add(RotateFloor)
			st.mu.Unlock()
			return false, nil
		}
	}
	st.mu.Lock()
	st.lastRot = p.now()
	st.nextRot = st.lastRot.Add(RotateFloor) // a failed attempt is retried after the floor
	st.mu.Unlock()
	rotated, err := p.rotate(ctx, acct, st)
	if err != nil {
		if ge, ok := err.(*gw.Error); ok && (ge.Code == gw.CodeLoggedOut || ge.Code == gw.CodeAttestation) {
			st.setLoggedOut(ge)
			p.log.Warn("cookie rotation: the account is logged out", "account", acct.ID, "reason", ge.Message)
			return false, ge
		}
		if ctx.Err() == nil {
			p.log.Warn("cookie rotation failed; retrying later", "account", acct.ID, "err", err)
		}
		return false, nil
	}
	st.mu.Lock()
	st.nextRot = p.now().Add(p.cfg.RotateEvery)
	st.mu.Unlock()
	if rotated {
		p.rotations.Add(1)
		p.persist(ctx, st)
		p.log.Info("rotated __Secure-1PSIDTS", "account", acct.ID)
	} else {
		p.log.Debug("cookie rotation returned no new __Secure-1PSIDTS; keeping the current one", "account", acct.ID)
	}
	return rotated, nil
}

// rotate calls POST {AccountsURL}/RotateCookies with only __Secure-1PSID and
// __Secure-1PSIDTS (sending the whole jar gives 401) and merges the
// Set-Cookie headers. It reports whether a new __Secure-1PSIDTS arrived.
func (p *Provider) rotate(ctx context.Context, acct *gw.Account, st *account) (bool, error) {
	hc, err := p.client(acct)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.accounts+"/RotateCookies", strings.NewReader(rotateBody))
	if err != nil {
		return false, gw.Wrap(gw.CodeInternal, err, "building the rotation request failed")
	}
	req.Header.Set("User-Agent", p.cfg.UserAgent)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", p.accountsOrigin)
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("Cookie", st.cookieHeader(cookiePSID, cookiePSIDTS))
	resp, err := hc.Do(req)
	if err != nil {
		return false, transportError(ctx, err, "cookie rotation")
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	// Device Bound Session Credentials: Chrome-bound cookies can only be
	// refreshed with a key held by the browser (docs/gemini-web-upstream.md §1.4).
	if resp.Header.Get("Sec-Session-Challenge") != "" || resp.Header.Get("Sec-Session-Registration") != "" {
		return false, errAttestation("device-bound session credentials (DBSC) to refresh this cookie")
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, errLoggedOut("Google refused to rotate its cookies (HTTP " + strconv.Itoa(resp.StatusCode) + "); cookies exported from Chrome may be device-bound, export from Firefox or a fresh private window")
	case resp.StatusCode != http.StatusOK:
		return false, errorForStatus(resp, "cookie rotation")
	}
	return st.mergeCookies(resp.Header, p.now()), nil
}
