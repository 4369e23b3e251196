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
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go

	"github.com/cats-analytics/cats-analytics/automation/process"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrDirInUse is returned by LockServer when another server has the data directory.
var ErrDirInUse = errors.New("data directory in use")

// DB is the server's database: SQLite in the data directory (one server),
// or PostgreSQL (several replicas). Both run the same statements, written
// with "?" placeholders (rebindConnector numbers them for PostgreSQL), except
// where the dialects differ (claiming a job).
type DB struct {
	DB      *sql.DB
	dialect dialect
	hub     *hub
	// listenConfig and stopListener: PostgreSQL's notification listener.
	listenConfig *pgx.ConnConfig
	stopListener func()
	url          string
	// statements counts what the pool sends to PostgreSQL (Statements).
	statements *atomic.Int64
}

type dialect string

const (
	sqlite   dialect = "sqlite"
	postgres dialect = "postgres"
)

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Open opens (creating if needed) the SQLite database in dir and applies the
// migrations. SQLite allows one writer at a time; one open connection keeps
// the queue and the server from tripping over SQLITE_BUSY.
func Open(ctx context.Context, dir string) (*DB, error) {
	path := filepath.Join(dir, "cats.db")
	if err := tightenFiles(dir, path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &DB{DB: db, dialect: sqlite, hub: newHub()}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// OpenURL opens the database a --database value names: a postgres:// URL, or
// a directory for SQLite.
func OpenURL(ctx context.Context, database string) (*DB, error) {
	if strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://") {
		return OpenPostgres(ctx, database)
	}
	return Open(ctx, database)
}

// Postgres reports whether the database is PostgreSQL (shared by replicas).
func (s *DB) Postgres() bool { return s.dialect == postgres }

// tightenFiles makes the data directory 0700 and the database 0600, also
// when they existed with looser modes: the database holds token hashes, the
// audit log and every stack's configuration. The database file is created
// here with 0600 before SQLite opens it, and SQLite gives its -wal and -shm
// files the database file's mode; existing ones are tightened too.
func tightenFiles(dir, path string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict the data directory %s to its owner: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restrict %s to its owner: %w", p, err)
		}
	}
	return nil
}

// Close closes the database.
func (s *DB) Close() error {
	if s.stopListener != nil {
		s.stopListener()
	}
	return s.DB.Close()
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error {
	if err := s.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping the database: %w", err)
	}
	return nil
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
	// Generation tells registrations of the same stack apart: a stack
	// deleted and registered again gets a new one, and every job belongs to
	// the generation it was queued for. It stays on the server.
	Generation int64 `json:"-"`
}

// StackName is the stack of a municipality in an environment: <code>-<env>.
func StackName(code, environment string) string { return code + "-" + environment }

// ErrExists is returned when a municipality is already registered in an environment.
var ErrExists = errors.New("already registered")

// Enqueue inserts a job's queue entry inside the transaction that records the
// job, so that neither exists without the other.
type Enqueue func(tx *sql.Tx, jobID int64) error

// CreateMunicipality registers a municipality and queues its first job in one
// transaction. The registration's generation is its first job's id: unique
// for ever, so a destroy queued for an earlier registration of the same
// stack never touches this one.
func (s *DB) CreateMunicipality(ctx context.Context, m Municipality, job Job, enqueue Enqueue) (_ Municipality, _ Job, err error) {
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
	job, err = insertJob(ctx, tx, job, enqueue)
	if err != nil {
		return Municipality{}, Job{}, err
	}
	m.State, m.CreatedAt, m.UpdatedAt = MunicipalityActive, now(), now()
	m.Stack, m.Generation = StackName(m.Code, m.Environment), job.ID
	inserted, err := insertRegistration(ctx, tx, m, string(cfg))
	if err != nil {
		return Municipality{}, Job{}, err
	}
	if !inserted {
		return Municipality{}, Job{}, ErrExists
	}
	if err := setJobGeneration(ctx, tx, job.ID, m.Generation); err != nil {
		return Municipality{}, Job{}, err
	}
	job.Generation = m.Generation
	return m, job, tx.Commit()
}

// insertRegistration inserts a registration unless its stack is registered
// already (also by a concurrent transaction: the primary key decides, not a
// read before the insert). Portable SQL: SQLite 3.24+ and PostgreSQL.
func insertRegistration(ctx context.Context, tx *sql.Tx, m Municipality, cfg string) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO municipalities (code, environment, name, prefecture, config, state, created_at, updated_at, generation)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code, environment) DO NOTHING`,
		m.Code, m.Environment, m.Name, m.Prefecture, cfg, m.State, m.CreatedAt, m.UpdatedAt, m.Generation)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func setJobGeneration(ctx context.Context, tx *sql.Tx, id, generation int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET generation = ? WHERE id = ?`, generation, id)
	return err
}

const municipalityColumns = `code, environment, name, prefecture, config, state, created_at, updated_at, generation`

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs a query and scans every row; an empty result is an empty slice.
func queryAll[T any](ctx context.Context, db querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
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
	if err := row.Scan(&m.Code, &m.Environment, &m.Name, &m.Prefecture, &cfg, &m.State, &m.CreatedAt, &m.UpdatedAt, &m.Generation); err != nil {
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
func (s *DB) ListMunicipalities(ctx context.Context, code string) (_ []Municipality, err error) {
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
func (s *DB) GetMunicipality(ctx context.Context, code, environment string) (_ Municipality, err error) {
	defer wrap(&err, "get %s", StackName(code, environment))
	return scanMunicipality(s.DB.QueryRowContext(ctx, `SELECT `+municipalityColumns+` FROM municipalities WHERE code = ? AND environment = ?`, code, environment))
}

// DeleteMunicipality removes the registration its destroy job belongs to,
// after the stack is destroyed and removed: a registration made again since
// (another generation) stays. It reports whether a registration was removed.
func (s *DB) DeleteMunicipality(ctx context.Context, code, environment string, generation int64) (_ bool, err error) {
	defer wrap(&err, "remove the registration of %s", StackName(code, environment))
	res, err := s.DB.ExecContext(ctx, `DELETE FROM municipalities WHERE code = ? AND environment = ? AND generation = ? AND state = ?`,
		code, environment, generation, MunicipalityDeleting)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// JobState is where a job is in its life: queued, running, then one of the
// final states.
type JobState string

// Operation is what a job runs: a plan under mocks, or a Pulumi operation
// (runner's names for them; drift is a refresh --preview-only).
type Operation string

// Operations of jobs.
const (
	OperationPlan    Operation = "plan"
	OperationPreview Operation = "preview"
	OperationUp      Operation = "up"
	OperationRefresh Operation = "refresh"
	OperationDestroy Operation = "destroy"
	OperationDrift   Operation = "drift"
)

// JoinOperations lists operations for a message: "plan, up".
func JoinOperations(operations []Operation) string {
	names := make([]string, len(operations))
	for i, o := range operations {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

// Job states.
const (
	JobQueued    JobState = "queued"
	JobRunning   JobState = "running"
	JobSucceeded JobState = "succeeded"
	JobFailed    JobState = "failed"
	JobCancelled JobState = "cancelled"
)

// Terminal reports whether a job state is final.
func Terminal(state JobState) bool {
	return state == JobSucceeded || state == JobFailed || state == JobCancelled
}

// Job is one operation on one stack. A failed or cancelled job has a Reason,
// a short, stable code (runner.Reason), and Error says it in one line.
type Job struct {
	ID          int64           `json:"id"`
	Stack       string          `json:"stack"`
	Code        string          `json:"code"`
	Environment string          `json:"environment"`
	Operation   Operation       `json:"operation"`
	RemoveStack bool            `json:"removeStack,omitempty"`
	State       JobState        `json:"state"`
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
	// Generation is the registration of the stack the job was queued for
	// (Municipality.Generation); a destroy removes only that one.
	Generation int64 `json:"-"`
}

func insertJob(ctx context.Context, tx *sql.Tx, j Job, enqueue Enqueue) (Job, error) {
	j.State, j.CreatedAt = JobQueued, now()
	if err := tx.QueryRowContext(ctx, `INSERT INTO jobs (stack, code, environment, operation, remove_stack, state, created_by, created_at, generation)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, j.Stack, j.Code, j.Environment, j.Operation, j.RemoveStack, j.State, j.CreatedBy, j.CreatedAt, j.Generation).Scan(&j.ID); err != nil {
		return Job{}, fmt.Errorf("record the %s job: %w", j.Operation, err)
	}
	if err := enqueue(tx, j.ID); err != nil {
		return Job{}, fmt.Errorf("queue job %d: %w", j.ID, err)
	}
	return j, nil
}

// ErrNotActive is returned for a job or a destroy on a stack that is being
// deleted.
var ErrNotActive = errors.New("is being deleted")

// QueueCaps bound the jobs waiting in the queue, so one tenant's flood
// cannot crowd out the others (issue 16). Zero leaves a cap off.
type QueueCaps struct {
	// PerStack is the most queued jobs one stack may have.
	PerStack int
	// PerToken is the most queued jobs one token (Job.CreatedBy) may have
	// across all its stacks.
	PerToken int
}

// QueueFullError refuses a job beyond a QueueCaps cap.
type QueueFullError struct {
	// Cap names the cap: "per stack" or "per token".
	Cap string
	// Limit is the cap's value.
	Limit int
}

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("queue full: %d queued jobs is the cap %s", e.Limit, e.Cap)
}

// CreateJob records a job and its queue entry in one transaction, for an
// active registration only: ErrNotFound when the stack is not registered,
// ErrNotActive while it is being deleted. The check and the insert are one
// transaction that holds the registration's row, so a destroy queued at the
// same moment either sees this job ahead of it or this job is refused.
func (s *DB) CreateJob(ctx context.Context, j Job, enqueue Enqueue) (Job, error) {
	return s.CreateJobWithin(ctx, j, QueueCaps{}, enqueue)
}

// CreateJobWithin is CreateJob within queue caps: a *QueueFullError when the
// stack or the token already has caps' worth of queued jobs. The counts are
// taken while the transaction holds the registration's row (every job of the
// stack queues through it) and the token's row (every job of the token), so
// concurrent requests cannot together overshoot a cap, on PostgreSQL as on
// SQLite (one writer).
func (s *DB) CreateJobWithin(ctx context.Context, j Job, caps QueueCaps, enqueue Enqueue) (_ Job, err error) {
	defer wrap(&err, "create a %s job on %s", j.Operation, j.Stack)
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, err
	}
	defer tx.Rollback()
	if j.Generation, err = holdActiveRegistration(ctx, tx, j.Code, j.Environment); err != nil {
		return Job{}, err
	}
	if err := withinCaps(ctx, tx, j, caps); err != nil {
		return Job{}, err
	}
	j, err = insertJob(ctx, tx, j, enqueue)
	if err != nil {
		return Job{}, err
	}
	return j, tx.Commit()
}

// withinCaps checks a new job against the queue caps. The caller holds the
// registration's row; the token's row is held here by a no-op update (the
// same write lock as holdActiveRegistration's), always after the
// registration's, so two jobs never wait on each other in a cycle.
func withinCaps(ctx context.Context, tx *sql.Tx, j Job, caps QueueCaps) error {
	if caps.PerStack > 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE stack = ? AND state = ?`, j.Stack, JobQueued).Scan(&n); err != nil {
			return fmt.Errorf("count the queued jobs of %s: %w", j.Stack, err)
		}
		if n >= caps.PerStack {
			return &QueueFullError{Cap: "per stack", Limit: caps.PerStack}
		}
	}
	if caps.PerToken > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET id = id WHERE id = ?`, j.CreatedBy); err != nil {
			return fmt.Errorf("hold token %s: %w", j.CreatedBy, err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE created_by = ? AND state = ?`, j.CreatedBy, JobQueued).Scan(&n); err != nil {
			return fmt.Errorf("count the queued jobs of token %s: %w", j.CreatedBy, err)
		}
		if n >= caps.PerToken {
			return &QueueFullError{Cap: "per token", Limit: caps.PerToken}
		}
	}
	return nil
}

// holdActiveRegistration returns the generation of an active registration and
// holds its row until the transaction ends: the no-op update takes the row's
// write lock on PostgreSQL (SQLite has one writer anyway), so no concurrent
// MarkDeleting can slip between this check and the caller's insert.
func holdActiveRegistration(ctx context.Context, tx *sql.Tx, code, environment string) (int64, error) {
	var generation int64
	err := tx.QueryRowContext(ctx, `UPDATE municipalities SET state = state WHERE code = ? AND environment = ? AND state = ? RETURNING generation`,
		code, environment, MunicipalityActive).Scan(&generation)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, registrationMissing(ctx, tx, code, environment)
	}
	return generation, err
}

// registrationMissing says why a conditional update on an active
// registration found none: ErrNotActive when it exists in another state.
func registrationMissing(ctx context.Context, tx *sql.Tx, code, environment string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM municipalities WHERE code = ? AND environment = ?`, code, environment).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrNotActive
	}
	return ErrNotFound
}

// MarkDeleting flags an active registration as being deleted and queues its
// destroy job, which belongs to that registration's generation, in one
// transaction. The flag is a conditional update: of concurrent calls exactly
// one succeeds, the others get ErrNotActive (ErrNotFound when unregistered).
func (s *DB) MarkDeleting(ctx context.Context, code, environment string, j Job, enqueue Enqueue) (_ Job, err error) {
	defer wrap(&err, "mark %s deleting", StackName(code, environment))
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, err
	}
	defer tx.Rollback()
	if j.Generation, err = markDeleting(ctx, tx, code, environment); err != nil {
		return Job{}, err
	}
	j, err = insertJob(ctx, tx, j, enqueue)
	if err != nil {
		return Job{}, err
	}
	return j, tx.Commit()
}

// markDeleting moves a registration from active to deleting and returns its
// generation. Portable SQL (UPDATE … RETURNING: SQLite 3.35+, PostgreSQL).
func markDeleting(ctx context.Context, tx *sql.Tx, code, environment string) (int64, error) {
	var generation int64
	err := tx.QueryRowContext(ctx, `UPDATE municipalities SET state = ?, updated_at = ? WHERE code = ? AND environment = ? AND state = ? RETURNING generation`,
		MunicipalityDeleting, now(), code, environment, MunicipalityActive).Scan(&generation)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, registrationMissing(ctx, tx, code, environment)
	}
	return generation, err
}

// reactivate returns the registration a destroy job belonged to from
// deleting to active, when that destroy ends without removing it (failed,
// cancelled, interrupted): the platform team may retry, the municipality may
// queue jobs again. Another generation, or a registration already removed,
// is left alone.
func reactivate(ctx context.Context, tx *sql.Tx, id int64) error {
	var code, environment string
	var removeStack bool
	var generation int64
	err := tx.QueryRowContext(ctx, `SELECT code, environment, remove_stack, generation FROM jobs WHERE id = ?`, id).
		Scan(&code, &environment, &removeStack, &generation)
	if err != nil || !removeStack {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE municipalities SET state = ?, updated_at = ? WHERE code = ? AND environment = ? AND generation = ? AND state = ?`,
		MunicipalityActive, now(), code, environment, generation, MunicipalityDeleting)
	return err
}

const jobColumns = `id, stack, code, environment, operation, remove_stack, state, attempts, reason, error, result, created_by, created_at, started_at, finished_at,
	cli_pid, cli_start_time, cli_boot_id, cli_host, generation`

func scanJob(row rowScanner) (Job, error) {
	var j Job
	var result string
	var cli process.Identity
	if err := row.Scan(&j.ID, &j.Stack, &j.Code, &j.Environment, &j.Operation, &j.RemoveStack, &j.State, &j.Attempts,
		&j.Reason, &j.Error, &result, &j.CreatedBy, &j.CreatedAt, &j.StartedAt, &j.FinishedAt,
		&cli.PID, &cli.StartTime, &cli.BootID, &cli.Host, &j.Generation); err != nil {
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
func (s *DB) GetJob(ctx context.Context, id int64) (_ Job, err error) {
	defer wrap(&err, "get job %d", id)
	return scanJob(s.DB.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
}

// ListJobs returns the jobs of a stack, newest first.
func (s *DB) ListJobs(ctx context.Context, stack string, limit int) (_ []Job, err error) {
	defer wrap(&err, "list the jobs of %s", stack)
	return queryAll(ctx, s.DB, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE stack = ? ORDER BY id DESC LIMIT ?`, stack, limit)
}

// LastJob returns the stack's latest finished job of one of the operations
// (ErrNotFound when there is none): the stack's last update, say.
func (s *DB) LastJob(ctx context.Context, stack string, operations ...Operation) (_ Job, err error) {
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

// RecordCLI records the Pulumi CLI process a running job has just started.
func (s *DB) RecordCLI(ctx context.Context, id int64, cli process.Identity) (err error) {
	defer wrap(&err, "record the CLI (%s) of job %d", cli, id)
	_, err = s.DB.ExecContext(ctx, `UPDATE jobs SET cli_pid = ?, cli_start_time = ?, cli_boot_id = ?, cli_host = ? WHERE id = ? AND state = ?`,
		cli.PID, cli.StartTime, cli.BootID, cli.Host, id, JobRunning)
	return err
}

// Finish records a job's final state, with the reason code and the one-line
// message of a failure or a cancellation, and its result (also a failed
// job's: what it did until then). Only a queued or running job changes, so
// a job never finishes twice.
func (s *DB) Finish(ctx context.Context, id int64, state JobState, reason, errText string, result any) (_ bool, err error) {
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
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, error = ?, result = ?, finished_at = ? WHERE id = ? AND state IN (?, ?)`,
		state, reason, errText, resultJSON, now(), id, JobQueued, JobRunning)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	if state != JobSucceeded {
		if err := reactivate(ctx, tx, id); err != nil {
			return false, fmt.Errorf("return the stack to active: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	// The stack's next job may now be claimable; streams of this job end.
	return true, errors.Join(s.notify(ctx, s.DB, TopicEvents(id)), s.WakeWorkers(ctx, nil))
}

// CancelQueued cancels a job that has not started, with the reason code and
// message. It returns false when the job is running or finished.
func (s *DB) CancelQueued(ctx context.Context, id int64, reason, message string) (_ bool, err error) {
	defer wrap(&err, "cancel queued job %d", id)
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, error = ?, finished_at = ? WHERE id = ? AND state = ?`,
		JobCancelled, reason, message, now(), id, JobQueued)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, err
	}
	if err := reactivate(ctx, tx, id); err != nil {
		return false, fmt.Errorf("return the stack to active: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, errors.Join(s.notify(ctx, s.DB, TopicEvents(id)), s.WakeWorkers(ctx, nil))
}

// RunningJobs returns the jobs marked running: after a restart, jobs the
// previous process did not finish.
func (s *DB) RunningJobs(ctx context.Context) (_ []Job, err error) {
	defer wrap(&err, "list running jobs")
	return queryAll(ctx, s.DB, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE state = ? ORDER BY id`, JobRunning)
}

// AppendEvent stores one event of a job.
func (s *DB) AppendEvent(ctx context.Context, jobID int64, seq int, event json.RawMessage) (err error) {
	defer wrap(&err, "store event %d of job %d", seq, jobID)
	if _, err = s.DB.ExecContext(ctx, `INSERT INTO job_events (job_id, seq, at, event) VALUES (?, ?, ?, ?)`, jobID, seq, now(), string(event)); err != nil {
		return err
	}
	return s.notify(ctx, s.DB, TopicEvents(jobID))
}

// Event is one stored event of a job: an engine event of a CLI operation, a
// step of a plan.
type Event struct {
	Seq   int             `json:"seq"`
	At    string          `json:"at"`
	Event json.RawMessage `json:"event"`
}

// Events returns a job's events after seq, in order.
func (s *DB) Events(ctx context.Context, jobID int64, after int) (_ []Event, err error) {
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
func (s *DB) LastEventSeq(ctx context.Context, jobID int64) (_ int, err error) {
	defer wrap(&err, "read the last event of job %d", jobID)
	var seq sql.NullInt64
	err = s.DB.QueryRowContext(ctx, `SELECT MAX(seq) FROM job_events WHERE job_id = ?`, jobID).Scan(&seq)
	return int(seq.Int64), err
}

// Scope is what a token may act on: the whole platform, or one municipality.
type Scope string

// ScopePlatform is the scope of the platform team's tokens.
const ScopePlatform Scope = "platform"

// MunicipalityScope is the scope of a token limited to one municipality.
func MunicipalityScope(code string) Scope { return Scope("municipality:" + code) }

// Municipality returns the code of a municipality scope (ok false for the
// platform's).
func (s Scope) Municipality() (code string, ok bool) {
	return strings.CutPrefix(string(s), "municipality:")
}

// Token is an API token's public record; the secret is never stored.
type Token struct {
	ID          string `json:"id"`
	Scope       Scope  `json:"scope"`
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
func (s *DB) CreateToken(ctx context.Context, scope Scope, description string) (_ Token, _ string, err error) {
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
func (s *DB) Authenticate(ctx context.Context, plain string) (Token, error) {
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
func (s *DB) RevokeToken(ctx context.Context, id string) (err error) {
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
	Scope   Scope  `json:"scope"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	Status  int    `json:"status"`
	Detail  string `json:"detail"`
}

// Audit records a mutating request.
func (s *DB) Audit(ctx context.Context, e AuditEntry) (err error) {
	defer wrap(&err, "audit %s %s", e.Method, e.Path)
	_, err = s.DB.ExecContext(ctx, `INSERT INTO audit (at, token_id, scope, method, path, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		now(), e.TokenID, e.Scope, e.Method, e.Path, e.Status, e.Detail)
	return err
}

// AuditLog returns the audit entries, oldest first.
func (s *DB) AuditLog(ctx context.Context) (_ []AuditEntry, err error) {
	defer wrap(&err, "read the audit log")
	return queryAll(ctx, s.DB, func(row rowScanner) (AuditEntry, error) {
		var e AuditEntry
		err := row.Scan(&e.ID, &e.At, &e.TokenID, &e.Scope, &e.Method, &e.Path, &e.Status, &e.Detail)
		return e, err
	}, `SELECT id, at, token_id, scope, method, path, status, detail FROM audit ORDER BY id`)
}

// TokenIDOf returns the id a plain token claims, whether or not it
// authenticates (for the audit of a failed attempt); ok is false when it is
// not shaped as a token of this project.
func TokenIDOf(plain string) (id string, ok bool) {
	id, _, ok = parseToken(plain)
	return id, ok
}
