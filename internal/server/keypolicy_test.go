package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/server"
)

// policyKeys verifies keys by value to a fixed ClientKey, or fails with
// err.
type policyKeys struct {
	keys map[string]server.ClientKey
	err  error
}

func (p policyKeys) Verify(_ context.Context, key string) (server.ClientKey, bool, error) {
	if p.err != nil {
		return server.ClientKey{}, false, p.err
	}
	k, ok := p.keys[key]
	return k, ok, nil
}

// admitter admits up to max requests in flight per key and records calls.
type admitter struct {
	mu       sync.Mutex
	calls    []string // "key/perMinute/maxConcurrent"
	inFlight map[string]int
	refuse   bool
}

func (a *admitter) AdmitKey(_ context.Context, id string, perMinute, maxConcurrent int) (func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, id+"/"+strconv.Itoa(perMinute)+"/"+strconv.Itoa(maxConcurrent))
	if a.refuse || (maxConcurrent > 0 && a.inFlight[id] >= maxConcurrent) {
		return nil, &gw.Error{Code: gw.CodeClientRateLimited, RetryAfter: 3 * time.Second, Message: "slow down"}
	}
	a.inFlight[id]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.inFlight[id]--
			a.mu.Unlock()
		})
	}, nil
}

func (a *admitter) held(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inFlight[id]
}

type tokenCounts struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *tokenCounts) AddTokens(id string, n int64) {
	c.mu.Lock()
	c.n[id] += n
	c.mu.Unlock()
}

// policyServer serves a chat route (OpenAI) and a messages route
// (Anthropic) whose handlers report the grant they see and fill the usage
// note; the messages handler holds until release is closed when asked to.
type policyServer struct {
	*server.Server
	ad      *admitter
	tokens  *tokenCounts
	usage   *records
	grants  chan *reqctx.Grant
	inside  chan struct{} // a held handler is running
	release chan struct{}
}

func newPolicyServer(t *testing.T, keys map[string]server.ClientKey, trust bool) *policyServer {
	t.Helper()
	ps := &policyServer{ad: &admitter{inFlight: map[string]int{}}, tokens: &tokenCounts{n: map[string]int64{}}, usage: &records{},
		grants: make(chan *reqctx.Grant, 16), inside: make(chan struct{}, 1), release: make(chan struct{})}
	ps.Server = server.New(server.Options{Keys: policyKeys{keys: keys}, KeyAdmitter: ps.ad, KeyPerMinute: 7, Tokens: ps.tokens,
		Usage: ps.usage, TrustProxy: trust, WriteError: writeDialect})
	handler := func(w http.ResponseWriter, r *http.Request) {
		ps.grants <- reqctx.GrantOf(r.Context())
		reqctx.UsageOf(r.Context()).AddTokens(10, 5, 3)
		if r.URL.Query().Get("hold") != "" {
			ps.inside <- struct{}{}
			<-ps.release
		}
		if r.URL.Query().Get("panic") != "" {
			panic("handler bug")
		}
		_, _ = w.Write([]byte("ok"))
	}
	if err := ps.Handle(
		route.Route{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Dialect: route.OpenAI, Handler: http.HandlerFunc(handler)},
		route.Route{Pattern: "POST /v1/messages", Class: route.ClientKey, Dialect: route.Anthropic, Handler: http.HandlerFunc(handler)},
	); err != nil {
		t.Fatal(err)
	}
	return ps
}

func (ps *policyServer) do(path, key, forwarded string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(`{}`))
	r.RemoteAddr = "192.0.2.10:5555"
	r.Header.Set("Authorization", "Bearer "+key)
	if forwarded != "" {
		r.Header.Set("X-Forwarded-For", forwarded)
	}
	w := httptest.NewRecorder()
	ps.ServeHTTP(w, r)
	return w
}

// errorCode reads the code and message of an OpenAI error answer.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) (code, msg string) {
	t.Helper()
	var oa struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &oa); err != nil {
		t.Fatalf("body %s", w.Body)
	}
	return oa.Error.Code, oa.Error.Message
}

// The key's policies apply in order: the allowlist first (a request from
// elsewhere does not reach the limits), then the limits, then the quota;
// the grant reaches the handler; tokens are counted and the usage record
// carries the key's owner.
func TestClientKeyPolicies(t *testing.T) {
	grant := &reqctx.Grant{KeyID: "key_a", OwnerID: "usr_a", Owners: []string{"usr_a"}, Models: []string{"m"}}
	ps := newPolicyServer(t, map[string]server.ClientKey{
		"sk-a":     {ID: "key_a", Grant: grant, IPAllow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, PerMinute: 2, MaxConcurrent: 1},
		"sk-far":   {ID: "key_far", IPAllow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		"sk-spent": {ID: "key_spent", TokenQuota: 100, TokensUsed: 100, MaxConcurrent: 2},
		"sk-plain": {ID: "key_plain"},
	}, false)

	if w := ps.do("/v1/chat/completions", "sk-a", ""); w.Code != 200 {
		t.Fatalf("allowed key: %d %s", w.Code, w.Body)
	}
	if g := <-ps.grants; g != grant {
		t.Fatalf("the handler saw grant %+v", g)
	}
	w := ps.do("/v1/chat/completions", "sk-far", "")
	if code, msg := errorCode(t, w); w.Code != http.StatusForbidden || code != "forbidden" || !strings.Contains(msg, "192.0.2.10") {
		t.Fatalf("address not allowed: %d %s", w.Code, w.Body)
	}
	w = ps.do("/v1/chat/completions", "sk-spent", "")
	if code, _ := errorCode(t, w); w.Code != http.StatusTooManyRequests || code != "insufficient_quota" {
		t.Fatalf("quota used up: %d %s", w.Code, w.Body)
	}
	if held := ps.ad.held("key_spent"); held != 0 {
		t.Fatalf("the quota refusal kept %d slots", held)
	}
	ps.do("/v1/chat/completions", "sk-plain", "")
	<-ps.grants
	want := []string{"key_a/2/1", "key_spent/7/2", "key_plain/7/0"}
	if strings.Join(ps.ad.calls, " ") != strings.Join(want, " ") {
		t.Fatalf("admissions %q, want %q (the refused address never reaches the limits; KEY_RATE_LIMIT for keys without their own)", ps.ad.calls, want)
	}
	ps.tokens.mu.Lock()
	counted := ps.tokens.n
	ps.tokens.mu.Unlock()
	if counted["key_a"] != 15 || counted["key_plain"] != 15 || len(counted) != 2 {
		t.Fatalf("tokens counted %v, want 15 (input + output) for each key that ran", counted)
	}
	owners := map[string]string{}
	for _, r := range ps.usage.all() {
		owners[r.KeyID] = r.OwnerID
	}
	if owners["key_a"] != "usr_a" || owners["key_plain"] != "" {
		t.Fatalf("usage owners %v", owners)
	}
}

// A refusal of the limits is 429 with Retry-After in the route's dialect.
func TestClientKeyRateRefusal(t *testing.T) {
	ps := newPolicyServer(t, map[string]server.ClientKey{"sk": {ID: "key_1"}}, false)
	ps.ad.refuse = true
	w := ps.do("/v1/messages", "sk", "")
	var ant struct {
		Type  string
		Error struct{ Type string }
	}
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "3" ||
		json.Unmarshal(w.Body.Bytes(), &ant) != nil || ant.Error.Type != "rate_limit_error" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
}

// The concurrency slot is held while the handler runs and released when
// it returns, also when it panics.
func TestClientKeySlotHeldUntilTheHandlerEnds(t *testing.T) {
	ps := newPolicyServer(t, map[string]server.ClientKey{"sk": {ID: "key_1", MaxConcurrent: 1}}, false)
	done := make(chan int)
	go func() { done <- ps.do("/v1/chat/completions?hold=1", "sk", "").Code }()
	<-ps.inside
	<-ps.grants
	if w := ps.do("/v1/chat/completions", "sk", ""); w.Code != http.StatusTooManyRequests {
		t.Fatalf("second request while one runs: %d", w.Code)
	}
	close(ps.release)
	if code := <-done; code != 200 {
		t.Fatalf("held request: %d", code)
	}
	if held := ps.ad.held("key_1"); held != 0 {
		t.Fatalf("%d slots held after the handler returned", held)
	}
	if w := ps.do("/v1/chat/completions?panic=1", "sk", ""); w.Code != http.StatusInternalServerError {
		t.Fatalf("panicking handler: %d", w.Code)
	}
	<-ps.grants
	if held := ps.ad.held("key_1"); held != 0 {
		t.Fatalf("%d slots held after a panic", held)
	}
}

// With TRUST_PROXY the allowlist checks the forwarded client address;
// without it, the connection's.
func TestClientKeyAllowlistAddress(t *testing.T) {
	k := map[string]server.ClientKey{"sk": {ID: "key_1", IPAllow: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}}}
	trusting := newPolicyServer(t, k, true)
	direct := newPolicyServer(t, k, false)
	for _, tt := range []struct {
		ps        *policyServer
		forwarded string
		want      int
	}{
		{trusting, "203.0.113.9", 200},
		{trusting, "::ffff:203.0.113.9", 200},
		{trusting, "2001:db8::5", 200},
		{trusting, "198.51.100.1", 403},
		{trusting, "", 403},
		{trusting, "not-an-address", 403},
		{direct, "203.0.113.9", 403},
	} {
		if w := tt.ps.do("/v1/chat/completions", "sk", tt.forwarded); w.Code != tt.want {
			t.Errorf("forwarded %q: %d, want %d", tt.forwarded, w.Code, tt.want)
		} else if w.Code == 200 {
			<-tt.ps.grants
		}
	}
}

// A verifier error with CodeUnauthorized (an expired key) is a 401 with
// its message; other verifier errors are 500 without theirs.
func TestClientKeyVerifierErrors(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
		msg  string
	}{
		{&gw.Error{Code: gw.CodeUnauthorized, Message: "This API key expired at 2030-01-01T00:00:00Z."}, 401, "expired"},
		{context.DeadlineExceeded, 500, "could not verify"},
	} {
		s := server.New(server.Options{Keys: policyKeys{err: tt.err}, WriteError: writeDialect})
		if err := s.Handle(route.Route{Pattern: "POST /v1/chat/completions", Class: route.ClientKey, Dialect: route.OpenAI,
			Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler ran") })}); err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader("{}"))
		r.Header.Set("Authorization", "Bearer sk-x")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.msg) {
			t.Errorf("%v: %d %s", tt.err, w.Code, w.Body)
		}
	}
}
