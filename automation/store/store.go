// Package store keeps the automation server's durable state in SQLite: the
// municipalities and their stacks, the jobs and their events, the API tokens
// (hashed) and the audit log. The job queue itself (River) lives in the same
// database, so a job row and its queue entry are written in one transaction
// and neither can be lost without the other.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go

	"github.com/cats-analytics/cats-analytics/automation/process"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrDirInUse is returned by LockServer when another server has the data directory.
var ErrDirInUse = errors.New("data directory in use")

// SQLite is the server's database, one SQLite file in the data directory.
type SQLite struct {
	DB *sql.DB
}

// Open opens (creating if needed) the database in dir. SQLite allows one
// writer at a time; one open connection keeps River and the server from
// tripping over SQLITE_BUSY (River's documented setting for its SQLite driver).
func Open(ctx context.Context, dir string) (*SQLite, error) {
	path := filepath.Join(dir, "cats.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &SQLite{DB: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the tables of %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.DB.Close() }

// Ping checks that the database answers.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping the database: %w", err)
	}
	return nil
}

const schema = `
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
`

// addedColumns are columns added to a table after its first release, so that
// a database created before gets them too.
var addedColumns = []struct{ table, column, definition string }{
	{"jobs", "cli_pid", "INTEGER NOT NULL DEFAULT 0"},
	{"jobs", "cli_start_time", "INTEGER NOT NULL DEFAULT 0"},
	{"jobs", "cli_boot_id", "TEXT NOT NULL DEFAULT ''"},
	{"jobs", "cli_host", "TEXT NOT NULL DEFAULT ''"},
	{"jobs", "reason", "TEXT NOT NULL DEFAULT ''"},
}

func (s *SQLite) migrate(ctx context.Context) error {
	for _, ddl := range []string{schema, sessionSchema} {
		if _, err := s.DB.ExecContext(ctx, ddl); err != nil {
			return err
		}
	}
	for _, c := range addedColumns {
		var n int
		if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&n); err != nil {
			return fmt.Errorf("look for column %s.%s: %w", c.table, c.column, err)
		}
		if n > 0 {
			continue
		}
		if _, err := s.DB.ExecContext(ctx, `ALTER TABLE `+c.table+` ADD COLUMN `+c.column+` `+c.definition); err != nil {
			return fmt.Errorf("add column %s.%s: %w", c.table, c.column, err)
		}
	}
	return s.migrateFleet(ctx)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// wrap prefixes a non-nil *err with what was being done (pkgsite's
// derrors.Wrap): one line per method instead of one per return.
func wrap(err *error, format string, args ...any) {
	if *err != nil {
		*err = fmt.Errorf(format+": %w", append(args, *err)...)
	}
}

// Municipality states.
const (
	MunicipalityActive   = "active"
	MunicipalityDeleting = "deleting"
)

// Municipality is one municipality's stack in one environment.
type Municipality struct {
	Code        string            `json:"code"`
	Environment string            `json:"environment"`
	Name        string            `json:"name"`
	Prefecture  string            `json:"prefecture"`
	Stack       string            `json:"stack"`
	Config      map[string]string `json:"config"`
	State       string            `json:"state"`
	CreatedAt   string            `json:"createdAt"`
	UpdatedAt   string            `json:"updatedAt"`
}

// StackName is the stack of a municipality in an environment: <code>-<env>.
func StackName(code, environment string) string { return code + "-" + environment }

// ErrExists is returned when a municipality is already registered in an environment.
var ErrExists = errors.New("already registered")

// Enqueue inserts a job's queue entry inside the transaction that records the
// job, so that neither exists without the other.
type Enqueue func(tx *sql.Tx, jobID int64) error

// CreateMunicipality registers a municipality and queues its first job in one
// transaction.
func (s *SQLite) CreateMunicipality(ctx context.Context, m Municipality, job Job, enqueue Enqueue) (_ Municipality, _ Job, err error) {
	defer wrap(&err, "register %s", StackName(m.Code, m.Environment))
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return Municipality{}, Job{}, err
	}
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Municipality{}, Job{}, err
	}
	defer tx.Rollback()
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM municipalities WHERE code = ? AND environment = ?`, m.Code, m.Environment).Scan(&exists); err != nil {
		return Municipality{}, Job{}, err
	}
	if exists > 0 {
		return Municipality{}, Job{}, ErrExists
	}
	m.State, m.CreatedAt, m.UpdatedAt = MunicipalityActive, now(), now()
	m.Stack = StackName(m.Code, m.Environment)
	if _, err := tx.ExecContext(ctx, `INSERT INTO municipalities (code, environment, name, prefecture, config, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.Code, m.Environment, m.Name, m.Prefecture, string(cfg), m.State, m.CreatedAt, m.UpdatedAt); err != nil {
		return Municipality{}, Job{}, err
	}
	job, err = insertJob(ctx, tx, job, enqueue)
	if err != nil {
		return Municipality{}, Job{}, err
	}
	return m, job, tx.Commit()
}

const municipalityColumns = `code, environment, name, prefecture, config, state, created_at, updated_at`

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a query and scans every row; an empty result is an empty slice.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanMunicipality(row rowScanner) (Municipality, error) {
	var m Municipality
	var cfg string
	if err := row.Scan(&m.Code, &m.Environment, &m.Name, &m.Prefecture, &cfg, &m.State, &m.CreatedAt, &m.UpdatedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return m, ErrNotFound
		}
		return m, err
	}
	m.Stack = StackName(m.Code, m.Environment)
	if err := json.Unmarshal([]byte(cfg), &m.Config); err != nil {
		return m, fmt.Errorf("decode the config of %s: %w", m.Stack, err)
	}
	return m, nil
}

// ListMunicipalities returns the registered municipalities, all of them or
// those of one code, ordered by code and environment.
func (s *SQLite) ListMunicipalities(ctx context.Context, code string) (_ []Municipality, err error) {
	defer wrap(&err, "list municipalities")
	q := `SELECT ` + municipalityColumns + ` FROM municipalities`
	var args []any
	if code != "" {
		q += ` WHERE code = ?`
		args = append(args, code)
	}
	return queryAll(ctx, s.DB, scanMunicipality, q+` ORDER BY code, environment`, args...)
}

// GetMunicipality returns one municipality's stack.
func (s *SQLite) GetMunicipality(ctx context.Context, code, environment string) (_ Municipality, err error) {
	defer wrap(&err, "get %s", StackName(code, environment))
	return scanMunicipality(s.DB.QueryRowContext(ctx, `SELECT `+municipalityColumns+` FROM municipalities WHERE code = ? AND environment = ?`, code, environment))
}

// DeleteMunicipality removes the registration (after its stack is destroyed and removed).
func (s *SQLite) DeleteMunicipality(ctx context.Context, code, environment string) (err error) {
	defer wrap(&err, "remove the registration of %s", StackName(code, environment))
	_, err = s.DB.ExecContext(ctx, `DELETE FROM municipalities WHERE code = ? AND environment = ?`, code, environment)
	return err
}

// Job states.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// Terminal reports whether a job state is final.
func Terminal(state string) bool {
	return state == JobSucceeded || state == JobFailed || state == JobCancelled
}

// Job is one operation on one stack. A failed or cancelled job has a Reason,
// a short, stable code (runner.Reason), and Error says it in one line.
type Job struct {
	ID          int64           `json:"id"`
	Stack       string          `json:"stack"`
	Code        string          `json:"code"`
	Environment string          `json:"environment"`
	Operation   string          `json:"operation"`
	RemoveStack bool            `json:"removeStack,omitempty"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	Reason      string          `json:"reason,omitempty"`
	Error       string          `json:"error,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	CreatedBy   string          `json:"createdBy"`
	CreatedAt   string          `json:"createdAt"`
	StartedAt   string          `json:"startedAt,omitempty"`
	FinishedAt  string          `json:"finishedAt,omitempty"`
	// CLI is the Pulumi CLI process the running attempt started last (nil
	// when none has started): after a crash, recovery finds it by this
	// identity. It stays on the server.
	CLI *process.Identity `json:"-"`
}

func insertJob(ctx context.Context, tx *sql.Tx, j Job, enqueue Enqueue) (Job, error) {
	j.State, j.CreatedAt = JobQueued, now()
	res, err := tx.ExecContext(ctx, `INSERT INTO jobs (stack, code, environment, operation, remove_stack, state, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, j.Stack, j.Code, j.Environment, j.Operation, j.RemoveStack, j.State, j.CreatedBy, j.CreatedAt)
	if err != nil {
		return Job{}, fmt.Errorf("record the %s job: %w", j.Operation, err)
	}
	if j.ID, err = res.LastInsertId(); err != nil {
		return Job{}, fmt.Errorf("record the %s job: %w", j.Operation, err)
	}
	if err := enqueue(tx, j.ID); err != nil {
		return Job{}, fmt.Errorf("queue job %d: %w", j.ID, err)
	}
	return j, nil
}

// CreateJob records a job and its queue entry in one transaction.
func (s *SQLite) CreateJob(ctx context.Context, j Job, enqueue Enqueue) (_ Job, err error) {
	defer wrap(&err, "create a %s job on %s", j.Operation, j.Stack)
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, err
	}
	defer tx.Rollback()
	j, err = insertJob(ctx, tx, j, enqueue)
	if err != nil {
		return Job{}, err
	}
	return j, tx.Commit()
}

// MarkDeleting flags a municipality as being deleted and queues its destroy job.
func (s *SQLite) MarkDeleting(ctx context.Context, code, environment string, j Job, enqueue Enqueue) (_ Job, err error) {
	defer wrap(&err, "mark %s deleting", StackName(code, environment))
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE municipalities SET state = ?, updated_at = ? WHERE code = ? AND environment = ?`,
		MunicipalityDeleting, now(), code, environment); err != nil {
		return Job{}, err
	}
	j, err = insertJob(ctx, tx, j, enqueue)
	if err != nil {
		return Job{}, err
	}
	return j, tx.Commit()
}

const jobColumns = `id, stack, code, environment, operation, remove_stack, state, attempts, reason, error, result, created_by, created_at, started_at, finished_at,
	cli_pid, cli_start_time, cli_boot_id, cli_host`

func scanJob(row rowScanner) (Job, error) {
	var j Job
	var result string
	var cli process.Identity
	if err := row.Scan(&j.ID, &j.Stack, &j.Code, &j.Environment, &j.Operation, &j.RemoveStack, &j.State, &j.Attempts,
		&j.Reason, &j.Error, &result, &j.CreatedBy, &j.CreatedAt, &j.StartedAt, &j.FinishedAt,
		&cli.PID, &cli.StartTime, &cli.BootID, &cli.Host); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return j, ErrNotFound
		}
		return j, err
	}
	if result != "" {
		j.Result = json.RawMessage(result)
	}
	if cli.PID != 0 {
		j.CLI = &cli
	}
	return j, nil
}

// GetJob returns a job.
func (s *SQLite) GetJob(ctx context.Context, id int64) (_ Job, err error) {
	defer wrap(&err, "get job %d", id)
	return scanJob(s.DB.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
}

// ListJobs returns the jobs of a stack, newest first.
func (s *SQLite) ListJobs(ctx context.Context, stack string, limit int) (_ []Job, err error) {
	defer wrap(&err, "list the jobs of %s", stack)
	return queryAll(ctx, s.DB, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE stack = ? ORDER BY id DESC LIMIT ?`, stack, limit)
}

// LastJob returns the stack's latest finished job of one of the operations
// (ErrNotFound when there is none): the stack's last update, say.
func (s *SQLite) LastJob(ctx context.Context, stack string, operations ...string) (_ Job, err error) {
	defer wrap(&err, "find the last %v of %s", operations, stack)
	if len(operations) == 0 {
		return Job{}, errors.New("no operation named")
	}
	args := []any{stack, JobSucceeded, JobFailed, JobCancelled}
	for _, op := range operations {
		args = append(args, op)
	}
	return scanJob(s.DB.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE stack = ? AND state IN (?, ?, ?)
		AND operation IN (?`+strings.Repeat(", ?", len(operations)-1)+`) ORDER BY id DESC LIMIT 1`, args...))
}

// Start claims a queued job for running. It succeeds only when no other job of
// the same stack is running and no earlier job of that stack is still queued,
// so the operations on one stack run one at a time, in order. ok is false
// when the job must wait; a terminal job is returned as it is. The CLI an
// earlier attempt started is forgotten: it has ended.
func (s *SQLite) Start(ctx context.Context, id int64) (job Job, ok bool, err error) {
	defer wrap(&err, "claim job %d", id)
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, false, err
	}
	defer tx.Rollback()
	job, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return Job{}, false, err
	}
	if job.State != JobQueued {
		return job, false, nil
	}
	var ahead int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE stack = ? AND id != ? AND (state = ? OR (state = ? AND id < ?))`,
		job.Stack, id, JobRunning, JobQueued, id).Scan(&ahead); err != nil {
		return Job{}, false, err
	}
	if ahead > 0 {
		return job, false, nil
	}
	job.State, job.StartedAt, job.Attempts, job.CLI = JobRunning, now(), job.Attempts+1, nil
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, started_at = ?, attempts = ?,
		cli_pid = 0, cli_start_time = 0, cli_boot_id = '', cli_host = '' WHERE id = ?`,
		job.State, job.StartedAt, job.Attempts, id); err != nil {
		return Job{}, false, err
	}
	return job, true, tx.Commit()
}

// RecordCLI records the Pulumi CLI process a running job has just started.
func (s *SQLite) RecordCLI(ctx context.Context, id int64, cli process.Identity) (err error) {
	defer wrap(&err, "record the CLI (%s) of job %d", cli, id)
	_, err = s.DB.ExecContext(ctx, `UPDATE jobs SET cli_pid = ?, cli_start_time = ?, cli_boot_id = ?, cli_host = ? WHERE id = ? AND state = ?`,
		cli.PID, cli.StartTime, cli.BootID, cli.Host, id, JobRunning)
	return err
}

// Requeue returns a running job to the queue after a transient failure.
func (s *SQLite) Requeue(ctx context.Context, id int64, reason string) (err error) {
	defer wrap(&err, "queue job %d again", id)
	_, err = s.DB.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ? WHERE id = ? AND state = ?`, JobQueued, reason, id, JobRunning)
	return err
}

// Finish records a job's final state, with the reason code and the one-line
// message of a failure or a cancellation, and its result (also a failed
// job's: what it did until then). Only a queued or running job changes, so
// a job never finishes twice.
func (s *SQLite) Finish(ctx context.Context, id int64, state, reason, errText string, result any) (_ bool, err error) {
	defer wrap(&err, "finish job %d", id)
	if !Terminal(state) {
		return false, fmt.Errorf("%q is not a final state", state)
	}
	var resultJSON string
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return false, fmt.Errorf("encode the result: %w", err)
		}
		resultJSON = string(b)
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, error = ?, result = ?, finished_at = ? WHERE id = ? AND state IN (?, ?)`,
		state, reason, errText, resultJSON, now(), id, JobQueued, JobRunning)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CancelQueued cancels a job that has not started, with the reason code and
// message. It returns false when the job is running or finished.
func (s *SQLite) CancelQueued(ctx context.Context, id int64, reason, message string) (_ bool, err error) {
	defer wrap(&err, "cancel queued job %d", id)
	res, err := s.DB.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, error = ?, finished_at = ? WHERE id = ? AND state = ?`,
		JobCancelled, reason, message, now(), id, JobQueued)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RunningJobs returns the jobs marked running: after a restart, jobs the
// previous process did not finish.
func (s *SQLite) RunningJobs(ctx context.Context) (_ []Job, err error) {
	defer wrap(&err, "list running jobs")
	return queryAll(ctx, s.DB, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE state = ? ORDER BY id`, JobRunning)
}

// AppendEvent stores one event of a job.
func (s *SQLite) AppendEvent(ctx context.Context, jobID int64, seq int, event json.RawMessage) (err error) {
	defer wrap(&err, "store event %d of job %d", seq, jobID)
	_, err = s.DB.ExecContext(ctx, `INSERT INTO job_events (job_id, seq, at, event) VALUES (?, ?, ?, ?)`, jobID, seq, now(), string(event))
	return err
}

// Event is one stored event of a job: an engine event of a CLI operation, a
// step of a plan.
type Event struct {
	Seq   int             `json:"seq"`
	At    string          `json:"at"`
	Event json.RawMessage `json:"event"`
}

// Events returns a job's events after seq, in order.
func (s *SQLite) Events(ctx context.Context, jobID int64, after int) (_ []Event, err error) {
	defer wrap(&err, "read the events of job %d", jobID)
	return queryAll(ctx, s.DB, func(row rowScanner) (Event, error) {
		var e Event
		var raw string
		err := row.Scan(&e.Seq, &e.At, &raw)
		e.Event = json.RawMessage(raw)
		return e, err
	}, `SELECT seq, at, event FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq`, jobID, after)
}

// LastEventSeq returns the highest event sequence of a job (0 when none), so a
// retried attempt appends after the earlier attempt's events.
func (s *SQLite) LastEventSeq(ctx context.Context, jobID int64) (_ int, err error) {
	defer wrap(&err, "read the last event of job %d", jobID)
	var seq sql.NullInt64
	err = s.DB.QueryRowContext(ctx, `SELECT MAX(seq) FROM job_events WHERE job_id = ?`, jobID).Scan(&seq)
	return int(seq.Int64), err
}

// ScopePlatform is the scope of the platform team's tokens.
const ScopePlatform = "platform"

// MunicipalityScope is the scope of a token limited to one municipality.
func MunicipalityScope(code string) string { return "municipality:" + code }

// Token is an API token's public record; the secret is never stored.
type Token struct {
	ID          string `json:"id"`
	Scope       string `json:"scope"`
	Description string `json:"description"`
	CreatedAt   string `json:"createdAt"`
	RevokedAt   string `json:"revokedAt,omitempty"`
}

// tokenPrefix marks the project's tokens so they are easy to find in leaks.
const tokenPrefix = "cats_"

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken issues a token and returns its one-time plain value
// ("cats_<id>_<secret>"); only the secret's SHA-256 is stored.
func (s *SQLite) CreateToken(ctx context.Context, scope, description string) (_ Token, _ string, err error) {
	defer wrap(&err, "create a %s token", scope)
	idBytes, secretBytes := make([]byte, 6), make([]byte, 32)
	if _, err := rand.Read(idBytes); err != nil {
		return Token{}, "", err
	}
	if _, err := rand.Read(secretBytes); err != nil {
		return Token{}, "", err
	}
	t := Token{ID: hex.EncodeToString(idBytes), Scope: scope, Description: description, CreatedAt: now()}
	secret := hex.EncodeToString(secretBytes)
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO tokens (id, hash, scope, description, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, hashSecret(secret), t.Scope, t.Description, t.CreatedAt); err != nil {
		return Token{}, "", err
	}
	return t, tokenPrefix + t.ID + "_" + secret, nil
}

// ErrBadToken is returned for a malformed, unknown or revoked token.
var ErrBadToken = errors.New("invalid or revoked token")

// parseToken splits a plain token into its id and secret; ok is false when it
// is not a token of this project.
func parseToken(plain string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(plain, tokenPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && id != "" && secret != ""
}

// Authenticate resolves a plain token to its record.
func (s *SQLite) Authenticate(ctx context.Context, plain string) (Token, error) {
	id, secret, ok := parseToken(plain)
	if !ok {
		return Token{}, ErrBadToken
	}
	var t Token
	var hash string
	err := s.DB.QueryRowContext(ctx, `SELECT id, hash, scope, description, created_at, revoked_at FROM tokens WHERE id = ?`, id).
		Scan(&t.ID, &hash, &t.Scope, &t.Description, &t.CreatedAt, &t.RevokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrBadToken
	}
	if err != nil {
		return Token{}, fmt.Errorf("look up token %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(hashSecret(secret))) != 1 || t.RevokedAt != "" {
		return Token{}, ErrBadToken
	}
	return t, nil
}

// RevokeToken revokes a token by id.
func (s *SQLite) RevokeToken(ctx context.Context, id string) (err error) {
	defer wrap(&err, "revoke token %s", id)
	res, err := s.DB.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at = ''`, now(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w (or already revoked)", ErrNotFound)
	}
	return nil
}

// AuditEntry is one mutating request.
type AuditEntry struct {
	ID      int64  `json:"id"`
	At      string `json:"at"`
	TokenID string `json:"tokenId"`
	Scope   string `json:"scope"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	Status  int    `json:"status"`
	Detail  string `json:"detail"`
}

// Audit records a mutating request.
func (s *SQLite) Audit(ctx context.Context, e AuditEntry) (err error) {
	defer wrap(&err, "audit %s %s", e.Method, e.Path)
	_, err = s.DB.ExecContext(ctx, `INSERT INTO audit (at, token_id, scope, method, path, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		now(), e.TokenID, e.Scope, e.Method, e.Path, e.Status, e.Detail)
	return err
}

// AuditLog returns the audit entries, oldest first.
func (s *SQLite) AuditLog(ctx context.Context) (_ []AuditEntry, err error) {
	defer wrap(&err, "read the audit log")
	return queryAll(ctx, s.DB, func(row rowScanner) (AuditEntry, error) {
		var e AuditEntry
		err := row.Scan(&e.ID, &e.At, &e.TokenID, &e.Scope, &e.Method, &e.Path, &e.Status, &e.Detail)
		return e, err
	}, `SELECT id, at, token_id, scope, method, path, status, detail FROM audit ORDER BY id`)
}
