package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The job queue is the jobs table itself: one row, one state machine. A job
// is claimable when it is queued, its retry time has come, and no other job
// of its stack is running or queued before it: one operation per stack at a
// time, first in first out, whatever replica claims it. Jobs waiting behind
// another of their stack cost nothing: no worker holds them.

// claimableQuery selects the oldest claimable job. On PostgreSQL, FOR UPDATE
// SKIP LOCKED lets replicas claim side by side: a job another replica is
// claiming is skipped, not waited for, and the job behind it on the same
// stack stays blocked by it (it is still queued and earlier).
const claimableQuery = `SELECT ` + jobColumns + ` FROM jobs j
	WHERE j.state = 'queued' AND j.run_after <= ?
	AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.stack = j.stack AND k.id != j.id
		AND (k.state = 'running' OR (k.state = 'queued' AND k.id < j.id)))
	ORDER BY j.id LIMIT 1`

// Claim takes the oldest claimable job for the replica and marks it running
// (ErrNotFound when none is claimable). The CLI an earlier attempt started is
// forgotten: it has ended.
func (s *DB) Claim(ctx context.Context, replica string) (job Job, err error) {
	defer wrap(&err, "claim a job for replica %s", replica)
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, err
	}
	defer tx.Rollback()
	q := claimableQuery
	if s.dialect == postgres {
		q += ` FOR UPDATE OF j SKIP LOCKED`
	}
	job, err = scanJob(tx.QueryRowContext(ctx, q, millis(time.Now())))
	if err != nil {
		return Job{}, err
	}
	job.State, job.StartedAt, job.Attempts, job.CLI = JobRunning, now(), job.Attempts+1, nil
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, started_at = ?, attempts = ?, replica_id = ?, cancel_requested = 0,
		cli_pid = 0, cli_start_time = 0, cli_boot_id = '', cli_host = '' WHERE id = ?`,
		job.State, job.StartedAt, job.Attempts, replica, job.ID); err != nil {
		return Job{}, err
	}
	if err := s.notify(ctx, tx, TopicEvents(job.ID)); err != nil {
		return Job{}, err
	}
	return job, tx.Commit()
}

// WakeWorkers tells the replicas' workers that a job may be claimable; inside
// a transaction, on PostgreSQL, at its commit.
func (s *DB) WakeWorkers(ctx context.Context, tx *sql.Tx) error {
	var ex execer = s.DB
	if tx != nil {
		ex = tx
	}
	if err := s.notify(ctx, ex, TopicJobs); err != nil {
		return fmt.Errorf("wake the workers: %w", err)
	}
	return nil
}

// RequeueAfter returns a running job of the replica to the queue, claimable
// again from after on (now for a zero time), with the reason it was stopped.
func (s *DB) RequeueAfter(ctx context.Context, id int64, replica string, after time.Time, reason string) (err error) {
	defer wrap(&err, "queue job %d again", id)
	if _, err := s.DB.ExecContext(ctx, `UPDATE jobs SET state = ?, error = ?, replica_id = '', run_after = ? WHERE id = ? AND state = ? AND replica_id = ?`,
		JobQueued, reason, millis(after), id, JobRunning, replica); err != nil {
		return err
	}
	return s.WakeWorkers(ctx, nil)
}

// RequestCancel asks the replica running a job to cancel it. It returns
// false when the job was not running (queued jobs are left to CancelQueued,
// final ones are untouched).
func (s *DB) RequestCancel(ctx context.Context, id int64) (_ bool, err error) {
	defer wrap(&err, "request the cancellation of job %d", id)
	res, err := s.DB.ExecContext(ctx, `UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = ?`, id, JobRunning)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	return true, s.WakeWorkers(ctx, nil)
}

// CancelRequested returns the jobs of the replica whose cancellation was
// requested through another replica.
func (s *DB) CancelRequested(ctx context.Context, replica string) (_ []int64, err error) {
	defer wrap(&err, "list the cancellations requested of replica %s", replica)
	return queryAll(ctx, s.DB, func(row rowScanner) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	}, `SELECT id FROM jobs WHERE state = ? AND replica_id = ? AND cancel_requested = 1`, JobRunning, replica)
}

// Replica is a server process working the queue. It holds a lease it renews;
// when the lease expires, the replica is taken for dead.
type Replica struct {
	ID         string
	Host       string
	PID        int
	StartedAt  string
	LeaseUntil time.Time
}

// ErrLeaseLost is returned when a replica renews a lease it no longer holds:
// another replica took it for dead and finished its jobs.
var ErrLeaseLost = errors.New("this replica's lease expired and another replica took over its jobs")

// RegisterReplica records a replica with a lease until leaseUntil.
func (s *DB) RegisterReplica(ctx context.Context, r Replica) (err error) {
	defer wrap(&err, "register replica %s", r.ID)
	_, err = s.DB.ExecContext(ctx, `INSERT INTO replicas (id, host, pid, started_at, lease_until) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.Host, r.PID, now(), millis(r.LeaseUntil))
	return err
}

// RenewLease extends a replica's lease; ErrLeaseLost when it had expired
// (the replica must stop its jobs: others may be finishing them).
func (s *DB) RenewLease(ctx context.Context, replica string, until time.Time) (err error) {
	defer wrap(&err, "renew the lease of replica %s", replica)
	res, err := s.DB.ExecContext(ctx, `UPDATE replicas SET lease_until = ? WHERE id = ? AND lease_until >= ?`,
		millis(until), replica, millis(time.Now()))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(ErrLeaseLost, err)
	}
	return nil
}

// RemoveReplica deletes a replica's record: at a graceful stop, once its
// jobs are handed back, or once another replica has finished its jobs.
func (s *DB) RemoveReplica(ctx context.Context, replica string) (err error) {
	defer wrap(&err, "remove replica %s", replica)
	_, err = s.DB.ExecContext(ctx, `DELETE FROM replicas WHERE id = ?`, replica)
	return err
}

// Replicas returns the replicas recorded, live or not.
func (s *DB) Replicas(ctx context.Context) (_ []Replica, err error) {
	defer wrap(&err, "list the replicas")
	return queryAll(ctx, s.DB, func(row rowScanner) (Replica, error) {
		var r Replica
		var lease int64
		err := row.Scan(&r.ID, &r.Host, &r.PID, &r.StartedAt, &lease)
		r.LeaseUntil = time.UnixMilli(lease)
		return r, err
	}, `SELECT id, host, pid, started_at, lease_until FROM replicas ORDER BY id`)
}

// TakeOverOrphans gives the replica the running jobs of replicas whose lease
// has expired (or that no live replica holds), and removes those replicas.
// With everyOtherReplica, every other replica counts as dead: for a server
// that knows it is the only one (SQLite, its data directory locked). The
// caller then settles each job's CLI and finishes it as interrupted; if the
// caller dies meanwhile, its own lease expires and another replica takes
// the jobs over again.
func (s *DB) TakeOverOrphans(ctx context.Context, replica string, everyOtherReplica bool) (_ []Job, err error) {
	defer wrap(&err, "take over the jobs of dead replicas")
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	live := `SELECT id FROM replicas WHERE lease_until >= ?`
	args := []any{millis(time.Now())}
	if everyOtherReplica {
		live, args = `SELECT ?`, []any{replica}
	}
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE state = 'running' AND replica_id NOT IN (` + live + `) ORDER BY id`
	if s.dialect == postgres {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	orphans, err := queryAll(ctx, tx, scanJob, q, args...)
	if err != nil {
		return nil, err
	}
	for _, j := range orphans {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET replica_id = ? WHERE id = ?`, replica, j.ID); err != nil {
			return nil, err
		}
	}
	dead := `DELETE FROM replicas WHERE id != ? AND lease_until < ?`
	args = []any{replica, millis(time.Now())}
	if everyOtherReplica {
		dead, args = `DELETE FROM replicas WHERE id != ?`, args[:1]
	}
	if _, err := tx.ExecContext(ctx, dead, args...); err != nil {
		return nil, err
	}
	return orphans, tx.Commit()
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
