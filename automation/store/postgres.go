package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// OpenPostgres opens the server's database on PostgreSQL (a postgres:// URL)
// and applies the migrations. Several replicas share one database.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	config, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("--database: %w; give a URL such as postgres://user@host:5432/cats?sslmode=disable", err)
	}
	counter := new(atomic.Int64)
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*config), counter})
	db.SetMaxOpenConns(10)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", redact(config), err)
	}
	s := &DB{DB: db, dialect: postgres, hub: newHub(), listenConfig: config, url: url, statements: counter}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate the database at %s: %w", redact(config), err)
	}
	if err := s.listen(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// URL is the PostgreSQL database's URL (empty for SQLite): what another
// process (a replica, cats token) opens to share it.
func (s *DB) URL() string { return s.url }

// redact names a database without its password.
func redact(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Statements is the number of statements this process has sent to
// PostgreSQL through the store's pool (transactions' BEGIN and COMMIT
// included; the notification listener's connection not): what the queue's
// cost per job is measured by. It is 0 on SQLite.
func (s *DB) Statements() int64 {
	if s.statements == nil {
		return 0
	}
	return s.statements.Load()
}

// rebindConnector lets the store's statements, written with SQLite's "?"
// placeholders, run on PostgreSQL, which numbers them ($1, $2, …): one SQL
// text for both databases wherever their dialects agree.
// It also counts the statements it sends (DB.Statements).
type rebindConnector struct {
	driver.Connector
	statements *atomic.Int64
}

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rebindConn{conn.(*stdlib.Conn), c.statements}, nil
}

type rebindConn struct {
	*stdlib.Conn
	statements *atomic.Int64
}

func (c *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.statements.Add(1)
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.statements.Add(1)
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// BeginTx counts the BEGIN; Commit and Rollback the transaction's end.
func (c *rebindConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.statements.Add(1)
	return countedTx{tx, c.statements}, nil
}

type countedTx struct {
	driver.Tx
	statements *atomic.Int64
}

func (t countedTx) Commit() error {
	t.statements.Add(1)
	return t.Tx.Commit()
}

func (t countedTx) Rollback() error {
	t.statements.Add(1)
	return t.Tx.Rollback()
}

// rebind numbers the "?" placeholders of a query outside quoted text.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n, quote := 0, byte(0)
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}
