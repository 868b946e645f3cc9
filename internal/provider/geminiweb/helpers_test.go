package geminiweb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/simulator/geminisim"
	"github.com/sparkgw/spark/internal/simulator/simcore"
	"github.com/sparkgw/spark/internal/testutil"
)

const (
	hexFlash = "fbb127bbb056c959"
	hexPro   = "9d8ca3786ebdfbea"
	hexLite  = "cf41b0e0dd7d53e5"
	genPath  = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
	batch    = "/_/BardChatUi/data/batchexecute"
)

// saver records SaveCookie calls.
type saver struct {
	mu    sync.Mutex
	saved map[string][]string
}

func (s *saver) SaveCookie(_ context.Context, id, cookie string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved == nil {
		s.saved = map[string][]string{}
	}
	s.saved[id] = append(s.saved[id], cookie)
	return nil
}

func (s *saver) get(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.saved[id]...)
}

// env is a provider wired to a simulator on loopback.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	rec   *simcore.Recorder
	clock *testutil.Clock
	saver *saver
	p     *geminiweb.Provider
}

func newEnv(t *testing.T, opts ...func(*geminiweb.Config)) *env {
	t.Helper()
	rec := simcore.NewRecorder(0)
	mux := http.NewServeMux()
	mux.Handle("/_sim/requests", rec)
	geminisim.New(geminisim.Options{Recorder: rec}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, rec: rec, clock: testutil.NewClock(time.Now()), saver: &saver{}}
	cfg := geminiweb.Config{
		BaseURL:     srv.URL,
		UploadURL:   srv.URL,
		AccountsURL: srv.URL,
		Cookies:     e.saver,
		Now:         e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := geminiweb.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	e.p = p
	return e
}

// account returns a fresh Gemini account named psid.
func account(psid string) *gw.Account {
	return &gw.Account{
		ID: "acct-" + psid, Provider: geminiweb.Name, Label: psid,
		Cookie: "__Secure-1PSID=" + psid + "; __Secure-1PSIDTS=sidts-imported-" + psid,
	}
}

func userReq(model, text string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{llm.TextMessage(llm.RoleUser, text)}}
}

// result is a drained exchange.
type result struct {
	events []llm.Event
	answer *llm.Answer
	err    error // from Chat or Recv
}

// run performs one exchange and drains it.
func (e *env) run(ctx context.Context, acct *gw.Account, req *llm.Request) result {
	e.t.Helper()
	st, err := e.p.Chat(ctx, acct, req)
	if err != nil {
		return result{err: err}
	}
	defer st.Close()
	var r result
	var acc llm.Accumulator
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.err = err
			break
		}
		if ev.Type == llm.EventTextDelta || ev.Type == llm.EventReasoningDelta {
			if !utf8.ValidString(ev.Text) {
				e.t.Errorf("delta %q is not valid UTF-8", ev.Text)
			}
		}
		r.events = append(r.events, ev)
		acc.Add(ev)
	}
	r.answer = acc.Answer()
	return r
}

// ok performs an exchange that must succeed.
func (e *env) ok(acct *gw.Account, req *llm.Request) result {
	e.t.Helper()
	r := e.run(context.Background(), acct, req)
	if r.err != nil {
		e.t.Fatalf("exchange failed: %v", r.err)
	}
	if n := len(r.events); n == 0 || r.events[n-1].Type != llm.EventFinish {
		e.t.Fatalf("stream does not end with a finish event: %+v", r.events)
	}
	return r
}

// fails performs an exchange that must fail with code.
func (e *env) fails(acct *gw.Account, req *llm.Request, code gw.Code) *gw.Error {
	e.t.Helper()
	st, err := e.p.Chat(context.Background(), acct, req)
	if err == nil {
		r := e.drain(st)
		e.t.Fatalf("Chat succeeded (%d events, then %v); want %s", len(r.events), r.err, code)
	}
	ge := gw.AsError(err)
	if ge.Code != code {
		e.t.Fatalf("error %v (code %s), want %s", err, ge.Code, code)
	}
	if ge.Provider != geminiweb.Name {
		e.t.Errorf("error provider %q", ge.Provider)
	}
	return ge
}

func (e *env) drain(st llm.Stream) result {
	defer st.Close()
	var r result
	for {
		ev, err := st.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			return r
		}
		r.events = append(r.events, ev)
	}
}

// entries returns the recorded requests whose path ends with suffix.
func (e *env) entries(suffix string) []simcore.Entry {
	var out []simcore.Entry
	for _, en := range e.rec.Entries() {
		if strings.HasSuffix(en.Path, suffix) {
			out = append(out, en)
		}
	}
	return out
}

// last returns the last recorded request whose path ends with suffix.
func (e *env) last(suffix string) simcore.Entry {
	e.t.Helper()
	es := e.entries(suffix)
	if len(es) == 0 {
		e.t.Fatalf("no request to %s recorded", suffix)
	}
	return es[len(es)-1]
}

// waitFor waits (bounded) until cond holds for the recorder's log.
func (e *env) waitFor(what string, cond func([]simcore.Entry) bool) []simcore.Entry {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	es, err := e.rec.Wait(ctx, cond)
	if err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
	return es
}

// settled waits until every recorded request to suffix has an outcome (the
// simulator records it just after the client got its answer) and returns
// them.
func (e *env) settled(suffix string) []simcore.Entry {
	e.t.Helper()
	e.waitFor("requests to "+suffix+" to settle", func(es []simcore.Entry) bool {
		for _, en := range es {
			if strings.HasSuffix(en.Path, suffix) && en.Outcome == simcore.OutcomePending {
				return false
			}
		}
		return true
	})
	return e.entries(suffix)
}

func fact(en simcore.Entry, key string) string {
	v, ok := en.Facts[key]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}

func countType(evs []llm.Event, typ llm.EventType) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}
