package postgres

import (
	"bytes"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/storetest"
)

// TestUpgradeKeepsData: a database left at an older schema (before
// ownership, 00006) with data in it is upgraded by Open, the old rows
// read back with the new columns' defaults.
func TestUpgradeKeepsData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.PostgresURL(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(bytes.Repeat([]byte{5}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	old := &DB{pool: pool, sealer: sealer, Now: time.Now}
	// The columns of 00001..00006, as the engine of that schema wrote them.
	cookie, err := sealer.Seal(store.PurposeCookie, []byte("sid=old"), []byte("acct_old"))
	if err != nil {
		t.Fatal(err)
	}
	now := old.now()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (id, provider, label, cookie_sealed, cookie_fingerprint, created_at, updated_at)
			VALUES ('acct_old', 'sess', 'old', $1, 'fp', $2, $2)`, []any{cookie, now}},
		{`INSERT INTO api_keys (id, prefix, hash, created_at) VALUES ('key_old', 'sk-old', $1, $2)`, []any{bytes.Repeat([]byte{1}, 32), now}},
		{`INSERT INTO usage_records (at, key_id, status) VALUES ($1, 'key_old', 200)`, []any{now}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}

	d, err := Open(ctx, url, sealer)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, err := d.GetAccount(ctx, "acct_old")
	if err != nil || a.Cookie != "sid=old" || a.OwnerID != "" || a.Shared {
		t.Fatalf("old account after the upgrade: %v owner %q shared %v: %v", a, a.OwnerID, a.Shared, err)
	}
	k, err := d.GetAPIKey(ctx, "key_old")
	if err != nil || k.OwnerID != "" || k.Models != nil || k.IPAllow != nil || !k.ExpiresAt.IsZero() || k.TokenQuota != 0 {
		t.Fatalf("old key after the upgrade: %+v: %v", k, err)
	}
	recs, err := d.ListUsage(ctx, store.UsageFilter{Owners: []string{""}})
	if err != nil || len(recs) != 1 || recs[0].KeyID != "key_old" {
		t.Fatalf("old usage after the upgrade: %+v: %v", recs, err)
	}
}

// TestRowRollups: roll-ups of one stored row (a key seen under two owners
// in one batch) are written as one, with the sums of both and the last
// owner, in the order of the rows' identity.
func TestRowRollups(t *testing.T) {
	t.Parallel()
	recs := []store.UsageRecord{
		{Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), KeyID: "k2", Model: "m", Status: 200, InputTokens: 1, LatencyMS: 5},
		{Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), KeyID: "k1", OwnerID: "usr_a", Model: "m", Status: 200, InputTokens: 2, LatencyMS: 5},
		{Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), KeyID: "k1", OwnerID: "usr_b", Model: "m", Status: 200, InputTokens: 4, LatencyMS: 5},
	}
	recs = append(recs, store.UsageRecord{Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), KeyID: "k1", OwnerID: "usr_a",
		Model: "m", Status: 200, InputTokens: 8, LatencyMS: 5})
	got := rowRollups(store.RollUp(recs))
	// One row per owner, in the order rows are locked: day, owner, key.
	if len(got) != 3 || got[0].KeyID != "k2" || got[1].OwnerID != "usr_a" || got[2].OwnerID != "usr_b" {
		t.Fatalf("rows %+v, want k2 (no owner), then k1 of usr_a, then of usr_b", got)
	}
	if got[1].Requests != 2 || got[1].InputTokens != 10 || got[1].Latency.Count() != 2 {
		t.Errorf("merged row %+v", got[1])
	}
}
