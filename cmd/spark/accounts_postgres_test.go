package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/store/storetest"
)

// TestAccountsPostgres: with DATABASE_URL, `spark accounts` lists the
// accounts `spark serve` imported into PostgreSQL, names the database
// without its password, and on a database spark never opened says so
// without creating its tables.
func TestAccountsPostgres(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	t.Setenv("DATABASE_URL", dbURL)
	dataDir := t.TempDir()
	t.Setenv("DATA_DIR", dataDir)

	// Without a key to read the sealed cookies with: said, and no key
	// file is made up.
	t.Setenv("SPARK_SECRET_KEY", "")
	err = run(context.Background(), []string{"accounts"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SPARK_SECRET_KEY") || exitCode(err) != 1 {
		t.Fatalf("accounts without a key: %v", err)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Fatalf("accounts wrote to the data directory: %v", entries)
	}
	t.Setenv("SPARK_SECRET_KEY", "a-long-enough-passphrase-for-this-test")

	// A database spark never opened: reported, left empty.
	err = run(context.Background(), []string{"accounts"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no spark tables") || exitCode(err) != 1 {
		t.Fatalf("accounts on an empty database: %v", err)
	}
	err = run(context.Background(), []string{"accounts"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no spark tables") {
		t.Fatalf("the first look created the tables: %v", err)
	}

	t.Setenv("GS_COOKIE", "session_id=topsecretcookie1,session_id=limited-topsecret2")
	t.Setenv("API_SECRET", "sk-accounts-test")
	t.Setenv("PORT", "0")
	ctx, cancel := context.WithCancel(context.Background())
	logs, logw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"serve", "--host", "127.0.0.1"}, io.Discard, logw)
		logw.Close()
	}()
	sc := bufio.NewScanner(logs)
	for sc.Scan() && !strings.Contains(sc.Text(), "spark listening") {
	}
	go io.Copy(io.Discard, logs)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("serve: %v", err)
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"accounts"}, &out, io.Discard); err != nil {
		t.Fatalf("accounts: %v", err)
	}
	if strings.Count(out.String(), "genspark") < 2 || !strings.Contains(out.String(), "Database: PostgreSQL 127.0.0.1:") {
		t.Fatalf("accounts output lacks the database or the two accounts:\n%s", out.String())
	}
	if strings.Contains(out.String(), "topsecret") || (password != "" && strings.Contains(out.String(), password)) {
		t.Fatalf("accounts output shows a cookie or the database password:\n%s", out.String())
	}
}
