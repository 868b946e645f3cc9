package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/simulator"
	"github.com/sparkgw/spark/internal/store/storetest"
)

// leaseTTL is the replicas' LEASE_TTL in TestKilledReplicaLeasesExpire
// (the shortest accepted, config.MinLeaseTTL).
const leaseTTL = 3 * time.Second

// TestKilledReplicaLeasesExpire: two `spark serve` processes (replicas A
// and B) on one PostgreSQL database, one Redis and one simulator. A key
// minted through A with max_concurrency 1 streams on A: B refuses the key.
// A is killed with SIGKILL mid-stream, so nothing releases its leases:
// B still serves (another key, on the other account), refuses the key
// while A's lease lives, and admits it once the lease has expired (within
// LEASE_TTL of A's last refresh). A's account slot expires too: with
// ACCOUNT_MAX_CONCURRENCY=1 and two accounts, B then serves two requests
// at once.
func TestKilledReplicaLeasesExpire(t *testing.T) {
	redisURL := os.Getenv("SPARK_TEST_REDIS_URL")
	if redisURL == "" {
		if os.Getenv(storetest.RequireServicesEnv) == "1" {
			t.Fatal("SPARK_TEST_REDIS_URL is unset (scripts/services/redis.sh sets it)")
		}
		t.Skip("SPARK_TEST_REDIS_URL is unset")
	}
	dbURL := storetest.PostgresURL(t)
	bin := sparkBinary(t)
	sim := httptest.NewServer(simulator.New(simulator.Options{}))
	t.Cleanup(sim.Close)

	const apiSecret = "sk-kill-test-env-key-0123456789"
	env := func() map[string]string {
		return map[string]string{
			"DATABASE_URL": dbURL, "REDIS_URL": redisURL, "LEASE_TTL": leaseTTL.String(),
			"SPARK_SECRET_KEY": strings.Repeat("cd", 32), "API_SECRET": apiSecret,
			"SPARK_ADMIN_EMAIL": "boss@example.com", "SPARK_ADMIN_PASSWORD": "kill-test-password",
			"GS_COOKIE":               "session_id=healthy-one,session_id=healthy-two",
			"ACCOUNT_MAX_CONCURRENCY": "1", "POOL_STRATEGY": "round-robin", "REQUEST_RATE_LIMIT": "0",
			"GENSPARK_BASE_URL": sim.URL, "GEMINI_BASE_URL": sim.URL, "GEMINI_UPLOAD_URL": sim.URL,
			"GOOGLE_ACCOUNTS_URL": sim.URL, "GOOGLE_AI_BASE_URL": sim.URL,
			"HOST": "127.0.0.1", "PORT": "0", "DATA_DIR": t.TempDir(), "LOG_FORMAT": "json",
		}
	}
	a := startReplica(t, bin, "replica A", env())
	b := startReplica(t, bin, "replica B", env())

	// The admin mints the key through A's dashboard API.
	jar, _ := cookiejar.New(nil)
	admin := &http.Client{Jar: jar}
	if st, body := send(t, admin, "POST", a.url+"/auth/login", "", `{"email":"boss@example.com","password":"kill-test-password"}`); st != http.StatusNoContent {
		t.Fatalf("admin login on A: %d %s", st, body)
	}
	st, body := send(t, admin, "POST", a.url+"/api/keys", "", `{"name":"one at a time","max_concurrency":1}`)
	var minted struct{ Key string }
	if st != http.StatusCreated || json.Unmarshal([]byte(body), &minted) != nil || minted.Key == "" {
		t.Fatalf("POST /api/keys on A: %d %s", st, body)
	}
	key := minted.Key

	// A streams with the key (a minute of answer: A dies long before).
	stream := holdStream(t, a.url, key, "a long answer sim:long 60 sim:slow 1000")
	defer stream.Close()
	chat := func(base, key string) (int, string) {
		return send(t, http.DefaultClient, "POST", base+"/v1/chat/completions", key,
			`{"model":"gpt-5.2","messages":[{"role":"user","content":"through another replica"}]}`)
	}
	if st, body := chat(b.url, key); st != http.StatusTooManyRequests || !strings.Contains(body, "in flight") {
		t.Fatalf("B while A streams the key: %d %s, want 429 for the key's concurrency", st, body)
	}

	a.kill(t)
	killed := time.Now()
	if st, body := chat(b.url, key); st != http.StatusTooManyRequests || !strings.Contains(body, "in flight") {
		t.Fatalf("B right after A was killed: %d %s, want 429 while A's lease lives", st, body)
	}
	if st, body := chat(b.url, apiSecret); st != http.StatusOK {
		t.Fatalf("B serving another key after A was killed: %d %s", st, body)
	}

	// A lease lives LEASE_TTL after its holder's last refresh, which was
	// before the kill; the wait is bounded at twice that (a loaded
	// machine's requests take time too).
	deadline := killed.Add(2 * leaseTTL)
	until := func(what string, ok func() (bool, string)) {
		t.Helper()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			done, last := ok()
			if done {
				t.Logf("%s %v after the kill", what, time.Since(killed).Round(time.Millisecond))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v of the kill (LEASE_TTL %v); last answer: %s", what, 2*leaseTTL, leaseTTL, last)
			}
			<-tick.C
		}
	}
	until("B admits the key", func() (bool, string) {
		st, body := chat(b.url, key)
		return st == http.StatusOK, fmt.Sprint(st, " ", body)
	})

	// A's account slot has lapsed too: while B streams from one account,
	// the other (A's until it died) serves B's next request.
	held := holdStream(t, b.url, apiSecret, "hold one account sim:long 60 sim:slow 1000")
	defer held.Close()
	until("B serves from both accounts at once", func() (bool, string) {
		st, body := chat(b.url, key)
		return st == http.StatusOK, fmt.Sprint(st, " ", body)
	})
}

// send makes one request (a JSON body when body is set, a bearer key when
// key is set) and returns the status and body.
func send(t *testing.T, c *http.Client, method, url, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// holdStream starts a streamed chat completion on base with key and
// returns its body once the first chunk arrived: the stream is running.
// Closing the body leaves the stream.
func holdStream(t *testing.T, base, key, text string) io.Closer {
	t.Helper()
	ctx, leave := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(
		`{"model":"gpt-5.2","stream":true,"messages":[{"role":"user","content":"`+text+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		leave()
		t.Fatalf("stream on %s: %v", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		leave()
		t.Fatalf("stream on %s: %d %s", base, resp.StatusCode, b)
	}
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			resp.Body.Close()
			leave()
			t.Fatalf("the stream on %s ended before its first chunk: %v", base, err)
		}
		if strings.HasPrefix(line, "data: {") {
			break
		}
	}
	return closerFunc(func() error { leave(); return resp.Body.Close() })
}

// closerFunc adapts a function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }
