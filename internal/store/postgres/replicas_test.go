package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/postgres"
	"github.com/sparkgw/spark/internal/store/storetest"
)

// openN opens n stores (replicas) over the database at url, at once, and
// closes them when the test ends.
func openN(t *testing.T, url string, n int) []*postgres.DB {
	t.Helper()
	dbs := make([]*postgres.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() {
			dbs[i], errs[i] = postgres.Open(t.Context(), url, sealer(t, 7), store.WithRules(storetest.Rules))
		})
	}
	wg.Wait()
	for i, db := range dbs {
		if db != nil {
			t.Cleanup(func() { db.Close() })
		}
		if errs[i] != nil {
			t.Fatalf("replica %d: Open: %v", i, errs[i])
		}
	}
	return dbs
}

// TestReplicasMigrateOnce: replicas starting at once on an empty database
// all open it (one migrates under the advisory lock, the others find it
// done), and what one writes the others read.
func TestReplicasMigrateOnce(t *testing.T) {
	t.Parallel()
	dbs := openN(t, storetest.PostgresURL(t), 4)
	a, err := dbs[0].CreateAccount(t.Context(), store.Account{Provider: "sess", Cookie: "sid=shared"})
	if err != nil {
		t.Fatal(err)
	}
	for i, db := range dbs[1:] {
		got, err := db.GetAccount(t.Context(), a.ID)
		if err != nil || got.Cookie != "sid=shared" {
			t.Fatalf("replica %d reads %+v, %v", i+1, got, err)
		}
	}
}

// TestReplicasImportOneLogin: replicas importing the same cookie variable
// at once (every replica imports it at start) store one account, and
// every import answers with it.
func TestReplicasImportOneLogin(t *testing.T) {
	t.Parallel()
	dbs := openN(t, storetest.PostgresURL(t), 3)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[string]bool{}
		created int
	)
	for i := range 12 {
		wg.Go(func() {
			a, res, err := dbs[i%len(dbs)].ImportAccount(context.Background(), store.Account{Provider: "sess", Cookie: "sid=one-login"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[a.ID] = true
			if res == store.ImportCreated {
				created++
			}
		})
	}
	wg.Wait()
	list, err := dbs[0].ListAccounts(t.Context(), store.AccountFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || len(ids) != 1 || created != 1 || !ids[list[0].ID] {
		t.Fatalf("%d accounts stored, %d ids answered, %d created results; want 1 each", len(list), len(ids), created)
	}
}

// TestReplicasFileQuota: uploads of one owner on two replicas at once
// cannot together pass the owner's quota.
func TestReplicasFileQuota(t *testing.T) {
	t.Parallel()
	dbs := openN(t, storetest.PostgresURL(t), 2)
	const uploads, size, quota = 8, 600, 1000
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		stored, over  int
		unexpectedErr []error
	)
	for i := range uploads {
		wg.Go(func() {
			_, err := dbs[i%2].PutFile(context.Background(), store.FileUpload{
				File:    store.File{ID: fmt.Sprintf("file-%d", i), Owner: "key_q", Filename: "f", Purpose: "user_data", MIMEType: "text/plain"},
				Content: bytes.NewReader(make([]byte, size)), Quota: quota,
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				stored++
			case errors.Is(err, store.ErrQuota):
				over++
			default:
				unexpectedErr = append(unexpectedErr, err)
			}
		})
	}
	wg.Wait()
	if len(unexpectedErr) > 0 {
		t.Fatal(unexpectedErr)
	}
	used, err := dbs[0].FileUsage(t.Context(), "key_q")
	if err != nil {
		t.Fatal(err)
	}
	if stored != 1 || over != uploads-1 || used != size {
		t.Fatalf("%d stored, %d over the quota, %d bytes used; want 1, %d, %d", stored, over, used, uploads-1, size)
	}
}

// TestOpenWithAnotherKeyFailsClearly: a replica with another master key
// is told so when it reads what the others sealed.
func TestOpenWithAnotherKeyFailsClearly(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	db, err := postgres.Open(t.Context(), url, sealer(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := db.CreateAccount(t.Context(), store.Account{Provider: "genspark", Cookie: "session_id=x"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := postgres.Open(t.Context(), url, sealer(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.GetAccount(t.Context(), a.ID); !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("GetAccount with another key: %v, want ErrUnknownKey", err)
	}
}

// TestOpenErrorsHideThePassword: a connection string that cannot be parsed
// or a server that refuses the password yields an error without it.
func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	const pw = "Sup3rSecretPassw0rd"
	good := storetest.PostgresURL(t)
	u, err := url.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	wrongPassword := u.String()
	for _, dsn := range []string{
		"postgres://spark:" + pw + "@127.0.0.1:notaport/spark",
		"postgres://spark:" + pw + "@[::1/spark",
		"host=127.0.0.1 password=" + pw + " port=x",
		wrongPassword,
	} {
		_, err := postgres.Open(t.Context(), dsn, sealer(t, 1))
		if err == nil {
			t.Fatalf("Open succeeded with a bad URL or password")
		}
		t.Log(err)
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	if _, err := postgres.Open(t.Context(), good, nil); err == nil {
		t.Fatal("Open without a sealer succeeded")
	}
}

// TestReopenIsIdempotent: opening a migrated database again changes
// nothing and fails nothing.
func TestReopenIsIdempotent(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	for range 3 {
		db, err := postgres.Open(t.Context(), url, sealer(t, 1))
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := db.HasSchema(t.Context()); !ok || err != nil {
			t.Fatalf("HasSchema after Open: %v, %v", ok, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPoolSize: a URL without pool_max_conns gets DefaultMaxConns
// connections; one with it gets what it asks for.
func TestPoolSize(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresURL(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "3")
	u.RawQuery = q.Encode()
	for _, tt := range []struct {
		url  string
		want int32
	}{
		{dsn, postgres.DefaultMaxConns},
		{u.String(), 3},
	} {
		db, err := postgres.Open(t.Context(), tt.url, sealer(t, 1))
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Stats().MaxConns(); got != tt.want {
			t.Errorf("%d connections at most, want %d", got, tt.want)
		}
		db.Close()
	}
}
