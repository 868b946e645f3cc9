package geminiweb

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// streamPath is the StreamGenerate endpoint under BaseURL (docs/gemini-web-upstream.md §2.1).
const streamPath = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"

// errSessionRejected is an HTTP 400 / "er" answer: a stale `at` token or a
// signed-out session (docs/gemini-web-upstream.md §1.2, §4). Chat refreshes the session once.
var errSessionRejected = errors.New("geminiweb: session rejected")

// Chat implements provider.Provider. Errors known before the first event
// (logged out, limits, IP block, model mismatch, protocol change) are
// returned by Chat itself, so the pool can fail over.
func (p *Provider) Chat(ctx context.Context, acct *gw.Account, req *llm.Request) (llm.Stream, error) {
	if acct == nil {
		return nil, newErr(gw.CodeInternal, "no Gemini account given")
	}
	if req == nil || len(req.Messages) == 0 {
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "messages", Message: "messages must not be empty", Provider: Name}
	}
	if !strings.Contains(acct.Cookie, cookiePSID+"=") {
		return nil, errLoggedOut("its cookie has no __Secure-1PSID")
	}
	m, generic, ok := p.idx().resolve(req.Model)
	if !ok {
		return nil, &gw.Error{Code: gw.CodeModelNotFound, Param: "model", Provider: Name,
			Message: "The model `" + req.Model + "` is not a Gemini web model"}
	}
	// Attachment limits are checked before any upstream call (the count
	// again once a continuation has dropped the history's files).
	if _, err := collectFiles(req.Messages); err != nil && (gw.ErrorCode(err) == gw.CodeTooLarge || !p.cfg.ContinueChats) {
		return nil, err
	}
	st := p.state(acct)
	if e := st.loggedOutErr(); e != nil {
		return nil, e
	}
	if err := p.maybeRotate(ctx, acct, st); err != nil {
		return nil, err
	}
	s, err := p.session(ctx, acct, st)
	if err != nil {
		return nil, err
	}
	am := p.discover(ctx, acct, st, s)
	sel := selectModel(m, am, thinkingLevel(req))

	x := &exchange{p: p, acct: acct, st: st, req: req, sel: sel, generic: generic}
	msgs := req.Messages
	if p.cfg.ContinueChats {
		if hist, tail, ok := splitHistory(req.Messages); ok {
			x.bindKey = bindingKey(acct.ID, req.ClientKey, sel.family, hist, nil)
			if cm, ok := p.lookupBinding(x.bindKey); ok {
				x.meta, msgs = &cm, tail
			}
		}
	}
	g, err := p.prepare(ctx, acct, s, msgs, x.meta, sel)
	if err != nil {
		return nil, err
	}
	retriedSession, retriedFresh := false, false
	for {
		stream, err := p.open(ctx, x, s, g)
		if err == nil {
			return stream, nil
		}
		switch {
		case errors.Is(err, errSessionRejected) && !retriedSession:
			retriedSession = true
			st.invalidate(s)
			if s, err = p.session(ctx, acct, st); err != nil {
				return nil, err
			}
			continue
		case errors.Is(err, errSessionRejected):
			return nil, errLoggedOut("its session token was rejected twice, also after a fresh app page (HTTP 400); if every account fails alike, the request layout changed")
		case x.meta != nil && !retriedFresh && retryFresh(err):
			// The upstream chat cannot be continued (deleted, model
			// switched, 1050): start a new one with the whole history.
			retriedFresh = true
			p.log.Info("continuing the upstream chat failed; starting a new one", "account", acct.ID, "err", err)
			p.dropBinding(x.bindKey)
			x.meta = nil
			if g, err = p.prepare(ctx, acct, s, req.Messages, nil, sel); err != nil {
				return nil, err
			}
			continue
		}
		return nil, err
	}
}

// retryFresh reports errors after which a continuation is retried as a new
// chat.
func retryFresh(err error) bool {
	switch gw.ErrorCode(err) {
	case gw.CodeProtocolChanged, gw.CodeUpstream:
		return true
	}
	return false
}

// exchange is what one Chat call knows across its attempts.
type exchange struct {
	p       *Provider
	acct    *gw.Account
	st      *account
	req     *llm.Request
	sel     selection
	generic bool
	meta    *chatMeta
	bindKey [32]byte
}

// prepare renders the prompt of msgs and uploads their files.
func (p *Provider) prepare(ctx context.Context, acct *gw.Account, s *session, msgs []llm.Message, meta *chatMeta, sel selection) (*genRequest, error) {
	files, err := collectFiles(msgs)
	if err != nil {
		return nil, err
	}
	if len(files) > 0 {
		hc, err := p.client(acct)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if f.ref, err = p.upload(ctx, hc, s, f); err != nil {
				return nil, err
			}
		}
	}
	return &genRequest{prompt: flatten(msgs), files: files, meta: meta, sel: sel}, nil
}

// open sends one StreamGenerate request and reads the answer up to its
// first event.
func (p *Provider) open(ctx context.Context, x *exchange, s *session, g *genRequest) (*stream, error) {
	hc, err := p.client(x.acct)
	if err != nil {
		return nil, err
	}
	g.reqUUID = strings.ToUpper(newUUID())
	freq, err := g.fReq(s.page.Language)
	if err != nil {
		return nil, gw.Wrap(gw.CodeInternal, err, "encoding the Gemini request failed")
	}
	q := url.Values{}
	if s.page.BuildLabel != "" {
		q.Set("bl", s.page.BuildLabel)
	}
	if s.page.SessionID != "" {
		q.Set("f.sid", s.page.SessionID)
	}
	q.Set("hl", s.page.Language)
	q.Set("_reqid", strconv.FormatInt(p.nextReqID(), 10))
	q.Set("rt", "c")
	form := url.Values{}
	form.Set("at", s.page.AccessToken)
	form.Set("f.req", freq)

	rctx, cancel := context.WithCancel(ctx)
	hr, err := http.NewRequestWithContext(rctx, http.MethodPost, p.base+streamPath+"?"+q.Encode(), strings.NewReader(form.Encode()))
	if err != nil {
		cancel()
		return nil, gw.Wrap(gw.CodeInternal, err, "building the Gemini request failed")
	}
	p.setBrowserHeaders(hr.Header)
	h := hr.Header
	h.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	h.Set("X-Same-Domain", "1")
	h.Set("X-Goog-Ext-525001261-Jspb", modelHeader(g.sel, s.clientUUID))
	h.Set("X-Goog-Ext-525005358-Jspb", `["`+g.reqUUID+`",1]`)
	h.Set("X-Goog-Ext-73010989-Jspb", "[0]")
	h.Set("X-Goog-Ext-73010990-Jspb", "[0,0,0]")
	h.Set("Cookie", x.st.cookieHeader())
	resp, err := hc.Do(hr)
	if err != nil {
		cancel()
		return nil, transportError(ctx, err, "answer request")
	}
	if x.st.mergeCookies(resp.Header, p.now()) {
		p.persist(ctx, x.st)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			e := redirectError(resp, "the answer request")
			if e.Code == gw.CodeLoggedOut {
				x.st.setLoggedOut(e)
			}
			return nil, e
		case resp.StatusCode == http.StatusBadRequest:
			return nil, errSessionRejected
		}
		return nil, errorForStatus(resp, "answer request")
	}
	st := newStream(x, s, g, resp, rctx, cancel)
	if err := st.prime(); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}
