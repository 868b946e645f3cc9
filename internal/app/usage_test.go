package app_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/sqlite"
	"github.com/sparkgw/spark/internal/usage"
)

// openStore opens the gateway's database after the gateway closed.
func openStore(t *testing.T, dataDir string) *sqlite.DB {
	t.Helper()
	key, err := secret.LoadOrCreateKey(dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(key.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(dataDir, sqlite.FileName), sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Requests through the simulator leave one usage record each, written when
// the gateway closes at the latest: with the answer's request id, key,
// account, models, tokens, status and error class; and the CSV export
// lists them.
func TestUsageRecordsEndToEnd(t *testing.T) {
	var dataDir string
	h := start(t, func(c *config.Config) {
		c.GSCookie = "session_id=only-account"
		dataDir = c.DataDir
	})
	acct := h.app.Pool().Snapshot()[0].ID

	type sent struct {
		id, body string
		status   int
	}
	send := func(key, body string) sent {
		t.Helper()
		resp, b := h.post("/v1/chat/completions", key, body)
		return sent{resp.Header.Get("X-Request-Id"), b, resp.StatusCode}
	}
	plain := send(testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"sim:think hello"}]}`)
	stream := send(testKey, `{"model":"gpt-5.2","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"stream please"}]}`)
	// The only account rests after the challenge: the drop comes first.
	dropped := send(testKey, `{"model":"gpt-5.2","stream":true,"messages":[{"role":"user","content":"sim:drop sim:long 10"}]}`)
	failed := send(testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"sim:cloudflare"}]}`)
	refused := send("sk-wrong", `{"model":"gpt-5.2","messages":[{"role":"user","content":"hi"}]}`)
	if plain.status != 200 || stream.status != 200 || failed.status < 500 || dropped.status != 200 || refused.status != http.StatusUnauthorized {
		t.Fatalf("statuses %d, %d, %d, %d, %d", plain.status, stream.status, failed.status, dropped.status, refused.status)
	}
	var answer struct {
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
			Details          struct {
				Reasoning int64 `json:"reasoning_tokens"`
			} `json:"completion_tokens_details"`
		}
	}
	if err := json.Unmarshal([]byte(plain.body), &answer); err != nil || answer.Usage.PromptTokens == 0 || answer.Usage.Details.Reasoning == 0 {
		t.Fatalf("answer %s: %v", plain.body, err)
	}

	h.stop() // app.Close writes the queued records
	db := openStore(t, dataDir)
	recs, err := db.ListUsage(t.Context(), store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]store.UsageRecord{}
	for _, r := range recs {
		byID[r.RequestID] = r
	}
	if len(recs) != 5 || len(byID) != 5 {
		t.Fatalf("%d records (%d request ids), want 5: %+v", len(recs), len(byID), recs)
	}
	p, ok := byID[plain.id]
	if !ok {
		t.Fatalf("no record with the plain answer's X-Request-Id %q", plain.id)
	}
	if p.KeyID == "" || p.AccountID != acct || p.Route != "POST /v1/chat/completions" || p.Model != "gpt-5.2" || p.ServedModel == "" ||
		p.Status != 200 || p.ErrorClass != "" || p.Stream || p.TTFTMS < 1 || p.LatencyMS < p.TTFTMS {
		t.Errorf("plain record: %+v (account %s)", p, acct)
	}
	if p.InputTokens != answer.Usage.PromptTokens || p.OutputTokens != answer.Usage.CompletionTokens || p.ReasoningTokens != answer.Usage.Details.Reasoning {
		t.Errorf("plain record tokens %d/%d/%d, the answer said %+v", p.InputTokens, p.OutputTokens, p.ReasoningTokens, answer.Usage)
	}
	if s := byID[stream.id]; !s.Stream || s.Status != 200 || s.OutputTokens == 0 || s.KeyID != p.KeyID || s.AccountID != acct || s.TTFTMS < 1 {
		t.Errorf("stream record: %+v", s)
	}
	if f := byID[failed.id]; f.Status != failed.status || f.ErrorClass != string(gw.CodeChallenged) || f.AccountID != acct || !f.Failed() {
		t.Errorf("failed record: %+v (answered %d)", f, failed.status)
	}
	// A stream that failed after its 200 counts as an error, with the
	// class of the in-band error.
	if d := byID[dropped.id]; d.Status != 200 || d.ErrorClass != string(gw.CodeTransient) || !d.Failed() || !d.Stream || d.TTFTMS < 1 {
		t.Errorf("dropped stream record: %+v", d)
	}
	if r := byID[refused.id]; r.Status != http.StatusUnauthorized || r.ErrorClass != string(gw.CodeUnauthorized) || r.KeyID != "" || r.AccountID != "" {
		t.Errorf("refused record: %+v", r)
	}

	var buf bytes.Buffer
	if err := usage.WriteCSV(t.Context(), &buf, db, store.UsageFilter{KeyID: p.KeyID}, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows[1:] {
		ids = append(ids, r[1])
	}
	if got, want := strings.Join(ids, " "), failed.id+" "+dropped.id+" "+stream.id+" "+plain.id; got != want {
		t.Errorf("CSV of the key lists %q, want %q", got, want)
	}
	sum, err := usage.Summary(t.Context(), db, usage.SummaryQuery{From: p.Time, To: p.Time, GroupBy: usage.GroupStatus})
	if err != nil || len(sum) != 3 || sum[0].Group != "200" || sum[0].Requests != 3 || sum[0].Errors != 1 {
		t.Errorf("summary by status: %+v, %v", sum, err)
	}
}

// USAGE_RECORDS=0 keeps no records.
func TestUsageRecordsOff(t *testing.T) {
	var dataDir string
	h := start(t, func(c *config.Config) {
		c.UsageRecords = false
		dataDir = c.DataDir
	})
	if resp, body := h.post("/v1/chat/completions", testKey, `{"model":"gpt-5.2","messages":[{"role":"user","content":"hi"}]}`); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	h.stop()
	if recs, err := openStore(t, dataDir).ListUsage(t.Context(), store.UsageFilter{}); err != nil || len(recs) != 0 {
		t.Fatalf("records with USAGE_RECORDS=0: %+v, %v", recs, err)
	}
}
