package playground_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/identity"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/playground"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/server"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
)

// upstream is a provider named "alpha" whose answer depends on the last
// user message: "fail" fails after one delta, "block" waits for the
// request's end after one delta (and reports it on canceled), anything
// else is reasoning, a delta naming the serving account's label, and an
// image.
type upstream struct{ canceled chan struct{} }

func (upstream) Name() string { return "alpha" }
func (upstream) Models(context.Context) []llm.ModelInfo {
	return []llm.ModelInfo{{ID: "m-1", Kind: llm.KindChat}}
}
func (upstream) Resolve(model string) (provider.Match, bool) {
	return provider.Match{Model: llm.ModelInfo{ID: "m-1", Kind: llm.KindChat}}, model == "m-1"
}

func (u upstream) Chat(ctx context.Context, acct *gw.Account, req *llm.Request) (llm.Stream, error) {
	last := req.Messages[len(req.Messages)-1].Text()
	first := llm.Event{Type: llm.EventTextDelta, Text: "served by " + acct.Label}
	switch last {
	case "fail":
		s := apitest.NewFakeStream(ctx, []llm.Event{first}, &gw.Error{Code: gw.CodeProtocolChanged, Message: "the upstream answered in an unknown format"})
		return s, nil
	case "block":
		s := apitest.NewFakeStream(ctx, []llm.Event{first}, nil)
		s.Block = true
		go func() {
			<-ctx.Done()
			close(u.canceled)
		}()
		return s, nil
	}
	return apitest.NewFakeStream(ctx, []llm.Event{
		{Type: llm.EventReasoningDelta, Text: "thinking"},
		first,
		{Type: llm.EventImage, Media: &llm.Media{URL: "https://img.example/1.png"}},
		{Type: llm.EventFinish, FinishReason: llm.FinishStop},
	}, nil), nil
}

// recorder keeps the usage records.
type recorder struct {
	mu   sync.Mutex
	recs []store.UsageRecord
}

func (r *recorder) Record(rec store.UsageRecord) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return true
}

func (r *recorder) all() []store.UsageRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

type env struct {
	t                 *testing.T
	url               string
	st                *memstore.Store
	pool              *pool.Local
	usage             *recorder
	up                upstream
	alice, bob, carol store.User
	aliceAcct         store.Account
	sessions          map[string]*http.Cookie
}

// newEnv is the playground behind the real server, identity service,
// gateway and pool, with alice's and bob's accounts of the upstream and
// carol without any.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, st: memstore.New(nil), usage: &recorder{}, up: upstream{canceled: make(chan struct{})}, sessions: map[string]*http.Cookie{}}
	user := func(email string) store.User {
		u, err := e.st.CreateUser(ctx, store.User{Email: email})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	e.alice, e.bob, e.carol = user("alice@example.com"), user("bob@example.com"), user("carol@example.com")
	var err error
	if e.aliceAcct, err = e.st.CreateAccount(ctx, store.Account{Provider: "alpha", Cookie: "sid=a", Label: "alice-acct", OwnerID: e.alice.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err = e.st.CreateAccount(ctx, store.Account{Provider: "alpha", Cookie: "sid=b", Label: "bob-acct", OwnerID: e.bob.ID}); err != nil {
		t.Fatal(err)
	}
	if e.pool, err = pool.New(ctx, pool.Options{Store: e.st}); err != nil {
		t.Fatal(err)
	}
	gwy := gateway.New(gateway.Options{Registry: provider.NewRegistry(e.up), Pool: e.pool})
	svc, err := identity.New(identity.Options{Store: e.st})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Session: identity.SessionAuthenticator{S: svc}, Usage: e.usage})
	h := playground.New(playground.Options{Backend: gwy, Users: e.st, Usage: e.usage})
	if err := srv.Handle(h.Routes()...); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	for _, u := range []store.User{e.alice, e.bob, e.carol} {
		rec := httptest.NewRecorder()
		if err := svc.StartSession(rec, httptest.NewRequest("POST", "/auth/login", nil), u); err != nil {
			t.Fatal(err)
		}
		e.sessions[u.ID] = rec.Result().Cookies()[0]
	}
	return e
}

func (e *env) request(ctx context.Context, u store.User, body string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, "POST", e.url+"/api/playground/chat", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c := e.sessions[u.ID]; c != nil {
		req.AddCookie(c)
	}
	return req
}

func (e *env) chat(u store.User, body string) (int, string, string) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(e.request(context.Background(), u, body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func events(frames []apitest.Frame) []string {
	var out []string
	for _, f := range frames {
		out = append(out, f.Event)
	}
	return out
}

func chatBody(text string) string {
	b, _ := json.Marshal(map[string]any{"model": "m-1", "system": "be brief",
		"messages": []map[string]string{{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": text}}})
	return string(b)
}

// TestPlaygroundEvents: reasoning, delta and image events in the answer's
// order, then done with the usage; the user's own account serves it; the
// usage record has no key and the user as owner.
func TestPlaygroundEvents(t *testing.T) {
	e := newEnv(t)
	st, ct, body := e.chat(e.alice, chatBody("draw"))
	if st != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("%d %s %s", st, ct, body)
	}
	frames := apitest.ParseFrames(t, body)
	if got := events(frames); !slices.Equal(got, []string{"reasoning", "delta", "image", "done"}) {
		t.Fatalf("events %v in %s", got, body)
	}
	if frames[0].Data != `{"text":"thinking"}` || frames[1].Data != `{"text":"served by alice-acct"}` || frames[2].Data != `{"url":"https://img.example/1.png"}` {
		t.Fatalf("frames %+v", frames)
	}
	var done struct {
		Model        string `json:"model"`
		FinishReason string `json:"finish_reason"`
		Usage        struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(frames[3].Data), &done); err != nil || done.Model != "m-1" || done.FinishReason != "stop" ||
		done.Usage.InputTokens == 0 || done.Usage.OutputTokens == 0 {
		t.Fatalf("done %s", frames[3].Data)
	}
	recs := e.usage.all()
	if len(recs) != 1 {
		t.Fatalf("%d usage records", len(recs))
	}
	r := recs[0]
	if r.KeyID != "" || r.OwnerID != e.alice.ID || r.AccountID != e.aliceAcct.ID || r.Route != playground.Route || r.Status != 200 ||
		r.ErrorClass != "" || !r.Stream || r.Model != "m-1" || r.ServedModel != "m-1" || r.InputTokens == 0 || r.OutputTokens == 0 {
		t.Fatalf("usage record %+v", r)
	}
}

// TestPlaygroundOnlyOwnAccounts: a user without accounts gets an error
// event (bob's and alice's accounts do not serve them) until an admin
// shares one.
func TestPlaygroundOnlyOwnAccounts(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		_, _, body := e.chat(e.carol, chatBody("hello"))
		frames := apitest.ParseFrames(t, body)
		if got := events(frames); !slices.Equal(got, []string{"error"}) || !strings.Contains(frames[0].Data, `"message":`) {
			t.Fatalf("carol without accounts: %s", body)
		}
	}
	if recs := e.usage.all(); len(recs) != 3 || recs[0].ErrorClass == "" || recs[0].OwnerID != e.carol.ID {
		t.Fatalf("usage %+v", recs)
	}
	if _, _, body := e.chat(e.bob, chatBody("hello")); !strings.Contains(body, "served by bob-acct") {
		t.Fatalf("bob: %s", body)
	}
	shared := true
	if _, err := e.st.UpdateAccountInfo(context.Background(), e.aliceAcct.ID, store.AccountPatch{Shared: &shared}); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, body := e.chat(e.carol, chatBody("hello")); !strings.Contains(body, "served by alice-acct") {
		t.Fatalf("carol with a shared account: %s", body)
	}
}

// TestPlaygroundMidStreamError: a failure after the first delta ends the
// stream with an error event; the record says the error class.
func TestPlaygroundMidStreamError(t *testing.T) {
	e := newEnv(t)
	_, _, body := e.chat(e.alice, chatBody("fail"))
	frames := apitest.ParseFrames(t, body)
	if got := events(frames); !slices.Equal(got, []string{"delta", "error"}) ||
		frames[1].Data != `{"message":"the upstream answered in an unknown format","code":"upstream_protocol_changed"}` {
		t.Fatalf("events %v: %s", got, body)
	}
	if recs := e.usage.all(); len(recs) != 1 || recs[0].ErrorClass != string(gw.CodeProtocolChanged) {
		t.Fatalf("usage %+v", recs)
	}
}

// TestPlaygroundValidation: bad requests are 400 JSON before any stream;
// no session is 401; nothing reaches the upstream.
func TestPlaygroundValidation(t *testing.T) {
	e := newEnv(t)
	many := `{"model":"m-1","messages":[` + strings.Repeat(`{"role":"user","content":"x"},`, playground.MaxMessages) + `{"role":"user","content":"x"}]}`
	big := `{"model":"m-1","messages":[{"role":"user","content":"` + strings.Repeat("x", playground.MaxMessageBytes+1) + `"}]}`
	for _, tt := range []struct{ name, body, code string }{
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, "missing_model"},
		{"no messages", `{"model":"m-1","messages":[]}`, "missing_messages"},
		{"too many messages", many, "too_many_messages"},
		{"message too large", big, "message_too_large"},
		{"system role in messages", `{"model":"m-1","messages":[{"role":"system","content":"x"}]}`, "invalid_role"},
		{"empty content", `{"model":"m-1","messages":[{"role":"user","content":" "}]}`, "empty_message"},
		{"last message not the user's", `{"model":"m-1","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}`, "invalid_messages"},
		{"unknown field", `{"model":"m-1","messages":[{"role":"user","content":"x"}],"temperature":2}`, "invalid_json"},
	} {
		st, ct, body := e.chat(e.alice, tt.body)
		if st != 400 || ct != "application/json" || !strings.Contains(body, `"code":"`+tt.code+`"`) {
			t.Errorf("%s: %d %s %.300s", tt.name, st, ct, body)
		}
	}
	if st, _, body := e.chat(store.User{}, chatBody("x")); st != 401 {
		t.Fatalf("no session: %d %s", st, body)
	}
	if n := len(e.usage.all()); n != 0 {
		t.Fatalf("%d usage records for refused requests", n)
	}
}

// TestPlaygroundClientGone: when the client goes away mid-answer the
// upstream exchange is cancelled.
func TestPlaygroundClientGone(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := http.DefaultClient.Do(e.request(ctx, e.alice, chatBody("block")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	apitest.ReadUntil(t, bufio.NewScanner(resp.Body), "served by alice-acct")
	cancel()
	guard := time.NewTimer(10 * time.Second) // a hung test guard, not a timing assertion
	defer guard.Stop()
	select {
	case <-e.up.canceled:
	case <-guard.C:
		t.Fatal("the upstream exchange was not cancelled when the client left")
	}
}
