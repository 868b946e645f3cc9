package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/cluster"
)

// A key with rpm 5 minted through replica A's /api/keys gets its sixth
// request of the minute refused with 429 and Retry-After, whichever
// replica serves it: the five before alternate between A and B, and the
// window is one across both (not five per replica).
func TestReplicasShareKeyRate(t *testing.T) {
	p := startReplicas(t, nil)
	admin := p.signIn(t, p.a)
	for _, tt := range []struct {
		name         string
		first, other *harness // the sixth request goes to first's other
	}{
		{"sixth on B", p.a, p.b},
		{"sixth on A", p.b, p.a},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, key := mintOn(t, p.a, admin, `{"name":"five a minute, `+tt.name+`","rpm":5}`)
			on := []*harness{tt.first, tt.other}
			for i := range 5 {
				if _, err := chatOn(on[i%2], key, "request "+strconv.Itoa(i+1)); err != nil {
					t.Fatalf("request %d of 5 (replica %d of the two): %v", i+1, i%2+1, err)
				}
			}
			for _, h := range []*harness{tt.other, tt.first} { // the sixth, then a seventh on the other
				_, err := chatOn(h, key, "one too many")
				ae := apiError(t, err, http.StatusTooManyRequests)
				if ra, err := strconv.Atoi(ae.Response.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
					t.Fatalf("Retry-After %q", ae.Response.Header.Get("Retry-After"))
				}
				if !strings.Contains(ae.Message, "5 per minute") {
					t.Fatalf("message %q, want the key's limit", ae.Message)
				}
			}
		})
	}
}

// max_concurrency 1 holds across both replicas: while a stream of the
// key is open on A, B refuses the key (and serves another key); once the
// stream has ended, B admits the key.
func TestReplicasShareKeyConcurrency(t *testing.T) {
	p := startReplicas(t, nil) // two accounts: the key's limit, not an account's, refuses
	admin := p.signIn(t, p.a)
	_, key := mintOn(t, p.a, admin, `{"name":"one at a time","max_concurrency":1}`)

	ctx, leave := context.WithCancel(context.Background())
	defer leave()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.a.url+"/v1/chat/completions", strings.NewReader(
		`{"model":"gpt-5.2","stream":true,"messages":[{"role":"user","content":"hold the key sim:long 30 sim:slow 1000"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the stream on A: %v %v", resp, err)
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

	_, err = chatOn(p.b, key, "through B meanwhile")
	if ae := apiError(t, err, http.StatusTooManyRequests); !strings.Contains(ae.Message, "in flight") {
		t.Fatalf("B while A streams the key: message %q, want the key's concurrency", ae.Message)
	}
	if _, err := chatOn(p.b, testKey, "another key through B"); err != nil {
		t.Fatalf("another key on B while A streams: %v", err)
	}

	leave() // the client leaves: A's handler returns and releases the slot
	eventually(t, "B admits the key once A's stream ended", func() bool {
		_, err := chatOn(p.b, key, "through B after")
		return err == nil
	})
}

// A key revoked through replica A's API (DELETE /api/keys/{id}) is
// refused by A on the very next request, and by B as soon as A's "keys"
// event reached it: both had the key cached (keyCacheFor) from a request
// just before, so it is the event that drops B's copy, not its age.
func TestReplicasSeeRevokedKey(t *testing.T) {
	p := startReplicas(t, nil)
	admin := p.signIn(t, p.a)
	id, key := mintOn(t, p.a, admin, `{"name":"short-lived"}`)
	for _, h := range []*harness{p.a, p.b} {
		if _, err := chatOn(h, key, "before the revocation"); err != nil {
			t.Fatalf("the key minted through A, on %s: %v", h.url, err)
		}
	}
	if st, _, out := call(t, admin, "DELETE", p.a.url+"/api/keys/"+id, ""); st != http.StatusNoContent {
		t.Fatalf("revoke through A: %d %s", st, out)
	}
	_, err := chatOn(p.a, key, "after the revocation")
	apiError(t, err, http.StatusUnauthorized)
	await(t, p.bEv, cluster.EventKeys)
	_, err = chatOn(p.b, key, "after the revocation")
	apiError(t, err, http.StatusUnauthorized)
}

// Usage from both replicas appears in one /api/usage and
// /api/usage/requests, whichever replica the admin signed in on and asks.
func TestReplicasShareUsage(t *testing.T) {
	p := startReplicas(t, nil)
	adminA := p.signIn(t, p.a)
	id, key := mintOn(t, p.a, adminA, `{"name":"both replicas"}`)
	var sent []string // X-Request-Id of each answer
	for i, h := range []*harness{p.a, p.b, p.a, p.b, p.b} {
		resp, body := h.post("/v1/chat/completions", key, `{"model":"gpt-5.2","messages":[{"role":"user","content":"request `+strconv.Itoa(i)+`"}]}`)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("request %d: %d %s (X-Request-Id %q)", i, resp.StatusCode, body, resp.Header.Get("X-Request-Id"))
		}
		sent = append(sent, resp.Header.Get("X-Request-Id"))
	}
	slices.Sort(sent)
	adminB := p.signIn(t, p.b)
	for _, ask := range []struct {
		name   string
		h      *harness
		client *http.Client
	}{{"A, signed in on A", p.a, adminA}, {"B, signed in on B", p.b, adminB}, {"B, signed in on A", p.b, adminA}} {
		var got []string
		eventually(t, ask.name+": the five requests in /api/usage/requests", func() bool {
			st, _, body := call(t, ask.client, "GET", ask.h.url+"/api/usage/requests?key="+id, "")
			var page struct {
				Data []struct {
					RequestID string `json:"request_id"`
					Status    int    `json:"status"`
				}
			}
			if st != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil {
				t.Fatalf("%s: /api/usage/requests: %d %s", ask.name, st, body)
			}
			got = got[:0]
			for _, r := range page.Data {
				got = append(got, r.RequestID)
			}
			slices.Sort(got)
			return len(got) >= len(sent)
		})
		if !slices.Equal(got, sent) {
			t.Fatalf("%s: /api/usage/requests lists %q, want the answers' %q", ask.name, got, sent)
		}
		st, _, body := call(t, ask.client, "GET", ask.h.url+"/api/usage?group_by=key", "")
		var sum struct{ Data []usageRow }
		if st != http.StatusOK || json.Unmarshal([]byte(body), &sum) != nil {
			t.Fatalf("%s: /api/usage: %d %s", ask.name, st, body)
		}
		i := slices.IndexFunc(sum.Data, func(r usageRow) bool { return r.Group == id })
		if i < 0 || sum.Data[i].Requests != int64(len(sent)) {
			t.Fatalf("%s: /api/usage by key %s, want %d requests for key %s", ask.name, body, len(sent), id)
		}
	}
}

// usageRow is a row of /api/usage.
type usageRow struct {
	Group    string `json:"group"`
	Requests int64  `json:"requests"`
}
