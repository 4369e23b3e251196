package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// databaseEnv names the server's PostgreSQL database when --database is not given.
const databaseEnv = "CATS_DATABASE_URL"

const databaseUsage = "the server's PostgreSQL database, postgres://user@host:5432/db?sslmode=… (replicas share it; $" + databaseEnv + "); default: SQLite in the data directory"

// checkDatabaseURL accepts an empty value (SQLite in the data directory) or
// a postgres:// URL.
func checkDatabaseURL(database string) error {
	if database == "" || strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://") {
		return nil
	}
	return fmt.Errorf("--database %q: give a postgres:// URL (postgres://user@host:5432/cats?sslmode=disable), or leave it out for SQLite in the data directory", database)
}

// openDatabase opens the server's database: PostgreSQL when database is a
// URL, else SQLite in the data directory dir (created if needed).
func openDatabase(ctx context.Context, database, dir string) (*store.DB, error) {
	if err := checkDatabaseURL(database); err != nil {
		return nil, err
	}
	if database != "" {
		return store.OpenPostgres(ctx, database)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the data directory %s: %w", dir, err)
	}
	return store.Open(ctx, dir)
}
