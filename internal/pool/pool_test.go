package pool_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/provider/genspark"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
	"github.com/sparkgw/spark/internal/testutil"
)

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// env is a pool over an in-memory store with a fake clock and a JSON log.
type env struct {
	p     *pool.Local
	st    *memstore.Store
	clock *testutil.Clock
	logs  *syncBuffer
	ids   []string // account ids in creation order
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the log records with the given message.
func (s *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(s.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// describe names the real providers as the app's Describe does.
func describe(name string) (string, string) {
	for _, pl := range []provider.Plugin{genspark.Plugin(), geminiweb.Plugin()} {
		if pl.Name == name {
			return pl.DisplayName, pl.AccountsEnv
		}
	}
	return "", ""
}

func newEnv(t *testing.T, opts pool.Options, accounts ...store.Account) *env {
	t.Helper()
	if opts.Describe == nil {
		opts.Describe = describe
	}
	e := &env{st: memstore.New(nil), clock: testutil.NewClock(t0), logs: &syncBuffer{}}
	e.st.Now = e.clock.Now
	for _, a := range accounts {
		got, err := e.st.CreateAccount(t.Context(), a)
		if err != nil {
			t.Fatal(err)
		}
		e.ids = append(e.ids, got.ID)
	}
	opts.Store = e.st
	opts.Clock = e.clock
	opts.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := pool.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	return e
}

func gsAccount(label string) store.Account {
	return store.Account{Provider: "genspark", Label: label, Cookie: "session_id=sess-" + label + "-0123456789"}
}

func (e *env) acquire(t *testing.T, req pool.Request) pool.Lease {
	t.Helper()
	if req.Provider == "" {
		req.Provider = "genspark"
	}
	l, err := e.p.Acquire(t.Context(), req)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return l
}

func (e *env) acquireErr(t *testing.T, req pool.Request) *gw.Error {
	t.Helper()
	if req.Provider == "" {
		req.Provider = "genspark"
	}
	l, err := e.p.Acquire(t.Context(), req)
	if err == nil {
		t.Fatalf("Acquire succeeded with %v", l.Account())
	}
	var ge *gw.Error
	if !errors.As(err, &ge) {
		t.Fatalf("Acquire error %T %v, want *gw.Error", err, err)
	}
	return ge
}

func (e *env) account(t *testing.T, id string) store.Account {
	t.Helper()
	a, err := e.st.GetAccount(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) status(t *testing.T, id string) pool.AccountStatus {
	t.Helper()
	for _, s := range e.p.Snapshot() {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no status for %s", id)
	return pool.AccountStatus{}
}

func TestNewValidatesOptions(t *testing.T) {
	st := memstore.New(nil)
	for _, tt := range []struct {
		name string
		o    pool.Options
	}{
		{"NoStore", pool.Options{}},
		{"BadStrategy", pool.Options{Store: st, Strategy: "fastest"}},
		{"NegativeCap", pool.Options{Store: st, MaxConcurrentPerAccount: -1}},
		{"NegativeThreshold", pool.Options{Store: st, FailureThreshold: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pool.New(t.Context(), tt.o); err == nil {
				t.Fatal("New accepted invalid options")
			}
		})
	}
}

func TestAcquireWithoutAccounts(t *testing.T) {
	e := newEnv(t, pool.Options{}, store.Account{Provider: "other", Cookie: "x=1"})
	tests := []struct {
		provider, want string
	}{
		{"third", "No third accounts configured (set its account setting)"},
		{"genspark", "No Genspark accounts configured (set GS_COOKIE)"},
		{"geminiweb", "No Gemini web accounts configured (set GEMINI_COOKIE)"},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			ge := e.acquireErr(t, pool.Request{Provider: tt.provider})
			// A configuration problem (503, no retry), not a rest (429).
			if ge.Code != gw.CodeNoAccountsConfigured || ge.Message != tt.want || ge.Provider != tt.provider || ge.RetryAfter != 0 {
				t.Fatalf("got %s %q", ge.Code, ge.Message)
			}
		})
	}
}

func TestAcquireCanceledContext(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.p.Acquire(ctx, pool.Request{Provider: "genspark"})
	if gw.ErrorCode(err) != gw.CodeCanceled {
		t.Fatalf("Acquire with a cancelled context: %v", err)
	}
}

func TestAcquireOnlyModelServingAccounts(t *testing.T) {
	serves := func(a *gw.Account, model string) bool {
		return model != "pro" || strings.HasPrefix(a.Label, "paid")
	}
	e := newEnv(t, pool.Options{ServesModel: serves}, gsAccount("free1"), gsAccount("paid1"), gsAccount("free2"))
	for range 20 {
		l := e.acquire(t, pool.Request{Model: "pro"})
		if l.Account().Label != "paid1" {
			t.Fatalf("model pro served by %s", l.Account().Label)
		}
		l.Release(nil)
	}
	// The only serving account resting: temporarily unavailable, not "no account".
	l := e.acquire(t, pool.Request{Model: "pro"})
	l.Release(&gw.Error{Code: gw.CodeRateLimited, Message: "Rate limit exceeded cf1"})
	if ge := e.acquireErr(t, pool.Request{Model: "pro"}); ge.Code != gw.CodeNoAccounts {
		t.Fatalf("got %s %q", ge.Code, ge.Message)
	}
	e.acquire(t, pool.Request{Model: "flash"}).Release(nil)

	serveNone := newEnv(t, pool.Options{ServesModel: func(*gw.Account, string) bool { return false }}, gsAccount("a"))
	if ge := serveNone.acquireErr(t, pool.Request{Model: "gpt-9"}); ge.Code != gw.CodeModelNotFound || ge.Param != "model" {
		t.Fatalf("no serving account: %s %q", ge.Code, ge.Message)
	}
}

func TestStrategies(t *testing.T) {
	accounts := []store.Account{gsAccount("a"), gsAccount("b"), gsAccount("c")}

	t.Run("RoundRobin", func(t *testing.T) {
		e := newEnv(t, pool.Options{Strategy: pool.RoundRobin}, accounts...)
		var got []string
		for range 7 {
			l := e.acquire(t, pool.Request{})
			got = append(got, l.Account().Label)
			l.Release(nil)
		}
		if s := strings.Join(got, ""); s != "abcabca" {
			t.Fatalf("round-robin order %s", s)
		}
		// An unavailable account is skipped without breaking the cycle.
		e.acquire(t, pool.Request{Exclude: map[string]bool{e.ids[0]: true, e.ids[2]: true}}).Release(
			&gw.Error{Code: gw.CodeRateLimited}) // b rests
		got = got[:0]
		for range 4 {
			l := e.acquire(t, pool.Request{})
			got = append(got, l.Account().Label)
			l.Release(nil)
		}
		if s := strings.Join(got, ""); s != "caca" {
			t.Fatalf("round-robin with b resting: %s", s)
		}
	})

	t.Run("LeastBusy", func(t *testing.T) {
		e := newEnv(t, pool.Options{Strategy: pool.LeastBusy}, accounts...)
		held := map[string]int{}
		var leases []pool.Lease
		for range 6 {
			l := e.acquire(t, pool.Request{})
			held[l.Account().Label]++
			leases = append(leases, l)
		}
		if held["a"] != 2 || held["b"] != 2 || held["c"] != 2 {
			t.Fatalf("least-busy spread %v, want 2 each", held)
		}
		for _, l := range leases {
			if l.Account().Label != "a" {
				l.Release(nil)
			}
		}
		for range 4 {
			if l := e.acquire(t, pool.Request{}); l.Account().Label == "a" {
				t.Fatal("least-busy chose the busiest account")
			} else {
				defer l.Release(nil)
			}
		}
	})

	t.Run("Random", func(t *testing.T) {
		e := newEnv(t, pool.Options{}, accounts...)
		seen := map[string]int{}
		for range 300 {
			l := e.acquire(t, pool.Request{})
			seen[l.Account().Label]++
			l.Release(nil)
		}
		for _, a := range []string{"a", "b", "c"} {
			if seen[a] < 50 {
				t.Fatalf("random distribution %v", seen)
			}
		}
	})
}

func TestConcurrencyCap(t *testing.T) {
	e := newEnv(t, pool.Options{MaxConcurrentPerAccount: 2}, gsAccount("a"), gsAccount("b"))
	var leases []pool.Lease
	for range 4 {
		leases = append(leases, e.acquire(t, pool.Request{}))
	}
	ge := e.acquireErr(t, pool.Request{})
	if ge.Code != gw.CodeNoAccounts || ge.Message != "All cookies are temporarily unavailable." || ge.RetryAfter != time.Second {
		t.Fatalf("all busy: %s %q retry %v", ge.Code, ge.Message, ge.RetryAfter)
	}
	leases[0].Release(nil)
	leases[0].Release(nil) // a second release is a no-op
	l := e.acquire(t, pool.Request{})
	if l.Account().ID != leases[0].Account().ID {
		t.Fatal("freed slot not reused")
	}
	e.acquireErr(t, pool.Request{})
	busy := 0
	for _, s := range e.p.Snapshot() {
		busy += s.InFlight
	}
	if busy != 4 {
		t.Fatalf("in flight %d, want 4", busy)
	}
}

func TestExclude(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"), gsAccount("b"))
	for range 10 {
		l := e.acquire(t, pool.Request{Exclude: map[string]bool{e.ids[0]: true}})
		if l.Account().ID != e.ids[1] {
			t.Fatal("excluded account chosen")
		}
		l.Release(nil)
	}
	ge := e.acquireErr(t, pool.Request{Exclude: map[string]bool{e.ids[0]: true, e.ids[1]: true}})
	if ge.Code != gw.CodeNoAccounts || ge.Message != "All cookies are temporarily unavailable." {
		t.Fatalf("all tried: %s %q", ge.Code, ge.Message)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want pool.Class
	}{
		{nil, pool.ClassNone},
		{context.Canceled, pool.ClassNone},
		{fmt.Errorf("wrapped: %w", context.Canceled), pool.ClassNone},
		{&gw.Error{Code: gw.CodeCanceled}, pool.ClassNone},
		{&gw.Error{Code: gw.CodeInvalidRequest}, pool.ClassNone},
		{&gw.Error{Code: gw.CodeModelNotFound}, pool.ClassNone},
		{&gw.Error{Code: gw.CodeClientRateLimited}, pool.ClassNone},
		{&gw.Error{Code: gw.CodeUpstreamRejected}, pool.ClassNone},
		{&gw.Error{Code: gw.CodeModelMismatch}, pool.ClassNone},
		{errors.New("bug"), pool.ClassNone},
		{&gw.Error{Code: gw.CodeRateLimited}, pool.ClassRateLimited},
		{fmt.Errorf("attempt 2: %w", &gw.Error{Code: gw.CodeRateLimited}), pool.ClassRateLimited},
		{&gw.Error{Code: gw.CodeQuotaExhausted}, pool.ClassQuota},
		{&gw.Error{Code: gw.CodeLoggedOut}, pool.ClassLoggedOut},
		{&gw.Error{Code: gw.CodeChallenged}, pool.ClassBlocked},
		{&gw.Error{Code: gw.CodeIPBlocked}, pool.ClassBlocked},
		{&gw.Error{Code: gw.CodeTransient}, pool.ClassTransient},
		{&gw.Error{Code: gw.CodeUnavailable}, pool.ClassTransient},
		{&gw.Error{Code: gw.CodeUpstream}, pool.ClassTransient},
		{&gw.Error{Code: gw.CodeProtocolChanged}, pool.ClassTransient},
		{context.DeadlineExceeded, pool.ClassTransient},
	}
	for _, tt := range tests {
		if got := pool.Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

func TestReleaseOutcomes(t *testing.T) {
	opts := pool.Options{RateLimitRest: 10 * time.Minute, QuotaRest: 24 * time.Hour, BlockedRest: 5 * time.Minute}
	tests := []struct {
		name      string
		outcome   error
		state     store.AccountState
		rest      time.Duration // expected RestUntil - now when resting
		failures  int
		events    int // failure + state events stored
		available bool
	}{
		{"Success", nil, store.StateActive, 0, 0, 0, true},
		{"ClientCanceled", context.Canceled, store.StateActive, 0, 0, 0, true},
		{"CanceledCode", &gw.Error{Code: gw.CodeCanceled}, store.StateActive, 0, 0, 0, true},
		{"ClientError", &gw.Error{Code: gw.CodeInvalidRequest}, store.StateActive, 0, 0, 0, true},
		{"RateLimited", &gw.Error{Code: gw.CodeRateLimited, Message: "Rate limit exceeded cf1"}, store.StateResting, 10 * time.Minute, 1, 2, false},
		{"RateLimitedUpstreamWait", &gw.Error{Code: gw.CodeRateLimited, RetryAfter: 42 * time.Second}, store.StateResting, 42 * time.Second, 1, 2, false},
		{"Quota", &gw.Error{Code: gw.CodeQuotaExhausted, Message: "free usage limit"}, store.StateResting, 24 * time.Hour, 1, 2, false},
		{"LoggedOut", &gw.Error{Code: gw.CodeLoggedOut, Message: "not login"}, store.StateDisabled, 0, 1, 2, false},
		{"Challenged", &gw.Error{Code: gw.CodeChallenged}, store.StateResting, 5 * time.Minute, 1, 2, false},
		{"IPBlocked", &gw.Error{Code: gw.CodeIPBlocked}, store.StateResting, 5 * time.Minute, 1, 2, false},
		{"TransientOnce", &gw.Error{Code: gw.CodeTransient, Message: "Internal Server Error"}, store.StateActive, 0, 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, opts, gsAccount("a"))
			e.acquire(t, pool.Request{}).Release(tt.outcome)
			st := e.status(t, e.ids[0])
			if st.State != tt.state || st.Failures != tt.failures || st.InFlight != 0 {
				t.Fatalf("status %s failures %d in-flight %d, want %s %d 0", st.State, st.Failures, st.InFlight, tt.state, tt.failures)
			}
			stored := e.account(t, e.ids[0])
			if stored.EffectiveState(t0) != tt.state || stored.Failures != tt.failures {
				t.Fatalf("stored %s failures %d, want %s %d (write-through)", stored.State, stored.Failures, tt.state, tt.failures)
			}
			if tt.state == store.StateResting {
				if got := stored.RestUntil.Sub(t0); got != tt.rest {
					t.Fatalf("rest %v, want %v", got, tt.rest)
				}
				if !st.RestUntil.Equal(stored.RestUntil) {
					t.Fatal("snapshot and store disagree on RestUntil")
				}
			}
			if tt.failures > 0 && (stored.LastError.Code != gw.ErrorCode(tt.outcome) || !stored.LastError.At.Equal(t0)) {
				t.Fatalf("last error %+v", stored.LastError)
			}
			evs, _ := e.st.ListEvents(t.Context(), e.ids[0], 0)
			if len(evs) != tt.events {
				t.Fatalf("%d events stored, want %d: %+v", len(evs), tt.events, evs)
			}
			_, err := e.p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
			if (err == nil) != tt.available {
				t.Fatalf("available after release: %v", err)
			}
		})
	}
}

func TestPassiveHealthWindow(t *testing.T) {
	e := newEnv(t, pool.Options{FailureThreshold: 3, FailureWindow: time.Minute, TransientRest: 2 * time.Minute}, gsAccount("a"))
	fail := func() {
		e.acquire(t, pool.Request{}).Release(&gw.Error{Code: gw.CodeUnavailable, Message: "Service Unavailable"})
	}
	fail()
	e.clock.Advance(30 * time.Second)
	fail()
	e.clock.Advance(31 * time.Second) // the first failure leaves the window
	fail()
	if st := e.status(t, e.ids[0]); st.State != store.StateActive || st.Failures != 3 {
		t.Fatalf("after 3 failures spread over 61s: %s failures %d", st.State, st.Failures)
	}
	e.acquire(t, pool.Request{}).Release(nil) // success does not forgive the window
	if st := e.status(t, e.ids[0]); st.Failures != 0 {
		t.Fatalf("success left %d consecutive failures", st.Failures)
	}
	if got := e.account(t, e.ids[0]).Failures; got != 0 {
		t.Fatalf("failure reset not written through: %d", got)
	}
	e.clock.Advance(10 * time.Second)
	fail() // third within the window (t=31s, 61s, 71s)
	st := e.status(t, e.ids[0])
	if st.State != store.StateResting || !st.RestUntil.Equal(e.clock.Now().Add(2*time.Minute)) {
		t.Fatalf("after 3 failures within the window: %s until %v", st.State, st.RestUntil)
	}
	// The window restarts after a rest.
	e.clock.Advance(2 * time.Minute)
	fail()
	if st := e.status(t, e.ids[0]); st.State != store.StateActive {
		t.Fatalf("one failure after the rest: %s", st.State)
	}
}

func TestRestExpiryFakeClock(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"))
	e.acquire(t, pool.Request{}).Release(&gw.Error{Code: gw.CodeRateLimited, Message: "Rate limit exceeded cf2"})

	ge := e.acquireErr(t, pool.Request{})
	if ge.Code != gw.CodeNoAccounts || ge.Message != "All cookies are temporarily unavailable." || ge.RetryAfter != pool.DefaultRateLimitRest {
		t.Fatalf("resting: %s %q retry %v", ge.Code, ge.Message, ge.RetryAfter)
	}
	if gw.HTTPStatus(ge.Code) != 429 {
		t.Fatal("not a 429")
	}
	e.clock.Advance(pool.DefaultRateLimitRest - 1500*time.Millisecond)
	if ge := e.acquireErr(t, pool.Request{}); ge.RetryAfter != 2*time.Second {
		t.Fatalf("RetryAfter %v, want 2s (rounded up)", ge.RetryAfter)
	}
	e.clock.Advance(1500 * time.Millisecond)
	l := e.acquire(t, pool.Request{})
	l.Release(nil)
	if got := e.account(t, e.ids[0]); got.State != store.StateActive || !got.RestUntil.IsZero() {
		t.Fatalf("stored after the rest: %s until %v", got.State, got.RestUntil)
	}
	back := e.logs.lines(t, "account state changed")
	if len(back) != 2 || back[1]["from"] != "resting" || back[1]["to"] != "active" {
		t.Fatalf("state change log lines: %v", back)
	}
}

func TestRestExpirySynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := memstore.New(nil) // time.Now inside the bubble is the fake clock
		a, _ := st.CreateAccount(t.Context(), gsAccount("a"))
		p, err := pool.New(t.Context(), pool.Options{Store: st, RateLimitRest: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
		l.Release(&gw.Error{Code: gw.CodeRateLimited})
		if _, err := p.Acquire(t.Context(), pool.Request{Provider: "genspark"}); err == nil {
			t.Fatal("resting account acquired")
		}
		time.Sleep(10*time.Minute - time.Nanosecond)
		if _, err := p.Acquire(t.Context(), pool.Request{Provider: "genspark"}); err == nil {
			t.Fatal("acquired before the rest ended")
		}
		time.Sleep(time.Nanosecond)
		l, err = p.Acquire(t.Context(), pool.Request{Provider: "genspark"})
		if err != nil {
			t.Fatalf("rest did not end on its own: %v", err)
		}
		l.Release(nil)
		if got, _ := st.GetAccount(t.Context(), a.ID); got.State != store.StateActive {
			t.Fatalf("stored state %s", got.State)
		}
	})
}

func TestRetryAfterIsEarliestRecovery(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"), gsAccount("b"), gsAccount("c"))
	la := e.acquire(t, pool.Request{Exclude: map[string]bool{e.ids[1]: true, e.ids[2]: true}})
	lb := e.acquire(t, pool.Request{Exclude: map[string]bool{e.ids[0]: true, e.ids[2]: true}})
	lc := e.acquire(t, pool.Request{Exclude: map[string]bool{e.ids[0]: true, e.ids[1]: true}})
	la.Release(&gw.Error{Code: gw.CodeRateLimited})                               // 600 s
	lb.Release(&gw.Error{Code: gw.CodeRateLimited, RetryAfter: 90 * time.Second}) // upstream's wait
	lc.Release(&gw.Error{Code: gw.CodeLoggedOut})                                 // never recovers on its own
	ge := e.acquireErr(t, pool.Request{})
	if ge.Message != "All cookies are temporarily unavailable." || ge.RetryAfter != 90*time.Second {
		t.Fatalf("%q retry %v, want 90s", ge.Message, ge.RetryAfter)
	}
}

func TestRestIsNeverShortened(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"))
	l1 := e.acquire(t, pool.Request{})
	l2 := e.acquire(t, pool.Request{})
	l1.Release(&gw.Error{Code: gw.CodeQuotaExhausted})
	l2.Release(&gw.Error{Code: gw.CodeRateLimited, RetryAfter: time.Minute})
	if st := e.status(t, e.ids[0]); !st.RestUntil.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("rest shortened to %v", st.RestUntil)
	}
	if got := e.account(t, e.ids[0]).RestUntil; !got.Equal(t0.Add(24 * time.Hour)) {
		t.Fatalf("stored rest %v", got)
	}
}

func TestLoggedOutIsDisabledAndReported(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"), gsAccount("b"))
	for _, id := range e.ids {
		l := e.acquire(t, pool.Request{Exclude: map[string]bool{e.other(id): true}})
		l.Release(&gw.Error{Code: gw.CodeLoggedOut, Message: `{"status":-5,"message":"not login","data":{}}`})
	}
	ge := e.acquireErr(t, pool.Request{})
	if ge.Code != gw.CodeNoAccountsConfigured || !strings.Contains(ge.Message, "logged out") || !strings.Contains(ge.Message, "GS_COOKIE") || ge.RetryAfter != 0 {
		t.Fatalf("all logged out: %s %q retry %v", ge.Code, ge.Message, ge.RetryAfter)
	}
	// No rest ends a logout.
	e.clock.Advance(30 * 24 * time.Hour)
	e.acquireErr(t, pool.Request{})

	st := e.status(t, e.ids[0])
	if st.State != store.StateDisabled || !strings.Contains(st.DisabledReason, "logged out") || st.LastError.Code != gw.CodeLoggedOut {
		t.Fatalf("status %+v", st)
	}
	if len(st.RecentErrors) != 1 || st.RecentErrors[0].Code != gw.CodeLoggedOut {
		t.Fatalf("recent errors %+v", st.RecentErrors)
	}
	var out bytes.Buffer
	if err := pool.Describe(&out, e.p.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "disabled") || !strings.Contains(out.String(), "logged_out") {
		t.Fatalf("Describe:\n%s", out.String())
	}
	lines := e.logs.lines(t, "account state changed")
	if len(lines) != 2 || lines[0]["to"] != "disabled" || lines[0]["code"] != "logged_out" || lines[0]["label"] != "a" {
		t.Fatalf("log lines %v", lines)
	}

	// Updating the cookie through the pool brings the account back.
	if err := e.p.UpdateCookie(t.Context(), e.ids[0], "session_id=sess-a-new-0123456789"); err != nil {
		t.Fatal(err)
	}
	l := e.acquire(t, pool.Request{})
	if l.Account().ID != e.ids[0] || l.Account().Cookie != "session_id=sess-a-new-0123456789" {
		t.Fatalf("after update: %v", l.Account())
	}
	l.Release(nil)

	// Updating it in the store (`spark accounts`, another process) and
	// reloading brings the other one back.
	if _, err := e.st.UpdateCookie(t.Context(), e.ids[1], "session_id=sess-b-new-0123456789"); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := e.status(t, e.ids[1]); st.State != store.StateActive {
		t.Fatalf("after reload: %s", st.State)
	}
	lines = e.logs.lines(t, "account state changed")
	if last := lines[len(lines)-1]; last["from"] != "disabled" || last["to"] != "active" || last["account_id"] != e.ids[1] {
		t.Fatalf("reload log line %v", last)
	}
}

func (e *env) other(id string) string {
	for _, o := range e.ids {
		if o != id {
			return o
		}
	}
	return ""
}

func TestStaleLeaseDoesNotDisableNewCookie(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"))
	l := e.acquire(t, pool.Request{})
	if err := e.p.UpdateCookie(t.Context(), e.ids[0], "session_id=sess-a-fresh-0123456789"); err != nil {
		t.Fatal(err)
	}
	l.Release(&gw.Error{Code: gw.CodeLoggedOut})
	if st := e.status(t, e.ids[0]); st.State != store.StateActive {
		t.Fatalf("logout of the old cookie disabled the new one: %s", st.State)
	}
}

func TestBlockedLogsProxyHint(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"))
	e.acquire(t, pool.Request{}).Release(&gw.Error{Code: gw.CodeChallenged, Message: "Detected Cloudflare Challenge Page"})
	lines := e.logs.lines(t, "account state changed")
	if len(lines) != 1 {
		t.Fatalf("%d state lines", len(lines))
	}
	l := lines[0]
	for k, want := range map[string]any{"account_id": e.ids[0], "provider": "genspark", "label": "a", "from": "active",
		"to": "resting", "code": "challenged", "level": "WARN"} {
		if l[k] != want {
			t.Errorf("%s = %v, want %v", k, l[k], want)
		}
	}
	if until, _ := l["until"].(string); until != t0.Add(pool.DefaultBlockedRest).Format(time.RFC3339) {
		t.Errorf("until = %v", l["until"])
	}
	if h, _ := l["hint"].(string); !strings.Contains(h, "PROXY_URL") {
		t.Errorf("hint %q does not mention PROXY_URL", h)
	}
	if st := e.status(t, e.ids[0]); !strings.Contains(st.Hint, "PROXY_URL") {
		t.Errorf("status hint %q", st.Hint)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"), gsAccount("b"))
	e.acquire(t, pool.Request{Exclude: map[string]bool{e.ids[1]: true}}).Release(&gw.Error{Code: gw.CodeQuotaExhausted})
	e.acquire(t, pool.Request{Exclude: map[string]bool{e.ids[0]: true}}).Release(&gw.Error{Code: gw.CodeLoggedOut})

	restarted, err := pool.New(t.Context(), pool.Options{Store: e.st, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	snap := restarted.Snapshot()
	if len(snap) != 2 || snap[0].State != store.StateResting || !snap[0].RestUntil.Equal(t0.Add(24*time.Hour)) ||
		snap[1].State != store.StateDisabled {
		t.Fatalf("after restart: %+v", snap)
	}
	if len(snap[0].RecentErrors) != 1 || snap[0].RecentErrors[0].Code != gw.CodeQuotaExhausted {
		t.Fatalf("recent errors not loaded: %+v", snap[0].RecentErrors)
	}
	if _, err := restarted.Acquire(t.Context(), pool.Request{Provider: "genspark"}); err == nil {
		t.Fatal("restart forgot the rests")
	}
	e.clock.Advance(24 * time.Hour)
	l, err := restarted.Acquire(t.Context(), pool.Request{Provider: "genspark"})
	if err != nil || l.Account().ID != e.ids[0] {
		t.Fatalf("after the quota rest: %v", err)
	}
}

func TestReloadAddsAndRemoves(t *testing.T) {
	e := newEnv(t, pool.Options{MaxConcurrentPerAccount: 1}, gsAccount("a"))
	held := e.acquire(t, pool.Request{})
	b, err := e.st.CreateAccount(t.Context(), gsAccount("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteAccount(t.Context(), e.ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	l := e.acquire(t, pool.Request{})
	if l.Account().ID != b.ID {
		t.Fatalf("after reload got %s", l.Account().Label)
	}
	held.Release(&gw.Error{Code: gw.CodeRateLimited}) // lease of a deleted account: harmless
	if snap := e.p.Snapshot(); len(snap) != 1 || snap[0].ID != b.ID || snap[0].InFlight != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	l.Release(nil)
}

func TestConcurrentUse(t *testing.T) {
	var accounts []store.Account
	for i := range 5 {
		accounts = append(accounts, gsAccount(fmt.Sprint("acct", i)))
	}
	for _, strategy := range []pool.Strategy{pool.Random, pool.RoundRobin, pool.LeastBusy} {
		t.Run(string(strategy), func(t *testing.T) {
			e := newEnv(t, pool.Options{Strategy: strategy, MaxConcurrentPerAccount: 3, RateLimitRest: time.Second}, accounts...)
			outcomes := []error{nil, nil, nil, &gw.Error{Code: gw.CodeTransient}, &gw.Error{Code: gw.CodeRateLimited},
				context.Canceled, &gw.Error{Code: gw.CodeInvalidRequest}}
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					for i := range 100 {
						l, err := e.p.Acquire(context.Background(), pool.Request{Provider: "genspark"})
						if err != nil {
							if gw.ErrorCode(err) != gw.CodeNoAccounts {
								t.Error(err)
							}
							e.clock.Advance(100 * time.Millisecond)
							continue
						}
						l.Release(outcomes[(g+i)%len(outcomes)])
						if i%10 == 0 {
							e.p.Snapshot()
						}
					}
				})
			}
			wg.Go(func() {
				for range 5 {
					if err := e.p.Reload(context.Background()); err != nil {
						t.Error(err)
					}
				}
			})
			wg.Wait()
			for _, s := range e.p.Snapshot() {
				if s.InFlight != 0 {
					t.Fatalf("%s has %d in flight after every release", s.Label, s.InFlight)
				}
			}
		})
	}
}

func TestUpdateCookieErrors(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("a"), gsAccount("b"))
	if err := e.p.UpdateCookie(t.Context(), "acct_missing", "session_id=zzzzzzzz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing account: %v", err)
	}
	if err := e.p.UpdateCookie(t.Context(), e.ids[0], gsAccount("b").Cookie); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("another account's identity: %v", err)
	}
	if l := e.acquire(t, pool.Request{Exclude: map[string]bool{e.ids[1]: true}}); l.Account().Cookie != gsAccount("a").Cookie {
		t.Fatal("a failed update changed the lease cookie")
	}
}

func TestAcquireOnlyTheOwnersAndSharedAccounts(t *testing.T) {
	alice := gsAccount("alice")
	alice.OwnerID = "usr_alice"
	bob := gsAccount("bob")
	bob.OwnerID = "usr_bob"
	shared := gsAccount("shared")
	shared.OwnerID, shared.Shared = "usr_bob", true
	env := gsAccount("env") // the built-in admin's
	e := newEnv(t, pool.Options{Strategy: pool.RoundRobin}, alice, bob, shared, env)
	for _, tt := range []struct {
		owners []string
		want   map[string]bool
	}{
		{[]string{"usr_alice"}, map[string]bool{"alice": true, "shared": true}},
		{[]string{"usr_bob"}, map[string]bool{"bob": true, "shared": true}},
		{[]string{"", "usr_admin"}, map[string]bool{"env": true, "shared": true}},
		{nil, map[string]bool{"alice": true, "bob": true, "shared": true, "env": true}},
	} {
		got := map[string]bool{}
		for range 12 {
			l := e.acquire(t, pool.Request{Owners: tt.owners})
			got[l.Account().Label] = true
			l.Release(nil)
		}
		if !maps.Equal(got, tt.want) {
			t.Errorf("owners %q served by %v, want %v", tt.owners, got, tt.want)
		}
	}
	// A user with no account of their own and nothing shared for the
	// provider is told so, not that the pool is busy.
	private := newEnv(t, pool.Options{}, alice, bob)
	if ge := private.acquireErr(t, pool.Request{Owners: []string{"usr_carol"}}); ge.Code != gw.CodeNoAccountsConfigured {
		t.Fatalf("a user without accounts: %s %q", ge.Code, ge.Message)
	}
}

// TestSetState: an operator's state change reaches the store and the pool
// in one step: a rate-limited account is leased again at once after its
// rest is cleared, a disabled one is not leased, and each change is an
// event.
func TestSetState(t *testing.T) {
	e := newEnv(t, pool.Options{}, gsAccount("one"))
	id := e.ids[0]
	l := e.acquire(t, pool.Request{})
	l.Release(&gw.Error{Code: gw.CodeRateLimited, Message: "slow down"})
	if got := e.account(t, id); got.State != store.StateResting {
		t.Fatalf("state after a rate limit: %s", got.State)
	}
	if err := e.p.SetState(t.Context(), id, store.StateUpdate{State: store.StateActive}, "rest cleared by its owner"); err != nil {
		t.Fatal(err)
	}
	e.acquire(t, pool.Request{}).Release(nil)
	if got := e.account(t, id); got.State != store.StateActive || !got.RestUntil.IsZero() {
		t.Fatalf("stored state after the reset: %s until %v", got.State, got.RestUntil)
	}
	if err := e.p.SetState(t.Context(), id, store.StateUpdate{State: store.StateDisabled, DisabledReason: "disabled by its owner"}, "disabled by its owner"); err != nil {
		t.Fatal(err)
	}
	if ge := e.acquireErr(t, pool.Request{}); ge.Code != gw.CodeNoAccountsConfigured {
		t.Fatalf("a disabled account: %v", ge)
	}
	evs, err := e.st.ListEvents(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ev := range evs {
		if ev.Kind == store.EventState {
			reasons = append(reasons, string(ev.From)+">"+string(ev.To)+" "+ev.Message)
		}
	}
	if !strings.Contains(strings.Join(reasons, "|"), "resting>active rest cleared by its owner") ||
		!strings.Contains(strings.Join(reasons, "|"), "active>disabled disabled by its owner") {
		t.Fatalf("state events %q", reasons)
	}
	if err := e.p.SetState(t.Context(), "acct_nope", store.StateUpdate{State: store.StateActive}, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}

// TestEndedRestLiftedAmongManyAccounts: with many available accounts an
// Acquire need not visit them all, yet a rest that has ended is still
// lifted by the next Acquire, whichever account that Acquire hands out.
func TestEndedRestLiftedAmongManyAccounts(t *testing.T) {
	for _, strategy := range []pool.Strategy{pool.Random, pool.RoundRobin} {
		t.Run(string(strategy), func(t *testing.T) {
			var accounts []store.Account
			for i := range 64 {
				accounts = append(accounts, gsAccount(fmt.Sprintf("acct%02d", i)))
			}
			e := newEnv(t, pool.Options{Strategy: strategy}, accounts...)
			for range 10 {
				e.acquire(t, pool.Request{}).Release(nil)
			}
			others := map[string]bool{}
			for _, id := range e.ids[1:] {
				others[id] = true
			}
			l := e.acquire(t, pool.Request{Exclude: others})
			if l.Account().ID != e.ids[0] {
				t.Fatalf("leased %s, want the only candidate %s", l.Account().ID, e.ids[0])
			}
			l.Release(&gw.Error{Code: gw.CodeRateLimited, RetryAfter: time.Minute})
			if got := e.account(t, e.ids[0]); got.State != store.StateResting {
				t.Fatalf("after a rate limit: %s", got.State)
			}
			for range 10 { // the rest has not ended: nothing to lift
				e.acquire(t, pool.Request{}).Release(nil)
			}
			if got := e.account(t, e.ids[0]); got.State != store.StateResting {
				t.Fatalf("before the rest ended: %s", got.State)
			}
			e.clock.Advance(time.Minute)
			e.acquire(t, pool.Request{}).Release(nil)
			if got := e.account(t, e.ids[0]); got.State != store.StateActive || !got.RestUntil.IsZero() {
				t.Fatalf("after the rest ended and one Acquire: %s until %v", got.State, got.RestUntil)
			}
		})
	}
}
