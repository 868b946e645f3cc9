package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/cluster"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/identity"
	"github.com/sparkgw/spark/internal/identity/idptest"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/simulator"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/storetest"
	"github.com/sparkgw/spark/internal/testutil"
)

// replicaPair is two gateways in front of one simulator that share one
// PostgreSQL database and one Redis, as two replicas of one deployment:
// each has its own DATA_DIR, both the same SPARK_SECRET_KEY (as a
// deployment must, or each reads only the secrets it sealed itself). Each
// replica's applied events from the other arrive on its channel. The
// built-in admin (boss@example.com, adminPassword) can sign in on either.
type replicaPair struct {
	a, b     *harness
	aEv, bEv chan cluster.Event
	redisURL string
	dbURL    string
}

// replicaSecretKey is the SPARK_SECRET_KEY both replicas of a pair share.
const replicaSecretKey = "0000000000000000000000000000000000000000000000000000000000000015"

// redisURLForTest is the test Redis (SPARK_TEST_REDIS_URL); without it
// the test is skipped, or fails with SPARK_REQUIRE_SERVICES=1.
func redisURLForTest(t *testing.T) string {
	t.Helper()
	redisURL := os.Getenv("SPARK_TEST_REDIS_URL")
	if redisURL == "" {
		if os.Getenv("SPARK_REQUIRE_SERVICES") == "1" {
			t.Fatal("SPARK_TEST_REDIS_URL is unset (scripts/services/redis.sh sets it)")
		}
		t.Skip("SPARK_TEST_REDIS_URL is unset: no Redis for the two-replica test")
	}
	return redisURL
}

// redisPrefix is a key and channel prefix of the test's own: its replicas
// meet no other test's keys or events in the shared test Redis.
func redisPrefix(t *testing.T) app.Option {
	return app.WithRedisPrefix("{spark-" + t.Name() + "-" + time.Now().Format("150405.000000000") + "}:")
}

func startReplicas(t *testing.T, mutate func(c *config.Config), opts ...app.Option) *replicaPair {
	t.Helper()
	redisURL := redisURLForTest(t)
	dbURL := storetest.PostgresURL(t) // a fresh database, dropped at the end
	prefix := redisPrefix(t)
	sim := simulator.New(simulator.Options{})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	p := &replicaPair{aEv: make(chan cluster.Event, 100), bEv: make(chan cluster.Event, 100), redisURL: redisURL, dbURL: dbURL}
	replica := func(events chan cluster.Event) *harness {
		return startWith(t, sim, simSrv.URL, func(c *config.Config) {
			c.DatabaseURL, c.SecretKey = dbURL, replicaSecretKey
			c.RedisURL = redisURL
			c.RequestRateLimit = 0
			c.PoolStrategy = "round-robin"
			c.AdminEmail, c.AdminPassword, c.PasswordLogin = "boss@example.com", adminPassword, true
			if mutate != nil {
				mutate(c)
			}
		}, append([]app.Option{app.WithSharedEventHook(func(ev cluster.Event) { events <- ev }), prefix}, opts...)...)
	}
	p.a = replica(p.aEv)
	p.b = replica(p.bEv)
	return p
}

// signIn signs the built-in admin in through replica h (a browser of its
// own: cookies ignore ports, so one jar would carry one session to both).
func (p *replicaPair) signIn(t *testing.T, h *harness) *http.Client {
	t.Helper()
	c := browser(t)
	if st, _, body := call(t, c, "POST", h.url+"/auth/login", `{"email":"boss@example.com","password":"`+adminPassword+`"}`); st != http.StatusNoContent {
		t.Fatalf("admin login: %d %s", st, body)
	}
	return c
}

// mintOn creates a key through replica h's POST /api/keys.
func mintOn(t *testing.T, h *harness, c *http.Client, body string) (id, key string) {
	t.Helper()
	st, _, out := call(t, c, "POST", h.url+"/api/keys", body)
	var k struct{ ID, Key string }
	if st != http.StatusCreated || json.Unmarshal([]byte(out), &k) != nil || k.Key == "" {
		t.Fatalf("POST /api/keys %s: %d %s", body, st, out)
	}
	return k.ID, k.Key
}

// chatOn sends one chat completion through replica h with key, by the
// official SDK without retries (a retry would count in the key's window).
func chatOn(h *harness, key, text string) (*openai.ChatCompletion, error) {
	c := openai.NewClient(option.WithBaseURL(h.url+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	return c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5.2", Messages: userMsg(text)})
}

func await(t *testing.T, ch <-chan cluster.Event, kind cluster.EventKind) cluster.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event applied within 10 s", kind)
		}
	}
}

// status returns replica h's status of account id ("" = the first).
func status(t *testing.T, h *harness, id string) pool.AccountStatus {
	t.Helper()
	for _, st := range h.app.Pool().Snapshot() {
		if id == "" || st.ID == id {
			return st
		}
	}
	t.Fatalf("no account %q", id)
	return pool.AccountStatus{}
}

// limitedID is the account replica h saw rate-limited.
func limitedID(t *testing.T, h *harness) string {
	t.Helper()
	for _, st := range h.app.Pool().Snapshot() {
		if st.LastError.Code == "rate_limited" {
			return st.ID
		}
	}
	t.Fatal("no account was rate-limited")
	return ""
}

// An account rate-limited through replica A is skipped by replica B at
// once, with the same end of rest.
func TestReplicasShareRests(t *testing.T) {
	p := startReplicas(t, func(c *config.Config) {
		c.GSCookie = "session_id=limited-one,session_id=healthy-two"
	})
	ask := func(h *harness, text string) {
		t.Helper()
		if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-5.2", Messages: userMsg(text)}); err != nil {
			t.Fatal(err)
		}
	}
	ask(p.a, "first through A") // round-robin: the limited account first, then failover
	id := limitedID(t, p.a)
	stA := status(t, p.a, id)
	if stA.State != store.StateResting {
		t.Fatalf("replica A did not rest the limited account: %s", stA.State)
	}
	ev := await(t, p.bEv, cluster.EventRest)
	stB := status(t, p.b, id)
	// The shared copy is in whole milliseconds, rounded up.
	sameEnd := func(t time.Time) bool { d := t.Sub(stA.RestUntil); return d >= 0 && d < time.Millisecond }
	if stB.State != store.StateResting || !sameEnd(stB.RestUntil) || ev.ID != id || !sameEnd(ev.Until) {
		t.Fatalf("replica B: %s until %v, want resting until %v like A", stB.State, stB.RestUntil, stA.RestUntil)
	}
	before := limitedAsks(p.b)
	for range 4 {
		ask(p.b, "through B")
	}
	if n := limitedAsks(p.b) - before; n != 0 {
		t.Fatalf("replica B asked the account A rested %d times", n)
	}

	// Its owner clears the rest through A (the dashboard's reset): B
	// lifts it too, though the rest it was told about has not ended.
	if err := p.a.app.Pool().SetState(t.Context(), id, store.StateUpdate{State: store.StateActive}, "rest cleared by its owner"); err != nil {
		t.Fatal(err)
	}
	await(t, p.bEv, cluster.EventAccounts)
	if st := status(t, p.b, id); st.State != store.StateActive {
		t.Fatalf("replica B after the rest was cleared through A: %s until %v", st.State, st.RestUntil)
	}
}

func limitedAsks(h *harness) int {
	n := 0
	for _, e := range h.asks() {
		if strings.Contains(e.Header["Cookie"], "limited") {
			n++
		}
	}
	return n
}

// A cookie replaced through replica A (a rotation saves it the same way)
// is the one replica B sends next.
func TestReplicasShareCookies(t *testing.T) {
	p := startReplicas(t, func(c *config.Config) { c.GSCookie = "session_id=healthy-old-cookie" })
	id := status(t, p.a, "").ID
	if err := p.a.app.Pool().UpdateCookie(t.Context(), id, "session_id=healthy-new-cookie"); err != nil {
		t.Fatal(err)
	}
	await(t, p.bEv, cluster.EventAccounts)
	if _, err := p.b.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("after the rotation")}); err != nil {
		t.Fatal(err)
	}
	if c := p.b.lastAsk().Header["Cookie"]; !strings.Contains(c, "healthy-new-cookie") {
		t.Fatal("replica B did not send the cookie replaced through replica A")
	}
}

// ACCOUNT_MAX_CONCURRENCY=1 holds across both replicas: while A streams
// from the only account, B is told to retry; once A's stream ends, B is
// served.
func TestReplicasShareConcurrency(t *testing.T) {
	p := startReplicas(t, func(c *config.Config) {
		c.GSCookie = "session_id=healthy-only"
		c.AccountMaxConcurrency = 1
	})
	// A raw stream: its body ends (EOF) only once A's handler returned,
	// and so released the account.
	req, err := http.NewRequest(http.MethodPost, p.a.url+"/v1/chat/completions", strings.NewReader(
		`{"model":"gpt-5.2","stream":true,"messages":[{"role":"user","content":"hold the account sim:long 2 sim:slow 2000"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := bufio.NewReader(resp.Body)
	for {
		line, err := body.ReadString('\n')
		if err != nil {
			t.Fatalf("A's stream ended before its first event: %v", err)
		}
		if strings.HasPrefix(line, "data: {") {
			break
		}
	}
	_, err = p.b.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("through B meanwhile")})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("B while A holds the only account: %v, want 429", err)
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		t.Fatal(err)
	}
	if _, err := p.b.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("through B after")}); err != nil {
		t.Fatalf("B once A's stream ended: %v", err)
	}
}

// A dashboard session ended through replica A is refused by replica B at
// once: sessions (and API keys) are read from the shared store on every
// request, with no cache for the feed to invalidate.
func TestReplicasSeeEndedSession(t *testing.T) {
	p := startReplicas(t, func(c *config.Config) {
		c.AdminEmail, c.AdminPassword, c.PasswordLogin = "boss@example.com", "first-password", true
	})
	c := &http.Client{}
	st, hdr, body := call(t, c, "POST", p.a.url+"/auth/login", `{"email":"boss@example.com","password":"first-password"}`)
	if st != http.StatusNoContent {
		t.Fatalf("login through A: %d %s", st, body)
	}
	var session string
	for _, ck := range (&http.Response{Header: hdr}).Cookies() {
		if ck.Value != "" {
			session = ck.Name + "=" + ck.Value
		}
	}
	if st, _, body := call(t, c, "GET", p.b.url+"/api/me", "", "Cookie", session); st != http.StatusOK {
		t.Fatalf("A's session on B: %d %s", st, body)
	}
	if st, _, body := call(t, c, "POST", p.a.url+"/auth/logout", "", "Cookie", session); st != http.StatusNoContent {
		t.Fatalf("logout through A: %d %s", st, body)
	}
	if st, _, _ := call(t, c, "GET", p.b.url+"/api/me", "", "Cookie", session); st != http.StatusUnauthorized {
		t.Fatalf("the session ended through A is still accepted by B: %d", st)
	}
}

// Redis stops answering mid-test: requests are still served (the pool
// decides alone), an account limited meanwhile still rests, the failures
// are counted; never a 5xx.
func TestRedisBlipIsNoServerError(t *testing.T) {
	redisURL := redisURLForTest(t)
	proxy, viaProxy := testutil.NewFaultProxy(t, redisURL)
	h := start(t, func(c *config.Config) {
		c.RedisURL = viaProxy
		c.GSCookie = "session_id=healthy-one,session_id=limited-two"
		c.AccountMaxConcurrency = 2
		c.PoolStrategy = "round-robin"
		c.RequestRateLimit = 0
	}, redisPrefix(t))
	ask := func(text string) {
		t.Helper()
		if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-5.2", Messages: userMsg(text)}); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
	}
	ask("before the blip") // round-robin: the healthy account
	proxy.Set(testutil.ProxySwallow)
	for i := range 3 { // the limited account first: it fails over
		ask("during the blip " + itoa(i))
	}
	if st := status(t, h, limitedID(t, h)); st.State != store.StateResting {
		t.Fatalf("the account limited during the blip: %s, want resting", st.State)
	}
	if h.app.RedisFailures() == 0 {
		t.Fatal("Redis failures not counted")
	}
	if !strings.Contains(h.logs.String(), "Redis failed") {
		t.Fatal("no WARN about Redis")
	}
	proxy.Set(testutil.ProxyForward)
	ask("after the blip")
}

func itoa(i int) string { return strconv.Itoa(i) }

// Both replicas' rotation tickers fire: the Gemini cookie is rotated once,
// by one replica, and the other sends the rotated value.
func TestReplicasRotateOnceAndShareTheCookie(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := startReplicas(t, geminiOnly, app.WithClock(clock))
	for _, h := range []*harness{p.a, p.b} {
		if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gemini-3-flash", Messages: userMsg("first")}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	p.a.app.RotateCookies(context.Background())
	p.b.app.RotateCookies(context.Background())
	var fresh []string
	for _, e := range p.a.requests("accounts") {
		if e.Path == "/RotateCookies" {
			v, _ := e.Facts["new_psidts"].(string)
			fresh = append(fresh, v)
		}
	}
	if len(fresh) != 1 || fresh[0] == "" {
		t.Fatalf("rotations %q: want one, with a new value", fresh)
	}
	await(t, p.bEv, cluster.EventAccounts)
	if _, err := p.b.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-3-flash", Messages: userMsg("after the rotation")}); err != nil {
		t.Fatal(err)
	}
	gens := p.b.generates()
	if cookie := gens[len(gens)-1].Header["Cookie"]; !strings.Contains(cookie, fresh[0]) {
		t.Fatal("replica B did not send the cookie replica A rotated")
	}
}

// Replica A dies mid-stream (its Redis connection gone: no release, no
// refresh, as after kill -9): B serves once A's slot has outlived its
// LEASE_TTL, not before. The clock is the test's; cmd/spark's
// TestKilledReplicaLeasesExpire kills a real `spark serve` process.
func TestReplicaKilledMidStream(t *testing.T) {
	redisURL := redisURLForTest(t)
	dbURL := storetest.PostgresURL(t)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	proxy, viaProxy := testutil.NewFaultProxy(t, redisURL)
	sim := simulator.New(simulator.Options{})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	prefix := redisPrefix(t)
	replica := func(url string) *harness {
		return startWith(t, sim, simSrv.URL, func(c *config.Config) {
			c.DatabaseURL, c.SecretKey, c.RedisURL = dbURL, replicaSecretKey, url
			c.GSCookie = "session_id=healthy-only"
			c.AccountMaxConcurrency = 1
			c.RequestRateLimit = 0
		}, prefix, app.WithClock(clock))
	}
	a, b := replica(viaProxy), replica(redisURL)

	ctx, kill := context.WithCancel(context.Background())
	stream := a.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("a long answer sim:long 50 sim:slow 1000")})
	if !stream.Next() {
		t.Fatalf("A's stream: %v", stream.Err())
	}
	proxy.Set(testutil.ProxySwallow) // A loses Redis for good
	kill()                           // and its client: A's release cannot reach Redis
	stream.Close()

	askB := func() error {
		_, err := b.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-5.2", Messages: userMsg("through B")})
		return err
	}
	var apiErr *openai.Error
	if err := askB(); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("B while dead A's slot lives: %v, want 429", err)
	}
	mu.Lock()
	now = now.Add(cluster.DefaultLeaseTTL)
	mu.Unlock()
	if err := askB(); err != nil {
		t.Fatalf("B once dead A's slot outlived LEASE_TTL: %v", err)
	}
}

// An OIDC sign-in started on replica A finishes on replica B (a load
// balancer without sticky sessions): the started sign-in travels sealed in
// the browser's state cookie under the deployment's SPARK_SECRET_KEY.
// Replayed on A afterwards, the callback is refused: each sign-in is used
// once across the replicas.
func TestReplicasShareOIDCSignIn(t *testing.T) {
	idp := idptest.New(t, "spark-app", "app-secret", time.Now)
	p := startReplicas(t, func(c *config.Config) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = idp.URL, "spark-app", "app-secret"
	})
	idp.SignInAs(idptest.Verified("dev@example.com"))
	c := browser(t)
	st, hdr, body := call(t, c, "GET", p.a.url+"/auth/login", "")
	if st != http.StatusFound {
		t.Fatalf("GET /auth/login on A: %d %s", st, body)
	}
	resp, err := c.Get(hdr.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := url.Parse(resp.Header.Get("Location")) // A's callback
	if err != nil || cb.Path != "/auth/callback" {
		t.Fatalf("the provider's redirect: %q %v", resp.Header.Get("Location"), err)
	}
	saved := c.Jar.Cookies(cb) // the state cookie, for the replay below
	onB := p.b.url + cb.RequestURI()
	if st, _, body := call(t, c, "GET", onB, "", "Accept", "application/json"); st != http.StatusFound {
		t.Fatalf("the callback of a sign-in started on A, on B: %d %s", st, body)
	}
	for _, h := range []*harness{p.a, p.b} {
		if st, _, body := call(t, c, "GET", h.url+"/api/me", ""); st != http.StatusOK || !strings.Contains(body, "dev@example.com") {
			t.Fatalf("the session opened on B, on %s: %d %s", h.url, st, body)
		}
	}
	replay := browser(t)
	replay.Jar.SetCookies(cb, saved)
	if len(saved) == 0 {
		t.Fatal("no state cookie was set for the callback")
	}
	st, _, _ = call(t, replay, "GET", p.a.url+cb.RequestURI(), "", "Accept", "application/json")
	if st != http.StatusBadRequest {
		t.Fatalf("the same callback replayed on A: %d, want 400", st)
	}
}

// The sign-in throttles hold across replicas: five wrong passwords for
// one email, alternating between A and B, and the sixth attempt is
// refused with 429 whichever replica gets it (per process, each replica
// would have allowed five).
func TestReplicasShareSignInThrottle(t *testing.T) {
	p := startReplicas(t, nil)
	c := &http.Client{}
	wrong := `{"email":"boss@example.com","password":"not-the-password"}`
	for i := range identity.DefaultLoginPerEmail {
		h := []*harness{p.a, p.b}[i%2]
		if st, _, body := call(t, c, "POST", h.url+"/auth/login", wrong); st != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %s", i+1, st, body)
		}
	}
	for _, h := range []*harness{p.a, p.b} {
		st, hdr, body := call(t, c, "POST", h.url+"/auth/login", `{"email":"boss@example.com","password":"`+adminPassword+`"}`)
		if st != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
			t.Fatalf("attempt %d on %s: %d %s, want 429 with Retry-After", identity.DefaultLoginPerEmail+1, h.url, st, body)
		}
	}
}
