package app_test

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/postgres"
	"github.com/sparkgw/spark/internal/store/sqlite"
	"github.com/sparkgw/spark/internal/store/storetest"
)

// TestPostgresStore: with DATABASE_URL=postgres://... the gateway keeps
// everything in PostgreSQL: two gateways (replicas) started one after the
// other over one database share the account imported once and the API key
// the first one minted (the second mints none and accepts it), serve chats
// through the simulator, both write their usage there, and no SQLite file
// appears in DATA_DIR.
func TestPostgresStore(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	const secretKey = "0000000000000000000000000000000000000000000000000000000000000007"
	var dirs []string
	replica := func() *harness {
		return start(t, func(c *config.Config) {
			c.DatabaseURL, c.SecretKey, c.APISecret = dbURL, secretKey, ""
			c.GSCookie = "session_id=only-account"
			dirs = append(dirs, c.DataDir)
		})
	}
	a, b := replica(), replica()
	minted := a.app.MintedKey
	if minted == "" || b.app.MintedKey != "" {
		t.Fatalf("minted keys %q and %q: want one, by the first replica", minted, b.app.MintedKey)
	}

	ctx := context.Background()
	for i, h := range []*harness{a, b} {
		h.client = openai.NewClient(option.WithBaseURL(h.url+"/v1/"), option.WithAPIKey(minted), option.WithMaxRetries(0))
		resp, err := h.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "gpt-5.2", Messages: userMsg("hello from a replica"),
		})
		if err != nil {
			t.Fatalf("replica %d: chat: %v", i, err)
		}
		if got := resp.Choices[0].Message.Content; !strings.Contains(got, "hello from a replica") {
			t.Fatalf("replica %d answered %q", i, got)
		}
		stream := h.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model: "gpt-5.2", Messages: userMsg("stream me sim:long 5"),
		})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil || !strings.Contains(acc.Choices[0].Message.Content, "stream me") {
			t.Fatalf("replica %d: stream %q: %v", i, acc.Choices[0].Message.Content, err)
		}
	}
	if accs := a.app.Pool().Snapshot(); len(accs) != 1 || b.app.Pool().Snapshot()[0].ID != accs[0].ID {
		t.Fatalf("the replicas' pools: %+v and %+v; want the one shared account", accs, b.app.Pool().Snapshot())
	}
	a.stop() // app.Close writes the queued usage records
	b.stop()

	if logs := a.logs.String(); !strings.Contains(logs, "store: PostgreSQL") || strings.Contains(logs, dbPassword(t, dbURL)) {
		t.Errorf("replica logs lack the store line or show the database password:\n%s", logs)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s in DATA_DIR with DATABASE_URL set: %v", sqlite.FileName, err)
		}
	}
	key, err := secret.LoadOrCreateKey("", secretKey)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(key.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(t.Context(), dbURL, sealer)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	accounts, err := db.ListAccounts(t.Context(), store.AccountFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 1 || accounts[0].Cookie != "session_id=only-account" {
		t.Fatalf("accounts in PostgreSQL: %v", accounts)
	}
	keys, err := db.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("%d API keys in PostgreSQL, want the one minted", len(keys))
	}
	recs, err := db.ListUsage(t.Context(), store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d usage records in PostgreSQL, want 4 (two chats on each replica): %+v", len(recs), recs)
	}
	for _, r := range recs {
		if r.Status != 200 || r.KeyID != keys[0].ID || r.AccountID != accounts[0].ID || r.Model != "gpt-5.2" {
			t.Errorf("usage record %+v", r)
		}
	}
	rollups, err := db.UsageRollups(t.Context(), recs[0].Time, recs[0].Time)
	if err != nil {
		t.Fatal(err)
	}
	if len(rollups) != 1 || rollups[0].Requests != 4 {
		t.Errorf("roll-ups %+v, want one row of 4 requests", rollups)
	}
}

// dbPassword is the password in a database URL (a placeholder no log can
// contain when there is none).
func dbPassword(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return pw
	}
	return "\x00no password\x00"
}
