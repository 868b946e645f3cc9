package geminiweb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/gw"
)

// errAnonymous is the anonymous app page (no SNlM0e).
var errAnonymous = errors.New("geminiweb: anonymous app page")

// maxPageBytes bounds the app page read during bootstrap.
const maxPageBytes = 32 << 20

// maxRedirects bounds the redirects followed by hand (each hop merges
// Set-Cookie and is checked for /sorry and sign-in pages).
const maxRedirects = 5

// account is the in-memory state of one Gemini account.
type account struct {
	id string

	mu        sync.Mutex
	jar       *jar
	known     map[[32]byte]bool // digests of cookie strings that are this jar
	sess      *session          // nil: bootstrap needed
	loggedOut *gw.Error         // sticky until the cookie changes
	firstSeen time.Time
	nextRot   time.Time // next scheduled rotation
	lastRot   time.Time // last rotation attempt
	models    *accountModels
	modelsAt  time.Time
	modelsTry time.Time // no discovery attempt before this
	bootMu    sync.Mutex
	rotMu     sync.Mutex
	discMu    sync.Mutex
}

// session holds the values scraped from the app page.
type session struct {
	page       AppPage
	clientUUID string // header index 16, per session
	at         time.Time
}

func digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// state returns the account's state, resetting it when the stored cookie is
// neither the imported one nor one spark saved (the user imported a new
// cookie).
func (p *Provider) state(acct *gw.Account) *account {
	key := acct.ID
	if key == "" { // not stored yet: key the state by the session cookie
		h := digest(parseJar(acct.Cookie).get(cookiePSID))
		key = "psid:" + hex.EncodeToString(h[:8])
	}
	p.mu.Lock()
	st := p.states[key]
	if st == nil {
		st = &account{id: acct.ID}
		p.states[key] = st
	}
	p.mu.Unlock()
	d := digest(acct.Cookie)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.jar == nil || !st.known[d] {
		st.jar = parseJar(acct.Cookie)
		st.known = map[[32]byte]bool{d: true}
		st.sess = nil
		st.loggedOut = nil
		st.models, st.modelsAt, st.modelsTry = nil, time.Time{}, time.Time{}
	}
	if st.firstSeen.IsZero() {
		now := p.now()
		st.firstSeen = now
		// The first rotation comes soon after first use: a cookie restored
		// after a restart may be close to the end of its PSIDTS life.
		st.nextRot = now.Add(RotateFloor)
	}
	return st
}

// cookieHeader returns the account's Cookie header value.
func (st *account) cookieHeader(only ...string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.jar.header(only...)
}

// mergeCookies merges a response's Set-Cookie headers and reports whether
// __Secure-1PSIDTS changed.
func (st *account) mergeCookies(h http.Header, now time.Time) (psidtsChanged bool) {
	if len(h.Values("Set-Cookie")) == 0 {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	old := st.jar.get(cookiePSIDTS)
	st.jar.merge(h, now)
	return st.jar.get(cookiePSIDTS) != old && st.jar.get(cookiePSIDTS) != ""
}

// setLoggedOut marks the account signed out until its cookie changes.
func (st *account) setLoggedOut(e *gw.Error) {
	st.mu.Lock()
	st.loggedOut = e
	st.sess = nil
	st.mu.Unlock()
}

func (st *account) loggedOutErr() *gw.Error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.loggedOut
}

// invalidate drops the cached session (after an auth failure).
func (st *account) invalidate(s *session) {
	st.mu.Lock()
	if st.sess == s {
		st.sess = nil
	}
	st.mu.Unlock()
}

// persist hands the account's current cookie string to the CookieSaver.
func (p *Provider) persist(ctx context.Context, st *account) {
	st.mu.Lock()
	s := st.jar.header()
	st.known[digest(s)] = true
	st.mu.Unlock()
	if p.cfg.Cookies == nil || st.id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.SaveTimeout)
	defer cancel()
	if err := p.cfg.Cookies.SaveCookie(ctx, st.id, s); err != nil {
		p.log.Warn("saving the rotated cookie failed; it lives in memory until restart", "account", st.id, "err", err)
	}
}

// client returns the HTTP client of the account's proxy, never following
// redirects (they are classified by hand).
func (p *Provider) client(acct *gw.Account) (*http.Client, error) {
	c, err := p.cfg.Clients.Get(acct.Proxy)
	if err != nil {
		return nil, &gw.Error{Code: gw.CodeInternal, Message: "the account's proxy setting is invalid", Provider: Name, Cause: err}
	}
	return &http.Client{
		Transport:     c.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// setBrowserHeaders sets the headers every call to the web app carries.
func (p *Provider) setBrowserHeaders(h http.Header) {
	h.Set("User-Agent", p.cfg.UserAgent)
	h.Set("Accept-Language", "en-US,en;q=0.9")
	h.Set("Origin", p.origin)
	h.Set("Referer", p.origin+"/")
}

// session returns the account's bootstrapped session, scraping the app
// page when there is none or it is older than SessionTTL.
func (p *Provider) session(ctx context.Context, acct *gw.Account, st *account) (*session, error) {
	st.mu.Lock()
	s := st.sess
	st.mu.Unlock()
	if s != nil && p.now().Sub(s.at) < p.cfg.SessionTTL {
		return s, nil
	}
	st.bootMu.Lock()
	defer st.bootMu.Unlock()
	st.mu.Lock()
	s = st.sess
	st.mu.Unlock()
	if s != nil && p.now().Sub(s.at) < p.cfg.SessionTTL {
		return s, nil
	}
	if e := st.loggedOutErr(); e != nil {
		return nil, e
	}
	page, err := p.bootstrap(ctx, acct, st)
	if errors.Is(err, errAnonymous) {
		// An expired __Secure-1PSIDTS makes the page anonymous; a rotation
		// (allowed once per RotateFloor) may revive the session.
		if rotated, rerr := p.rotateIf(ctx, acct, st, true); rerr != nil {
			return nil, rerr
		} else if rotated {
			page, err = p.bootstrap(ctx, acct, st)
		}
	}
	if errors.Is(err, errAnonymous) {
		e := errLoggedOut("the app page is the anonymous page without SNlM0e: the cookie expired or was revoked")
		st.setLoggedOut(e)
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	s = &session{page: page, clientUUID: strings.ToUpper(newUUID()), at: p.now()}
	st.mu.Lock()
	st.sess = s
	st.mu.Unlock()
	return s, nil
}

// bootstrap scrapes GET {BaseURL}/app (docs/gemini-web-upstream.md §1.2).
func (p *Provider) bootstrap(ctx context.Context, acct *gw.Account, st *account) (AppPage, error) {
	hc, err := p.client(acct)
	if err != nil {
		return AppPage{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	target := p.base + "/app"
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return AppPage{}, gw.Wrap(gw.CodeInternal, err, "building the Gemini app page request failed")
		}
		p.setBrowserHeaders(req.Header)
		req.Header.Del("Origin")
		req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		req.Header.Set("Cookie", st.cookieHeader())
		resp, err := hc.Do(req)
		if err != nil {
			return AppPage{}, transportError(ctx, err, "app page")
		}
		if st.mergeCookies(resp.Header, p.now()) {
			p.persist(ctx, st)
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			resp.Body.Close()
			loc, lerr := resp.Location()
			e := redirectError(resp, "the app page")
			if e.Code != gw.CodeUpstream || lerr != nil || hop >= maxRedirects {
				if e.Code == gw.CodeLoggedOut {
					st.setLoggedOut(e)
				}
				return AppPage{}, e
			}
			target = loc.String()
			continue
		case resp.StatusCode != http.StatusOK:
			resp.Body.Close()
			e := errorForStatus(resp, "app page")
			if e.Code == gw.CodeLoggedOut {
				st.setLoggedOut(e)
			}
			return AppPage{}, e
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes))
		resp.Body.Close()
		if err != nil {
			return AppPage{}, transportError(ctx, err, "app page")
		}
		page := ScrapeAppPage(body)
		if !page.SignedIn() {
			return AppPage{}, errAnonymous
		}
		if page.BuildLabel == "" {
			p.log.Warn("app page has no build label (cfb2h); the page layout may have changed")
		}
		if page.Language == "" {
			page.Language = "en"
		}
		if page.PushID == "" {
			page.PushID = DefaultPushID
		}
		return page, nil
	}
}

// ---- batchexecute (docs/gemini-web-upstream.md §7.1) ----

// batchHeader is the model-less model header of G3 batchexecute calls.
const batchHeader = `[1,null,null,null,null,null,null,null,[4,5,6,8],null,null,null,null,null,null,null]`

// errBatchStatus is a batchexecute result refused with a status code.
type errBatchStatus struct {
	rpc    string
	status int
}

func (e *errBatchStatus) Error() string {
	return fmt.Sprintf("batchexecute %s refused with status %d", e.rpc, e.status)
}

// batch calls one rpc and returns its decoded result body.
func (p *Provider) batch(ctx context.Context, acct *gw.Account, st *account, s *session, rpc, payload string) (any, error) {
	hc, err := p.client(acct)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("rpcids", rpc)
	q.Set("source-path", "/app")
	if s.page.BuildLabel != "" {
		q.Set("bl", s.page.BuildLabel)
	}
	if s.page.SessionID != "" {
		q.Set("f.sid", s.page.SessionID)
	}
	q.Set("hl", s.page.Language)
	q.Set("_reqid", strconv.FormatInt(p.nextReqID(), 10))
	q.Set("rt", "c")
	freq, err := marshalNoEscape([]any{[]any{[]any{rpc, payload, nil, "generic"}}})
	if err != nil {
		return nil, gw.Wrap(gw.CodeInternal, err, "encoding a Gemini rpc failed")
	}
	form := url.Values{}
	form.Set("at", s.page.AccessToken)
	form.Set("f.req", freq)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/_/BardChatUi/data/batchexecute?"+q.Encode(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, gw.Wrap(gw.CodeInternal, err, "building a Gemini rpc failed")
	}
	p.setBrowserHeaders(req.Header)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("X-Same-Domain", "1")
	req.Header.Set("X-Goog-Ext-525001261-Jspb", batchHeader)
	req.Header.Set("X-Goog-Ext-73010989-Jspb", "[0]")
	req.Header.Set("Cookie", st.cookieHeader())
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(ctx, err, rpc+" rpc")
	}
	defer func() {
		// Read the trailers too: the connection is reused and the server
		// sees a completed exchange.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if st.mergeCookies(resp.Header, p.now()) {
		p.persist(ctx, st)
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, redirectError(resp, rpc+" rpc")
	case resp.StatusCode == http.StatusBadRequest:
		st.invalidate(s)
		return nil, newErr(gw.CodeUpstream, "Gemini refused the "+rpc+" rpc (HTTP 400: stale session token)")
	case resp.StatusCode != http.StatusOK:
		return nil, errorForStatus(resp, rpc+" rpc")
	}
	fr := NewFrameReader(resp.Body, p.cfg.MaxFrameBytes)
	for {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return nil, newErr(gw.CodeProtocolChanged, "Gemini answered the "+rpc+" rpc without a result: the web protocol probably changed; update spark")
		}
		if err != nil {
			return nil, transportError(ctx, err, rpc+" rpc")
		}
		for _, raw := range f.Entries {
			e, err := ParseEntry(raw)
			if err != nil || e.Kind != "wrb.fr" || e.RPC != rpc {
				continue
			}
			if !e.HasPayload {
				return nil, &errBatchStatus{rpc: rpc, status: e.StatusCode}
			}
			v, err := decodeJSON([]byte(e.Payload))
			if err != nil {
				return nil, &gw.Error{Code: gw.CodeProtocolChanged, Message: "Gemini answered the " + rpc + " rpc with an unreadable result", Provider: Name, Cause: err}
			}
			return v, nil
		}
	}
}

// marshalNoEscape encodes v as JSON without HTML escaping (as the web app
// does).
func marshalNoEscape(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// discover refreshes the account's model list when it is older than
// ModelCacheTTL (docs/gemini-web-upstream.md §6.1). Failures fall back to the static table and are
// retried after a pause.
func (p *Provider) discover(ctx context.Context, acct *gw.Account, st *account, s *session) *accountModels {
	now := p.now()
	st.mu.Lock()
	am, fresh := st.models, st.models != nil && now.Sub(st.modelsAt) < p.cfg.ModelCacheTTL
	wait := now.Before(st.modelsTry)
	st.mu.Unlock()
	if fresh || wait {
		return am
	}
	st.discMu.Lock()
	defer st.discMu.Unlock()
	st.mu.Lock()
	am, fresh = st.models, st.models != nil && now.Sub(st.modelsAt) < p.cfg.ModelCacheTTL
	wait = now.Before(st.modelsTry)
	st.mu.Unlock()
	if fresh || wait {
		return am
	}
	dctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	body, err := p.batch(dctx, acct, st, s, "otAQ7b", "[]")
	var found *accountModels
	if err == nil {
		found, err = parseUserStatus(body)
	}
	if err == nil && found.status != 0 && found.status != statusOK {
		err = fmt.Errorf("account status %d", found.status)
		if found.status == statusUnauthenticated {
			st.invalidate(s)
		}
		found = nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil || len(found.models) == 0 {
		if ctx.Err() == nil {
			p.log.Info("model discovery failed; using the static model table", "account", acct.ID, "err", errMsg(err))
		}
		st.modelsTry = now.Add(min(p.cfg.ModelCacheTTL, discoveryRetry))
		return st.models // a stale list beats none
	}
	st.models, st.modelsAt = found, now
	p.addDiscovered(found.models)
	return found
}

// discoveryRetry is the pause after a failed discovery.
const discoveryRetry = 5 * time.Minute

func errMsg(err error) string {
	if err == nil {
		return "empty model list"
	}
	return err.Error()
}
