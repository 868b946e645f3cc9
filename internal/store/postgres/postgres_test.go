package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/postgres"
	"github.com/sparkgw/spark/internal/store/storetest"
)

func sealer(t testing.TB, b byte) *secret.Sealer {
	t.Helper()
	s, err := secret.NewSealer(bytes.Repeat([]byte{b}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testDB is a storetest.DB over one fresh PostgreSQL database.
type testDB struct {
	url    string
	sealer *secret.Sealer
	opts   []store.Option
}

func (d *testDB) Open(t *testing.T) store.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), d.url, d.sealer, d.opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// AtRest returns every value of every row of every table of the database,
// each as the server sends it in binary form (bytea and text as their raw
// bytes), so a secret stored unsealed in any column shows up.
func (d *testDB) AtRest(t *testing.T) []byte {
	t.Helper()
	return dumpDatabase(t, d.url)
}

func dumpDatabase(t testing.TB, url string) []byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
		FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("no tables to dump")
	}
	var all []byte
	for _, table := range tables {
		rows, err := conn.Query(ctx, "SELECT * FROM "+table, pgx.QueryResultFormats{pgx.BinaryFormatCode})
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			for _, v := range rows.RawValues() {
				all = append(all, v...)
				all = append(all, 0)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.DB {
		return &testDB{url: storetest.PostgresURL(t), sealer: sealer(t, 7), opts: []store.Option{store.WithRules(storetest.Rules)}}
	})
}
