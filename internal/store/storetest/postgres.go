package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DatabaseURLEnv names the variable that gives tests a PostgreSQL server:
// a superuser URL (postgres://user:password@127.0.0.1:port/postgres), as
// scripts/services/postgres.sh exports it.
const DatabaseURLEnv = "SPARK_TEST_DATABASE_URL"

// RequireServicesEnv, set to 1 (as scripts/test.sh does), makes a test
// whose service is not configured fail instead of skipping.
const RequireServicesEnv = "SPARK_REQUIRE_SERVICES"

// PostgresURL creates a new, empty database on the server DatabaseURLEnv
// names and returns its URL; the database is dropped (its connections
// closed) when t and its subtests end, so tests run in parallel and leave
// nothing behind. Without the variable t is skipped, or fails when
// RequireServicesEnv is 1.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(DatabaseURLEnv)
	if admin == "" {
		if os.Getenv(RequireServicesEnv) == "1" {
			t.Fatalf("%s is not set and %s=1: start PostgreSQL with scripts/services/postgres.sh", DatabaseURLEnv, RequireServicesEnv)
		}
		t.Skipf("%s is not set (scripts/services/postgres.sh starts a server)", DatabaseURLEnv)
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", DatabaseURLEnv)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "spark_test_" + hex.EncodeToString(b)
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create the test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop the test database: %v", err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
