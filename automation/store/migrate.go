package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the schema of each dialect as versioned goose migrations,
// applied in order at start; goose records the applied versions in its own
// table (goose_db_version). A migration whose SQL both databases run as it is
// lives once, in migrations/shared; the others in migrations/<dialect>.
//
//go:embed migrations
var migrations embed.FS

// dialectMigrations is the migrations of one dialect: its own and the shared.
func dialectMigrations(d dialect) (fs.FS, error) {
	own, err := fs.Sub(migrations, "migrations/"+string(d))
	if err != nil {
		return nil, err
	}
	shared, err := fs.Sub(migrations, "migrations/shared")
	if err != nil {
		return nil, err
	}
	return unionFS{own, shared}, nil
}

// unionFS reads a file from the first of its file systems that has it, and
// lists the files of all (goose finds migrations with fs.Glob).
type unionFS []fs.FS

func (u unionFS) Open(name string) (fs.File, error) {
	for _, f := range u {
		file, err := f.Open(name)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return file, err
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (u unionFS) ReadDir(name string) ([]fs.DirEntry, error) {
	var all []fs.DirEntry
	seen := map[string]bool{}
	for _, f := range u {
		entries, err := fs.ReadDir(f, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !seen[e.Name()] {
				seen[e.Name()] = true
				all = append(all, e)
			}
		}
	}
	slices.SortFunc(all, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return all, nil
}

// migrate brings the database's schema to the newest version. On PostgreSQL a
// session-level advisory lock makes replicas that start together apply each
// migration once.
func (s *DB) migrate(ctx context.Context) error {
	dir, err := dialectMigrations(s.dialect)
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	dialect := goose.DialectSQLite3
	if s.dialect == postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("create the migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else {
		// Version 1 on SQLite adopts a database created before versioned
		// migrations: its tables exist, perhaps without later columns.
		opts = append(opts, goose.WithGoMigrations(goose.NewGoMigration(1, &goose.GoFunc{RunTx: adoptSQLite}, nil)))
	}
	provider, err := goose.NewProvider(dialect, s.DB, dir, opts...)
	if err != nil {
		return fmt.Errorf("read the migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("apply the migrations: %w", err)
	}
	return nil
}

// sqliteSchema is version 1 of the SQLite schema. It is written with IF NOT
// EXISTS because a database made before versioned migrations already has
// these tables.
const sqliteSchema = `
CREATE TABLE IF NOT EXISTS municipalities (
	code        TEXT NOT NULL,
	environment TEXT NOT NULL,
	name        TEXT NOT NULL,
	prefecture  TEXT NOT NULL,
	config      TEXT NOT NULL,
	state       TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	PRIMARY KEY (code, environment)
);
CREATE TABLE IF NOT EXISTS jobs (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	stack        TEXT NOT NULL,
	code         TEXT NOT NULL,
	environment  TEXT NOT NULL,
	operation    TEXT NOT NULL,
	remove_stack INTEGER NOT NULL DEFAULT 0,
	state        TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	reason       TEXT NOT NULL DEFAULT '',
	error        TEXT NOT NULL DEFAULT '',
	result       TEXT NOT NULL DEFAULT '',
	created_by   TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	started_at   TEXT NOT NULL DEFAULT '',
	finished_at  TEXT NOT NULL DEFAULT '',
	cli_pid        INTEGER NOT NULL DEFAULT 0,
	cli_start_time INTEGER NOT NULL DEFAULT 0,
	cli_boot_id    TEXT NOT NULL DEFAULT '',
	cli_host       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_stack_state ON jobs (stack, state, id);
CREATE TABLE IF NOT EXISTS job_events (
	job_id INTEGER NOT NULL REFERENCES jobs (id),
	seq    INTEGER NOT NULL,
	at     TEXT NOT NULL,
	event  TEXT NOT NULL,
	PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS tokens (
	id          TEXT PRIMARY KEY,
	hash        TEXT NOT NULL,
	scope       TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	revoked_at  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS audit (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	at       TEXT NOT NULL,
	token_id TEXT NOT NULL,
	scope    TEXT NOT NULL,
	method   TEXT NOT NULL,
	path     TEXT NOT NULL,
	status   INTEGER NOT NULL,
	detail   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
	hash       TEXT PRIMARY KEY,
	token_id   TEXT NOT NULL REFERENCES tokens (id),
	csrf_token TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_token ON sessions (token_id);
`

// addedColumns are columns added to a table after its first release, before
// versioned migrations: a database created before them gets them in version 1.
var addedColumns = []struct{ table, column, definition string }{
	{"jobs", "cli_pid", "INTEGER NOT NULL DEFAULT 0"},
	{"jobs", "cli_start_time", "INTEGER NOT NULL DEFAULT 0"},
	{"jobs", "cli_boot_id", "TEXT NOT NULL DEFAULT ''"},
	{"jobs", "cli_host", "TEXT NOT NULL DEFAULT ''"},
	{"jobs", "reason", "TEXT NOT NULL DEFAULT ''"},
}

func adoptSQLite(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, sqliteSchema); err != nil {
		return err
	}
	for _, c := range addedColumns {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&n); err != nil {
			return fmt.Errorf("look for column %s.%s: %w", c.table, c.column, err)
		}
		if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+c.table+` ADD COLUMN `+c.column+` `+c.definition); err != nil {
			return fmt.Errorf("add column %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}
