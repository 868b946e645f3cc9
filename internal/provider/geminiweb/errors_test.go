package geminiweb_test

import (
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
)

func TestUsageLimit(t *testing.T) {
	e := newEnv(t)
	ge := e.fails(account("amy"), userReq("gemini-3-pro", "hi sim:ratelimit"), gw.CodeRateLimited)
	mustContain(t, ge.Message, "1037")
	// A `limited…` account is always limited.
	e.fails(account("limited-amy"), userReq("gemini-3-flash", "hi"), gw.CodeRateLimited)
	if n := len(e.entries(genPath)); n != 2 {
		t.Errorf("%d StreamGenerate calls, want 2 (no retry on a limit)", n)
	}
}

func TestExpiredAccountLoggedOut(t *testing.T) {
	e := newEnv(t)
	acct := account("expired-ben")
	ge := e.fails(acct, userReq("gemini-3-flash", "hi"), gw.CodeLoggedOut)
	mustContain(t, ge.Message, "cookie")
	if strings.Contains(ge.Error(), "expired-ben") || strings.Contains(ge.Error(), "sidts") {
		t.Errorf("error leaks the cookie: %v", ge)
	}
	if n := len(e.entries(genPath)); n != 0 {
		t.Errorf("%d StreamGenerate calls for a logged-out account", n)
	}
	// Sticky until the cookie changes: no second page fetch.
	e.fails(acct, userReq("gemini-3-flash", "hi"), gw.CodeLoggedOut)
	if n := len(e.entries("/app")); n != 1 {
		t.Errorf("%d app page fetches, want 1", n)
	}
	// A new cookie for the same account id is tried again.
	fresh := *acct
	fresh.Cookie = account("ben").Cookie
	e.ok(&fresh, userReq("gemini-3-flash", "hi"))
}

func TestCookieWithoutPSID(t *testing.T) {
	e := newEnv(t)
	acct := &gw.Account{ID: "x", Provider: geminiweb.Name, Cookie: "SID=abc"}
	e.fails(acct, userReq("gemini-3-flash", "hi"), gw.CodeLoggedOut)
	if len(e.rec.Entries()) != 0 {
		t.Error("requests sent without __Secure-1PSID")
	}
}

// sim:downgrade serves a weaker model: a specific model request fails
// before any event; a generic alias only counts the mismatch.
func TestModelDowngrade(t *testing.T) {
	var seen []geminiweb.MismatchEvent
	e := newEnv(t, func(c *geminiweb.Config) {
		c.OnMismatch = func(ev geminiweb.MismatchEvent) { seen = append(seen, ev) }
	})
	ge := e.fails(account("dan"), userReq("gemini-3-pro", "hi sim:downgrade"), gw.CodeModelMismatch)
	mustContain(t, ge.Message, "3.6 Flash")
	mustContain(t, ge.Message, "gemini-3-pro")
	if gw.HTTPStatus(ge.Code) != 502 || !gw.Failover(ge.Code) {
		t.Errorf("code %s: status %d failover %v", ge.Code, gw.HTTPStatus(ge.Code), gw.Failover(ge.Code))
	}
	e.fails(account("dan"), userReq("gemini-3-flash", "hi sim:downgrade"), gw.CodeModelMismatch)

	r := e.ok(account("dan"), userReq("gpt-4", "hi sim:downgrade"))
	mustContain(t, r.answer.Text, "answering as 3.6 Flash")
	if got := e.p.Stats().ModelMismatches; got != 3 {
		t.Errorf("mismatches %d, want 3", got)
	}
	if len(seen) != 3 || !seen[0].Failed || seen[2].Failed || !seen[2].Generic {
		t.Errorf("mismatch events %+v", seen)
	}
}

func TestBardErrorCodes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		directive string
		code      gw.Code
		msg       string
	}{
		{"sim:code 1050", gw.CodeProtocolChanged, "code 1050"},
		{"sim:code 1052", gw.CodeProtocolChanged, "Gemini rejected the request layout (code 1052): the web protocol probably changed; update spark"},
		{"sim:code 1060", gw.CodeIPBlocked, "PROXY_URL"},
		{"sim:unavailable", gw.CodeTransient, "1013"},
		{"sim:code 1155", gw.CodeTransient, "1155"},
		{"sim:code 1096", gw.CodeUpstream, "1096"},
		{"sim:code 1234", gw.CodeUpstream, "1234"},
		{"sim:cloudflare", gw.CodeIPBlocked, "PROXY_URL"},
		{"sim:code 429", gw.CodeIPBlocked, "429"},
		{"sim:code 503", gw.CodeUnavailable, "503"},
		{"sim:code 500", gw.CodeTransient, "500"},
	} {
		t.Run(tc.directive, func(t *testing.T) {
			ge := e.fails(account("eve"), userReq("gemini-3-flash", "x "+tc.directive), tc.code)
			mustContain(t, ge.Message, tc.msg)
		})
	}
}

// An HTTP 400 "er" answer is retried once after a fresh app page, then
// reported as logged out.
func TestSessionRejected(t *testing.T) {
	e := newEnv(t)
	e.fails(account("finn"), userReq("gemini-3-flash", "x sim:code 400"), gw.CodeLoggedOut)
	if n := len(e.entries(genPath)); n != 2 {
		t.Errorf("%d StreamGenerate calls, want 2", n)
	}
	if n := len(e.entries("/app")); n != 2 {
		t.Errorf("%d app page fetches, want 2", n)
	}
}

func TestDroppedStream(t *testing.T) {
	e := newEnv(t)
	r := e.run(t.Context(), account("gil"), userReq("gemini-3-flash", "x sim:drop sim:long 10"))
	if gw.ErrorCode(r.err) != gw.CodeTransient {
		t.Fatalf("error %v", r.err)
	}
}

func TestUnknownModel(t *testing.T) {
	e := newEnv(t)
	if _, ok := e.p.Resolve("gpt-17-ultra"); ok {
		t.Fatal("unknown model resolved")
	}
	e.fails(account("hal"), userReq("gpt-17-ultra", "x"), gw.CodeModelNotFound)
}

func TestAttachmentLimits(t *testing.T) {
	e := newEnv(t)
	png := []byte("\x89PNG\r\n\x1a\n0000")
	many := llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "look"}}}
	for range 11 {
		many.Parts = append(many.Parts, llm.Part{Type: llm.PartImage, Media: &llm.Media{MIMEType: "image/png", Data: png}})
	}
	e.fails(account("ida"), &llm.Request{Model: "gemini-3-flash", Messages: []llm.Message{many}}, gw.CodeInvalidRequest)
	big := llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartFile, Media: &llm.Media{Name: "big.pdf", MIMEType: "application/pdf", Data: make([]byte, geminiweb.MaxFileBytes+1)}}}}
	ge := e.fails(account("ida"), &llm.Request{Model: "gemini-3-flash", Messages: []llm.Message{big}}, gw.CodeTooLarge)
	mustContain(t, ge.Message, "big.pdf")
	if len(e.rec.Entries()) != 0 {
		t.Error("upstream called for an invalid request")
	}
}
