package runner

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cats-analytics/cats-analytics/automation/process"
)

// tableName is what the postgres:// backend accepts as its ?table= parameter.
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// releasePostgresLock deletes, from a postgres:// backend's state table
// (pulumi_state unless the URL's table parameter names another), the lock
// entries under dir (the stack's lock directory) that the CLI cli holds. The
// backend keeps each entry as a row (key, data) whose data is
// {"data": base64 of the lock file}; the lock file names the holder's pid and
// host. Other holders' rows stay.
func releasePostgresLock(ctx context.Context, backend, dir string, cli process.Identity) (int, error) {
	u, err := url.Parse(backend)
	if err != nil {
		return 0, fmt.Errorf("read the backend URL: %w", err)
	}
	q := u.Query()
	table := q.Get("table")
	if table == "" {
		table = "pulumi_state"
	}
	if !tableName.MatchString(table) {
		return 0, fmt.Errorf("the backend's table %q is not a plain table name", table)
	}
	q.Del("table")
	u.RawQuery = q.Encode()
	config, err := pgx.ParseConfig(u.String())
	if err != nil {
		return 0, fmt.Errorf("read the backend URL: %w", err)
	}
	db := sql.OpenDB(stdlib.GetConnector(*config))
	defer db.Close()

	rows, err := db.QueryContext(ctx, `SELECT key, data::text FROM `+table+` WHERE key LIKE $1`, escapeLike(dir)+`/%`)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return 0, nil // no state yet, so no lock
		}
		return 0, fmt.Errorf("list the stack's locks: %w", err)
	}
	var ours []string
	for rows.Next() {
		var key, data string
		if err := rows.Scan(&key, &data); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read a lock: %w", err)
		}
		if strings.Contains(strings.TrimPrefix(key, dir+"/"), "/") || !strings.HasSuffix(key, ".json") {
			continue // not a lock of this stack
		}
		if lock, ok := decodePostgresLock(data); ok && lock.PID == cli.PID && lock.Hostname == cli.Host {
			ours = append(ours, key)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("list the stack's locks: %w", err)
	}
	removed := 0
	for _, key := range ours {
		res, err := db.ExecContext(ctx, `DELETE FROM `+table+` WHERE key = $1`, key)
		if err != nil {
			return removed, fmt.Errorf("remove the lock %s: %w", key, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			removed++
		}
	}
	return removed, nil
}

func decodePostgresLock(data string) (diyLock, bool) {
	var blob struct {
		Data string `json:"data"`
	}
	if json.Unmarshal([]byte(data), &blob) != nil {
		return diyLock{}, false
	}
	raw, err := base64.StdEncoding.DecodeString(blob.Data)
	if err != nil {
		return diyLock{}, false
	}
	var lock diyLock
	if json.Unmarshal(raw, &lock) != nil {
		return diyLock{}, false
	}
	return lock, true
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
