// Package store keeps the automation server's durable state in SQLite: the
// municipalities and their stacks, the jobs and their engine events, the API
// tokens (hashed) and the audit log. The job queue itself (River) lives in the
// same database, so a job row and its queue entry are written in one
// transaction and neither can be lost without the other.
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
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrDirInUse is returned by LockServer when another server has the data directory.
var ErrDirInUse = errors.New("data directory in use")

// Store is the server's database.
type Store struct {
	DB *sql.DB
}

// Open opens (creating if needed) the database in dir. SQLite allows one
// writer at a time; one open connection keeps River and the server from
// tripping over SQLITE_BUSY (River's documented setting for its SQLite driver).
func Open(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, "cats.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &Store{DB: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

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
	error        TEXT NOT NULL DEFAULT '',
	result       TEXT NOT NULL DEFAULT '',
	created_by   TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	started_at   TEXT NOT NULL DEFAULT '',
	finished_at  TEXT NOT NULL DEFAULT ''
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

func (s *Store) migrate(ctx context.Context) error {
	_, err := s.DB.ExecContext(ctx, schema)
	return err
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

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

// CreateMunicipality registers a municipality and queues its first job in one
// transaction; enqueue inserts the queue entry inside the same transaction.
func (s *Store) CreateMunicipality(ctx context.Context, m Municipality, job Job, enqueue func(*sql.Tx, int64) error) (Municipality, Job, error) {
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
		return m, fmt.Errorf("municipality %s config: %w", m.Stack, err)
	}
	return m, nil
}

// ListMunicipalities returns the registered municipalities, all of them or
// those of one code, ordered by code and environment.
func (s *Store) ListMunicipalities(ctx context.Context, code string) ([]Municipality, error) {
	q := `SELECT ` + municipalityColumns + ` FROM municipalities`
	var args []any
	if code != "" {
		q += ` WHERE code = ?`
		args = append(args, code)
	}
	return queryAll(ctx, s.DB, scanMunicipality, q+` ORDER BY code, environment`, args...)
}

// GetMunicipality returns one municipality's stack.
func (s *Store) GetMunicipality(ctx context.Context, code, environment string) (Municipality, error) {
	return scanMunicipality(s.DB.QueryRowContext(ctx, `SELECT `+municipalityColumns+` FROM municipalities WHERE code = ? AND environment = ?`, code, environment))
}

// DeleteMunicipality removes the registration (after its stack is destroyed and removed).
func (s *Store) DeleteMunicipality(ctx context.Context, code, environment string) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM municipalities WHERE code = ? AND environment = ?`, code, environment)
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

// Job is one operation on one stack.
type Job struct {
	ID          int64           `json:"id"`
	Stack       string          `json:"stack"`
	Code        string          `json:"code"`
	Environment string          `json:"environment"`
	Operation   string          `json:"operation"`
	RemoveStack bool            `json:"removeStack,omitempty"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	Error       string          `json:"error,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	CreatedBy   string          `json:"createdBy"`
	CreatedAt   string          `json:"createdAt"`
	StartedAt   string          `json:"startedAt,omitempty"`
	FinishedAt  string          `json:"finishedAt,omitempty"`
}

func insertJob(ctx context.Context, tx *sql.Tx, j Job, enqueue func(*sql.Tx, int64) error) (Job, error) {
	j.State, j.CreatedAt = JobQueued, now()
	res, err := tx.ExecContext(ctx, `INSERT INTO jobs (stack, code, environment, operation, remove_stack, state, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, j.Stack, j.Code, j.Environment, j.Operation, j.RemoveStack, j.State, j.CreatedBy, j.CreatedAt)
	if err != nil {
		return Job{}, err
	}
	if j.ID, err = res.LastInsertId(); err != nil {
		return Job{}, err
	}
	if err := enqueue(tx, j.ID); err != nil {
		return Job{}, fmt.Errorf("enqueue job %d: %w", j.ID, err)
	}
	return j, nil
}

// CreateJob records a job and its queue entry in one transaction.
func (s *Store) CreateJob(ctx context.Context, j Job, enqueue func(*sql.Tx, int64) error) (Job, error) {
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
func (s *Store) MarkDeleting(ctx context.Context, code, environment string, j Job, enqueue func(*sql.Tx, int64) error) (Job, error) {
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

const jobColumns = `id, stack, code, environment, operation, remove_stack, state, attempts, error, result, created_by, created_at, started_at, finished_at`

func scanJob(row rowScanner) (Job, error) {
	var j Job
	var result string
	if err := row.Scan(&j.ID, &j.Stack, &j.Code, &j.Environment, &j.Operation, &j.RemoveStack, &j.State, &j.Attempts,
		&j.Error, &result, &j.CreatedBy, &j.CreatedAt, &j.StartedAt, &j.FinishedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return j, ErrNotFound
		}
		return j, err
	}
	if result != "" {
		j.Result = json.RawMessage(result)
	}
	return j, nil
}

// GetJob returns a job.
func (s *Store) GetJob(ctx context.Context, id int64) (Job, error) {
	return scanJob(s.DB.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
}

// ListJobs returns the jobs of a stack, newest first.
func (s *Store) ListJobs(ctx context.Context, stack string, limit int) ([]Job, error) {
	return queryAll(ctx, s.DB, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE stack = ? ORDER BY id DESC LIMIT ?`, stack, limit)
}

// Start claims a queued job for running. It succeeds only when no other job of
// the same stack is running and no earlier job of that stack is still queued,
// so the operations on one stack run one at a time, in order. ok is false
// when the job must wait; a terminal job is returned as it is.
func (s *Store) Start(ctx context.Context, id int64) (job Job, ok bool, err error) {
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
	job.State, job.StartedAt, job.Attempts = JobRunning, now(), job.Attempts+1
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, started_at = ?, attempts = ? WHERE id = ?`,
		job.State, job.StartedAt, job.Attempts, id); err != nil {
		return Job{}, false, err
	}
	return job, true, tx.Commit()
}

// Requeue returns a running job to the queue after a transient failure.
func (s *Store) Requeue(ctx context.Context, id int64, reason string) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ? WHERE id = ? AND state = ?`, JobQueued, reason, id, JobRunning)
	return err
}

// Finish records a job's final state. Only a queued or running job changes,
// so a job never finishes twice.
func (s *Store) Finish(ctx context.Context, id int64, state, errText string, result any) (bool, error) {
	if !Terminal(state) {
		return false, fmt.Errorf("finish job %d: %q is not a final state", id, state)
	}
	var resultJSON string
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return false, err
		}
		resultJSON = string(b)
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, result = ?, finished_at = ? WHERE id = ? AND state IN (?, ?)`,
		state, errText, resultJSON, now(), id, JobQueued, JobRunning)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CancelQueued cancels a job that has not started. It returns false when the
// job is running or finished.
func (s *Store) CancelQueued(ctx context.Context, id int64, reason string) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state = ?`,
		JobCancelled, reason, now(), id, JobQueued)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RunningJobs returns the jobs marked running: after a restart, jobs the
// previous process did not finish.
func (s *Store) RunningJobs(ctx context.Context) ([]Job, error) {
	return queryAll(ctx, s.DB, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE state = ? ORDER BY id`, JobRunning)
}

// AppendEvent stores one engine event of a job.
func (s *Store) AppendEvent(ctx context.Context, jobID int64, seq int, event json.RawMessage) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO job_events (job_id, seq, at, event) VALUES (?, ?, ?, ?)`, jobID, seq, now(), string(event))
	return err
}

// Event is one stored engine event.
type Event struct {
	Seq   int             `json:"seq"`
	At    string          `json:"at"`
	Event json.RawMessage `json:"event"`
}

// Events returns a job's events after seq, in order.
func (s *Store) Events(ctx context.Context, jobID int64, after int) ([]Event, error) {
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
func (s *Store) LastEventSeq(ctx context.Context, jobID int64) (int, error) {
	var seq sql.NullInt64
	err := s.DB.QueryRowContext(ctx, `SELECT MAX(seq) FROM job_events WHERE job_id = ?`, jobID).Scan(&seq)
	return int(seq.Int64), err
}

// Token scopes.
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
func (s *Store) CreateToken(ctx context.Context, scope, description string) (Token, string, error) {
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

// Authenticate resolves a plain token to its record.
func (s *Store) Authenticate(ctx context.Context, plain string) (Token, error) {
	rest, ok := strings.CutPrefix(plain, tokenPrefix)
	if !ok {
		return Token{}, ErrBadToken
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" || secret == "" {
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
		return Token{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(hashSecret(secret))) != 1 || t.RevokedAt != "" {
		return Token{}, ErrBadToken
	}
	return t, nil
}

// RevokeToken revokes a token by id.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at = ''`, now(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w (or already revoked)", id, ErrNotFound)
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
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO audit (at, token_id, scope, method, path, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		now(), e.TokenID, e.Scope, e.Method, e.Path, e.Status, e.Detail)
	return err
}

// AuditLog returns the audit entries, oldest first.
func (s *Store) AuditLog(ctx context.Context) ([]AuditEntry, error) {
	return queryAll(ctx, s.DB, func(row rowScanner) (AuditEntry, error) {
		var e AuditEntry
		err := row.Scan(&e.ID, &e.At, &e.TokenID, &e.Scope, &e.Method, &e.Path, &e.Status, &e.Detail)
		return e, err
	}, `SELECT id, at, token_id, scope, method, path, status, detail FROM audit ORDER BY id`)
}
