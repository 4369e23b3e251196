package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// FleetTime is the format of the fleet tables' times: fixed width, so a
// string comparison in SQL is a time comparison.
const FleetTime = "2006-01-02T15:04:05.000000Z"

// FleetNow is the current time in FleetTime.
func FleetNow() string { return time.Now().UTC().Format(FleetTime) }

func fleetTime(t time.Time) string { return t.UTC().Format(FleetTime) }

// Rollout states.
const (
	RolloutRunning   = "running"
	RolloutPaused    = "paused"    // paused on request: no stack starts until resumed
	RolloutStopped   = "stopped"   // stopped by its failure budget or a mandatory violation: resume continues it
	RolloutCancelled = "cancelled" // cancelled: its pending stacks never start
	RolloutSucceeded = "succeeded"
	RolloutFailed    = "failed" // finished, with failed stacks within the budget
)

// RolloutTerminal reports whether a rollout state is final.
func RolloutTerminal(state string) bool {
	return state == RolloutCancelled || state == RolloutSucceeded || state == RolloutFailed
}

// States of a stack in a rollout.
const (
	StackPending   = "pending"   // not started
	StackStarting  = "starting"  // its job is being created
	StackRunning   = "running"   // its job is queued or running
	StackSucceeded = "succeeded" // its job succeeded
	StackFailed    = "failed"    // its job failed or was cancelled
	StackCancelled = "cancelled" // never started: the rollout was cancelled
)

// Rollout is an operation rolled out across a selection of stacks in waves.
type Rollout struct {
	ID             string          `json:"id"`
	Operation      Operation       `json:"operation"`
	Selector       json.RawMessage `json:"selector"`
	Waves          json.RawMessage `json:"waveSpec"`
	MaxConcurrency int             `json:"maxConcurrency"`
	FailureBudget  int             `json:"failureBudget"`
	Version        string          `json:"version"`
	State          string          `json:"state"`
	StopReason     string          `json:"stopReason,omitempty"`
	CurrentWave    int             `json:"currentWave"`
	// FailuresAccepted and ViolationsAccepted are the failed stacks, and
	// those among them with a mandatory policy violation, a resume accepted:
	// the failure budget counts the failures after them.
	FailuresAccepted   int    `json:"failuresAccepted"`
	ViolationsAccepted int    `json:"violationsAccepted"`
	CreatedBy          string `json:"createdBy"`
	CreatedAt          string `json:"createdAt"`
	UpdatedAt          string `json:"updatedAt"`
	FinishedAt         string `json:"finishedAt,omitempty"`
}

// RolloutStack is one stack of a rollout: its wave, its place, its job.
type RolloutStack struct {
	Stack               string `json:"stack"`
	Code                string `json:"code"`
	Environment         string `json:"environment"`
	Wave                int    `json:"wave"`
	Position            int    `json:"-"`
	State               string `json:"state"`
	JobID               int64  `json:"job,omitempty"`
	Reason              string `json:"reason,omitempty"`
	MandatoryViolations int    `json:"mandatoryViolations,omitempty"`
}

// RolloutCreator is the CreatedBy of the jobs a rollout starts: a job names
// the rollout it belongs to, so a job created just before a crash is found
// again.
func RolloutCreator(id string) string { return "rollout:" + id }

// newRolloutID is a random, URL-safe id.
func newRolloutID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "r-" + hex.EncodeToString(b), nil
}

// CreateRollout records a rollout and its stacks in one transaction; it
// returns the rollout with its id.
func (s *DB) CreateRollout(ctx context.Context, r Rollout, stacks []RolloutStack) (_ Rollout, err error) {
	defer wrap(&err, "record a %s rollout", r.Operation)
	if r.ID, err = newRolloutID(); err != nil {
		return Rollout{}, err
	}
	r.State, r.CreatedAt, r.UpdatedAt = RolloutRunning, FleetNow(), FleetNow()
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return Rollout{}, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollouts (id, operation, selector, waves, max_concurrency, failure_budget, version, state,
		current_wave, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Operation, string(r.Selector), string(r.Waves), r.MaxConcurrency, r.FailureBudget, r.Version, r.State,
		r.CurrentWave, r.CreatedBy, r.CreatedAt, r.UpdatedAt); err != nil {
		return Rollout{}, err
	}
	for _, st := range stacks {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rollout_stacks (rollout_id, stack, code, environment, wave, position, state)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, st.Stack, st.Code, st.Environment, st.Wave, st.Position, StackPending); err != nil {
			return Rollout{}, fmt.Errorf("add %s: %w", st.Stack, err)
		}
	}
	return r, tx.Commit()
}

const rolloutColumns = `id, operation, selector, waves, max_concurrency, failure_budget, version, state, stop_reason, current_wave,
	failures_accepted, violations_accepted, created_by, created_at, updated_at, finished_at`

func scanRollout(row rowScanner) (Rollout, error) {
	var r Rollout
	var selector, waves string
	if err := row.Scan(&r.ID, &r.Operation, &selector, &waves, &r.MaxConcurrency, &r.FailureBudget, &r.Version, &r.State,
		&r.StopReason, &r.CurrentWave, &r.FailuresAccepted, &r.ViolationsAccepted, &r.CreatedBy, &r.CreatedAt, &r.UpdatedAt, &r.FinishedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, ErrNotFound
		}
		return r, err
	}
	r.Selector, r.Waves = json.RawMessage(selector), json.RawMessage(waves)
	return r, nil
}

// GetRollout returns a rollout.
func (s *DB) GetRollout(ctx context.Context, id string) (_ Rollout, err error) {
	defer wrap(&err, "get rollout %s", id)
	return scanRollout(s.DB.QueryRowContext(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = ?`, id))
}

// ListRollouts returns the rollouts, newest first; with states, only those in them.
func (s *DB) ListRollouts(ctx context.Context, states ...string) (_ []Rollout, err error) {
	defer wrap(&err, "list rollouts")
	q, args := `SELECT `+rolloutColumns+` FROM rollouts`, []any{}
	if len(states) > 0 {
		q += ` WHERE state IN (?` + strings.Repeat(", ?", len(states)-1) + `)`
		for _, st := range states {
			args = append(args, st)
		}
	}
	return queryAll(ctx, s.DB, scanRollout, q+` ORDER BY created_at DESC, id`, args...)
}

// RolloutStacks returns a rollout's stacks in wave order.
func (s *DB) RolloutStacks(ctx context.Context, id string) (_ []RolloutStack, err error) {
	defer wrap(&err, "list the stacks of rollout %s", id)
	return queryAll(ctx, s.DB, func(row rowScanner) (RolloutStack, error) {
		var st RolloutStack
		err := row.Scan(&st.Stack, &st.Code, &st.Environment, &st.Wave, &st.Position, &st.State, &st.JobID, &st.Reason, &st.MandatoryViolations)
		return st, err
	}, `SELECT stack, code, environment, wave, position, state, job_id, reason, mandatory_violations FROM rollout_stacks
		WHERE rollout_id = ? ORDER BY wave, position`, id)
}

// SetRolloutState moves a rollout from one of the states in from to state;
// false when it was in none of them (it changed meanwhile).
func (s *DB) SetRolloutState(ctx context.Context, id string, from []string, state, reason string) (_ bool, err error) {
	defer wrap(&err, "set rollout %s %s", id, state)
	finished := ""
	if RolloutTerminal(state) {
		finished = FleetNow()
	}
	args := []any{state, reason, FleetNow(), finished, id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE rollouts SET state = ?, stop_reason = ?, updated_at = ?, finished_at = ? WHERE id = ?
		AND state IN (?`+strings.Repeat(", ?", len(from)-1)+`)`, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ResumeRollout sets a paused or stopped rollout running again, accepting
// the failures so far; false when it was neither paused nor stopped.
func (s *DB) ResumeRollout(ctx context.Context, id string, failures, violations int) (_ bool, err error) {
	defer wrap(&err, "resume rollout %s", id)
	res, err := s.DB.ExecContext(ctx, `UPDATE rollouts SET state = ?, stop_reason = '', failures_accepted = ?, violations_accepted = ?,
		updated_at = ? WHERE id = ? AND state IN (?, ?)`, RolloutRunning, failures, violations, FleetNow(), id, RolloutPaused, RolloutStopped)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ActiveRollouts returns the rollouts the fleet controller still follows:
// those not finished, and finished ones with a stack still running.
func (s *DB) ActiveRollouts(ctx context.Context) (_ []Rollout, err error) {
	defer wrap(&err, "list active rollouts")
	return queryAll(ctx, s.DB, scanRollout, `SELECT `+rolloutColumns+` FROM rollouts WHERE state IN (?, ?, ?)
		OR id IN (SELECT rollout_id FROM rollout_stacks WHERE state IN (?, ?)) ORDER BY created_at, id`,
		RolloutRunning, RolloutPaused, RolloutStopped, StackStarting, StackRunning)
}

// SetRolloutWave records the wave a rollout has reached.
func (s *DB) SetRolloutWave(ctx context.Context, id string, wave int) (err error) {
	defer wrap(&err, "set the wave of rollout %s", id)
	_, err = s.DB.ExecContext(ctx, `UPDATE rollouts SET current_wave = ?, updated_at = ? WHERE id = ?`, wave, FleetNow(), id)
	return err
}

// SetRolloutStack records a stack's state in a rollout: its job, and how it
// ended. Only a stack in one of the states in from changes.
func (s *DB) SetRolloutStack(ctx context.Context, id string, st RolloutStack, from ...string) (_ bool, err error) {
	defer wrap(&err, "set %s of rollout %s %s", st.Stack, id, st.State)
	args := []any{st.State, st.JobID, st.Reason, st.MandatoryViolations, id, st.Stack}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE rollout_stacks SET state = ?, job_id = ?, reason = ?, mandatory_violations = ?
		WHERE rollout_id = ? AND stack = ? AND state IN (?`+strings.Repeat(", ?", len(from)-1)+`)`, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CancelPendingStacks marks a rollout's stacks that never started cancelled.
func (s *DB) CancelPendingStacks(ctx context.Context, id string) (_ int, err error) {
	defer wrap(&err, "cancel the pending stacks of rollout %s", id)
	res, err := s.DB.ExecContext(ctx, `UPDATE rollout_stacks SET state = ? WHERE rollout_id = ? AND state = ?`, StackCancelled, id, StackPending)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// LatestJobBy returns the newest job of a stack created by creator with an
// id above after (ErrNotFound when none): the job a controller created just
// before it stopped, found again.
func (s *DB) LatestJobBy(ctx context.Context, stack, creator string, after int64) (_ Job, err error) {
	defer wrap(&err, "find the job %s created for %s", creator, stack)
	return scanJob(s.DB.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE stack = ? AND created_by = ? AND id > ?
		ORDER BY id DESC LIMIT 1`, stack, creator, after))
}

// BusyStacks returns the stacks that have a queued or running job of an
// operation other than those in except.
func (s *DB) BusyStacks(ctx context.Context, except ...string) (_ map[string]bool, err error) {
	defer wrap(&err, "find the stacks with unfinished jobs")
	q, args := `SELECT DISTINCT stack FROM jobs WHERE state IN (?, ?)`, []any{JobQueued, JobRunning}
	for _, op := range except {
		q += ` AND operation != ?`
		args = append(args, op)
	}
	names, err := queryAll(ctx, s.DB, func(row rowScanner) (string, error) {
		var n string
		return n, row.Scan(&n)
	}, q, args...)
	if err != nil {
		return nil, err
	}
	busy := make(map[string]bool, len(names))
	for _, n := range names {
		busy[n] = true
	}
	return busy, nil
}

// StackVersion is the program version a stack last deployed.
type StackVersion struct {
	Stack      string `json:"stack"`
	Version    string `json:"version"`
	JobID      int64  `json:"job"`
	DeployedAt string `json:"deployedAt"`
}

// UnrecordedDeploys returns, per stack, its newest succeeded job of the
// operation when no version is recorded for it yet: the deploys whose
// version is still to be written.
func (s *DB) UnrecordedDeploys(ctx context.Context, operation string) (_ []Job, err error) {
	defer wrap(&err, "find deploys without a recorded version")
	return queryAll(ctx, s.DB, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE id IN (
		SELECT MAX(j.id) FROM jobs j WHERE j.operation = ? AND j.state = ? GROUP BY j.stack)
		AND id > COALESCE((SELECT v.job_id FROM stack_versions v WHERE v.stack = jobs.stack), 0) ORDER BY id`, operation, JobSucceeded)
}

// RecordVersion records the version a job deployed to its stack, unless a
// later job's is recorded.
func (s *DB) RecordVersion(ctx context.Context, v StackVersion) (err error) {
	defer wrap(&err, "record version %s of %s", v.Version, v.Stack)
	_, err = s.DB.ExecContext(ctx, `INSERT INTO stack_versions (stack, version, job_id, deployed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (stack) DO UPDATE SET version = excluded.version, job_id = excluded.job_id, deployed_at = excluded.deployed_at
		WHERE stack_versions.job_id < excluded.job_id`, v.Stack, v.Version, v.JobID, v.DeployedAt)
	return err
}

// StackVersions returns the recorded versions by stack.
func (s *DB) StackVersions(ctx context.Context) (_ map[string]StackVersion, err error) {
	defer wrap(&err, "read the deployed versions")
	list, err := queryAll(ctx, s.DB, func(row rowScanner) (StackVersion, error) {
		var v StackVersion
		return v, row.Scan(&v.Stack, &v.Version, &v.JobID, &v.DeployedAt)
	}, `SELECT stack, version, job_id, deployed_at FROM stack_versions`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]StackVersion, len(list))
	for _, v := range list {
		out[v.Stack] = v
	}
	return out, nil
}

// Drift statuses of a stack.
const (
	DriftUnknown = "unknown" // never checked
	DriftInSync  = "in_sync"
	DriftDrifted = "drifted"
	DriftError   = "error" // the check failed
)

// DriftedResource is a resource whose cloud state differs from the stack's
// state: changed properties, or gone.
type DriftedResource struct {
	URN        string   `json:"urn"`
	Type       string   `json:"type"`
	Name       string   `json:"name"`
	Change     string   `json:"change"` // update or delete
	Properties []string `json:"properties,omitempty"`
}

// Drift is a stack's drift status.
type Drift struct {
	Stack       string            `json:"stack"`
	Code        string            `json:"code"`
	Environment string            `json:"environment"`
	Status      string            `json:"status"`
	Resources   []DriftedResource `json:"resources,omitempty"`
	Error       string            `json:"error,omitempty"`
	JobID       int64             `json:"job,omitempty"`
	CheckedAt   string            `json:"checkedAt,omitempty"`
	// Checking is the drift job in flight (0: none); RequestedAt, when the
	// check was asked for.
	Checking    int64  `json:"checking,omitempty"`
	RequestedAt string `json:"-"`
}

func scanDrift(row rowScanner) (Drift, error) {
	var d Drift
	var resources string
	if err := row.Scan(&d.Stack, &d.Code, &d.Environment, &d.Status, &resources, &d.Error, &d.JobID, &d.CheckedAt, &d.Checking, &d.RequestedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return d, ErrNotFound
		}
		return d, err
	}
	if err := json.Unmarshal([]byte(resources), &d.Resources); err != nil {
		return d, fmt.Errorf("decode the drifted resources of %s: %w", d.Stack, err)
	}
	return d, nil
}

const driftColumns = `stack, code, environment, status, resources, error, job_id, checked_at, checking, requested_at`

// DriftStatuses returns every stack's drift status, by stack.
func (s *DB) DriftStatuses(ctx context.Context) (_ map[string]Drift, err error) {
	defer wrap(&err, "read the drift statuses")
	list, err := queryAll(ctx, s.DB, scanDrift, `SELECT `+driftColumns+` FROM drift_status`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Drift, len(list))
	for _, d := range list {
		out[d.Stack] = d
	}
	return out, nil
}

// DriftCheckCreating is the Checking of a check whose job is being created:
// after a crash there, the job is looked for by its creator.
const DriftCheckCreating = -1

// MarkDriftCheck records that a stack's check was asked for (job
// DriftCheckCreating: its job is being created) or is in flight as job.
func (s *DB) MarkDriftCheck(ctx context.Context, m Municipality, job int64) (err error) {
	defer wrap(&err, "mark the drift check of %s", m.Stack)
	_, err = s.DB.ExecContext(ctx, `INSERT INTO drift_status (stack, code, environment, status, checking, requested_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (stack) DO UPDATE SET checking = excluded.checking, requested_at = excluded.requested_at`,
		m.Stack, m.Code, m.Environment, DriftUnknown, job, FleetNow())
	return err
}

// RecordDrift records a finished check's result; the check in flight, if it
// is that job, is done.
func (s *DB) RecordDrift(ctx context.Context, d Drift) (err error) {
	defer wrap(&err, "record the drift status of %s", d.Stack)
	if d.Resources == nil {
		d.Resources = []DriftedResource{}
	}
	resources, err := json.Marshal(d.Resources)
	if err != nil {
		return err
	}
	_, err = s.DB.ExecContext(ctx, `INSERT INTO drift_status (stack, code, environment, status, resources, error, job_id, checked_at, checking)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
		ON CONFLICT (stack) DO UPDATE SET status = excluded.status, resources = excluded.resources, error = excluded.error,
		job_id = excluded.job_id, checked_at = excluded.checked_at,
		checking = CASE WHEN drift_status.checking = excluded.job_id THEN 0 ELSE drift_status.checking END
		WHERE drift_status.job_id < excluded.job_id`,
		d.Stack, d.Code, d.Environment, d.Status, string(resources), d.Error, d.JobID, d.CheckedAt)
	return err
}

// ClearDriftCheck forgets a check in flight that will not finish (its job
// could not be created).
func (s *DB) ClearDriftCheck(ctx context.Context, stack string) (err error) {
	defer wrap(&err, "clear the drift check of %s", stack)
	_, err = s.DB.ExecContext(ctx, `UPDATE drift_status SET checking = 0 WHERE stack = ?`, stack)
	return err
}

// UncheckedDriftJobs returns, per stack, its newest finished job of the
// operation when that job is newer than the recorded status.
func (s *DB) UncheckedDriftJobs(ctx context.Context, operation string) (_ []Job, err error) {
	defer wrap(&err, "find finished drift checks")
	return queryAll(ctx, s.DB, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE id IN (
		SELECT MAX(j.id) FROM jobs j WHERE j.operation = ? AND j.state IN (?, ?, ?) GROUP BY j.stack)
		AND id > COALESCE((SELECT d.job_id FROM drift_status d WHERE d.stack = jobs.stack), 0) ORDER BY id`,
		operation, JobSucceeded, JobFailed, JobCancelled)
}

// DriftSweep is one environment's schedule: the sweep under way (StartedAt
// after FinishedAt) and when the next is due.
type DriftSweep struct {
	Environment string `json:"environment"`
	StartedAt   string `json:"startedAt,omitempty"`
	FinishedAt  string `json:"finishedAt,omitempty"`
	NextAt      string `json:"nextAt"`
}

// Running reports whether the sweep is under way.
func (d DriftSweep) Running() bool { return d.StartedAt != "" && d.StartedAt > d.FinishedAt }

// DriftSweeps returns the environments' schedules, by environment.
func (s *DB) DriftSweeps(ctx context.Context) (_ map[string]DriftSweep, err error) {
	defer wrap(&err, "read the drift schedules")
	list, err := queryAll(ctx, s.DB, func(row rowScanner) (DriftSweep, error) {
		var d DriftSweep
		return d, row.Scan(&d.Environment, &d.StartedAt, &d.FinishedAt, &d.NextAt)
	}, `SELECT environment, started_at, finished_at, next_at FROM drift_sweeps`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]DriftSweep, len(list))
	for _, d := range list {
		out[d.Environment] = d
	}
	return out, nil
}

// PutDriftSweep writes an environment's schedule.
func (s *DB) PutDriftSweep(ctx context.Context, d DriftSweep) (err error) {
	defer wrap(&err, "write the drift schedule of %s", d.Environment)
	_, err = s.DB.ExecContext(ctx, `INSERT INTO drift_sweeps (environment, started_at, finished_at, next_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (environment) DO UPDATE SET started_at = excluded.started_at, finished_at = excluded.finished_at, next_at = excluded.next_at`,
		d.Environment, d.StartedAt, d.FinishedAt, d.NextAt)
	return err
}

// AcquireLease takes or renews the named lease for holder until ttl from
// now; false when another holder's lease has not expired. One replica holds
// the fleet controller's lease at a time.
func (s *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (_ bool, err error) {
	defer wrap(&err, "acquire lease %s", name)
	now := time.Now()
	expires := fleetTime(now.Add(ttl))
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO fleet_leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, holder, expires); err != nil {
		return false, err
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE fleet_leases SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?)`,
		holder, expires, name, holder, fleetTime(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseLease gives up the lease if holder has it, so another replica takes
// over at once.
func (s *DB) ReleaseLease(ctx context.Context, name, holder string) (err error) {
	defer wrap(&err, "release lease %s", name)
	_, err = s.DB.ExecContext(ctx, `DELETE FROM fleet_leases WHERE name = ? AND holder = ?`, name, holder)
	return err
}
