package app_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/identity/idptest"
	"github.com/sparkgw/spark/internal/limit"
)

// keysEnv is a gateway with a built-in admin signed in (who owns the
// harness's two Genspark accounts) and an OpenID provider through which
// other users sign in.
type keysEnv struct {
	*harness
	t     *testing.T
	admin *http.Client
	idp   *idptest.Provider
}

const adminPassword = "correct-horse-battery"

func startKeys(t *testing.T, mutate func(*config.Config), opts ...app.Option) *keysEnv {
	t.Helper()
	idp := idptest.New(t, "spark-app", "app-secret", time.Now)
	h := start(t, func(c *config.Config) {
		c.AdminEmail, c.AdminPassword, c.PasswordLogin = "boss@example.com", adminPassword, true
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = idp.URL, "spark-app", "app-secret"
		if mutate != nil {
			mutate(c)
		}
	}, opts...)
	e := &keysEnv{harness: h, t: t, idp: idp, admin: browser(t)}
	if st, _, body := call(t, e.admin, "POST", h.url+"/auth/login", `{"email":"boss@example.com","password":"`+adminPassword+`"}`); st != http.StatusNoContent {
		t.Fatalf("admin login: %d %s", st, body)
	}
	return e
}

// signIn signs a user in through the OpenID provider.
func (e *keysEnv) signIn(email string) *http.Client {
	e.t.Helper()
	c := browser(e.t)
	e.idp.SignInAs(idptest.Verified(email))
	st, hdr, body := call(e.t, c, "GET", e.url+"/auth/login", "")
	if st != http.StatusFound {
		e.t.Fatalf("GET /auth/login: %d %s", st, body)
	}
	resp, err := c.Get(hdr.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if st, _, body := call(e.t, c, "GET", resp.Header.Get("Location"), "", "Accept", "application/json"); st != http.StatusFound {
		e.t.Fatalf("callback: %d %s", st, body)
	}
	return c
}

// mint creates a key through POST /api/keys and returns its id and the
// key itself.
func (e *keysEnv) mint(c *http.Client, body string) (id, key string) {
	e.t.Helper()
	st, _, out := call(e.t, c, "POST", e.url+"/api/keys", body)
	var k struct{ ID, Key string }
	if st != http.StatusCreated || json.Unmarshal([]byte(out), &k) != nil || k.Key == "" {
		e.t.Fatalf("POST /api/keys %s: %d %s", body, st, out)
	}
	return k.ID, k.Key
}

// sdk is the official OpenAI client with key, without retries (a retry
// would count in the key's window).
func (e *keysEnv) sdk(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.url+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func (e *keysEnv) chat(key, model string) (*openai.ChatCompletion, error) {
	c := e.sdk(key)
	return c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model, Messages: userMsg("hello")})
}

// apiError is the SDK's error for a refused request (fails the test for
// any other outcome).
func apiError(t *testing.T, err error, status int) *openai.Error {
	t.Helper()
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != status {
		t.Fatalf("got %v, want an API error with status %d", err, status)
	}
	return ae
}

// eventually waits (bounded) for cond, which reads the gateway's state
// over HTTP: work done off the request path (usage records, token
// counts) lands a moment after the answer.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := waitCtx(t)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %s", what)
		case <-tick.C:
		}
	}
}

// The end-to-end path: the admin mints a key limited to gpt-5.1
// at 2 requests a minute; through the official SDK gpt-5.1 works, another
// model is 403 naming the allowed one, and the third request within the
// minute is 429 with Retry-After; the requests appear in
// /api/usage/requests and the CSV with the key's id. A user who signs in
// sees none of it, and cannot filter by the admin's key.
func TestKeyModelsAndRateEndToEnd(t *testing.T) {
	e := startKeys(t, nil)
	id, key := e.mint(e.admin, `{"name":"ci","models":["gpt-5.1"],"rpm":2}`)

	if _, err := e.chat(key, "gpt-5.1"); err != nil {
		t.Fatalf("gpt-5.1: %v", err)
	}
	_, err := e.chat(key, "gemini-3-flash")
	if ae := apiError(t, err, http.StatusForbidden); !strings.Contains(ae.Message, "gpt-5.1") || !strings.Contains(ae.Message, "gemini-3-flash") {
		t.Fatalf("403 message %q does not name the model and the allowed ones", ae.Message)
	}
	_, err = e.chat(key, "gpt-5.1")
	ae := apiError(t, err, http.StatusTooManyRequests)
	if ra, err := strconv.Atoi(ae.Response.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", ae.Response.Header.Get("Retry-After"))
	}
	if n := len(e.asks()); n != 1 {
		t.Fatalf("%d asks reached the upstream, want 1", n)
	}

	type row struct {
		KeyID  string `json:"key_id"`
		Model  string `json:"model"`
		Status int    `json:"status"`
	}
	var rows []row
	eventually(t, "three usage records", func() bool {
		_, _, body := call(t, e.admin, "GET", e.url+"/api/usage/requests?key="+id, "")
		var p struct{ Data []row }
		_ = json.Unmarshal([]byte(body), &p)
		rows = p.Data
		return len(rows) >= 3
	})
	got := []string{}
	for _, r := range rows {
		got = append(got, r.Model+":"+strconv.Itoa(r.Status))
		if r.KeyID != id {
			t.Errorf("row of key %q", r.KeyID)
		}
	}
	if strings.Join(got, " ") != ":429 gemini-3-flash:403 gpt-5.1:200" { // refused before its body was read: no model
		t.Errorf("usage rows %v", got)
	}
	st, _, body := call(t, e.admin, "GET", e.url+"/api/usage/export.csv?key="+id, "")
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if st != 200 || err != nil || len(recs) != 4 || recs[1][2] != id {
		t.Fatalf("CSV: %d %q %v", st, recs, err)
	}

	dev := e.signIn("dev@example.com")
	if st, _, body := call(t, dev, "GET", e.url+"/api/usage/requests", ""); st != 200 || strings.Contains(body, id) {
		t.Fatalf("another user's usage listing: %d %s", st, body)
	}
	if st, _, _ := call(t, dev, "GET", e.url+"/api/usage/requests?key="+id, ""); st != http.StatusNotFound {
		t.Fatalf("another user filtering by the admin's key: %d", st)
	}
	if st, _, body := call(t, dev, "GET", e.url+"/api/keys", ""); st != 200 || strings.Contains(body, id) {
		t.Fatalf("another user's key list: %d %s", st, body)
	}
	if st, _, _ := call(t, dev, "DELETE", e.url+"/api/keys/"+id, ""); st != http.StatusNotFound {
		t.Fatalf("another user revoking the admin's key: %d", st)
	}
}

// Alias and Claude-name resolution cannot bypass a key's model list: the
// resolved catalog id is checked, and the refusal is in each API's own
// error shape.
func TestKeyModelsCheckTheResolvedModel(t *testing.T) {
	e := startKeys(t, nil)
	_, key := e.mint(e.admin, `{"name":"one model","models":["gpt-5.1"]}`)
	// The dated name resolves to gpt-5.1: allowed.
	if _, err := e.chat(key, "gpt-5.1-20251113"); err != nil {
		t.Fatalf("a dated gpt-5.1: %v", err)
	}
	for _, model := range []string{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5-latest", "some-unknown-model"} {
		_, err := e.chat(key, model)
		apiError(t, err, http.StatusForbidden)
	}
	anthropic := func(body string) (int, string) {
		st, _, out := call(t, http.DefaultClient, "POST", e.url+"/v1/messages", body, "x-api-key", key, "anthropic-version", "2023-06-01")
		return st, out
	}
	st, out := anthropic(`{"model":"claude-sonnet-4-5-20250929","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`)
	var ant struct {
		Type  string
		Error struct{ Type, Message string }
	}
	if st != http.StatusForbidden || json.Unmarshal([]byte(out), &ant) != nil || ant.Type != "error" || ant.Error.Type != "permission_error" ||
		!strings.Contains(ant.Error.Message, "claude-sonnet-4-5") {
		t.Fatalf("Anthropic refusal: %d %s", st, out)
	}
	st, _, out = call(t, http.DefaultClient, "POST", e.url+"/v1beta/models/gemini-3-flash:generateContent",
		`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "x-goog-api-key", key)
	var goog struct {
		Error struct {
			Code            int
			Status, Message string
		}
	}
	if st != http.StatusForbidden || json.Unmarshal([]byte(out), &goog) != nil || goog.Error.Code != 403 || goog.Error.Status != "PERMISSION_DENIED" {
		t.Fatalf("Gemini API refusal: %d %s", st, out)
	}
	if n := len(e.asks()); n != 1 {
		t.Fatalf("%d asks reached the upstream, want 1", n)
	}
	// A model none of the admin's accounts serves cannot be minted.
	if st, _, out := call(t, e.admin, "POST", e.url+"/api/keys", `{"name":"x","models":["gemini-3-pro"]}`); st != http.StatusBadRequest {
		t.Fatalf("minting a model no account serves: %d %s", st, out)
	}
}

// A key is served only by its owner's accounts and the shared ones: a
// user without accounts gets "no account", never the admin's accounts,
// and cannot limit a key to a model only the admin's accounts serve.
func TestUserKeyNeverUsesAnotherUsersAccounts(t *testing.T) {
	e := startKeys(t, nil)
	dev := e.signIn("dev@example.com")
	if st, _, out := call(t, dev, "POST", e.url+"/api/keys", `{"name":"x","models":["gpt-5.1"]}`); st != http.StatusBadRequest {
		t.Fatalf("a user limits a key to a model only the admin's accounts serve: %d %s", st, out)
	}
	_, key := e.mint(dev, `{"name":"dev"}`)
	_, err := e.chat(key, "gpt-5.1")
	apiError(t, err, http.StatusServiceUnavailable)
	if n := len(e.asks()); n != 0 {
		t.Fatalf("the user's key reached the admin's accounts (%d asks)", n)
	}
	// The built-in admin's keys (API_SECRET here) keep using them.
	if _, err := e.chat(testKey, "gpt-5.1"); err != nil {
		t.Fatalf("API_SECRET key: %v", err)
	}
}

// Revoking a key refuses it from the next request on.
func TestRevokedKeyRefusedAtOnce(t *testing.T) {
	e := startKeys(t, nil)
	id, key := e.mint(e.admin, `{"name":"short-lived"}`)
	if _, err := e.chat(key, "gpt-5.1"); err != nil {
		t.Fatal(err)
	}
	if st, _, out := call(t, e.admin, "DELETE", e.url+"/api/keys/"+id, ""); st != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", st, out)
	}
	_, err := e.chat(key, "gpt-5.1")
	apiError(t, err, http.StatusUnauthorized)
	if st, _, out := call(t, e.admin, "GET", e.url+"/api/audit", ""); st != 200 || !strings.Contains(out, `"action":"key.revoke"`) ||
		!strings.Contains(out, `"action":"key.create"`) || !strings.Contains(out, `"target_id":"`+id+`"`) {
		t.Fatalf("audit: %d %s", st, out)
	}
}

// An expired key is refused with 401 saying so.
func TestExpiredKeyRefused(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e := startKeys(t, nil, app.WithClock(clock))
	_, key := e.mint(e.admin, `{"name":"1h","expires_at":"2031-01-01T01:00:00Z"}`)
	if _, err := e.chat(key, "gpt-5.1"); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(time.Hour))
	_, err := e.chat(key, "gpt-5.1")
	if ae := apiError(t, err, http.StatusUnauthorized); !strings.Contains(ae.Message, "expired") {
		t.Fatalf("message %q", ae.Message)
	}
	if st, _, out := call(t, e.admin, "POST", e.url+"/api/keys", `{"name":"past","expires_at":"2031-01-01T00:30:00Z"}`); st != http.StatusBadRequest {
		t.Fatalf("minting an expired key: %d %s", st, out)
	}
}

// ip_allow: the client address as the server computes it (with
// TRUST_PROXY, the first X-Forwarded-For entry) must be in one of the
// key's CIDRs, else 403.
func TestKeyIPAllowlist(t *testing.T) {
	e := startKeys(t, func(c *config.Config) { c.TrustProxy = true })
	_, key := e.mint(e.admin, `{"name":"office","ip_allow":["203.0.113.0/24","2001:db8::1"]}`)
	for _, tt := range []struct {
		forwarded string
		status    int
	}{
		{"", http.StatusForbidden}, // loopback
		{"203.0.113.7", http.StatusOK},
		{"203.0.113.7, 10.0.0.1", http.StatusOK},
		{"198.51.100.1", http.StatusForbidden},
		{"2001:db8::1", http.StatusOK},
		{"2001:db8::2", http.StatusForbidden},
	} {
		c := openai.NewClient(option.WithBaseURL(e.url+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0),
			option.WithHeader("X-Forwarded-For", tt.forwarded))
		_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5.1", Messages: userMsg("hi")})
		if tt.status == http.StatusOK {
			if err != nil {
				t.Errorf("from %q: %v", tt.forwarded, err)
			}
			continue
		}
		if ae := apiError(t, err, tt.status); !strings.Contains(ae.Message, "allowlist") {
			t.Errorf("from %q: message %q", tt.forwarded, ae.Message)
		}
	}
	// Without TRUST_PROXY the header is ignored: the loopback address counts.
	e2 := startKeys(t, nil)
	_, local := e2.mint(e2.admin, `{"name":"local","ip_allow":["127.0.0.1"]}`)
	c := openai.NewClient(option.WithBaseURL(e2.url+"/v1/"), option.WithAPIKey(local), option.WithMaxRetries(0),
		option.WithHeader("X-Forwarded-For", "203.0.113.7"))
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-5.1", Messages: userMsg("hi")}); err != nil {
		t.Fatalf("loopback key from loopback: %v", err)
	}
}

// max_concurrency: a second request while a stream of the same key is
// open is 429; once the stream has ended its slot is free again.
func TestKeyMaxConcurrency(t *testing.T) {
	ad := limit.NewMemoryAdmitter(nil, 0)
	e := startKeys(t, nil, app.WithAdmitter(ad))
	id, key := e.mint(e.admin, `{"name":"one at a time","max_concurrency":1}`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-5.1","stream":true,"messages":[{"role":"user","content":"sim:long 3 sim:slow 60000"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil { // the stream is running
		t.Fatal(err)
	}
	_, err = e.chat(key, "gpt-5.1")
	if ae := apiError(t, err, http.StatusTooManyRequests); !strings.Contains(ae.Message, "in flight") {
		t.Fatalf("message %q", ae.Message)
	}
	// Another key is not limited by this one.
	if _, err := e.chat(testKey, "gpt-5.1"); err != nil {
		t.Fatal(err)
	}
	cancel() // the client leaves: the stream ends, the slot is released
	eventually(t, "the slot released", func() bool { return ad.InFlight(id) == 0 })
	if _, err := e.chat(key, "gpt-5.1"); err != nil {
		t.Fatalf("after the stream ended: %v", err)
	}
}

// token_quota: once the key's input and output tokens reach the quota,
// requests are 429 insufficient_quota; tokens_used shows the count.
func TestKeyTokenQuota(t *testing.T) {
	var dataDir string
	e := startKeys(t, func(c *config.Config) { dataDir = c.DataDir })
	id, key := e.mint(e.admin, `{"name":"tiny","token_quota":5}`)
	done, err := e.chat(key, "gpt-5.1")
	if err != nil {
		t.Fatal(err)
	}
	spent := done.Usage.PromptTokens + done.Usage.CompletionTokens
	if spent < 5 {
		t.Fatalf("the answer used %d tokens; the test needs at least the quota", spent)
	}
	var used int64
	eventually(t, "tokens_used counted", func() bool {
		_, _, body := call(t, e.admin, "GET", e.url+"/api/keys", "")
		var l struct {
			Data []struct {
				ID         string
				TokensUsed int64 `json:"tokens_used"`
			}
		}
		_ = json.Unmarshal([]byte(body), &l)
		for _, k := range l.Data {
			if k.ID == id {
				used = k.TokensUsed
			}
		}
		return used > 0
	})
	if used != spent {
		t.Fatalf("tokens_used %d, the answer reported %d", used, spent)
	}
	_, err = e.chat(key, "gpt-5.1")
	ae := apiError(t, err, http.StatusTooManyRequests)
	if ae.Code != "insufficient_quota" || ae.Type != "insufficient_quota" {
		t.Fatalf("code %q type %q: %s", ae.Code, ae.Type, ae.Message)
	}
	if n := len(e.asks()); n != 1 {
		t.Fatalf("%d asks, want 1", n)
	}
	// The count is in the store once the gateway has closed (at the
	// latest), and holds at the next start.
	e.stop()
	if k, err := openStore(t, dataDir).GetAPIKey(t.Context(), id); err != nil || k.TokensUsed != spent {
		t.Fatalf("stored tokens_used %d (%v), want %d", k.TokensUsed, err, spent)
	}
}

// KEY_RATE_LIMIT is the requests-per-minute limit of keys without their
// own, API_SECRET keys included; a key's own rpm wins over it.
func TestKeyRateLimitDefault(t *testing.T) {
	e := startKeys(t, func(c *config.Config) { c.KeyRateLimit = 1 })
	_, own := e.mint(e.admin, `{"name":"own","rpm":3}`)
	if _, err := e.chat(testKey, "gpt-5.1"); err != nil {
		t.Fatal(err)
	}
	_, err := e.chat(testKey, "gpt-5.1")
	apiError(t, err, http.StatusTooManyRequests)
	for i := range 3 {
		if _, err := e.chat(own, "gpt-5.1"); err != nil {
			t.Fatalf("request %d with rpm 3: %v", i, err)
		}
	}
	_, err = e.chat(own, "gpt-5.1")
	apiError(t, err, http.StatusTooManyRequests)
}

// Disabling a user refuses their keys from the next request on; enabling
// them again lets the keys back in.
func TestDisabledUsersKeysRefused(t *testing.T) {
	e := startKeys(t, nil)
	dev := e.signIn("dev@example.com")
	_, key := e.mint(dev, `{"name":"dev"}`)
	_, _, me := call(t, dev, "GET", e.url+"/api/me", "")
	var who struct{ ID string }
	if err := json.Unmarshal([]byte(me), &who); err != nil || who.ID == "" {
		t.Fatalf("/api/me: %s", me)
	}
	_, err := e.chat(key, "gpt-5.1")
	apiError(t, err, http.StatusServiceUnavailable) // the user has no account: past authentication
	patch := func(disabled bool) {
		t.Helper()
		body := `{"disabled":` + strconv.FormatBool(disabled) + `}`
		if st, _, out := call(t, e.admin, "PATCH", e.url+"/api/users/"+who.ID, body); st != http.StatusOK {
			t.Fatalf("PATCH user: %d %s", st, out)
		}
	}
	patch(true)
	_, err = e.chat(key, "gpt-5.1")
	apiError(t, err, http.StatusUnauthorized)
	patch(false)
	_, err = e.chat(key, "gpt-5.1")
	apiError(t, err, http.StatusServiceUnavailable)
}

// A key's model list holds for embeddings too: a key limited to a chat
// model is refused on both embedding routes; one that lists the embedding
// model embeds with it and with no other.
func TestKeyModelsHoldForEmbeddings(t *testing.T) {
	e := startKeys(t, nil)
	_, chatOnly := e.mint(e.admin, `{"name":"chat only","models":["gpt-5.1"]}`)
	c := e.sdk(chatOnly)
	_, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "gemini-embedding-001", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha"}}})
	if ae := apiError(t, err, http.StatusForbidden); !strings.Contains(ae.Message, "gpt-5.1") {
		t.Fatalf("403 message %q does not name the allowed model", ae.Message)
	}
	st, _, out := call(t, http.DefaultClient, "POST", e.url+"/v1beta/models/gemini-embedding-001:embedContent",
		`{"content":{"parts":[{"text":"alpha"}]}}`, "x-goog-api-key", chatOnly)
	if st != http.StatusForbidden || !strings.Contains(out, "PERMISSION_DENIED") {
		t.Fatalf("Gemini API embedContent with a chat-only key: %d %s", st, out)
	}

	// An OpenAI embedding name is not a model a key can list: the route
	// resolves it to Google's model, which is what the list must hold.
	if st, _, out := call(t, e.admin, "POST", e.url+"/api/keys", `{"name":"x","models":["text-embedding-3-small"]}`); st != http.StatusBadRequest {
		t.Fatalf("minting with an OpenAI embedding name: %d %s", st, out)
	}
	_, embedder := e.mint(e.admin, `{"name":"embeddings","models":["models/gemini-embedding-001"]}`)
	c = e.sdk(embedder)
	for _, model := range []string{"gemini-embedding-001", "text-embedding-3-small"} { // the latter resolves to the former
		res, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: model, Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha"}}})
		if err != nil || len(res.Data) != 1 || len(res.Data[0].Embedding) == 0 {
			t.Fatalf("embedding %s with a key listing gemini-embedding-001: %v", model, err)
		}
	}
	if _, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "gemini-embedding-2", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha"}}}); err == nil {
		t.Fatal("another embedding model was allowed")
	} else {
		apiError(t, err, http.StatusForbidden)
	}
}

// A key limited to models sees only those in the models lists (OpenAI's
// and Gemini's), and the others answer 404 as if they did not exist; a
// key without a list sees every model.
func TestKeyModelsListShowsOnlyAllowed(t *testing.T) {
	e := startKeys(t, nil)
	_, limited := e.mint(e.admin, `{"name":"one-model","models":["gpt-5.1"]}`)
	_, open := e.mint(e.admin, `{"name":"all-models"}`)
	ids := func(key string) []string {
		t.Helper()
		c := e.sdk(key)
		page, err := c.Models.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range page.Data {
			out = append(out, m.ID)
		}
		return out
	}
	if got := ids(limited); !slices.Equal(got, []string{"gpt-5.1"}) {
		t.Errorf("GET /v1/models with a key limited to gpt-5.1: %v", got)
	}
	if got := ids(open); len(got) < 2 || !slices.Contains(got, "gpt-5.1") || !slices.Contains(got, "gemini-2.5-pro") {
		t.Errorf("GET /v1/models with a key without a model list: %v", got)
	}
	c := e.sdk(limited)
	if _, err := c.Models.Get(context.Background(), "gemini-2.5-pro"); err == nil {
		t.Error("GET /v1/models/gemini-2.5-pro with a key limited to gpt-5.1 answered")
	} else {
		apiError(t, err, http.StatusNotFound)
	}
	st, _, body := call(t, &http.Client{}, "GET", e.url+"/v1beta/models", "", "x-goog-api-key", limited)
	var gl struct{ Models []struct{ Name string } }
	if err := json.Unmarshal([]byte(body), &gl); st != http.StatusOK || err != nil || len(gl.Models) != 1 || gl.Models[0].Name != "models/gpt-5.1" {
		t.Errorf("GET /v1beta/models with a key limited to gpt-5.1: %d %s", st, body)
	}
}
