// Package storetest opens the server's database for tests, on SQLite and on
// PostgreSQL, so that one suite runs on both.
//
// The PostgreSQL tests run when CATS_TEST_DATABASE_URL names a server
// (postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); each test
// gets a database of its own, dropped at its end. Without the variable they
// skip and say so; CI sets it and fails when PostgreSQL is unreachable.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// EnvURL names the PostgreSQL server the tests may create databases on.
const EnvURL = "CATS_TEST_DATABASE_URL"

// Run runs test once on SQLite and once on PostgreSQL, as subtests named
// for the database.
func Run(t *testing.T, test func(t *testing.T, st *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { test(t, OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, OpenPostgres(t)) })
}

// OpenSQLite opens a new SQLite database in a temporary directory.
func OpenSQLite(t testing.TB) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// OpenPostgres opens a new, empty PostgreSQL database (skipping the test
// when CATS_TEST_DATABASE_URL is not set).
func OpenPostgres(t testing.TB) *store.DB {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// NewDatabase creates a PostgreSQL database for the test, dropped at its end,
// and returns its URL (skipping the test when CATS_TEST_DATABASE_URL is not set).
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		t.Skip("PostgreSQL tests skipped: set " + EnvURL + "=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable to run them (CI does)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("%s=%s: connect: %v", EnvURL, admin, err)
	}
	defer conn.Close(ctx)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "cats_test_" + hex.EncodeToString(suffix)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create the test database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop the test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop the test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Each runs test once on SQLite and once on PostgreSQL, as subtests named for
// the database, with the function that opens a new database of that kind
// (for tests that need several).
func Each(t *testing.T, test func(t *testing.T, open func(testing.TB) *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { test(t, OpenSQLite) })
	t.Run("postgres", func(t *testing.T) { test(t, OpenPostgres) })
}
